//! Red team, round three: what an attacker from outside tried, each through HTTP. Signed
//! calls replayed with new `Idempotency-Key`s and `{url}` from client headers are in
//! `senders/signatures.rs`; here the admin's framing and origin, back links, CSV cells and
//! values Ortto would refuse.

use crate::helpers::{
    spawn_app, spawn_app_with_clock, Expect, Method, TestApp, ADMIN, BROWSER_ACCEPT, TEST_ADMIN_TOKEN,
};
use crate::visitors::{get_page, unescaped};
use base64::Engine;
use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[actix_web::test]
async fn admin_answers_cannot_be_framed_sniffed_or_cached() {
    let app = spawn_app(ADMIN).await;
    let (_, answer) = app
        .post_json("demo", &json!({"email": "a@example.com", "message": "hi"}))
        .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    for path in [
        "/admin/",
        "/admin/inbox",
        &format!("/admin/submissions/{id}"),
        "/admin/refusals",
        "/admin/stats",
    ] {
        let response = app.admin(Method::GET, path).send(200).await;
        assert_eq!(response.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            response.header("content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(response.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(response.header("referrer-policy"), Some("same-origin"), "{path}");
    }
    let page = app.get("/thanks?form=demo").send(200).await;
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
}

fn basic() -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("ops:{TEST_ADMIN_TOKEN}"));
    format!("Basic {credentials}")
}

#[actix_web::test]
async fn an_admin_change_with_basic_credentials_must_come_from_the_relays_own_origin_scheme_included() {
    let app = spawn_app(ADMIN).await;
    let own = app.url("");
    let host = own.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let replay = |origin: String, forwarded: Option<&str>| {
        let mut call = app
            .call(Method::POST, "/admin/replay")
            .header("Authorization", basic())
            .header("Origin", origin);
        if let Some(host) = forwarded {
            call = call.header("X-Forwarded-Host", host);
        }
        call.json(&json!({"status": "dead"}), Expect::Any)
    };
    // Another site that names itself in X-Forwarded-Host (no proxy is trusted).
    assert_eq!(
        replay("https://evil.example".to_owned(), Some("evil.example"))
            .await
            .status,
        403
    );
    // The relay's host under another scheme is another origin.
    assert_eq!(replay(format!("https://{host}"), None).await.status, 403);
    assert_eq!(replay(format!("http://{host}"), None).await.status, 200);
}

#[actix_web::test]
async fn a_form_without_an_origin_list_signs_no_back_link_to_a_page_its_poster_names() {
    let mut app = spawn_app("").await;
    let post = |app: &TestApp, origin: &'static str, page: &'static str| {
        let body = format!("email=jo%40example.com&message=hi&_page={}", urlencode(page));
        app.post("/f/demo")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", BROWSER_ACCEPT)
            .header("Origin", origin)
            .header("Referer", page)
            .body(body, Expect::Any)
    };
    let answer = post(&app, "https://evil.example", "https://evil.example/login").await;
    assert_eq!(answer.status, 303);
    let location = answer.header("location").unwrap().to_owned();
    assert_eq!(location, "/thanks?form=demo", "no page, no signature");
    let (_, page) = get_page(&app, &location).await;
    assert!(
        !page.contains("evil.example") && !page.contains("id=\"back\""),
        "{page}"
    );
    // A page on the relay's own configured address still gets its way back.
    app.restart("[server]\npublic_url = \"https://forms.example.com\"\n")
        .await;
    let answer = post(
        &app,
        "https://forms.example.com",
        "https://forms.example.com/contact",
    )
    .await;
    let location = answer.header("location").unwrap().to_owned();
    let (_, page) = get_page(&app, &location).await;
    assert!(
        unescaped(&page).contains("href=\"https://forms.example.com/contact\""),
        "{page}"
    );
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[actix_web::test]
async fn a_signed_thank_you_link_expires_after_an_hour() {
    let now = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp()));
    let clock_now = now.clone();
    let clock: talk_relay::startup::Clock =
        Arc::new(move || chrono::DateTime::from_timestamp(clock_now.load(Ordering::SeqCst), 0).unwrap());
    let app = spawn_app_with_clock(
        "[forms.contact]\nallowed_origins = [\"https://www.example.com\"]\n",
        clock,
    )
    .await;
    let (status, location, _) = crate::visitors::browser_post(
        &app,
        "contact",
        "email=jo%40example.com&message=hi&_page=https%3A%2F%2Fwww.example.com%2Fcontact",
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.contains("&exp="), "{location}");
    let (_, page) = get_page(&app, &location).await;
    assert!(page.contains("id=\"back\""), "{page}");
    now.fetch_add(3601, Ordering::SeqCst);
    let (_, page) = get_page(&app, &location).await;
    assert!(!page.contains("id=\"back\""), "an hour later: {page}");
    // Pushing the expiry forward breaks the signature.
    let extended = location.replace("&exp=", "&exp=9");
    let (_, page) = get_page(&app, &extended).await;
    assert!(!page.contains("id=\"back\""), "{page}");
}

#[actix_web::test]
async fn csv_cells_are_quoted_and_a_formula_after_a_semicolon_is_defused() {
    let app = spawn_app(ADMIN).await;
    for subject in [
        "x;=1+1",
        "=HYPERLINK(\"https://evil.example\")",
        "a; -2+3;@SUM(A1)",
    ] {
        let (status, _) = app
            .post_json(
                "demo",
                &json!({"email": "csv@example.com", "message": "hi", "subject": subject}),
            )
            .await;
        assert_eq!(status, 202);
    }
    let csv = app
        .admin(Method::GET, "/admin/submissions.csv")
        .send(200)
        .await
        .body;
    assert!(csv.contains("\"x;'=1+1\""), "{csv}");
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"https://evil.example\"\")\""),
        "{csv}"
    );
    assert!(csv.contains("\"a;' -2+3;'@SUM(A1)\""), "{csv}");
    // No cell, and no `;`-separated part of one, starts a formula.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            for part in cell.split(';') {
                assert!(!part.trim_start().starts_with(['=', '+', '@']), "{cell}");
            }
        }
    }
}

#[actix_web::test]
async fn failed_admin_logins_are_throttled_per_client_and_a_short_token_is_refused_at_start() {
    let app = spawn_app(ADMIN).await;
    let with = |token: &str| {
        app.get("/admin/stats")
            .header("Authorization", format!("Bearer {token}"))
            .send(Expect::Any)
    };
    for _ in 0..talk_relay::guard::MAX_FAILURES {
        assert_eq!(with("wrong-guess").await.status, 401);
    }
    let throttled = with("wrong-guess").await;
    assert_eq!(throttled.status, 429);
    let wait: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // While throttled even the right token waits: a guess that happens to be right learns nothing.
    assert_eq!(with(TEST_ADMIN_TOKEN).await.status, 429);

    let mut command = crate::commands::relay_binary();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "[admin]\ntoken_env = \"SHORT_ADMIN\"\n",
    )
    .unwrap();
    command
        .args(["--config", "c.toml", "serve"])
        .current_dir(dir.path())
        .env("SHORT_ADMIN", "x")
        .env_remove("ORTTO_API_KEY");
    let output = crate::helpers::run_command(command).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("admin.token_env") && stderr.contains("at least 32"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn a_replay_with_a_line_break_in_the_id_is_answered_not_a_server_error() {
    let app = spawn_app(ADMIN).await;
    let answer = app
        .admin(Method::POST, "/admin/submissions/x%0d%0aSet-Cookie:%20a=b/replay")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("", Expect::Any)
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.header("location").unwrap();
    assert!(
        location.starts_with("/admin/inbox/x%0D%0ASet%2DCookie")
            || location.starts_with("/admin/inbox/x%0D%0ASet-Cookie"),
        "{location}"
    );
    assert!(answer.header("set-cookie").is_none());
}

#[actix_web::test]
async fn refusal_codes_name_what_was_refused() {
    let app = spawn_app("[hooks.batch]\npreset = 'generic'\nauth = 'none'\nbatch = true\n").await;
    let deep = format!("{}1{}", "[".repeat(127), "]".repeat(127));
    let answer = app
        .post("/f/demo")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(deep, Expect::Any)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["errors"][0]["code"],
        "JSON_TOO_DEEP",
        "{}",
        answer.body
    );
    let events: Vec<_> = (0..101)
        .map(|i| json!({"email": format!("b{i}@example.com")}))
        .collect();
    let answer = app.post("/hooks/batch").json(&json!(events), Expect::Any).await;
    assert_eq!(answer.status, 422);
    let body = answer.json();
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_EVENTS", "{body}");
    assert!(body["error"].as_str().unwrap().contains("100 events"), "{body}");
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn an_outage_is_logged_once_and_then_summarised_not_once_per_refused_request() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::crash::free_port();
    std::fs::write(
        dir.path().join("c.toml"),
        format!("[server]\nport = {port}\n[database]\npath = 'relay.db'\nmin_free_mb = 1000000000\n[rate_limits.form_per_ip]\nenabled = false\n[rate_limits.form]\nenabled = false\n"),
    )
    .unwrap();
    let log = dir.path().join("relay.log");
    let mut command = crate::commands::relay_binary();
    command
        .args(["--config", "c.toml", "serve"])
        .current_dir(dir.path())
        .env_remove("ORTTO_API_KEY")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let relay = crate::crash::Relay::from(command.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    crate::crash::wait_healthy(&base).await;
    let client = crate::helpers::test_client();
    for i in 0..300 {
        let answer = crate::helpers::Call::new(&client, Method::POST, &format!("{base}/f/demo"))
            .header("Accept", "application/json")
            .json(
                &json!({"email": format!("o{i}@example.com"), "message": "hi"}),
                503,
            )
            .await;
        assert!(answer.header("retry-after").is_some());
    }
    drop(relay);
    let text = std::fs::read_to_string(&log).unwrap();
    let errors = text.lines().filter(|l| l.contains("ERROR")).count();
    assert!(text.contains("could not record a submission"), "{text}");
    assert!(errors <= 3, "{errors} ERROR lines for 300 refusals:\n{text}");
}

#[actix_web::test]
async fn values_ortto_would_refuse_never_reach_it() {
    let app = spawn_app(
        "[forms.demo]\ndefault_country_code = '61'\n[forms.demo.fields]\nphone = 'phn::phone'\ncompany = 'str:cm:company'\n",
    )
    .await;
    for bad in [
        "a@[127.0.0.1]",
        "\"a b\"@example.com",
        "a@example.c",
        "a@e_x.com",
        "ö@example.com",
    ] {
        let (status, answer) = app
            .post_json("demo", &json!({"email": bad, "message": "hi"}))
            .await;
        assert_eq!(status, 422, "{bad}: {answer}");
        assert_eq!(answer["errors"][0]["code"], "TYPE_EMAIL", "{bad}");
    }
    let (status, answer) = app
        .post_json("demo", &json!({"email": "Jo@Exämple.com", "message": "hi"}))
        .await;
    assert_eq!(status, 202, "{answer}");
    let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
    assert_eq!(payload["fields"]["str::email"], "Jo@xn--exmple-cua.com");

    // Impossible phone numbers stay in the message for the agent; no phone field is sent.
    for phone in ["+0000000000", "1234"] {
        let (status, answer) = app
            .post_json(
                "demo",
                &json!({"email": "p@example.com", "message": "hi", "phone": phone}),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
        assert!(
            payload["fields"].get("phn::phone").is_none(),
            "{phone}: {payload}"
        );
        let body = payload["conversation"]["messages"][0]["body"].as_str().unwrap();
        assert!(body.contains(&format!("phone: {phone}")), "{body}");
    }
    let (_, answer) = app
        .post_json(
            "demo",
            &json!({"email": "p@example.com", "message": "hi", "phone": "0401 234 567"}),
        )
        .await;
    let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
    assert_eq!(
        payload["fields"]["phn::phone"],
        json!({"c": "61", "n": "401234567"})
    );

    // `str` limits count UTF-16 units, the stricter reading: 255 emoji are 510 of them.
    let (status, answer) = app
        .post_json(
            "demo",
            &json!({"email": "e@example.com", "message": "hi", "company": "😀".repeat(255)}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errors"][0]["code"], "FIELD_TOO_LONG");
    let (status, _) = app
        .post_json(
            "demo",
            &json!({"email": "e@example.com", "message": "hi", "company": "😀".repeat(127)}),
        )
        .await;
    assert_eq!(status, 202);
    // A subject written from a long emoji message is cut to fit, never refused.
    let (status, answer) = app
        .post_json(
            "demo",
            &json!({"email": "e@example.com", "message": "😀".repeat(300)}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let row = app.submission(answer["id"].as_str().unwrap()).await;
    assert!(row.subject.as_deref().unwrap().encode_utf16().count() <= 255);
}

#[actix_web::test]
async fn repeated_json_keys_keep_every_value_and_numbers_keep_their_digits() {
    let app = spawn_app("").await;
    let body = r#"{"email": "dup@example.com", "message": "hi", "topic": "pricing", "topic": "support",
                   "order": 123456789012345678901234567890123456789, "amount": 10.50}"#;
    let answer = app
        .post("/f/demo")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body, 202)
        .await;
    let row = app.submission(answer.json()["id"].as_str().unwrap()).await;
    let fields: serde_json::Value = serde_json::from_str(&row.fields).unwrap();
    assert_eq!(fields["topic"], json!(["pricing", "support"]), "{fields}");
    assert_eq!(fields["order"], "123456789012345678901234567890123456789");
    assert_eq!(fields["amount"], "10.50");
    let message = TestApp::payload(&row)["conversation"]["messages"][0]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("topic: pricing, support"), "{message}");
    assert!(
        message.contains("order: 123456789012345678901234567890123456789"),
        "{message}"
    );
}
