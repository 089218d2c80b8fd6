//! Real senders, wired from the README alone: consent in the vendor's own words (a Google
//! Apps Script forward of `namedValues`), a message written for submissions that bring
//! none, and `check-config` showing the words each form reads.

use crate::helpers::{check_config, spawn_app, TestApp};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/vendors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The README's Google Forms example.
const GOOGLE_FORM: &str = r#"
[forms.google]
title = "Google Form"
message_field = "What can we help with?"
[forms.google.fields]
"Email Address" = "str::email"
"Name" = "str::name"
[forms.google.consent]
field = "Keep me posted"
unchecked = "opt_out"
ticked = ["I agree to be contacted"]
"#;

async fn payload_of(app: &TestApp, body: &Value) -> (Value, talk_relay::store::SubmissionRow) {
    let (status, answer) = app.post_json("google", body).await;
    assert_eq!(status, 202, "{answer}");
    let row = app.submission(answer["id"].as_str().unwrap()).await;
    (TestApp::payload(&row), row)
}

#[actix_web::test]
async fn a_google_apps_script_forward_gives_consent_in_its_own_words() {
    let app = spawn_app(GOOGLE_FORM).await;
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
    let app = spawn_app(GOOGLE_FORM).await;
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

    let mut metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = crate::helpers::body_text(&mut metrics).await;
    assert!(
        text.contains("talk_relay_consent_unrecognised_total{source_kind=\"form\",source=\"google\",outcome=\"unrecognised\"} 1"),
        "{text}"
    );
}

#[actix_web::test]
async fn check_config_prints_the_words_each_form_reads() {
    let output = check_config(GOOGLE_FORM).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("\"i agree to be contacted\""), "{stdout}");
    assert!(stdout.contains("unticked words: \"off\""), "{stdout}");
    let both = check_config(&format!(
        "{GOOGLE_FORM}unticked = [\"I agree to be contacted\"]\n"
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
