//! Hardening: clean field names, one-line subjects, `Origin: null`, rows that keep the
//! email, replay-proof signed hooks, CSRF-safe admin changes, and `/metrics` that answers
//! in the format the scraper asks for.

use crate::helpers::{spawn_app, Expect, TestApp, BROWSER_ACCEPT};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

async fn post_urlencoded(app: &TestApp, form: &str, body: &str, origin: Option<&str>) -> (u16, Value) {
    let mut request = app
        .post(&format!("/f/{form}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json");
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.body(body.to_owned(), Expect::Any).await;
    (response.status, response.json())
}

#[actix_web::test]
async fn control_characters_and_line_breaks_never_reach_a_message_or_subject() {
    let app = spawn_app("").await;
    let (status, body) = post_urlencoded(
        &app,
        "demo",
        "email=jo%40example.com&message=hi&we%01ird=value&evil%0D%0AInjected=x&subject=Hello%0D%0ABcc%3A%20x",
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    let payload = TestApp::payload(&row);
    let message = payload["conversation"]["messages"][0]["body"].as_str().unwrap();
    assert!(message.contains("weird: value"), "{message}");
    assert!(message.contains("evil  Injected: x"), "{message}");
    assert!(
        !message.contains('\u{1}') && !message.contains("\nInjected"),
        "{message:?}"
    );
    let subject = payload["conversation"]["subject"].as_str().unwrap();
    assert_eq!(subject, "Hello Bcc: x");
    // Taken, not refused (the dry-run worker may already have moved it on).
    assert!(
        ["queued", "dry_run"].contains(&row.status.as_str()),
        "{}",
        row.status
    );
}

#[actix_web::test]
async fn origin_null_is_refused_by_an_allowlist_unless_the_form_opts_in() {
    let app = spawn_app(
        "[forms.strict]\ntitle = 'Strict'\nallowed_origins = ['https://www.example.com']\n\
         [forms.lenient]\ntitle = 'Lenient'\nallowed_origins = ['https://www.example.com']\nallow_null_origin = true\n",
    )
    .await;
    let body = "email=jo%40example.com&message=hi";
    let (status, answer) = post_urlencoded(&app, "strict", body, Some("null")).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["errors"][0]["code"], "ORIGIN_NOT_ALLOWED");
    assert_eq!(post_urlencoded(&app, "lenient", body, Some("null")).await.0, 202);
    assert_eq!(
        post_urlencoded(&app, "strict", body, Some("https://www.example.com"))
            .await
            .0,
        202
    );
    assert_eq!(
        post_urlencoded(&app, "demo", body, Some("null")).await.0,
        202,
        "no list, no check"
    );
}

#[actix_web::test]
async fn spam_and_invalid_rows_keep_a_valid_email() {
    let app = spawn_app("[forms.demo.fields]\nage = 'int:cm:age'\n").await;
    let spam = app
        .post("/f/demo")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", BROWSER_ACCEPT)
        .body("email=Bot%40Example.com&message=buy&_gotcha=filled", 303)
        .await;
    let _ = spam.body.clone();
    let (status, _) = post_urlencoded(&app, "demo", "email=jo%40example.com&message=hi&age=old", None).await;
    assert_eq!(status, 422);
    let rows = app.submissions().await;
    let by_status = |s: &str| rows.iter().find(|r| r.status == s).unwrap().email.clone();
    assert_eq!(by_status("spam").as_deref(), Some("Bot@example.com"));
    assert_eq!(by_status("invalid").as_deref(), Some("jo@example.com"));
}

#[actix_web::test]
async fn a_signed_generic_hook_without_an_event_id_is_deduplicated_on_its_signed_bytes() {
    let app = spawn_app(
        r#"
[hooks.crm]
preset = "generic"
auth = "hmac"
secret_env = "TEST_HOOK_SECRET"
signature_header = "X-Signature"
signature_encoding = "hex"
[hooks.crm.pointers]
email = "/email"
message = "/message"
"#,
    )
    .await;
    let send = |body: &'static str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test_only_not_a_real_secret").unwrap();
        mac.update(body.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let request = app
            .post("/hooks/crm")
            .header("Content-Type", "application/json")
            .header("X-Signature", signature)
            .body(body, Expect::Any);
        async move {
            let response = request.await;
            (response.status, response.json())
        }
    };
    let body = r#"{"email":"lee@example.com","message":"call me"}"#;
    let (first, answer) = send(body).await;
    assert_eq!(first, 202, "{answer}");
    for _ in 0..2 {
        let (status, again) = send(body).await;
        assert_eq!(status, 200, "a replay is a duplicate: {again}");
        assert_eq!(again["id"], answer["id"]);
    }
    assert_eq!(
        send(r#"{"email":"lee@example.com","message":"again"}"#).await.0,
        202
    );
    assert_eq!(app.submissions().await.len(), 2);
}

#[actix_web::test]
async fn admin_changes_need_the_bearer_token_or_the_same_origin_and_never_take_a_row_in_flight() {
    let app = spawn_app("[admin]\ntoken_env = 'TEST_ADMIN_TOKEN'\n").await;
    let (_, body) = app
        .post_json("demo", &json!({"email": "jo@example.com", "message": "hi"}))
        .await;
    let id = body["id"].as_str().unwrap().to_owned();
    // Let the dry-run worker finish with it first, so it does not race the test's update.
    app.wait_for_status(&id, &["dry_run"], std::time::Duration::from_secs(10))
        .await;
    let pool = app.store().await;
    sqlx::query("UPDATE submissions SET status = 'dead' WHERE id = ?")
        .bind(&id)
        .execute(pool.pool())
        .await
        .unwrap();
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "admin:admin-token-not-real-32-characters-or-more"
        )
    );
    let replay = |auth: String, origin: Option<String>| {
        let mut request = app
            .post(&format!("/admin/submissions/{id}/replay"))
            .header("Authorization", auth);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        async move {
            let response = request.send(Expect::Any).await;
            (response.status, response.json())
        }
    };
    // A cross-site form post carrying the browser's cached Basic credentials.
    let (status, _) = replay(basic.clone(), Some("https://evil.example".to_owned())).await;
    assert_eq!(status, 403);
    assert_eq!(replay(basic.clone(), None).await.0, 403);
    assert_eq!(app.submission(&id).await.status, "dead", "nothing changed");
    let (status, answer) = replay(basic, Some(app.address.clone())).await;
    assert_eq!((status, answer["requeued"].as_u64()), (200, Some(1)));

    // A row a worker holds under a live lease is in flight: replay leaves it alone.
    sqlx::query(
        "UPDATE submissions SET status = 'dead', leased_until = '2999-01-01T00:00:00.000Z' WHERE id = ?",
    )
    .bind(&id)
    .execute(pool.pool())
    .await
    .unwrap();
    let (status, answer) = replay(
        "Bearer admin-token-not-real-32-characters-or-more".to_owned(),
        None,
    )
    .await;
    assert_eq!((status, answer["requeued"].as_u64()), (200, Some(0)));
}

#[actix_web::test]
async fn metrics_answer_in_the_format_the_scraper_asks_for() {
    let app = spawn_app("").await;
    let fetch = |accept: Option<&'static str>| {
        let mut request = app.get("/metrics");
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        async move {
            let response = request.send(200).await;
            (response.header("content-type").unwrap().to_owned(), response.body)
        }
    };
    // Asked for text, asking for nothing, or refusing OpenMetrics: the text format 0.0.4.
    for accept in [
        Some("text/plain; version=0.0.4"),
        None,
        Some("application/openmetrics-text; q=0, text/plain"),
    ] {
        let (kind, text) = fetch(accept).await;
        assert!(
            kind.starts_with("text/plain; version=0.0.4"),
            "{accept:?}: {kind}"
        );
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("# TYPE talk_relay_log_writer_batches_total counter"),
            "{text}"
        );
    }
    let (kind, text) = fetch(Some(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ))
    .await;
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[actix_web::test]
async fn a_body_of_thousands_of_distinct_names_is_refused_at_the_field_limit() {
    let app = spawn_app("[server]\nmax_body_bytes = 131072\n").await;
    // 13,000 distinct names, as in the report.
    let flood: String = (0..13_000).map(|i| format!("{i:x}=&")).collect();
    assert!(
        flood.len() < 131_072,
        "under the body limit, so the field limit is what refuses it"
    );
    let (status, body) = post_urlencoded(&app, "demo", &flood, None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_FIELDS");
    let object: serde_json::Map<String, Value> = (0..5_000).map(|i| (format!("f{i}"), json!(""))).collect();
    let (status, body) = app.post_json("demo", &Value::Object(object)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_FIELDS");
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn a_payload_ortto_would_refuse_is_caught_once_at_intake_and_never_queued() {
    // Limits raised past Ortto's 2 MB: the mapping accepts the message, the pre-send check
    // on the built request does not, so the submitter hears it now and nothing is queued.
    let app = spawn_app(
        "[server]\nmax_body_bytes = 4000000\n[limits]\nmax_message_chars = 3000000\nmax_value_chars = 3000000\n",
    )
    .await;
    let message = "x".repeat(2_200_000);
    let answer = app
        .post("/f/demo")
        .header("Accept", "application/json")
        .json(&json!({"email": "big@example.com", "message": message}), 422)
        .await
        .json();
    assert_eq!(answer["errors"][0]["code"], "NOT_SENDABLE", "{answer}");
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("2 MB"));
    let row = app.latest().await;
    assert_eq!((row.status.as_str(), row.payload.is_none()), ("invalid", true));
    assert_eq!(row.email.as_deref(), Some("big@example.com"));
    // The row says why, in words an operator can act on.
    let reason = row.last_error.clone().unwrap();
    assert!(
        reason.starts_with("submission: NOT_SENDABLE: ") && reason.contains("2 MB"),
        "{reason}"
    );
}
