//! Where a browser lands: the form's redirect, an allowed `_next`, or the thank-you
//! page — never an open redirect.

use crate::helpers::{spawn_app, BROWSER_ACCEPT};

const SITE: &str = "[forms.site]\nallowed_origins = [\"https://www.example.com\", \"https://shop.example.com:8443\"]\n\
                    [forms.fixed]\nredirect = \"https://www.example.com/thanks\"\nallowed_origins = [\"https://www.example.com\"]\n";

async fn location(app: &crate::helpers::TestApp, form: &str, next: &str, origin: Option<&str>) -> String {
    let body = format!("email=a%40example.com&message=hi&_next={}", urlencode(next));
    let mut request = app
        .post(&format!("/f/{form}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", BROWSER_ACCEPT);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.body(body, 303).await;
    response.header("location").unwrap().to_owned()
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)])
        .unwrap()
        .trim_start_matches("v=")
        .to_owned()
}

#[actix_web::test]
async fn allowed_next_urls_are_followed() {
    let app = spawn_app(SITE).await;
    assert_eq!(
        location(&app, "site", "https://www.example.com/merci", None).await,
        "https://www.example.com/merci"
    );
    assert_eq!(
        location(&app, "site", "https://shop.example.com:8443/done?x=1", None).await,
        "https://shop.example.com:8443/done?x=1"
    );
    // A path resolves on the posting page's origin when that one is allowed…
    assert_eq!(
        location(&app, "site", "/thanks", Some("https://shop.example.com:8443")).await,
        "https://shop.example.com:8443/thanks"
    );
    // …else on the first allowed origin.
    assert_eq!(
        location(&app, "site", "/thanks", None).await,
        "https://www.example.com/thanks"
    );
}

#[actix_web::test]
async fn open_redirect_attempts_fall_back_to_the_thank_you_page() {
    let app = spawn_app(SITE).await;
    for evil in [
        "https://evil.example",
        "https://evil.example/https://www.example.com",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://www.example.com.evil.example/",
        "https://www.example.com@evil.example/",
        "http://www.example.com/",
        "https://shop.example.com/",
        "https:evil.example",
        "/%2F%2Fevil.example",
        " //evil.example",
    ] {
        let target = location(&app, "site", evil, None).await;
        let safe = target == "/thanks?form=site"
            || target.starts_with("https://www.example.com/")
            || target.starts_with("https://shop.example.com:8443/");
        assert!(safe, "{evil} redirected to {target}");
        assert!(
            !target.contains("evil.example") || target.starts_with("https://www.example.com/"),
            "{evil} → {target}"
        );
    }
}

#[actix_web::test]
async fn a_form_without_allowed_origins_never_follows_next() {
    let app = spawn_app("").await;
    assert_eq!(
        location(&app, "demo", "https://www.example.com/x", None).await,
        "/thanks?form=demo"
    );
    assert_eq!(location(&app, "demo", "/x", None).await, "/thanks?form=demo");
}

#[actix_web::test]
async fn the_configured_redirect_is_used_and_an_allowed_next_overrides_it() {
    let app = spawn_app(SITE).await;
    assert_eq!(
        location(&app, "fixed", "", None).await,
        "https://www.example.com/thanks"
    );
    assert_eq!(
        location(&app, "fixed", "https://evil.example", None).await,
        "https://www.example.com/thanks"
    );
    assert_eq!(
        location(&app, "fixed", "/merci", None).await,
        "https://www.example.com/merci"
    );
}

#[actix_web::test]
async fn api_requests_get_next_in_json_never_a_redirect() {
    let app = spawn_app(SITE).await;
    let (status, body) = app
        .post_json(
            "fixed",
            &serde_json::json!({"email": "a@example.com", "message": "hi"}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["next"], "https://www.example.com/thanks");
}
