//! Red team, round three: what an attacker from outside tried, each through HTTP. Signed
//! calls replayed with new `Idempotency-Key`s and `{url}` from client headers are in
//! `senders/signatures.rs`; here the admin's framing and origin, back links, CSV cells and
//! values Ortto would refuse.

use crate::helpers::{
    spawn_app, spawn_app_with_clock, Expect, Method, TestApp, ADMIN, BROWSER_ACCEPT, TEST_ADMIN_TOKEN,
};
use crate::visitors::{get_page, unescaped};
use base64::Engine;
use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[actix_web::test]
async fn admin_answers_cannot_be_framed_sniffed_or_cached() {
    let app = spawn_app(ADMIN).await;
    let (_, answer) = app
        .post_json("demo", &json!({"email": "a@example.com", "message": "hi"}))
        .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    for path in [
        "/admin/",
        "/admin/inbox",
        &format!("/admin/submissions/{id}"),
        "/admin/refusals",
        "/admin/stats",
    ] {
        let response = app.admin(Method::GET, path).send(200).await;
        assert_eq!(response.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            response.header("content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(response.header("cache-control"), Some("no-store"), "{path}");
    }
    let page = app.get("/thanks?form=demo").send(200).await;
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
}

fn basic() -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("ops:{TEST_ADMIN_TOKEN}"));
    format!("Basic {credentials}")
}

#[actix_web::test]
async fn an_admin_change_with_basic_credentials_must_come_from_the_relays_own_origin_scheme_included() {
    let app = spawn_app(ADMIN).await;
    let own = app.url("");
    let host = own.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let replay = |origin: String, forwarded: Option<&str>| {
        let mut call = app
            .call(Method::POST, "/admin/replay")
            .header("Authorization", basic())
            .header("Origin", origin);
        if let Some(host) = forwarded {
            call = call.header("X-Forwarded-Host", host);
        }
        call.json(&json!({"status": "dead"}), Expect::Any)
    };
    // Another site that names itself in X-Forwarded-Host (no proxy is trusted).
    assert_eq!(
        replay("https://evil.example".to_owned(), Some("evil.example"))
            .await
            .status,
        403
    );
    // The relay's host under another scheme is another origin.
    assert_eq!(replay(format!("https://{host}"), None).await.status, 403);
    assert_eq!(replay(format!("http://{host}"), None).await.status, 200);
}

#[actix_web::test]
async fn a_form_without_an_origin_list_signs_no_back_link_to_a_page_its_poster_names() {
    let mut app = spawn_app("").await;
    let post = |app: &TestApp, origin: &'static str, page: &'static str| {
        let body = format!("email=jo%40example.com&message=hi&_page={}", urlencode(page));
        app.post("/f/demo")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", BROWSER_ACCEPT)
            .header("Origin", origin)
            .header("Referer", page)
            .body(body, Expect::Any)
    };
    let answer = post(&app, "https://evil.example", "https://evil.example/login").await;
    assert_eq!(answer.status, 303);
    let location = answer.header("location").unwrap().to_owned();
    assert_eq!(location, "/thanks?form=demo", "no page, no signature");
    let (_, page) = get_page(&app, &location).await;
    assert!(
        !page.contains("evil.example") && !page.contains("id=\"back\""),
        "{page}"
    );
    // A page on the relay's own configured address still gets its way back.
    app.restart("[server]\npublic_url = \"https://forms.example.com\"\n")
        .await;
    let answer = post(
        &app,
        "https://forms.example.com",
        "https://forms.example.com/contact",
    )
    .await;
    let location = answer.header("location").unwrap().to_owned();
    let (_, page) = get_page(&app, &location).await;
    assert!(
        unescaped(&page).contains("href=\"https://forms.example.com/contact\""),
        "{page}"
    );
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[actix_web::test]
async fn a_signed_thank_you_link_expires_after_an_hour() {
    let now = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp()));
    let clock_now = now.clone();
    let clock: talk_relay::startup::Clock =
        Arc::new(move || chrono::DateTime::from_timestamp(clock_now.load(Ordering::SeqCst), 0).unwrap());
    let app = spawn_app_with_clock(
        "[forms.contact]\nallowed_origins = [\"https://www.example.com\"]\n",
        clock,
    )
    .await;
    let (status, location, _) = crate::visitors::browser_post(
        &app,
        "contact",
        "email=jo%40example.com&message=hi&_page=https%3A%2F%2Fwww.example.com%2Fcontact",
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.contains("&exp="), "{location}");
    let (_, page) = get_page(&app, &location).await;
    assert!(page.contains("id=\"back\""), "{page}");
    now.fetch_add(3601, Ordering::SeqCst);
    let (_, page) = get_page(&app, &location).await;
    assert!(!page.contains("id=\"back\""), "an hour later: {page}");
    // Pushing the expiry forward breaks the signature.
    let extended = location.replace("&exp=", "&exp=9");
    let (_, page) = get_page(&app, &extended).await;
    assert!(!page.contains("id=\"back\""), "{page}");
}
