//! Real senders, wired from the docs alone: consent in the vendor's own words (a Google
//! Apps Script forward of `namedValues`), a message written for submissions that bring
//! none, and `check-config` showing the words each form reads.

use crate::helpers::{check_config, run_command, spawn_app, spawn_app_at, Expect, TestApp};
use crate::readme::readme_example;
use serde_json::{json, Value};

mod signatures;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/vendors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The Google Forms example of docs/mapping.md, read from there.
fn google_form() -> String {
    readme_example("[forms.google]")
}

async fn payload_of(app: &TestApp, body: &Value) -> (Value, talk_relay::store::SubmissionRow) {
    let (status, answer) = app.post_json("google", body).await;
    assert_eq!(status, 202, "{answer}");
    let row = app.submission(answer["id"].as_str().unwrap()).await;
    (TestApp::payload(&row), row)
}

#[actix_web::test]
async fn a_google_apps_script_forward_gives_consent_in_its_own_words() {
    let app = spawn_app(&google_form()).await;
    let (payload, row) = payload_of(&app, &fixture("google-apps-script.json")).await;
    assert_eq!(payload["fields"]["bol::p"], true, "the person agreed: {payload}");
    assert!(payload["fields"]["str::s-ctx"]
        .as_str()
        .unwrap()
        .starts_with("Opted in"));
    assert_eq!(payload["fields"]["str::email"], "jo.smith@example.com");
    assert_eq!(row.consent, Some(1));
    assert_eq!(row.consent_note, None);
}

#[actix_web::test]
async fn a_consent_answer_in_neither_list_is_never_taken_as_no() {
    let app = spawn_app(&google_form()).await;
    let mut body = fixture("google-apps-script.json");
    body["Keep me posted"] = json!(["Maybe later"]);
    let (payload, row) = payload_of(&app, &body).await;
    assert!(
        payload["fields"].get("bol::p").is_none(),
        "no permission sent: {payload}"
    );
    assert!(payload["fields"].get("str::s-ctx").is_none());
    assert_eq!(row.consent, None);
    let note = row.consent_note.unwrap();
    assert!(
        note.contains("Maybe later") && note.contains("consent.ticked"),
        "{note}"
    );

    // An unticked box (absent from the forward) is still a no under opt_out.
    body.as_object_mut().unwrap().remove("Keep me posted");
    let (payload, row) = payload_of(&app, &body).await;
    assert_eq!(payload["fields"]["bol::p"], false);
    assert_eq!(row.consent_note, None);

    let metrics = app.get("/metrics").send(Expect::Any).await;
    let text = metrics.body.clone();
    assert!(
        text.contains("talk_relay_consent_unrecognised_total{source_kind=\"form\",source=\"google\",outcome=\"unrecognised\"} 1"),
        "{text}"
    );
}

#[actix_web::test]
async fn check_config_prints_the_words_each_form_reads() {
    let output = check_config(&google_form()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("\"i agree to be contacted\""), "{stdout}");
    assert!(stdout.contains("unticked words: \"off\""), "{stdout}");
    let both = check_config(&format!(
        "{}unticked = [\"I agree to be contacted\"]\n",
        google_form()
    ))
    .await;
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("both ticked and unticked"));
}

#[actix_web::test]
async fn a_submission_without_a_message_gets_one_written_from_its_fields() {
    let app = spawn_app(
        "[forms.newsletter]\ntitle = 'Newsletter'\n[forms.newsletter.consent]\nfield = 'subscribe'\nunchecked = 'leave'\n\
         [forms.booking]\ntitle = 'Booking'\ndefault_message = \"Booked through {title}:\\n{fields}\"\n",
    )
    .await;
    let (status, answer) = app
        .post_json(
            "newsletter",
            &json!({"email": "jo@example.com", "subscribe": "on"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "A submission to Newsletter, with no message.\n\nemail: jo@example.com\nsubscribe: on"
    );
    assert_eq!(payload["fields"]["bol::p"], true);

    let (status, answer) = app
        .post_json(
            "booking",
            &json!({"email": "lee@example.com", "name": "Lee Wong"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Booked through Booking:\nemail: lee@example.com\nname: Lee Wong"
    );

    // Invalid only when it cannot identify a person.
    let (status, answer) = app.post_json("newsletter", &json!({"subscribe": "on"})).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "email");
}

/// A signed call the way Calendly signs it: `t=<unix>,v1=<hex HMAC of "t.body">`.
async fn post_timestamped(app: &TestApp, path: &str, header: &str, body: &[u8]) -> (u16, Value) {
    use hmac::{Hmac, Mac};
    let t = chrono::Utc::now().timestamp();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test_only_not_a_real_secret").unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let signature = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    let response = app
        .post(path)
        .header("Content-Type", "application/json")
        .header(header, signature)
        .body(body.to_vec(), Expect::Any)
        .await;
    (response.status, response.json())
}

fn raw_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/vendors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// docs/webhooks.md's Calendly example, with the tests' secret variable.
fn calendly() -> String {
    readme_example("[hooks.calendly]").replace("CALENDLY_SIGNING_KEY", "TEST_HOOK_SECRET")
}

#[actix_web::test]
async fn a_booking_tool_s_cancellation_is_ignored_and_a_booking_without_questions_gets_a_message() {
    let app = spawn_app(&calendly()).await;
    let header = "Calendly-Webhook-Signature";
    let (status, created) = post_timestamped(
        &app,
        "/hooks/calendly",
        header,
        &raw_fixture("calendly-created.json"),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let payload = TestApp::payload(&app.submission(created["id"].as_str().unwrap()).await);
    assert_eq!(payload["fields"]["str::email"], "pat.lee@example.com");
    assert_eq!(payload["fields"]["str::first"], "Pat");
    let message = payload["conversation"]["messages"][0]["body"].as_str().unwrap();
    assert!(
        message.starts_with("A submission to Calendly booking"),
        "{message}"
    );

    let (status, canceled) = post_timestamped(
        &app,
        "/hooks/calendly",
        header,
        &raw_fixture("calendly-canceled.json"),
    )
    .await;
    assert_eq!((status, &canceled), (200, &json!({"ok": true, "ignored": true})));
    assert_eq!(
        app.submissions().await.len(),
        1,
        "the cancellation made no second conversation"
    );

    // Still authenticated first: an unsigned cancellation is a 401, not an "ignored".
    app.post("/hooks/calendly")
        .header("Content-Type", "application/json")
        .body(raw_fixture("calendly-canceled.json"), 401)
        .await;
    let metrics = app.get("/metrics").send(Expect::Any).await;
    let text = metrics.body.clone();
    assert!(
        text.contains(
            "talk_relay_intake_total{source_kind=\"hook\",source=\"calendly\",outcome=\"ignored\"} 1"
        ),
        "{text}"
    );
}

async fn post_with_token(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = app
        .post(path)
        .header("Authorization", "Bearer hook-token-not-real")
        .json(body, Expect::Any)
        .await;
    (response.status, response.json())
}

#[actix_web::test]
async fn a_batch_of_events_becomes_one_submission_each_and_a_resend_is_all_duplicates() {
    let app = spawn_app(
        "[hooks.crm]\npreset = 'generic'\nauth = 'token'\nsecret_env = 'TEST_HOOK_TOKEN'\n\
         token_header = 'Authorization'\ntitle = 'CRM'\nbatch = '/events'\n\
         [hooks.crm.accept]\n'/type' = ['contact.created', 'contact.updated']\n",
    )
    .await;
    let batch = json!({"events": [
        {"id": "evt_1", "type": "contact.created", "data": {"email": "a@example.com", "first_name": "Ann", "company": "Acme"}},
        {"id": "evt_2", "type": "contact.updated", "data": {"email": "b@example.com", "message": "Call me"}},
        {"id": "evt_3", "type": "contact.deleted", "data": {"email": "c@example.com"}},
        {"id": "evt_4", "type": "contact.created", "data": {"name": "No Email"}}
    ]});
    let (status, answer) = post_with_token(&app, "/hooks/crm", &batch).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        (
            &answer["new"],
            &answer["duplicates"],
            &answer["ignored"],
            &answer["invalid"]
        ),
        (&json!(2), &json!(0), &json!(1), &json!(1))
    );
    let (status, again) = post_with_token(&app, "/hooks/crm", &batch).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!((&again["new"], &again["duplicates"]), (&json!(0), &json!(2)));
    assert_eq!(again["ids"], answer["ids"]);

    let rows = app.submissions().await;
    let queued: Vec<_> = rows.iter().filter(|r| r.status != "invalid").collect();
    assert_eq!(queued.len(), 2);
    let first = TestApp::payload(
        queued
            .iter()
            .find(|r| r.email.as_deref() == Some("a@example.com"))
            .unwrap(),
    );
    assert_eq!(first["fields"]["str::first"], "Ann");
    let body = first["conversation"]["messages"][0]["body"].as_str().unwrap();
    assert!(body.contains("company: Acme"), "{body}");
}

#[actix_web::test]
async fn a_flat_zapier_style_body_needs_no_pointers() {
    let zap = readme_example("[hooks.zap]").replace("ZAP_HOOK_TOKEN", "TEST_HOOK_TOKEN");
    let app = spawn_app(&zap).await;
    let (status, answer) = post_with_token(
        &app,
        "/hooks/zap",
        &json!({"email": "zoe@example.com", "name": "Zoe Park", "message": "From a Zap", "plan": "pro"}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let payload = TestApp::payload(&app.submission(answer["id"].as_str().unwrap()).await);
    assert_eq!(payload["fields"]["str::email"], "zoe@example.com");
    assert_eq!(
        (&payload["fields"]["str::first"], &payload["fields"]["str::last"]),
        (&json!("Zoe"), &json!("Park"))
    );
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "From a Zap\n\nplan: pro"
    );
}
