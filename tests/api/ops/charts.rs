//! docs/operations.md, "Charts": the status page's SVG charts read the hourly rollups (kept
//! in step with the rows on insert, status change and delete, on both backends) and carry
//! their numbers as text.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{spawn_app_on, Method, TestApp, ADMIN};
use std::time::Duration;

async fn post(app: &TestApp, fields: serde_json::Value) -> (u16, serde_json::Value) {
    app.post_json("demo", &fields).await
}

/// The text alternative's row for the current hour, as `name → cell`.
fn this_hour(page: &str, chart: &str) -> Vec<(String, String)> {
    let start = page
        .find(&format!("id=\"chart-{chart}\""))
        .unwrap_or_else(|| panic!("no chart {chart}"));
    let figure = &page[start..start + page[start..].find("</figure>").unwrap()];
    let cells = |row: &str, tag: &str| -> Vec<String> {
        row.split(&format!("<{tag}>"))
            .skip(1)
            .map(|c| c.split(&format!("</{tag}>")).next().unwrap().to_owned())
            .collect()
    };
    let head = cells(figure.split("<tbody>").next().unwrap(), "th");
    let last = figure.split("<tr>").last().unwrap();
    head.into_iter().zip(cells(last, "td")).collect()
}

async fn charts_follow_the_rollups(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::ok(), Reply::json(400, r#"{"error":"no"}"#)]);
    let app = spawn_app_on(db, &ortto, &format!("{ADMIN}[delivery]\nmax_attempts = 1\n")).await;
    for email in ["a@example.com", "b@example.com"] {
        let (status, body) = post(&app, serde_json::json!({"email": email, "message": "hi"})).await;
        assert_eq!(status, 202);
        app.wait_for_status(
            body["id"].as_str().unwrap(),
            &["delivered", "dead"],
            Duration::from_secs(10),
        )
        .await;
    }
    post(
        &app,
        serde_json::json!({"email": "c@example.com", "message": "hi", "_gotcha": "bot"}),
    )
    .await;
    post(
        &app,
        serde_json::json!({"email": "not-an-email", "message": "hi"}),
    )
    .await;

    let page = app.admin(Method::GET, "/admin/").send(200).await.body;
    assert_eq!(page.matches("<svg viewBox=").count(), 5, "five charts");
    assert!(!page.contains("<script"), "no script on the page");
    assert!(!page.contains("src=\"http"), "nothing fetched from elsewhere");
    let volume = this_hour(&page, "volume");
    for (status, n) in [("delivered", "1"), ("dead", "1"), ("spam", "1"), ("invalid", "1")] {
        assert!(
            volume.contains(&(status.to_owned(), n.to_owned())),
            "{status}: {volume:?}"
        );
    }
    let latency = this_hour(&page, "latency");
    assert_ne!(latency[1].1, "—", "a p50 for this hour: {latency:?}");
    let refusals = this_hour(&page, "refusals");
    assert!(
        refusals.iter().any(|(code, n)| code == "TYPE_EMAIL" && n == "1"),
        "{refusals:?}"
    );
    let spam = this_hour(&page, "spam");
    assert_eq!(spam[1].1, "25", "one of four held as spam: {spam:?}");
    assert!(page.contains("<title id=\"chart-") || page.contains("<title id=\"volume-title\">"));
}

#[actix_web::test]
async fn the_status_page_charts_the_last_48_hours_from_the_rollups_on_sqlite() {
    charts_follow_the_rollups(None).await;
}

#[actix_web::test]
async fn the_status_page_charts_the_last_48_hours_from_the_rollups_on_postgres() {
    if let Some(url) = crate::postgres::database().await {
        charts_follow_the_rollups(Some(&url)).await;
    }
}
