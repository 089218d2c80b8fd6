//! docs/webhooks.md "Webhooks from form tools": vendor webhooks, authenticated over the raw bytes, mapped like forms, deduplicated.

use crate::helpers::{spawn_app, spawn_app_at, Expect, TestApp};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

mod generic;
mod webflow;

const SECRET: &str = "whsec_test_only_not_a_real_secret";
const TOKEN: &str = "hook-token-not-real";

const HOOKS: &str = r#"
[hooks.typeform]
preset = "typeform"
title = "Typeform contact"
secret_env = "TEST_HOOK_SECRET"
[hooks.typeform.consent]
field = "consent"
unchecked = "opt_out"

[hooks.tally]
preset = "tally"
secret_env = "TEST_HOOK_SECRET"
[hooks.tally.consent]
field = "Consent"
unchecked = "leave"

[hooks.webflow]
preset = "webflow"
secret_env = "TEST_HOOK_SECRET"

[hooks.jotform]
preset = "jotform"
secret_env = "TEST_HOOK_TOKEN"
"#;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/vendors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn signature_header(vendor: &str, header: &str) -> String {
    let signatures: Value = serde_json::from_slice(&fixture("signatures.json")).unwrap();
    let entry = signatures
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["vendor"] == vendor)
        .unwrap();
    entry["headers"][header].as_str().unwrap().to_owned()
}

fn hmac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn typeform_signature(body: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(hmac(SECRET, &[body]))
    )
}

async fn post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = app.post(path).header("Content-Type", content_type);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body, Expect::Any).await;
    (response.status, response.json())
}

async fn post_typeform(app: &TestApp, body: Vec<u8>, signature: String) -> (u16, Value) {
    post(
        app,
        "/hooks/typeform",
        "application/json",
        &[("Typeform-Signature", signature)],
        body,
    )
    .await
}

#[actix_web::test]
async fn typeform_sample_with_its_signature_is_mapped_by_reference_and_type() {
    let app = spawn_app(HOOKS).await;
    let (status, body) = post_typeform(
        &app,
        fixture("typeform.json"),
        signature_header("typeform", "Typeform-Signature"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(
        (row.source_kind.as_str(), row.source.as_str()),
        ("hook", "typeform")
    );
    assert_eq!(row.idempotency_key.as_deref(), Some("01HZX4TQK2M9"));
    assert_eq!(row.consent, Some(1));
    let payload = TestApp::payload(&row);
    assert_eq!(payload["fields"]["str::first"], "Maya");
    assert_eq!(payload["fields"]["str::email"], "maya.patel@example.com");
    assert_eq!(payload["fields"]["bol::p"], true);
    assert!(payload["fields"]["str::s-ctx"]
        .as_str()
        .unwrap()
        .starts_with("Opted in via the Typeform contact form"));
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Hi! Do you offer an annual plan for teams of 12?\n\nutm_source: newsletter"
    );
    assert_eq!(
        payload["conversation"]["subject"],
        "Typeform contact: Hi! Do you offer an annual plan for teams of 12?"
    );
}

#[actix_web::test]
async fn a_tampered_body_or_wrong_secret_is_401_not_recorded_and_counted() {
    let app = spawn_app(HOOKS).await;
    let good = signature_header("typeform", "Typeform-Signature");
    let mut tampered = fixture("typeform.json");
    let at = tampered.windows(4).position(|w| w == b"Maya").unwrap();
    tampered[at] = b'N';
    let (status, body) = post_typeform(&app, tampered, good.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["code"], "BAD_SIGNATURE");

    let wrong_secret = format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD
            .encode(hmac("another-secret", &[&fixture("typeform.json")]))
    );
    assert_eq!(
        post_typeform(&app, fixture("typeform.json"), wrong_secret)
            .await
            .0,
        401
    );
    let (status, body) = post(
        &app,
        "/hooks/typeform",
        "application/json",
        &[],
        fixture("typeform.json"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("Typeform-Signature"),
        "{body}"
    );
    assert!(app.submissions().await.is_empty());

    let metrics = app.get("/metrics").send(Expect::Any).await;
    let text = metrics.body.clone();
    assert!(
        text.contains(
            "talk_relay_intake_total{source_kind=\"hook\",source=\"typeform\",outcome=\"bad_signature\"} 3"
        ),
        "{text}"
    );
}

#[actix_web::test]
async fn tally_sample_resolves_labels_types_and_checkbox_options() {
    let app = spawn_app(HOOKS).await;
    let (status, body) = post(
        &app,
        "/hooks/tally",
        "application/json",
        &[("Tally-Signature", signature_header("tally", "Tally-Signature"))],
        fixture("tally.json"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(
        row.idempotency_key.as_deref(),
        Some("3f6c1e2a-7b8d-4c9e-a1f2-0b3c4d5e6f70")
    );
    let payload = TestApp::payload(&row);
    assert_eq!(payload["fields"]["str::name"], "Maya Patel");
    assert_eq!(payload["fields"]["str::first"], "Maya");
    assert_eq!(payload["fields"]["str::last"], "Patel");
    assert_eq!(payload["fields"]["bol::p"], true);
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Hi! Do you offer an annual plan for teams of 12?"
    );

    let mut tampered = fixture("tally.json");
    tampered.insert(1, b' ');
    let (status, _) = post(
        &app,
        "/hooks/tally",
        "application/json",
        &[("Tally-Signature", signature_header("tally", "Tally-Signature"))],
        tampered,
    )
    .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn jotform_multipart_with_a_token() {
    let app = spawn_app(HOOKS).await;
    let content_type = "multipart/form-data; boundary=------------------------7c1f9e0a2b4d6c8e";
    let path = format!("/hooks/jotform?token={TOKEN}");
    let (status, body) = post(&app, &path, content_type, &[], fixture("jotform.multipart")).await;
    assert_eq!(status, 202, "{body}");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(row.idempotency_key.as_deref(), Some("5987654321098765432"));
    let payload = TestApp::payload(&row);
    assert_eq!(payload["fields"]["str::first"], "Maya");
    assert_eq!(payload["fields"]["str::last"], "Patel");
    assert_eq!(payload["fields"]["str::email"], "maya.patel@example.com");
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Hi! Do you offer an annual plan for teams of 12?"
    );

    let (status, body) = post(
        &app,
        "/hooks/jotform",
        content_type,
        &[],
        fixture("jotform.multipart"),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (401, Some("BAD_SIGNATURE"))
    );
    let wrong = post(
        &app,
        "/hooks/jotform?token=guess",
        content_type,
        &[],
        fixture("jotform.multipart"),
    )
    .await;
    assert_eq!(wrong.0, 401);
}

#[actix_web::test]
async fn consent_true_false_and_absent_through_a_preset() {
    let app = spawn_app(HOOKS).await;
    let original: Value = serde_json::from_slice(&fixture("typeform.json")).unwrap();
    let variant = |event: &str, consent: Option<bool>| {
        let mut payload = original.clone();
        payload["event_id"] = json!(event);
        let answers = payload["form_response"]["answers"].as_array_mut().unwrap();
        match consent {
            Some(value) => answers[3]["boolean"] = json!(value),
            None => {
                answers.remove(3);
            }
        }
        serde_json::to_vec(&payload).unwrap()
    };
    for (event, consent, expected) in [
        ("e-true", Some(true), Some(1)),
        ("e-false", Some(false), Some(0)),
        ("e-absent", None, Some(0)),
    ] {
        let body = variant(event, consent);
        let signature = typeform_signature(&body);
        let (status, response) = post_typeform(&app, body, signature).await;
        assert_eq!(status, 202, "{response}");
        let row = app.submission(response["id"].as_str().unwrap()).await;
        assert_eq!(row.consent, expected, "{event}");
        assert!(TestApp::payload(&row)["fields"]["str::s-ctx"].is_string());
    }

    // Under `leave`, absent consent sends no permission at all.
    let tally: Value = serde_json::from_slice(&fixture("tally.json")).unwrap();
    let mut unticked = tally.clone();
    unticked["data"]["fields"][3]["value"] = json!([]);
    unticked["data"]["fields"].as_array_mut().unwrap().remove(4);
    let body = serde_json::to_vec(&unticked).unwrap();
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac(SECRET, &[&body]));
    let (status, response) = post(
        &app,
        "/hooks/tally",
        "application/json",
        &[("Tally-Signature", signature)],
        body,
    )
    .await;
    assert_eq!(status, 202, "{response}");
    let row = app.submission(response["id"].as_str().unwrap()).await;
    assert_eq!(row.consent, None);
    assert!(TestApp::payload(&row)["fields"].get("bol::p").is_none());
}

#[actix_web::test]
async fn a_preset_can_be_tuned_without_a_generic_mapping() {
    let app = spawn_app(
        r#"
[hooks.typeform]
preset = "typeform"
secret_env = "TEST_HOOK_SECRET"
message = "first_name"
[hooks.typeform.fields]
utm_source = "str:cm:utm-source"
[hooks.typeform.consent]
field = "legal"
unchecked = "opt_out"
"#,
    )
    .await;
    let (status, body) = post_typeform(
        &app,
        fixture("typeform.json"),
        signature_header("typeform", "Typeform-Signature"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let payload = TestApp::payload(&app.submission(body["id"].as_str().unwrap()).await);
    // The chosen question is the message; the one it displaced is kept under its own title.
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Maya\n\nHow can we help?: Hi! Do you offer an annual plan for teams of 12?"
    );
    assert_eq!(payload["fields"]["str:cm:utm-source"], "newsletter");
    // Consent picked by question type rather than reference.
    assert_eq!(payload["fields"]["bol::p"], true);
}
