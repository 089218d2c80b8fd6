//! docs/mapping.md "Mapping rules", observed in the recorded compose payload.

use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

mod consent;

async fn payload_for(app: &TestApp, form: &str, body: Value) -> Value {
    let (status, response) = app.post_json(form, &body).await;
    assert_eq!(status, 202, "{response}");
    TestApp::payload(&app.submission(response["id"].as_str().unwrap()).await)
}

async fn problems_for(app: &TestApp, form: &str, body: Value) -> Vec<(String, String)> {
    let (status, response) = app.post_json(form, &body).await;
    assert_eq!(status, 422, "{response}");
    assert_eq!(response["ok"], false);
    assert!(response["error"].as_str().is_some_and(|e| !e.is_empty()));
    response["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn conventional_names_map_without_configuration() {
    let app = spawn_app("[forms.demo]\ndefault_country_code = \"61\"\n").await;
    for (email_name, first_name, last_name) in [
        ("email", "first_name", "last_name"),
        ("e-mail", "firstname", "lastname"),
        ("email_address", "fname", "lname"),
        ("_replyto", "given_name", "surname"),
        ("email", "first_name", "family_name"),
    ] {
        let payload = payload_for(
            &app,
            "demo",
            json!({email_name: "x@example.com", first_name: "Jo", last_name: "Smith", "tel": "0401 234 567", "message": "m"}),
        )
        .await;
        assert_eq!(payload["fields"]["str::email"], "x@example.com", "{email_name}");
        assert_eq!(payload["fields"]["str::first"], "Jo", "{first_name}");
        assert_eq!(payload["fields"]["str::last"], "Smith", "{last_name}");
        assert_eq!(
            payload["fields"]["phn::phone"],
            json!({"c": "61", "n": "401234567"})
        );
    }
}

#[actix_web::test]
async fn a_full_name_is_kept_and_split_when_parts_are_absent() {
    let app = spawn_app("").await;
    let payload = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "full_name": "Mary Ann van Dyke", "message": "m"}),
    )
    .await;
    assert_eq!(payload["fields"]["str::name"], "Mary Ann van Dyke");
    assert_eq!(payload["fields"]["str::first"], "Mary");
    assert_eq!(payload["fields"]["str::last"], "Ann van Dyke");
    let payload = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "name": "Jo Smith", "first_name": "Joanna", "message": "m"}),
    )
    .await;
    assert_eq!(payload["fields"]["str::first"], "Joanna");
    assert!(payload["fields"].get("str::last").is_none());
}

#[actix_web::test]
async fn an_explicit_field_map_shapes_values_by_type() {
    let app = spawn_app(
        "[forms.demo.fields]\ncompany = \"str:cm:company\"\nseats = \"int:cm:seats\"\nvip = \"bol:cm:vip\"\ncity = \"geo::city\"\nmobile = \"phn::phone\"\nwork_email = \"str::email\"\n",
    )
    .await;
    let payload = payload_for(
        &app,
        "demo",
        json!({"work_email": "Ops@Example.COM", "email": "other@example.com", "company": "Acme", "seats": "12",
               "vip": "yes", "city": "Sydney", "mobile": "+61 401 234 567", "message": "m"}),
    )
    .await;
    let fields = &payload["fields"];
    assert_eq!(fields["str::email"], "Ops@example.com");
    assert_eq!(fields["str:cm:company"], "Acme");
    assert_eq!(fields["int:cm:seats"], 12);
    assert_eq!(fields["bol:cm:vip"], true);
    assert_eq!(fields["geo::city"], json!({"name": "Sydney"}));
    assert_eq!(
        fields["phn::phone"],
        json!({"phone": "61401234567", "parse_with_country_code": true})
    );
    // The conventional `email` lost to the explicit map and is shown to the agent instead.
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "m\n\nemail: other@example.com"
    );

    let problems = problems_for(
        &app,
        "demo",
        json!({"work_email": "a@example.com", "seats": "a dozen", "message": "m"}),
    )
    .await;
    assert_eq!(problems, vec![("seats".to_owned(), "TYPE_NUMERIC".to_owned())]);
}

#[actix_web::test]
async fn a_national_phone_without_a_default_country_stays_in_the_text() {
    let app = spawn_app("").await;
    let payload = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "phone": "0401 234 567", "message": "Call me"}),
    )
    .await;
    assert!(payload["fields"].get("phn::phone").is_none());
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Call me\n\nphone: 0401 234 567"
    );
}

#[actix_web::test]
async fn the_main_merge_field_is_required_and_emails_are_checked_and_normalised() {
    let app = spawn_app("").await;
    assert_eq!(
        problems_for(&app, "demo", json!({"message": "no email"})).await,
        vec![("email".to_owned(), "REQUIRED_FIELD_MISSING".to_owned())]
    );
    assert_eq!(
        problems_for(&app, "demo", json!({"email": "  ", "message": "blank"})).await,
        vec![("email".to_owned(), "REQUIRED_FIELD_EMPTY".to_owned())]
    );
    assert_eq!(
        problems_for(&app, "demo", json!({"email": "not-an-email", "message": "bad"})).await,
        vec![("email".to_owned(), "TYPE_EMAIL".to_owned())]
    );
    let payload = payload_for(
        &app,
        "demo",
        json!({"email": "  Jo@EXAMPLE.com ", "message": "ok"}),
    )
    .await;
    assert_eq!(payload["fields"]["str::email"], "Jo@example.com");
    assert_eq!(payload["merge_by"], json!(["str::email"]));

    // Invalid submissions are recorded with their reason, and never queued.
    let invalid: Vec<_> = app
        .submissions()
        .await
        .into_iter()
        .filter(|r| r.status == "invalid")
        .collect();
    assert_eq!(invalid.len(), 3);
    assert!(invalid
        .iter()
        .all(|r| r.payload.is_none() && r.last_error.is_some()));
}

#[actix_web::test]
async fn merge_by_can_be_configured() {
    let app = spawn_app(
        "[forms.demo]\nmerge_by = [\"phn::phone\", \"str::email\"]\ndefault_country_code = \"44\"\n",
    )
    .await;
    let payload = payload_for(&app, "demo", json!({"phone": "020 7946 0958", "message": "m"})).await;
    assert_eq!(payload["merge_by"], json!(["phn::phone", "str::email"]));
    assert_eq!(
        problems_for(&app, "demo", json!({"email": "a@example.com", "message": "m"})).await,
        vec![("phone".to_owned(), "REQUIRED_FIELD_MISSING".to_owned())]
    );
}

#[actix_web::test]
async fn subject_from_the_field_then_the_form_then_the_message() {
    let app = spawn_app("[forms.sales]\ntitle = \"Sales\"\nsubject = \"New sales lead\"\n").await;
    let subject = |p: Value| p["conversation"]["subject"].as_str().unwrap().to_owned();
    let from_field = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "_subject": "Pricing?", "message": "m"}),
    )
    .await;
    assert_eq!(subject(from_field), "Pricing?");
    let from_plain_field = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "subject": "Hello", "message": "m"}),
    )
    .await;
    assert_eq!(subject(from_plain_field), "Hello");
    let from_form = payload_for(&app, "sales", json!({"email": "a@example.com", "message": "m"})).await;
    assert_eq!(subject(from_form), "New sales lead");
    let long_line = "This first line of the message is long enough that it has to be shortened for a subject";
    let auto = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "message": format!("\n{long_line}\nsecond line")}),
    )
    .await;
    assert_eq!(
        subject(auto),
        "Demo contact form: This first line of the message is long enough that it has…"
    );
    assert_eq!(
        app.latest().await.subject.as_deref(),
        Some("Demo contact form: This first line of the message is long enough that it has…")
    );
}

#[actix_web::test]
async fn unmapped_fields_become_label_value_lines_and_control_fields_do_not() {
    let app = spawn_app("").await;
    let payload = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "message": "Hello", "company": "Acme", "budget": "10k",
               "_next": "/x", "_gotcha": "", "cf-turnstile-response": "tok", "_anything": "no"}),
    )
    .await;
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Hello\n\ncompany: Acme\nbudget: 10k"
    );
    // CAPTCHA tokens are not kept in the log either.
    let fields: Value = serde_json::from_str(&app.latest().await.fields).unwrap();
    assert!(fields.get("cf-turnstile-response").is_none());
}

#[actix_web::test]
async fn a_submission_that_cannot_identify_a_person_is_invalid() {
    // A message is no longer required (the relay writes one); a person is.
    let app = spawn_app("").await;
    assert_eq!(
        problems_for(&app, "demo", json!({"message": "hello"})).await,
        vec![("email".to_owned(), "REQUIRED_FIELD_MISSING".to_owned())]
    );
}

#[actix_web::test]
async fn str_values_over_255_characters_and_long_messages_are_refused_not_cut() {
    let app = spawn_app("[limits]\nmax_message_chars = 100\n").await;
    let ok = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "first_name": "é".repeat(255), "message": "m"}),
    )
    .await;
    assert_eq!(ok["fields"]["str::first"].as_str().unwrap().chars().count(), 255);
    assert_eq!(
        problems_for(
            &app,
            "demo",
            json!({"email": "a@example.com", "first_name": "é".repeat(256), "message": "m"})
        )
        .await,
        vec![("first_name".to_owned(), "FIELD_TOO_LONG".to_owned())]
    );
    assert_eq!(
        problems_for(
            &app,
            "demo",
            json!({"email": "a@example.com", "message": "x".repeat(101)})
        )
        .await,
        vec![("message".to_owned(), "FIELD_TOO_LONG".to_owned())]
    );
    assert_eq!(
        problems_for(
            &app,
            "demo",
            json!({"email": "a@example.com", "subject": "s".repeat(256), "message": "m"})
        )
        .await,
        vec![("subject".to_owned(), "FIELD_TOO_LONG".to_owned())]
    );
}

#[actix_web::test]
async fn control_characters_are_stripped_newlines_and_tabs_kept() {
    let app = spawn_app("").await;
    let payload = payload_for(
        &app,
        "demo",
        json!({"email": "a@example.com", "message": "line one\r\nline\ttwo\u{0}\u{7}\u{1b}"}),
    )
    .await;
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "line one\nline\ttwo"
    );
}
