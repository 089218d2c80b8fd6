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

/// The README's table of senders, as configured there.
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
    let url = app.url("/hooks/crm");
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
