//! docs/sessions.md "Verified Talk sessions": verified Talk sessions without the Ortto key leaving the relay.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{spawn_app, spawn_app_with_ortto, Expect, Method, TestApp, TEST_ORTTO_KEY};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

const SESSIONS: &str = r#"
[sessions]
site_keys_env = ["TEST_SITE_KEY_A", "TEST_SITE_KEY_B"]
signing_secret_env = "TEST_SESSION_SIGNING"
allowed_origins = ["https://app.example.com"]
allowed_fields = ["str:cm:plan"]
"#;
const TOKEN: &str = "tok-VERY-SECRET-123";

fn session_reply() -> Reply {
    Reply::json(
        200,
        &format!(r#"{{"session_id":"sess-1","token":"{TOKEN}","person_id":"p-1","person_status":"by-id"}}"#),
    )
}

async fn ortto_and_app() -> (FakeOrtto, TestApp) {
    let ortto = FakeOrtto::start().await;
    ortto.set_default(session_reply());
    let app = spawn_app_with_ortto(&ortto, SESSIONS).await;
    (ortto, app)
}

fn sign(email: &str, name: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"session-signing-not-real").unwrap();
    mac.update(format!("{email}\n{name}\n{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn request(
    app: &TestApp,
    bearer: Option<&str>,
    origin: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value, Option<String>) {
    let mut request = app.post("/talk/session");
    if let Some(key) = bearer {
        request = request.bearer(key);
    }
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.json(&body, Expect::Any).await;
    let header = |name: &str| response.header(name).map(str::to_owned);
    let (cors, retry_after) = (header("access-control-allow-origin"), header("retry-after"));
    (response.status, cors, response.json(), retry_after)
}

/// Every byte of the database, as the `sqlite3` shell dumps it.
async fn everything_stored(app: &TestApp) -> String {
    let mut command = std::process::Command::new("sqlite3");
    command.arg(&app.db_path).arg(".dump");
    let dump = crate::helpers::run_command(command).await;
    let text = String::from_utf8_lossy(&dump.stdout).into_owned();
    assert!(
        text.contains("INSERT INTO talk_sessions"),
        "the dump holds the session rows: {text}"
    );
    text
}

#[actix_web::test]
async fn a_site_backend_with_a_site_key_gets_a_token_and_ortto_gets_the_documented_body() {
    let (ortto, app) = ortto_and_app().await;
    let (status, _, body, _) = request(
        &app,
        Some("site-key-b-not-real"),
        None,
        json!({"email": "Jo@Example.com", "name": "Jo Smith", "first": "Jo", "person_id": "006281d8ff95c3ed70b70801",
               "fields": {"str:cm:plan": "pro"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"token": TOKEN, "session_id": "sess-1", "person_id": "p-1", "person_status": "by-id"})
    );
    let seen = ortto.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/talk/session");
    assert_eq!(seen[0].api_key.as_deref(), Some(TEST_ORTTO_KEY));
    let sent: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        sent,
        json!({
            "merge_by": ["str::email"], "merge_strategy": 2, "find_strategy": 0, "skip_non_existing": false,
            "person_id": "006281d8ff95c3ed70b70801",
            "fields": {"str::email": "Jo@example.com", "str::name": "Jo Smith", "str::first": "Jo", "str:cm:plan": "pro"},
            "location": {"source_ip": "127.0.0.1"}
        })
    );
    let (auth, outcome, person): (String, String, Option<String>) =
        sqlx::query_as("SELECT auth, outcome, person_id FROM talk_sessions")
            .fetch_one(app.store().await.pool())
            .await
            .unwrap();
    assert_eq!(
        (auth.as_str(), outcome.as_str(), person.as_deref()),
        ("TEST_SITE_KEY_B", "issued", Some("p-1"))
    );
    let stored = everything_stored(&app).await;
    assert!(!stored.contains(TOKEN), "the token was stored: {stored}");
    assert!(!stored.contains("site-key-b-not-real"), "the site key was stored");
}

#[actix_web::test]
async fn a_browser_with_a_signed_identity_gets_a_token_with_cors() {
    let (_ortto, app) = ortto_and_app().await;
    let expires = chrono::Utc::now().timestamp() + 3600;
    let (status, cors, body, _) = request(
        &app,
        None,
        Some("https://app.example.com"),
        json!({"email": "jo@example.com", "name": "Jo Smith", "expires": expires, "signature": sign("jo@example.com", "Jo Smith", expires)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"], TOKEN);
    assert_eq!(cors.as_deref(), Some("https://app.example.com"));
    let (auth,): (String,) = sqlx::query_as("SELECT auth FROM talk_sessions")
        .fetch_one(app.store().await.pool())
        .await
        .unwrap();
    assert_eq!(auth, "signed");
}

#[actix_web::test]
async fn anything_else_is_401_and_never_reaches_ortto() {
    let (ortto, app) = ortto_and_app().await;
    let now = chrono::Utc::now().timestamp();
    let identity = |email: &str, signed_email: &str, expires: i64| json!({"email": email, "name": "Jo", "expires": expires, "signature": sign(signed_email, "Jo", expires)});
    let cases = [
        (
            Some("wrong-key"),
            json!({"email": "jo@example.com", "name": "Jo"}),
        ),
        (None, json!({"email": "jo@example.com", "name": "Jo"})),
        (
            None,
            json!({"email": "jo@example.com", "name": "Jo", "expires": now + 60, "signature": "00ff"}),
        ),
        (None, identity("jo@example.com", "jo@example.com", now - 10)),
        (
            None,
            identity("jo@example.com", "jo@example.com", now + 25 * 3600),
        ),
        (None, identity("mallory@example.com", "jo@example.com", now + 60)),
    ];
    for (bearer, body) in cases {
        let (status, _, answer, _) = request(&app, bearer, None, body.clone()).await;
        assert_eq!(status, 401, "{body} → {answer}");
        assert_eq!(answer["errors"][0]["code"], "UNAUTHORIZED");
    }
    assert!(ortto.requests().is_empty());
    // Refusals are counted, never written: a flood of them cannot fill the disk.
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM talk_sessions")
        .fetch_one(app.store().await.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
    let metrics = app.get("/metrics").send(Expect::Any).await;
    let text = metrics.body.clone();
    assert!(
        text.contains("talk_relay_sessions_total{outcome=\"unauthorized\"} 6"),
        "{text}"
    );
}

#[actix_web::test]
async fn orttos_failures_are_mapped_without_leaking_the_key() {
    let (ortto, app) = ortto_and_app().await;
    ortto.script([
        Reply::json(401, r#"{"error":{"message":"bad key"}}"#),
        Reply::json(
            429,
            r#"{"error":{"code":"rate-limit","message":"rate limit","try-in-seconds":7}}"#,
        ),
        Reply::status(500),
        session_reply().after(Duration::from_millis(1500)),
    ]);
    let ask = || {
        request(
            &app,
            Some("site-key-a-not-real"),
            None,
            json!({"email": "jo@example.com", "name": "Jo"}),
        )
    };
    let (status, _, body, _) = ask().await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (502, Some("UPSTREAM_REJECTED"))
    );
    assert!(!body.to_string().contains(TEST_ORTTO_KEY));
    let (status, _, body, retry_after) = ask().await;
    assert_eq!((status, retry_after.as_deref()), (503, Some("7")), "{body}");
    let (status, _, _, _) = ask().await;
    assert_eq!(status, 502);
    let (status, _, body, retry_after) = ask().await;
    assert_eq!(status, 503, "timeout: {body}");
    assert!(retry_after.is_some());
}

#[actix_web::test]
async fn preflight_allows_listed_origins_only() {
    let (_ortto, app) = ortto_and_app().await;
    let preflight = |origin: &'static str, expect: u16| {
        app.call(Method::OPTIONS, "/talk/session")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send(expect)
    };
    let allowed = preflight("https://app.example.com", 204).await;
    assert_eq!(
        allowed.header("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    let foreign = preflight("https://evil.example", 403).await;
    assert!(foreign.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn without_configuration_or_a_key_the_endpoint_says_why() {
    let disabled = spawn_app("").await;
    let (status, _, body, _) = request(
        &disabled,
        Some("x"),
        None,
        json!({"email": "a@example.com", "name": "A"}),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (404, Some("SESSIONS_DISABLED"))
    );
    let dry = spawn_app(SESSIONS).await;
    let (status, _, body, _) = request(
        &dry,
        Some("site-key-a-not-real"),
        None,
        json!({"email": "a@example.com", "name": "A"}),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (503, Some("NOT_CONFIGURED"))
    );
    let (status, _, body, _) = request(
        &dry,
        Some("site-key-a-not-real"),
        None,
        json!({"email": "a@example.com", "name": "A", "fields": {"str::last": "x"}}),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (422, Some("FIELD_NOT_ALLOWED"))
    );
}
