//! Signature schemes: Formspree, Basin, and signed templates over method, URL, body and timestamp.

use super::*;

fn hmac_bytes(parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test_only_not_a_real_secret").unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

async fn post_signed(app: &TestApp, path: &str, headers: Vec<(&str, String)>, body: &[u8]) -> (u16, Value) {
    let mut request = app.post(path).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body.to_vec(), Expect::Any).await;
    (response.status, response.json())
}

/// docs/webhooks.md's table of senders, as configured there.
const SENDERS: &str = r#"
[hooks.formspree]
preset = "generic"
auth = "hmac"
secret_env = "TEST_HOOK_SECRET"
signature_header = "Formspree-Signature"
signature_format = "timestamped"
[hooks.formspree.pointers]
email = "/submission/email"
full_name = "/submission/name"
message = "/submission/message"

[hooks.basin]
preset = "generic"
auth = "hmac"
secret_env = "TEST_HOOK_SECRET"
signature_header = "X-Basin-Signature"
signature_prefix = "sha256="

[server]
public_url = "https://relay.example.com"

[hooks.crm]
preset = "generic"
auth = "hmac"
secret_env = "TEST_HOOK_SECRET"
signature_header = "X-CRM-Signature"
signature_encoding = "base64"
signed = "{method}{url}{body}{timestamp}"
timestamp_header = "X-CRM-Timestamp"
timestamp_unit = "ms"
tolerance_secs = 300
batch = "/events"
"#;

#[actix_web::test]
async fn formspree_and_basin_sign_as_their_docs_say() {
    let app = spawn_app(SENDERS).await;
    let body = raw_fixture("formspree.json");
    let (status, answer) = post_timestamped(&app, "/hooks/formspree", "Formspree-Signature", &body).await;
    assert_eq!(status, 202, "{answer}");
    let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
    assert_eq!(payload["fields"]["str::email"], "riya.shah@example.com");

    let body = raw_fixture("basin.json");
    let signature = format!("sha256={}", hex::encode(hmac_bytes(&[&body])));
    let (status, answer) = post_signed(
        &app,
        "/hooks/basin",
        vec![("X-Basin-Signature", signature)],
        &body,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
    assert_eq!(payload["fields"]["str::email"], "sam.ito@example.com");
    let (status, _) = post_signed(
        &app,
        "/hooks/basin",
        vec![("X-Basin-Signature", "sha256=00".to_owned())],
        &body,
    )
    .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn a_crm_that_signs_method_url_body_and_a_millisecond_timestamp_is_verified() {
    let app = spawn_app(SENDERS).await;
    let body = raw_fixture("crm-batch.json");
    let url = "https://relay.example.com/hooks/crm".to_owned();
    let sign = |url: &str, millis: i64| {
        let signature = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            hmac_bytes(&[b"POST", url.as_bytes(), &body, millis.to_string().as_bytes()]),
        );
        vec![
            ("X-CRM-Signature", signature),
            ("X-CRM-Timestamp", millis.to_string()),
        ]
    };
    let now = chrono::Utc::now().timestamp_millis();
    let (status, answer) = post_signed(&app, "/hooks/crm", sign(&url, now), &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["new"], 2);

    // Signed for another host that the client names in Host and forwarded headers: refused,
    // since `{url}` is the configured public address, never what a client says.
    let staging = "https://staging.example/hooks/crm";
    let mut headers = sign(staging, now);
    headers.extend([
        ("Host", "staging.example".to_owned()),
        ("X-Forwarded-Host", "staging.example".to_owned()),
        ("X-Forwarded-Proto", "https".to_owned()),
        ("Forwarded", "host=staging.example;proto=https".to_owned()),
    ]);
    let (status, refused) = post_signed(&app, "/hooks/crm", headers, &body).await;
    assert_eq!(status, 401, "{refused}");

    // Signed for another URL, or six minutes old: refused.
    let (status, refused) = post_signed(
        &app,
        "/hooks/crm",
        sign("https://elsewhere.example/hooks/crm", now),
        &body,
    )
    .await;
    assert_eq!(status, 401, "{refused}");
    let (status, refused) = post_signed(&app, "/hooks/crm", sign(&url, now - 360_000), &body).await;
    assert_eq!(status, 401, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("300 seconds"),
        "{refused}"
    );
    assert_eq!(app.submissions().await.len(), 2);
}

#[actix_web::test]
async fn a_signed_url_needs_a_configured_address() {
    let hook = "[hooks.x]\npreset = 'generic'\nauth = 'hmac'\nsecret_env = 'X_SECRET'\n\
                signature_header = 'X-Sig'\nsigned = '{url}{body}'\n";
    let output = check_config(hook).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hooks.x.signed_url") && stderr.contains("server.public_url"),
        "{stderr}"
    );
    let output = check_config(&format!(
        "{hook}signed_url = 'https://relay.example.com/hooks/x'\n"
    ))
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[actix_web::test]
async fn a_signature_template_with_an_unknown_placeholder_names_its_key() {
    let output = check_config(
        "[hooks.x]\npreset = 'generic'\nauth = 'hmac'\nsecret_env = 'X_SECRET'\nsignature_header = 'X-Sig'\nsigned = '{verb}{body}'\n",
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hooks.x.signed") && stderr.contains("{verb}"),
        "{stderr}"
    );
}

/// A Standard Webhooks (Svix) sender, as docs/webhooks.md configures one.
const STANDARD: &str = r#"
[hooks.svix]
preset = "standard-webhooks"
secret_env = "TEST_WHSEC"
"#;

/// `v1,<base64>` over `{id}.{timestamp}.{body}` with the decoded `whsec_` key, as the
/// Standard Webhooks specification describes it.
fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

fn standard_headers(id: &str, timestamp: i64, signature: String) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ]
}

#[actix_web::test]
async fn standard_webhooks_verify_the_specifications_own_example() {
    // The example in the Standard Webhooks specification, at its own time.
    let at = chrono::DateTime::from_timestamp(1_614_265_330, 0).unwrap();
    let app = spawn_app_at(STANDARD, at).await;
    let body = br#"{"test": 2432232314}"#;
    let headers = standard_headers(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned(),
    );
    // Authenticated (the payload has no email, so it is kept as invalid, not refused as 401).
    let (status, answer) = post_signed(&app, "/hooks/svix", headers.clone(), body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(app.latest().await.status, "invalid");
    // The same signature over other bytes, or for another message id: refused.
    let (status, _) = post_signed(&app, "/hooks/svix", headers.clone(), br#"{"test": 1}"#).await;
    assert_eq!(status, 401);
    let mut other_id = headers;
    other_id[0].1 = "msg_other".to_owned();
    let (status, _) = post_signed(&app, "/hooks/svix", other_id, body).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn standard_webhooks_take_any_of_several_signatures_and_dedupe_retries_by_message_id() {
    use base64::Engine;
    let now = chrono::Utc::now();
    let app = spawn_app_at(STANDARD, now).await;
    let key = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let body = br#"{"type":"contact.created","timestamp":"2026-12-06T10:00:00Z","data":{"email":"mo@example.com","name":"Mo Li","message":"Call me"}}"#;
    let t = now.timestamp();
    // While the sender rotates its secret it signs with the old and the new one.
    let old = standard_signature(b"an-old-secret", "msg_1", t, body);
    let new = standard_signature(&key, "msg_1", t, body);
    let (status, first) = post_signed(
        &app,
        "/hooks/svix",
        standard_headers("msg_1", t, format!("{old} {new}")),
        body,
    )
    .await;
    assert_eq!(status, 202, "{first}");
    let row = app.submission(first["id"].as_str().unwrap()).await;
    assert_eq!(row.email.as_deref(), Some("mo@example.com"));
    // The sender's retry: the same message id, a later timestamp and so a new signature.
    let retry = standard_signature(&key, "msg_1", t + 30, body);
    let (status, again) = post_signed(
        &app,
        "/hooks/svix",
        standard_headers("msg_1", t + 30, retry),
        body,
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    // Another message with the same body is new; a call signed only with the old secret is refused.
    let other = standard_signature(&key, "msg_2", t, body);
    let (status, _) = post_signed(&app, "/hooks/svix", standard_headers("msg_2", t, other), body).await;
    assert_eq!(status, 202);
    let (status, refused) = post_signed(
        &app,
        "/hooks/svix",
        standard_headers("msg_1", t, old.clone()),
        body,
    )
    .await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(app.submissions().await.len(), 2);
}

#[actix_web::test]
async fn stripe_style_headers_with_two_v1_signatures_pass_while_a_secret_rolls() {
    use hmac::{Hmac, Mac};
    let app = spawn_app(SENDERS).await;
    let body = raw_fixture("formspree.json");
    let t = chrono::Utc::now().timestamp();
    let sign = |secret: &[u8]| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(&body);
        hex::encode(mac.finalize().into_bytes())
    };
    let current = sign(b"whsec_test_only_not_a_real_secret");
    let rolled = sign(b"whsec_the_next_secret");
    // Stripe's layout while a secret rolls: both signatures, and a v0 that is not ours.
    let header = format!("t={t},v1={rolled},v1={current},v0={}", "ab".repeat(32));
    let (status, answer) = post_signed(
        &app,
        "/hooks/formspree",
        vec![("Formspree-Signature", header)],
        &body,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    // The same two signatures as two lines of the header, as some proxies deliver them.
    let response = app
        .post("/hooks/formspree")
        .header("Content-Type", "application/json")
        .append_header("Formspree-Signature", format!("t={t},v1={rolled}"))
        .append_header("Formspree-Signature", format!("t={t},v1={current}"))
        .body(raw_fixture("formspree.json"), Expect::Any)
        .await;
    assert_eq!(response.status, 200, "the same event again: {}", response.body);
    // Neither signature is ours: refused as a mismatch, not as malformed.
    let header = format!("t={t},v1={rolled},v1={rolled}");
    let (status, refused) = post_signed(
        &app,
        "/hooks/formspree",
        vec![("Formspree-Signature", header)],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        refused["error"].as_str().unwrap().contains("does not match"),
        "{refused}"
    );
}

#[actix_web::test]
async fn a_template_may_sign_any_header_and_a_missing_one_is_named() {
    let app = spawn_app(
        "[hooks.h]\npreset = 'generic'\nauth = 'hmac'\nsecret_env = 'TEST_HOOK_SECRET'\n\
         signature_header = 'X-Sig'\nsigned = '{header:X-Event-Id}|{body}'\n",
    )
    .await;
    let body = br#"{"email":"hd@example.com","message":"signed with a header"}"#;
    let signature = hex::encode(hmac_bytes(&[b"evt-9|", body]));
    let headers = vec![("X-Sig", signature.clone()), ("X-Event-Id", "evt-9".to_owned())];
    let (status, answer) = post_signed(&app, "/hooks/h", headers, body).await;
    assert_eq!(status, 202, "{answer}");
    let headers = vec![("X-Sig", signature.clone()), ("X-Event-Id", "evt-10".to_owned())];
    let (status, _) = post_signed(&app, "/hooks/h", headers, body).await;
    assert_eq!(status, 401);
    let (status, refused) = post_signed(&app, "/hooks/h", vec![("X-Sig", signature)], body).await;
    assert_eq!(status, 401);
    assert!(
        refused["error"].as_str().unwrap().contains("x-event-id"),
        "{refused}"
    );
}

#[actix_web::test]
async fn a_secret_that_does_not_decode_stops_check_config_naming_the_key_not_the_secret() {
    let mut command = crate::commands::relay_binary();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, STANDARD).unwrap();
    command
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .current_dir(dir.path())
        .env("TEST_WHSEC", "whsec_not*base64*at-all");
    let output = run_command(command).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hooks.svix.secret_env") && stderr.contains("whsec"),
        "{stderr}"
    );
    assert!(!stderr.contains("not*base64"), "{stderr}");
}

#[actix_web::test]
async fn a_captured_signed_call_with_new_idempotency_keys_stays_a_duplicate() {
    let app = spawn_app(SENDERS).await;
    let body = raw_fixture("basin.json");
    let signature = format!("sha256={}", hex::encode(hmac_bytes(&[&body])));
    let mut ids = Vec::new();
    for key in [None, Some("k1"), Some("k2"), Some("k3")] {
        let mut headers = vec![("X-Basin-Signature", signature.clone())];
        if let Some(key) = key {
            headers.push(("Idempotency-Key", key.to_owned()));
        }
        let (status, answer) = post_signed(&app, "/hooks/basin", headers, &body).await;
        assert_eq!(status, if key.is_none() { 202 } else { 200 }, "{answer}");
        ids.push(answer["id"].clone());
    }
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(app.submissions().await.len(), 1);
}
