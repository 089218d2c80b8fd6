//! Properties over whole requests: random bodies, vendor payloads, redirects, built payloads.

use super::*;

#[test]
fn next_urls_only_ever_lead_to_allowed_origins() {
    let config = config(
        "[forms.site]\nallowed_origins = [\"https://www.example.com\", \"https://shop.example.com:8443\"]\n",
    );
    let form = config.form("site").unwrap();
    let strategy = prop_oneof![
        "\\PC{0,40}",
        (
            prop::sample::select(vec![
                "",
                "/",
                "//",
                "\\\\",
                "/\\",
                "https:",
                "https://",
                "http://",
                "javascript:",
                " ",
                "%2F",
                "@"
            ]),
            prop::sample::select(vec![
                "www.example.com",
                "evil.example",
                "www.example.com.evil.example",
                "shop.example.com:8443",
                "user@evil.example"
            ]),
            "[ -~]{0,16}"
        )
            .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ];
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases() * 4));
    runner
        .run(&strategy, |next| {
            if let Some(url) = talk_relay::intake::redirect::allowed_next(form, Some(&next), None) {
                let origin = url.origin().ascii_serialization();
                prop_assert!(
                    origin == "https://www.example.com" || origin == "https://shop.example.com:8443",
                    "{next:?} led to {url}"
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn vendor_payloads_and_signature_headers_never_panic_or_pass_unsigned() {
    let config = config(
        "[hooks.typeform]\npreset = \"typeform\"\nsecret_env = \"PROP_SECRET\"\n\
         [hooks.tally]\npreset = \"tally\"\nsecret_env = \"PROP_SECRET\"\n\
         [hooks.webflow]\npreset = \"webflow\"\nsecret_env = \"PROP_SECRET\"\n\
         [hooks.generic]\npreset = \"generic\"\nauth = \"hmac\"\nsignature_header = \"x-sig\"\nsignature_format = \"timestamped\"\nsecret_env = \"PROP_SECRET\"\n[hooks.generic.pointers]\nemail = \"/a/b\"\nmessage = \"/c/0\"\n",
    );
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
    ];
    let keys = prop::sample::select(vec![
        "form_response",
        "answers",
        "field",
        "type",
        "ref",
        "text",
        "email",
        "boolean",
        "choices",
        "labels",
        "data",
        "fields",
        "key",
        "label",
        "value",
        "options",
        "id",
        "payload",
        "hidden",
        "event_id",
        "eventId",
        "a",
        "b",
        "c",
    ]);
    let json = leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| serde_json::Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    });
    let limits = &config.limits;
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&(json, "[ -~]{0,40}"), |(payload, header)| {
            let body = actix_web::web::Bytes::from(payload.to_string());
            for hook in config.hooks.values() {
                // Any outcome but a panic is fine: errors are answered as 4xx.
                let _ = talk_relay::mapping::normalise(hook, Some("application/json"), body.clone(), limits)
                    .now_or_never()
                    .expect("a JSON payload needs no waiting");
                let mut headers = actix_web::http::header::HeaderMap::new();
                if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&header) {
                    for name in [
                        "typeform-signature",
                        "tally-signature",
                        "x-webflow-signature",
                        "x-webflow-timestamp",
                        "x-sig",
                    ] {
                        headers.insert(
                            actix_web::http::header::HeaderName::from_static(name),
                            value.clone(),
                        );
                    }
                }
                let request = talk_relay::guard::SignedRequest {
                    method: "POST",
                    url: "https://relay.example.com/hooks/x",
                    path: "/hooks/x",
                    query: "",
                    headers: &headers,
                    body: &body,
                };
                let verdict = talk_relay::guard::authenticate(&hook.auth, &request, chrono::Utc::now());
                prop_assert!(verdict.is_err(), "an unsigned body passed {:?}", hook.preset);
            }
            Ok(())
        })
        .unwrap();
}

/// Random bodies of every content type, through HTTP: never a 5xx, never a dropped connection.
#[actix_web::test]
async fn random_requests_never_get_a_server_error() {
    let app = spawn_app(
        "[forms.demo]\nhtml_field = \"html\"\n[hooks.open]\npreset = \"generic\"\nauth = \"none\"\n[hooks.open.pointers]\nemail = \"/email\"\nmessage = \"/m\"\n",
    )
    .await;
    let content_types = prop::sample::select(vec![
        "application/x-www-form-urlencoded",
        "application/json",
        "multipart/form-data; boundary=XyZ",
        "multipart/form-data",
        "text/plain",
        "application/json; charset=latin1",
    ]);
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "\\PC{0,200}".prop_map(String::into_bytes),
        ("[a-z_]{1,6}", "\\PC{0,40}", "[a-z_]{1,6}").prop_map(|(a, b, c)| format!("email=a%40b.co&{a}={b}&{c}=%FF%00&message=x").into_bytes()),
        ("\\PC{0,30}", "\\PC{0,30}").prop_map(|(a, b)| format!("--XyZ\r\nContent-Disposition: form-data; name=\"{a}\"\r\n\r\n{b}\r\n--XyZ--\r\n").into_bytes()),
        ("\\PC{0,30}", "\\PC{0,30}").prop_map(|(a, b)| format!("{{\"email\":\"{a}@example.com\",\"m\":\"{b}\",\"html\":\"<b>{b}</b>\",\"x\":[1,{{\"y\":null}}]}}").into_bytes()),
    ];
    let paths = prop::sample::select(vec!["/f/demo", "/hooks/open", "/talk/session", "/f/nope"]);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases()));
    let strategy = (paths, content_types, bodies);
    for _ in 0..cases() {
        let (path, content_type, body) = strategy.new_tree(&mut runner).unwrap().current();
        let response = app
            .post(path)
            .header("Content-Type", content_type)
            .body(body.clone(), Expect::Any)
            .await;
        assert!(
            response.status < 500,
            "{path} {content_type} {:?} → {}",
            String::from_utf8_lossy(&body),
            response.status
        );
    }
}

/// Field names a real form sends, and the ones this property's form maps to every type.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "email",
            "name",
            "first_name",
            "last_name",
            "phone",
            "message",
            "subject",
            "age",
            "agree",
            "city",
            "html",
            "company",
            "_next",
            "_gotcha",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
        "[\\x00-\\x1f a-z\\r\\n]{1,8}",
    ]
}

/// Values from the shapes attacks and accidents take: control characters, line breaks,
/// HTML, numbers, phone-ish text, long runs, emails, ticked and unticked words.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[\\x00-\\x1f\\x7f-\\x9f a-z<>&\"'\\r\\n]{0,40}",
        prop::sample::select(vec![
            "jo@example.com",
            "Ödön.Müller@Example.com",
            "jo@Bücher.example",
            "+61 401 234 567",
            "0401 234 567",
            "on",
            "off",
            "yes",
            "no",
            "42",
            "-7",
            "4.5",
            "<b>hi</b><script>x</script>",
            "https://example.com",
            "",
            " ",
        ])
        .prop_map(str::to_owned),
        (1usize..5000).prop_map(|n| "é".repeat(n)),
        ("[a-z]{1,8}", "[a-z]{1,8}").prop_map(|(l, d)| format!("{l}@{d}.co\r\nBcc: x")),
    ]
}

#[test]
fn every_payload_the_relay_builds_passes_the_pre_send_check() {
    let config = config(
        "[forms.all]\ntitle = 'All types'\nhtml_field = 'html'\ndefault_country_code = '61'\n\
         [forms.all.fields]\nage = 'int:cm:age'\nagree = 'bol:cm:agree'\ncity = 'geo::city'\ncompany = 'str:cm:company'\n\
         [forms.all.consent]\nfield = 'subscribe'\nunchecked = 'opt_out'\n",
    );
    let form = config.form("all").unwrap();
    let cleaner = HtmlCleaner::new();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases()));
    let email = prop::sample::select(vec![
        "jo@example.com",
        "Ödön.Müller@Example.com",
        "jo@Bücher.example",
        " Lee@Example.CO ",
    ]);
    let inputs = (
        email,
        field_value(),
        prop::collection::vec((field_name(), field_value()), 0..12),
    );
    let built = std::cell::Cell::new(0u32);
    runner
        .run(&inputs, |(email, message, pairs)| {
            let mut fields = talk_relay::domain::SubmittedFields::default();
            fields.push("email".to_owned(), email.to_owned());
            fields.push("message".to_owned(), format!("hello {message}"));
            for (name, value) in pairs {
                fields.push(name, value);
            }
            let fields = fields.cleaned();
            let draft = talk_relay::mapping::draft_from_fields(&form.rules, Some(&form.honeypot), &fields);
            let context = talk_relay::mapping::MappingContext {
                page_url: Some("https://www.example.com/contact".to_owned()),
                received_at: chrono::Utc::now(),
                attachments: Vec::new(),
            };
            if let Ok(mapped) = talk_relay::mapping::compose(draft, &form.rules, &cleaner, &context) {
                built.set(built.get() + 1);
                let payload = serde_json::to_string(&mapped.compose).unwrap();
                prop_assert!(
                    talk_relay::ortto::check_compose_payload(&payload).is_ok(),
                    "the relay built a payload its own check refuses: {:?}\n{payload}",
                    talk_relay::ortto::check_compose_payload(&payload)
                );
            }
            Ok(())
        })
        .unwrap();
    let built = built.get();
    eprintln!(
        "pre-send property: {built} of {} generated submissions built a payload",
        cases()
    );
    assert!(built > 0, "no input built a payload; the property proved nothing");
}
