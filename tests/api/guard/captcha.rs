//! CAPTCHA: verified server-side, failures recorded as spam, an unreachable provider.

use super::*;

fn form(siteverify: &str, on_unreachable: &str) -> String {
    format!(
        "[forms.demo.captcha]\nprovider = \"turnstile\"\nsecret_env = \"TEST_CAPTCHA_SECRET\"\n\
         verify_url = '{siteverify}/siteverify'\ntimeout_ms = 500\non_unreachable = \"{on_unreachable}\"\n"
    )
}

fn with_token(token: &str) -> Value {
    json!({"email": "a@example.com", "message": "hello", "cf-turnstile-response": token})
}

#[actix_web::test]
async fn a_good_token_passes_and_is_verified_server_side() {
    let siteverify = FakeOrtto::start().await;
    siteverify.set_default(Reply::json(200, r#"{"success": true}"#));
    let app = spawn_app(&form(&siteverify.base_url, "refuse")).await;
    let (status, _, body) = post_as(&app, None, &with_token("good-token")).await;
    assert_eq!(status, 202, "{body}");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(row.captcha.as_deref(), Some("passed"));
    let sent = &siteverify.requests()[0].body;
    assert!(sent.contains("secret=captcha-secret-not-real"), "{sent}");
    assert!(
        sent.contains("response=good-token") && sent.contains("remoteip=127.0.0.1"),
        "{sent}"
    );
    assert!(
        !row.fields.contains("good-token"),
        "tokens are not kept in the log"
    );
}

#[actix_web::test]
async fn a_failed_or_missing_token_is_403_and_recorded_as_spam() {
    let siteverify = FakeOrtto::start().await;
    siteverify.set_default(Reply::json(
        200,
        r#"{"success": false, "error-codes": ["invalid-input-response"]}"#,
    ));
    let app = spawn_app(&form(&siteverify.base_url, "refuse")).await;
    let (status, _, body) = post_as(&app, None, &with_token("bad")).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["code"], "CAPTCHA_FAILED");
    let (status, _, _) = post_as(&app, None, &message()).await;
    assert_eq!(status, 403);
    let rows = app.submissions().await;
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.status == "spam" && r.captcha.as_deref() == Some("failed")));
    assert!(rows[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("invalid-input-response"));
    assert_eq!(
        siteverify.requests().len(),
        1,
        "a missing token is not sent to the provider"
    );
}

#[actix_web::test]
async fn a_provider_that_cannot_be_reached_refuses_or_accepts_as_configured() {
    let down = format!("http://127.0.0.1:{}", crate::helpers::closed_port());
    let refusing = spawn_app(&form(&down, "refuse")).await;
    let (status, retry_after, body) = post_as(&refusing, None, &with_token("t")).await;
    assert_eq!(status, 503);
    assert_eq!(body["errors"][0]["code"], "CAPTCHA_UNAVAILABLE");
    assert!(retry_after.is_some());
    assert!(
        refusing.submissions().await.is_empty(),
        "nothing wrong with it: the person simply retries"
    );

    let slow = FakeOrtto::start().await;
    slow.set_default(Reply::json(200, r#"{"success": true}"#).after(Duration::from_secs(2)));
    let accepting = spawn_app(&form(&slow.base_url, "accept")).await;
    let (status, _, body) = post_as(&accepting, None, &with_token("t")).await;
    assert_eq!(status, 202);
    let row = accepting.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(row.captcha.as_deref(), Some("unverified"));
    assert_ne!(row.status, "spam", "accepted, flagged, and on its way");
}

#[actix_web::test]
async fn a_missing_captcha_secret_stops_start_up_naming_the_variable() {
    let toml = "[forms.demo.captcha]\nprovider = \"hcaptcha\"\nsecret_env = \"NO_SUCH_SECRET_VAR\"\n";
    let output = crate::helpers::relay_with_config(toml, &["serve"]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("forms.demo.captcha.secret_env") && stderr.contains("NO_SUCH_SECRET_VAR"),
        "{stderr}"
    );
    // check-config says the same as a warning, and still describes the config.
    let output = crate::helpers::check_config(toml).await;
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: forms.demo.captcha.secret_env") && stderr.contains("NO_SUCH_SECRET_VAR"),
        "{stderr}"
    );
}
