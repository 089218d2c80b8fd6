//! Consent: ticked, unticked, absent, the context sentence.

use super::*;

const OPT_OUT: &str = "[forms.news]\ntitle = \"Newsletter\"\n[forms.news.consent]\nfield = \"subscribe\"\nunchecked = \"opt_out\"\n";
const LEAVE: &str = "[forms.news]\ntitle = \"Newsletter\"\n[forms.news.consent]\nfield = \"subscribe\"\nunchecked = \"leave\"\n";

#[actix_web::test]
async fn checked_values_opt_in_with_a_context_sentence() {
    let app = spawn_app(OPT_OUT).await;
    for checked in ["on", "true", "1", "yes", "checked", "ON", "Yes"] {
        let payload = payload_for(
            &app,
            "news",
            json!({"email": "a@example.com", "message": "m", "subscribe": checked}),
        )
        .await;
        assert_eq!(payload["fields"]["bol::p"], true, "{checked}");
        let context = payload["fields"]["str::s-ctx"].as_str().unwrap();
        assert!(
            context.starts_with("Opted in via the Newsletter form on "),
            "{context}"
        );
        assert!(context.ends_with(" UTC"), "{context}");
    }
    assert_eq!(app.latest().await.consent, Some(1));
}

#[actix_web::test]
async fn opt_out_sends_false_when_unticked_or_absent() {
    let app = spawn_app(OPT_OUT).await;
    for body in [
        json!({"email": "a@example.com", "message": "m"}),
        json!({"email": "a@example.com", "message": "m", "subscribe": "off"}),
    ] {
        let payload = payload_for(&app, "news", body).await;
        assert_eq!(payload["fields"]["bol::p"], false);
        assert!(payload["fields"]["str::s-ctx"]
            .as_str()
            .unwrap()
            .starts_with("Opted out via the Newsletter form"));
    }
    assert_eq!(app.latest().await.consent, Some(0));
    // A word in neither list is never taken as a no: nothing is sent, and the row says why.
    let payload = payload_for(
        &app,
        "news",
        json!({"email": "a@example.com", "message": "m", "subscribe": "maybe"}),
    )
    .await;
    assert!(payload["fields"].get("bol::p").is_none(), "{payload}");
    assert!(app.latest().await.consent_note.is_some());
}

#[actix_web::test]
async fn leave_sends_no_permission_at_all_when_unticked() {
    let app = spawn_app(LEAVE).await;
    let payload = payload_for(&app, "news", json!({"email": "a@example.com", "message": "m"})).await;
    assert!(payload["fields"].get("bol::p").is_none());
    assert!(payload["fields"].get("str::s-ctx").is_none());
    assert_eq!(app.latest().await.consent, None);
    let ticked = payload_for(
        &app,
        "news",
        json!({"email": "a@example.com", "message": "m", "subscribe": "on"}),
    )
    .await;
    assert_eq!(ticked["fields"]["bol::p"], true);
}

#[actix_web::test]
async fn an_unticked_browser_checkbox_is_simply_absent_and_opts_out() {
    let app = spawn_app(OPT_OUT).await;
    app.post("/f/news")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Referer", "https://www.example.com/contact")
        .body("email=a%40example.com&message=hello", 303)
        .await;
    let row = app.latest().await;
    let payload = TestApp::payload(&row);
    assert_eq!(payload["fields"]["bol::p"], false);
    let context = payload["fields"]["str::s-ctx"].as_str().unwrap();
    assert!(
        context.starts_with("Opted out via the Newsletter form on https://www.example.com/contact at 20"),
        "{context}"
    );
    // The consent checkbox is consent, not a field for the agent.
    assert_eq!(payload["conversation"]["messages"][0]["body"], "hello");
}

#[actix_web::test]
async fn the_context_template_can_be_configured() {
    let app = spawn_app(
        "[forms.news]\ntitle = \"News\"\n[forms.news.consent]\nfield = \"ok\"\nunchecked = \"opt_out\"\nopted_in_context = \"Ticked {form} on {page}\"\n",
    )
    .await;
    let payload = payload_for(
        &app,
        "news",
        json!({"email": "a@example.com", "message": "m", "ok": "on"}),
    )
    .await;
    assert_eq!(payload["fields"]["str::s-ctx"], "Ticked News on an unknown page");
}
