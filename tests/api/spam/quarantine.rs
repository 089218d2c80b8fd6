//! docs/spam.md, "The quarantine": held posts answer as a success, keep their payload and
//! never reach Ortto; release and confirm through the admin API, the inbox and the CLI;
//! retention; metrics.

use super::{form, post, reasons, row_of};
use crate::fake_ortto::FakeOrtto;
use crate::helpers::{spawn_app_with_ortto, Expect, Method, TestApp, ADMIN, TEST_ADMIN_TOKEN};
use serde_json::{json, Value};
use std::time::Duration;
use talk_relay::domain::Status;

const WAIT: Duration = Duration::from_secs(10);
/// A form whose consent box sends a permission, so a release can show it keeps it.
const CONSENT: &str = "[forms.corpus.consent]\nfield = \"subscribe\"\nunchecked = \"opt_out\"\n";
/// The address that makes a post spam by itself: a throwaway domain.
const THROWAWAY: &str = "kim@mailinator.com";

fn spam_post() -> Value {
    json!({"email": THROWAWAY, "message": "Please call me back", "subscribe": "yes"})
}

async fn admin_post(app: &TestApp, path: &str) -> (u16, Value) {
    let answer = app.admin(Method::POST, path).send(Expect::Any).await;
    (
        answer.status,
        serde_json::from_str(&answer.body).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn a_quarantined_post_answers_as_a_success_keeps_its_payload_and_never_reaches_ortto() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, &format!("{ADMIN}{}{CONSENT}", form(""))).await;
    let (real_status, real) = post(&app, json!({"email": "kim@example.com", "message": "Hi"})).await;
    let (status, held) = post(&app, spam_post()).await;
    assert_eq!((status, real_status), (202, 202));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&held), keys(&real), "bots learn nothing from the answer");
    assert_eq!(held["status"], real["status"]);
    app.wait_for_status(real["id"].as_str().unwrap(), &["delivered"], WAIT)
        .await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ortto.requests().len(), 1, "only the real post was sent");
    let row = row_of(&app, &held).await;
    assert_eq!(row.status, Status::Spam);
    assert_eq!(
        row.consent,
        Some(1),
        "the consent it was posted with is kept, not sent"
    );
    assert!(row.payload.as_deref().unwrap().contains("bol::p"));
    assert!(row
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("spam (score 10): disposable_email"));
    let status = app.admin(Method::GET, "/admin/").send(200).await.body;
    assert!(status.contains("id=\"spam-share\">50%"), "{status}");
    assert!(status.contains("<td>disposable_email</td><td>1</td>"), "{status}");
    let metrics = app.get("/metrics").send(200).await.body;
    assert!(
        metrics.contains("talk_relay_spam_total{form=\"corpus\",reason=\"disposable_email\"} 1"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn on_spam_refuse_tells_the_visitor_and_suspects_are_held_or_delivered_as_set() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(
        &ortto,
        &format!(
            "{}[forms.lenient]\n[forms.lenient.spam]\nsuspect = \"deliver\"\n",
            form("on_spam = \"refuse\"\n")
        ),
    )
    .await;
    let (status, body) = post(&app, spam_post()).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["code"], "SPAM_SUSPECTED");
    assert_eq!(app.latest().await.status, Status::Spam, "refused, and still kept");

    // Two links over the maximum of two: 6 points, a suspect, held by default.
    let suspect = json!({"email": "kim@example.com", "message": "a.com b.com c.com d.com"});
    let (status, _) = post(&app, suspect.clone()).await;
    assert_eq!(
        status, 403,
        "a held suspect is answered as the form's on_spam says"
    );
    let row = app.latest().await;
    assert_eq!(
        (row.status, row.spam_verdict.as_deref()),
        (Status::Spam, Some("suspect"))
    );
    let (status, sent) = app.post_json("lenient", &suspect).await;
    assert_eq!(status, 202);
    let row = app
        .wait_for_status(sent["id"].as_str().unwrap(), &["delivered"], WAIT)
        .await;
    assert_eq!(row.spam_verdict.as_deref(), Some("suspect"));
    assert_eq!(reasons(&row), ["too_many_links"]);
}

#[actix_web::test]
async fn a_release_through_the_api_delivers_with_its_consent_and_says_so_in_the_context() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, &format!("{ADMIN}{}{CONSENT}", form(""))).await;
    let (_, held) = post(&app, spam_post()).await;
    let id = held["id"].as_str().unwrap();
    let (status, body) = admin_post(&app, &format!("/admin/submissions/{id}/release")).await;
    assert_eq!((status, &body["review"]), (200, &json!("released")), "{body}");
    let row = app.wait_for_status(id, &["delivered"], WAIT).await;
    assert_eq!(row.review.as_deref(), Some("released"));
    assert!(row.reviewed_at.is_some());
    let sent: Value = serde_json::from_str(&ortto.requests()[0].body).unwrap();
    assert_eq!(sent["fields"]["bol::p"], true);
    let context = sent["fields"]["str::s-ctx"].as_str().unwrap();
    assert!(context.contains("released by an operator"), "{context}");

    let (status, body) = admin_post(&app, &format!("/admin/submissions/{id}/release")).await;
    assert_eq!((status, &body["errors"][0]["code"]), (409, &json!("CONFLICT")));
    let (status, _) = admin_post(&app, &format!("/admin/submissions/{id}/confirm")).await;
    assert_eq!(status, 409, "a delivered row is not in the quarantine");
    let (status, _) = admin_post(&app, "/admin/submissions/nope/release").await;
    assert_eq!(status, 404);
    let answer = app
        .post(&format!("/admin/submissions/{id}/release"))
        .send(Expect::Any)
        .await;
    assert_eq!(answer.status, 401, "a release needs the token");
}

#[actix_web::test]
async fn the_inbox_shows_the_quarantine_and_its_buttons_confirm_and_release() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, &format!("{ADMIN}{}{CONSENT}", form(""))).await;
    let (_, first) = post(&app, spam_post()).await;
    let (_, second) = post(
        &app,
        json!({"email": "jo@example.com", "message": "hi", "_gotcha": "x"}),
    )
    .await;
    let (first, second) = (first["id"].as_str().unwrap(), second["id"].as_str().unwrap());
    let page = app
        .admin(Method::GET, "/admin/inbox?status=spam")
        .send(200)
        .await
        .body;
    assert!(page.contains("<h1>Quarantine</h1>") && page.contains(first) && page.contains(second));
    let detail = app
        .admin(Method::GET, &format!("/admin/inbox/{first}"))
        .send(200)
        .await
        .body;
    assert!(
        detail.contains("id=\"release\"") && detail.contains("id=\"confirm\""),
        "{detail}"
    );
    assert!(detail.contains("disposable_email +10"), "{detail}");

    let button = |id: &str, action: &str, origin: String| {
        app.post(&format!("/admin/submissions/{id}/{action}"))
            .bearer(TEST_ADMIN_TOKEN)
            .header("Origin", origin)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("", Expect::Any)
    };
    let confirmed = button(first, "confirm", app.address.clone()).await;
    assert_eq!(confirmed.status, 303);
    let location = confirmed.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/admin/inbox/{first}?reviewed=confirmed"));
    let shown = app.admin(Method::GET, &location).send(200).await.body;
    assert!(shown.contains("Confirmed as spam"), "{shown}");
    assert_eq!(app.submission(first).await.review.as_deref(), Some("confirmed"));

    // A honeypot's false positive can be released too, and the button obeys the CSRF rule.
    let cross_site = app
        .post(&format!("/admin/submissions/{second}/release"))
        .header("Authorization", basic())
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("", Expect::Any)
        .await;
    assert_eq!(cross_site.status, 403);
    assert_eq!(button(second, "release", app.address.clone()).await.status, 303);
    app.wait_for_status(second, &["delivered"], WAIT).await;
    assert_eq!(
        app.submission(first).await.status,
        Status::Spam,
        "the confirmed one stays"
    );
    assert_eq!(ortto.requests().len(), 1);
}

fn basic() -> String {
    let credentials = format!("admin:{TEST_ADMIN_TOKEN}");
    format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, credentials)
    )
}

#[actix_web::test]
async fn the_cli_releases_and_confirms_by_id_and_fails_naming_what_it_could_not() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, &form("")).await;
    let (_, one) = post(&app, spam_post()).await;
    let (_, two) = post(&app, spam_post()).await;
    let (one, two) = (one["id"].as_str().unwrap(), two["id"].as_str().unwrap());
    let out = crate::commands::relay_cli(&["release", one], &app.db_path).await;
    assert!(
        out.contains(&format!("{one}: released: queued for delivery")),
        "{out}"
    );
    app.wait_for_status(one, &["delivered"], WAIT).await;
    let out = crate::commands::relay_cli(&["confirm", two], &app.db_path).await;
    assert!(out.contains("confirmed as spam"), "{out}");

    let mut command = crate::commands::relay_binary();
    command
        .args(["release", two, "missing-id"])
        .env("TALK_RELAY__DATABASE__PATH", &app.db_path);
    let output = crate::helpers::run_command(command).await;
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stdout);
    // A confirmed row stays in the quarantine: an operator may still change their mind.
    assert!(said.contains(&format!("{two}: released")), "{said}");
    assert!(said.contains("missing-id: not found"), "{said}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 of 2 submission(s) were not reviewed"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn retention_purges_quarantined_rows_after_spam_days_and_keeps_the_rest() {
    let ortto = FakeOrtto::start().await;
    let mut app = spawn_app_with_ortto(&ortto, &form("")).await;
    let (_, held) = post(&app, spam_post()).await;
    let (_, real) = post(&app, json!({"email": "kim@example.com", "message": "Hi"})).await;
    let (held, real) = (held["id"].as_str().unwrap(), real["id"].as_str().unwrap());
    app.wait_for_status(real, &["delivered"], WAIT).await;
    app.stop().await;
    // Both rows are 40 days old; only the quarantined one is past `spam_days`.
    let log = app.store().await;
    sqlx::query("UPDATE submissions SET received_at = '2026-01-01T00:00:00.000Z'")
        .execute(log.pool())
        .await
        .unwrap();
    app.restart(&format!(
        "{}[retention]\nspam_days = 30\n[database]\npurge_interval_ms = 100\n",
        form("")
    ))
    .await;
    let deadline = std::time::Instant::now() + WAIT;
    while app.ids().await.contains(&held.to_owned()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the quarantined row was not purged"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.ids().await,
        [real.to_owned()],
        "retention_days = 0 keeps the rest"
    );
}
