//! Generic hooks (pointers, names, tokens), vendor retries, refusals and delivery.

use super::*;

#[actix_web::test]
async fn a_generic_hook_reads_nested_json_by_pointer_with_a_header_token() {
    // docs/webhooks.md's generic example, as written there.
    let crm = crate::readme::readme_example("[hooks.crm]").replace("CRM_HOOK_TOKEN", "TEST_HOOK_TOKEN");
    let app = spawn_app(&crm).await;
    let body = json!({
        "id": "evt_42",
        "contact": {"email": "Lee@Example.com", "name": "Lee Wong", "company": "Acme"},
        "note": {"text": "Call me back", "html": "<p>Call <b>me</b><script>x()</script></p>"},
        "meta": {"campaign": "spring"}
    });
    let auth = [("Authorization", format!("Bearer {TOKEN}"))];
    let (status, response) = post(
        &app,
        "/hooks/crm",
        "application/json",
        &auth,
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{response}");
    let row = app.submission(response["id"].as_str().unwrap()).await;
    assert_eq!(row.idempotency_key.as_deref(), Some("evt_42"));
    let payload = TestApp::payload(&row);
    assert_eq!(payload["fields"]["str::email"], "Lee@example.com");
    assert_eq!(payload["fields"]["str::first"], "Lee");
    assert_eq!(payload["fields"]["str:cm:company"], "Acme");
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Call me back\n\nmeta.campaign: spring"
    );
    assert_eq!(
        payload["conversation"]["messages"][1]["body"],
        "<p>Call <b>me</b></p>"
    );

    let (status, _) = post(
        &app,
        "/hooks/crm",
        "application/json",
        &[],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn a_generic_hook_reads_urlencoded_fields_by_name() {
    let app = spawn_app(
        r#"
[hooks.sheet]
preset = "generic"
auth = "token"
secret_env = "TEST_HOOK_TOKEN"
[hooks.sheet.pointers]
email = "Email Address"
first_name = "First"
message = "Question"
"#,
    )
    .await;
    let (status, body) = post(
        &app,
        &format!("/hooks/sheet?token={TOKEN}"),
        "application/x-www-form-urlencoded",
        &[],
        b"Email+Address=sam%40example.com&First=Sam&Question=Open+on+Sundays%3F".to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let payload = TestApp::payload(&app.submission(body["id"].as_str().unwrap()).await);
    assert_eq!(payload["fields"]["str::email"], "sam@example.com");
    assert_eq!(payload["fields"]["str::first"], "Sam");
    assert_eq!(payload["conversation"]["messages"][0]["body"], "Open on Sundays?");
}

#[actix_web::test]
async fn a_vendor_retry_answers_200_with_the_first_id_and_is_recorded_once() {
    let app = spawn_app(HOOKS).await;
    let signature = signature_header("typeform", "Typeform-Signature");
    let (first_status, first) = post_typeform(&app, fixture("typeform.json"), signature.clone()).await;
    let (again_status, again) = post_typeform(&app, fixture("typeform.json"), signature).await;
    assert_eq!((first_status, again_status), (202, 200));
    assert_eq!(first["id"], again["id"]);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(app.submissions().await.len(), 1);
}

#[actix_web::test]
async fn concurrent_copies_of_one_event_record_exactly_one_row() {
    let app = spawn_app(HOOKS).await;
    let signature = signature_header("typeform", "Typeform-Signature");
    let copies = (0..8).map(|_| post_typeform(&app, fixture("typeform.json"), signature.clone()));
    let results = futures_util::future::join_all(copies).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(_, body)| body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|(s, _)| *s == 202).count(), 1);
    assert!(results.iter().all(|(s, _)| *s == 202 || *s == 200));
    assert_eq!(app.submissions().await.len(), 1);
}

#[actix_web::test]
async fn a_webhook_missing_its_merge_field_is_kept_as_invalid_and_answered_422() {
    let app = spawn_app(HOOKS).await;
    let mut payload: Value = serde_json::from_slice(&fixture("typeform.json")).unwrap();
    payload["form_response"]["answers"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    let body = serde_json::to_vec(&payload).unwrap();
    let signature = typeform_signature(&body);
    let (status, response) = post_typeform(&app, body, signature).await;
    assert_eq!(status, 422, "retrying cannot fix it: {response}");
    assert_eq!(response["errors"][0]["code"], "REQUIRED_FIELD_MISSING");
    let rows = app.submissions().await;
    assert_eq!(rows[0].status, "invalid", "kept, with why, for the operator");
}

#[actix_web::test]
async fn an_unauthenticated_hook_must_say_so() {
    let output = crate::helpers::check_config(
        "[hooks.open]\npreset = \"generic\"\n[hooks.open.pointers]\nemail = \"/email\"\n",
    )
    .await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("hooks.open.auth"));

    let app = spawn_app(
        "[hooks.open]\npreset = \"generic\"\nauth = \"none\"\n[hooks.open.pointers]\nemail = \"/email\"\nmessage = \"/m\"\n",
    )
    .await;
    let (status, _) = post(
        &app,
        "/hooks/open",
        "application/json",
        &[],
        br#"{"email":"a@example.com","m":"hi"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    let (status, body) = post(&app, "/hooks/nope", "application/json", &[], b"{}".to_vec()).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (404, Some("HOOK_NOT_FOUND"))
    );
}

#[actix_web::test]
async fn a_webhook_submission_is_delivered_like_a_form() {
    let ortto = crate::fake_ortto::FakeOrtto::start().await;
    let app = crate::helpers::spawn_app_with_ortto(&ortto, HOOKS).await;
    let (status, body) = post_typeform(
        &app,
        fixture("typeform.json"),
        signature_header("typeform", "Typeform-Signature"),
    )
    .await;
    assert_eq!(status, 202);
    let id = body["id"].as_str().unwrap();
    let row = app
        .wait_for_status(id, &["delivered"], std::time::Duration::from_secs(10))
        .await;
    assert_eq!(row.status, "delivered");
    assert_eq!(Some(ortto.requests()[0].body.as_str()), row.payload.as_deref());
}
