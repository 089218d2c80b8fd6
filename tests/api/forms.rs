//! Accepting form posts: content types, repeated keys, encodings, sizes, durability.

use crate::helpers::{spawn_app, Expect, Method, TestApp, BROWSER_ACCEPT, URLENCODED};
use serde_json::{json, Value};

mod cors;
mod durability;

#[actix_web::test]
async fn a_browser_form_post_is_recorded_with_its_compose_payload_before_the_redirect() {
    let app = spawn_app("").await;
    let response = app
        .post_form(
            "demo",
            "first_name=Joe&last_name=Citizen&email=joe%40example.com&message=Do+you+offer+discounts%3F",
        )
        .await;
    assert_eq!(response.status, 303);
    assert_eq!(response.header("location").unwrap(), "/thanks?form=demo");

    // The row is there as soon as the response is: it was committed first.
    let row = app.latest().await;
    // Accepted: queued, or already parked by the dry-run worker (no Ortto key here).
    assert!(
        ["queued", "dry_run"].contains(&row.status.as_str()),
        "{}",
        row.status
    );
    assert_eq!(row.source_kind, "form");
    assert_eq!(row.source, "demo");
    assert_eq!(row.email.as_deref(), Some("joe@example.com"));
    assert_eq!(row.client_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        row.status == "dry_run" || row.next_attempt_at.is_some(),
        "a queued row is due"
    );
    assert_eq!(
        TestApp::payload(&row),
        json!({
            "fields": {"str::first": "Joe", "str::last": "Citizen", "str::email": "joe@example.com"},
            "merge_by": ["str::email"],
            "conversation": {
                "subject": "Demo contact form: Do you offer discounts?",
                "messages": [{"type": "text", "body": "Do you offer discounts?"}]
            }
        })
    );
    let fields: Value = serde_json::from_str(&row.fields).unwrap();
    assert_eq!(fields["first_name"], "Joe");
}

#[actix_web::test]
async fn the_thank_you_page_names_the_form() {
    let app = spawn_app("").await;
    let response = app.get("/thanks?form=demo").send(200).await;
    let page = response.body.clone();
    assert!(
        page.contains("Thank you!") && page.contains("Demo contact form"),
        "{page}"
    );
}

#[actix_web::test]
async fn a_json_post_gets_202_with_the_id_of_the_committed_row() {
    let app = spawn_app("").await;
    let (status, body) = app
        .post_json(
            "demo",
            &json!({"email": "ann@example.org", "name": "Ann Lee", "message": "Hi"}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["ok"], true);
    assert_eq!(body["status"], "dry_run", "no Ortto key: the answer says so");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    // Accepted: queued, or already parked by the dry-run worker (no Ortto key here).
    assert!(
        ["queued", "dry_run"].contains(&row.status.as_str()),
        "{}",
        row.status
    );
    let payload = TestApp::payload(&row);
    assert_eq!(payload["fields"]["str::first"], "Ann");
    assert_eq!(payload["fields"]["str::last"], "Lee");
    // Time-sortable ids: UUIDv7.
    assert_eq!(&row.id[14..15], "7");
    assert!(row.received_at.ends_with('Z') && row.received_at.len() == "2026-11-23T16:42:21.123Z".len());
}

#[actix_web::test]
async fn multipart_text_parts_are_accepted_and_keep_repeated_keys() {
    let app = spawn_app("").await;
    let boundary = "XyZboundary";
    let part = |name: &str, value: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let body = [
        part("email", "kim@example.com"),
        part("message", "Multipart hello"),
        part("topics", "sales"),
        part("topics", "support"),
    ]
    .concat()
        + &format!("--{boundary}--\r\n");
    let multipart = format!("multipart/form-data; boundary={boundary}");
    let response = app.post_as(&multipart, body, Expect::Any).await;
    assert_eq!(response.status, 202, "{}", response.body.clone());
    let row = app.latest().await;
    let fields: Value = serde_json::from_str(&row.fields).unwrap();
    assert_eq!(fields["topics"], json!(["sales", "support"]));
    let payload = TestApp::payload(&row);
    assert_eq!(
        payload["conversation"]["messages"][0]["body"],
        "Multipart hello\n\ntopics: sales, support"
    );
}

#[actix_web::test]
async fn a_file_part_is_refused_naming_the_field_and_nothing_is_recorded() {
    let app = spawn_app("").await;
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nkim@example.com\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"resume\"; filename=\"cv.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--{boundary}--\r\n"
    );
    let multipart = format!("multipart/form-data; boundary={boundary}");
    let response = app.post_as(&multipart, body, 415).await;
    let body: Value = response.json();
    assert_eq!(body["errors"][0]["field"], "resume");
    assert_eq!(body["errors"][0]["code"], "FILE_NOT_SUPPORTED");
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn repeated_urlencoded_keys_keep_every_value() {
    let app = spawn_app("").await;
    app.post_form(
        "demo",
        "email=a%40example.com&message=Hi&topic=pricing&topic=support&topic=demo",
    )
    .await;
    let row = app.latest().await;
    let fields: Value = serde_json::from_str(&row.fields).unwrap();
    assert_eq!(fields["topic"], json!(["pricing", "support", "demo"]));
    assert_eq!(
        TestApp::payload(&row)["conversation"]["messages"][0]["body"],
        "Hi\n\ntopic: pricing, support, demo"
    );
}

#[actix_web::test]
async fn invalid_utf8_is_a_400_naming_the_field() {
    let app = spawn_app("").await;
    let body = app
        .post_as(URLENCODED, "email=a%40example.com&message=caf%E9", 400)
        .await
        .json();
    assert_eq!(body["ok"], false);
    assert_eq!(body["errors"][0]["field"], "message");
    assert_eq!(body["errors"][0]["code"], "INVALID_ENCODING");
}

#[actix_web::test]
async fn an_unknown_form_is_404_form_not_found() {
    let app = spawn_app("").await;
    let (status, body) = app.post_json("nope", &json!({"email": "a@example.com"})).await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], "FORM_NOT_FOUND");
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn an_unsupported_content_type_is_415() {
    let app = spawn_app("").await;
    let body = app
        .post_as("text/xml", "<email>a@example.com</email>", 415)
        .await
        .json();
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED_MEDIA_TYPE");
}

#[actix_web::test]
async fn an_oversized_body_is_413_and_not_recorded() {
    let app = spawn_app("[server]\nmax_body_bytes = 1024\n").await;
    let big = format!("email=a%40example.com&message={}", "x".repeat(2000));
    let body = app
        .post_as("application/x-www-form-urlencoded", big, 413)
        .await
        .json();
    assert_eq!(body["errors"][0]["code"], "PAYLOAD_TOO_LARGE");
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn an_oversized_chunked_body_is_refused_without_reading_it_all() {
    let app = spawn_app("[server]\nmax_body_bytes = 1024\n").await;
    // 64 KiB in 1 KiB chunks, no Content-Length: the relay must stop after the limit.
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(actix_web::web::Bytes::from(vec![b'x'; 1024])));
    let stream = futures_util::stream::iter(chunks);
    app.post("/f/demo")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .stream(stream, 413)
        .await;
    assert!(app.submissions().await.is_empty());
}
