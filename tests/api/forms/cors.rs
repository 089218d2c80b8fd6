//! Cross-origin posts: preflights, allowed origins, foreign origins refused.

use super::*;

#[actix_web::test]
async fn preflight_and_cors_follow_the_allowed_origins() {
    let app = spawn_app("[forms.site]\nallowed_origins = [\"https://www.example.com\"]\n").await;
    let preflight = |origin: &'static str, expect: u16| {
        app.call(Method::OPTIONS, "/f/site")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send(expect)
    };
    let allowed = preflight("https://www.example.com", 204).await;
    assert_eq!(
        allowed.header("access-control-allow-origin").unwrap(),
        "https://www.example.com"
    );
    assert!(allowed
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let foreign = preflight("https://evil.example", 403).await;
    assert!(foreign.header("access-control-allow-origin").is_none());

    let response = app
        .post("/f/site")
        .header("Origin", "https://www.example.com")
        .header("Accept", "application/json")
        .json(&json!({"email": "a@example.com", "message": "hi"}), 202)
        .await;
    assert_eq!(
        response.header("access-control-allow-origin").unwrap(),
        "https://www.example.com"
    );

    // A form with no list accepts any origin and says `*`.
    let open = app
        .call(Method::OPTIONS, "/f/demo")
        .header("Origin", "https://anything.example")
        .send(204)
        .await;
    assert_eq!(open.header("access-control-allow-origin").unwrap(), "*");
}

#[actix_web::test]
async fn a_post_from_a_foreign_origin_is_refused_and_not_recorded() {
    let app = spawn_app("[forms.site]\nallowed_origins = [\"https://www.example.com\"]\n").await;
    for origin in [
        "https://evil.example",
        "https://www.example.com.evil.example",
        "http://www.example.com",
    ] {
        let response = app
            .post("/f/site")
            .header("Origin", origin)
            .header("Accept", "application/json")
            .json(&json!({"email": "a@example.com", "message": "hi"}), Expect::Any)
            .await;
        assert_eq!(response.status, 403, "{origin}");
        let body: Value = response.json();
        assert_eq!(body["errors"][0]["code"], "ORIGIN_NOT_ALLOWED");
    }
    assert!(app.submissions().await.is_empty());
}
