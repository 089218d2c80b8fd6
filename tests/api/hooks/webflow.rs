//! Webflow: signed with a timestamp, within five minutes.

use super::*;
use chrono::TimeZone;

const SENT_AT_MS: i64 = 1_772_442_999_512;

fn headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "x-webflow-timestamp",
            signature_header("webflow", "x-webflow-timestamp"),
        ),
        (
            "x-webflow-signature",
            signature_header("webflow", "x-webflow-signature"),
        ),
    ]
}

#[actix_web::test]
async fn the_sample_is_accepted_within_five_minutes_of_its_timestamp() {
    let now = chrono::Utc.timestamp_millis_opt(SENT_AT_MS + 60_000).unwrap();
    let app = spawn_app_at(HOOKS, now).await;
    let (status, body) = post(
        &app,
        "/hooks/webflow",
        "application/json",
        &headers(),
        fixture("webflow.json"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(row.idempotency_key.as_deref(), Some("65f0b9e1d2c3b4a5f6e7d8c9"));
    let payload = TestApp::payload(&row);
    assert_eq!(payload["fields"]["str::first"], "Maya");
    assert_eq!(payload["fields"]["str::last"], "Patel");
    assert_eq!(payload["fields"]["str::email"], "maya.patel@example.com");
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Hi! Do you offer an annual plan for teams of 12?"
    );
}

#[actix_web::test]
async fn a_stale_timestamp_or_tampered_body_is_refused() {
    let later = chrono::Utc.timestamp_millis_opt(SENT_AT_MS + 6 * 60_000).unwrap();
    let app = spawn_app_at(HOOKS, later).await;
    let (status, body) = post(
        &app,
        "/hooks/webflow",
        "application/json",
        &headers(),
        fixture("webflow.json"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("300 seconds"), "{body}");

    let now = chrono::Utc.timestamp_millis_opt(SENT_AT_MS).unwrap();
    let app = spawn_app_at(HOOKS, now).await;
    let mut tampered = fixture("webflow.json");
    tampered.pop();
    assert_eq!(
        post(&app, "/hooks/webflow", "application/json", &headers(), tampered)
            .await
            .0,
        401
    );
    assert!(app.submissions().await.is_empty());
}
