//! README "fetch() from your own script": the same outcome answered to a browser (redirect, HTML) or a script (JSON).

use crate::helpers::{spawn_app, BROWSER_ACCEPT};
use talk_relay::domain::Status;

#[actix_web::test]
async fn api_detection_by_header_accept_and_body() {
    let app = spawn_app("").await;
    // (Accept, X-Requested-With, a JSON body) → the status that shows how it was answered.
    let post = |accept: Option<&'static str>, xrw: bool, json_body: bool, expect: u16| {
        let mut request = app.post("/f/demo");
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        if xrw {
            request = request.header("X-Requested-With", "XMLHttpRequest");
        }
        async move {
            if json_body {
                request
                    .json(
                        &serde_json::json!({"email": "a@example.com", "message": "m"}),
                        expect,
                    )
                    .await
            } else {
                request
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body("email=a%40example.com&message=m", expect)
                    .await
            }
        }
    };
    post(Some(BROWSER_ACCEPT), false, false, 303).await;
    post(None, false, false, 303).await;
    post(Some(BROWSER_ACCEPT), true, false, 202).await;
    post(Some("application/json"), false, false, 202).await;
    post(Some("*/*"), false, true, 202).await;
    post(None, false, true, 202).await;
    // A JSON body from something that prefers HTML is answered as a browser.
    post(Some(BROWSER_ACCEPT), false, true, 303).await;
}

#[actix_web::test]
async fn a_honeypot_hit_looks_exactly_like_success_and_is_recorded_as_spam() {
    let app = spawn_app("").await;
    let real = app
        .post_form("demo", "email=a%40example.com&message=hi&_gotcha=")
        .await;
    let spam = app
        .post_form("demo", "email=a%40example.com&message=hi&_gotcha=buy+now")
        .await;
    assert_eq!(real.status, spam.status);
    assert_eq!(real.header("location"), spam.header("location"));

    let (status, body) = app
        .post_json(
            "demo",
            &serde_json::json!({"email": "b@example.com", "message": "hi", "_gotcha": "x"}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["ok"], true);
    // The same answer a real submission gets from this (key-less, dry-run) relay.
    assert_eq!(body["status"], "dry_run");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(row.status, "spam");
    // Quarantined, not lost: the payload is kept so a false positive can be released.
    assert!(row.payload.is_some());
    assert_eq!(row.spam_verdict.as_deref(), Some("spam"));
    assert!(row.spam_reasons.as_deref().unwrap().contains("\"honeypot\""));
    let statuses = app.statuses().await;
    // Without an Ortto key the real one is built and parked as dry_run; spam never is.
    assert!(
        ["queued", "dry_run"].contains(&statuses[0].as_str()),
        "{statuses:?}"
    );
    assert_eq!(statuses[1..], [Status::Spam, Status::Spam]);
}

#[actix_web::test]
async fn a_configured_honeypot_name_is_used() {
    let app = spawn_app("[forms.demo]\nhoneypot = \"website\"\n").await;
    app.post_form(
        "demo",
        "email=a%40example.com&message=hi&website=http%3A%2F%2Fspam",
    )
    .await;
    assert_eq!(app.latest().await.status, "spam");
}

#[actix_web::test]
async fn a_browser_error_is_an_html_page_with_each_field_and_a_back_link() {
    // A form with its site's origin listed (without a list no page links off the relay).
    let app = spawn_app(
        "[forms.demo]\nallowed_origins = [\"https://www.example.com\"]\n[forms.demo.fields]\nseats = \"int:cm:seats\"\n",
    )
    .await;
    let response = app
        .post("/f/demo")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", BROWSER_ACCEPT)
        .header("Referer", "https://www.example.com/contact?x=<b>")
        .body("email=nope&seats=many&message=hi", 422)
        .await;
    assert!(response.header("content-type").unwrap().starts_with("text/html"));
    let page = response.body.clone();
    assert!(page.contains("Please check the form"), "{page}");
    assert!(
        page.contains("<strong>email</strong>: This should be an email address"),
        "{page}"
    );
    assert!(
        page.contains("<strong>seats</strong>: This should be a whole number."),
        "{page}"
    );
    // The link is the parsed URL (so `<` arrives percent-encoded), and minijinja escapes `/`
    // as `&#x2f;` too, which a browser reads back as `/`.
    assert!(
        page.replace("&#x2f;", "/")
            .contains("href=\"https://www.example.com/contact?x=%3Cb%3E\""),
        "{page}"
    );
    assert!(page.contains("Error 422"), "{page}");
}

#[actix_web::test]
async fn browser_and_api_shapes_for_each_refusal() {
    let app = spawn_app("[server]\nmax_body_bytes = 200\n").await;
    let cases: [(&str, &str, &str, u16, &str); 4] = [
        (
            "nope",
            "application/x-www-form-urlencoded",
            "email=a%40example.com",
            404,
            "FORM_NOT_FOUND",
        ),
        ("demo", "text/plain", "hello", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            "demo",
            "application/x-www-form-urlencoded",
            "message=%FF",
            400,
            "INVALID_ENCODING",
        ),
        ("demo", "application/json", "{\"email\": ", 400, "MALFORMED_BODY"),
    ];
    for (form, content_type, body, status, code) in cases {
        let send = |accept: &'static str| {
            app.post(&format!("/f/{form}"))
                .header("Content-Type", content_type)
                .header("Accept", accept)
                .body(body.to_owned(), status)
        };
        let json = send("application/json").await.json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["errors"][0]["code"], code);
        assert!(!json["error"].as_str().unwrap().is_empty());

        let page = send(BROWSER_ACCEPT).await.body;
        assert!(
            page.starts_with("<!doctype html>") && page.contains(&format!("Error {status}")),
            "{page}"
        );
    }
    let too_big = app
        .post("/f/demo")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", BROWSER_ACCEPT)
        .body("message=".to_owned() + &"x".repeat(500), 413)
        .await;
    assert!(too_big.body.contains("That was too much to send"));
}

/// One error model (docs/architecture.md, "Errors"): forms, hooks, sessions and admin refuse
/// in the same JSON shape, and a body problem has the same status on every endpoint.
#[actix_web::test]
async fn every_endpoint_refuses_in_one_shape_and_a_body_problem_has_one_status() {
    let app = spawn_app(
        "[server]\nmax_body_bytes = 1000\n[sessions]\nsite_keys_env = [\"TEST_SITE_KEY_A\"]\n\
         [hooks.open]\npreset = 'generic'\nauth = 'none'\n[admin]\ntoken_env = 'TEST_ADMIN_TOKEN'\n",
    )
    .await;
    let big = serde_json::json!({"email": "a@example.com", "message": "x".repeat(2000)});
    for path in ["/f/demo", "/hooks/open", "/talk/session"] {
        let answer = app
            .post(path)
            .header("Accept", "application/json")
            .header("Authorization", "Bearer site-key-a-not-real")
            .json(&big, crate::helpers::Expect::Any)
            .await;
        assert_eq!(answer.status, 413, "{path}: {}", answer.body);
        let body = answer.json();
        assert_eq!(body["ok"], false, "{path}");
        assert_eq!(body["errors"][0]["code"], "PAYLOAD_TOO_LARGE", "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("1000 bytes"),
            "{path}: {body}"
        );
    }
    for (path, status, code) in [
        ("/admin/stats", 401, "UNAUTHORIZED"),
        ("/admin/submissions/nope", 404, "NOT_FOUND"),
    ] {
        let token = if status == 401 {
            "wrong"
        } else {
            crate::helpers::TEST_ADMIN_TOKEN
        };
        let answer = app
            .get(path)
            .header("Authorization", format!("Bearer {token}"))
            .send(status)
            .await;
        let body = answer.json();
        assert_eq!(
            (body["ok"].clone(), body["errors"][0]["code"].clone()),
            (false.into(), code.into()),
            "{path}: {body}"
        );
    }
}
