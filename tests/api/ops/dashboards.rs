//! docs/alerts.md: the shipped alert rules and Grafana dashboard name only what the relay
//! has. Every metric a rule or panel queries is one `/metrics` exports (with its type), and
//! every SQL panel runs as written against a real log: SQLite through `sqlite3 -readonly`,
//! PostgreSQL through `psql` in a read-only session. `.ci/run` also runs `promtool check rules`
//! and `promtool test rules` on them; here they run when promtool is installed.

use crate::helpers::{spawn_app, spawn_app_on, sqlite3_json};
use serde_json::Value;

fn shipped(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Every `talk_relay_*` name in a query, and the metric type its suffix needs.
fn metric_names(query: &str) -> Vec<(String, Option<&'static str>)> {
    let names = regex::Regex::new(r"talk_relay_[a-z0-9_]+").unwrap();
    names
        .find_iter(query)
        .map(|m| {
            let name = m.as_str();
            for (suffix, kind) in [
                ("_total", "counter"),
                ("_bucket", "histogram"),
                ("_sum", "histogram"),
                ("_count", "histogram"),
            ] {
                if let Some(base) = name.strip_suffix(suffix) {
                    return (base.to_owned(), Some(kind));
                }
            }
            (name.to_owned(), None)
        })
        .collect()
}

fn panels_targets(dashboard: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            found.push((panel["title"].as_str().unwrap().to_owned(), target.clone()));
        }
    }
    found
}

#[actix_web::test]
async fn every_rule_and_panel_queries_a_metric_the_relay_exports() {
    // Labelled families appear once they have a series: a delivered post and a spam catch.
    let ortto = crate::fake_ortto::FakeOrtto::start().await;
    let app = crate::helpers::spawn_app_with_ortto(&ortto, "").await;
    let (_, body) = app
        .post_json(
            "demo",
            &serde_json::json!({"email": "a@example.com", "message": "hi"}),
        )
        .await;
    let delivered = std::time::Duration::from_secs(10);
    app.wait_for_status(body["id"].as_str().unwrap(), &["delivered"], delivered)
        .await;
    let bot = serde_json::json!({"email": "b@example.com", "message": "hi", "_gotcha": "bot"});
    app.post_json("demo", &bot).await;
    let exported = app.get("/metrics").send(200).await.body;
    let kind_of = |name: &str| {
        exported
            .lines()
            .find_map(|line| {
                line.strip_prefix(&format!("# TYPE {name} "))
                    .or_else(|| line.strip_prefix(&format!("# TYPE {name}_total ")))
            })
            .map(str::to_owned)
    };
    let dashboard: Value = serde_json::from_str(&shipped("docs/grafana/talk-relay.json")).unwrap();
    let mut queries: Vec<(String, String)> = panels_targets(&dashboard)
        .into_iter()
        .filter_map(|(title, target)| Some((title, target["expr"].as_str()?.to_owned())))
        .collect();
    assert!(queries.len() >= 12, "the dashboard covers the metrics");
    let rules = shipped("docs/alerts.yml");
    queries.extend(
        rules
            .lines()
            .filter(|l| l.contains("talk_relay_"))
            .map(|l| ("docs/alerts.yml".to_owned(), l.to_owned())),
    );
    let mut checked = 0;
    for (place, query) in &queries {
        for (name, needs) in metric_names(query) {
            let kind = kind_of(&name)
                .unwrap_or_else(|| panic!("{place}: `{name}` is not a metric the relay exports"));
            if let Some(needs) = needs {
                assert_eq!(kind, needs, "{place}: `{name}` is a {kind}");
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
}

#[actix_web::test]
async fn every_sql_panel_runs_against_a_real_log() {
    let dashboard: Value = serde_json::from_str(&shipped("docs/grafana/talk-relay.json")).unwrap();
    let targets = panels_targets(&dashboard);
    let app = spawn_app("").await;
    app.post_json(
        "demo",
        &serde_json::json!({"email": "a@example.com", "message": "hi"}),
    )
    .await;
    let sqlite: Vec<_> = targets
        .iter()
        .filter_map(|(t, q)| Some((t, q["rawQueryText"].as_str()?)))
        .collect();
    assert!(sqlite.len() >= 4);
    for (title, sql) in sqlite {
        let out = sqlite3_json(&app.db_path, sql).await;
        assert!(
            out.status.success(),
            "{title}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let Some(url) = crate::postgres::database().await else {
        return;
    };
    let ortto = crate::fake_ortto::FakeOrtto::start().await;
    let _fleet = spawn_app_on(Some(&url), &ortto, "").await;
    let postgres: Vec<_> = targets
        .iter()
        .filter_map(|(t, q)| Some((t, q["rawSql"].as_str()?)))
        .collect();
    assert!(postgres.len() >= 4);
    for (title, sql) in postgres {
        let out = crate::ops::housekeeping::psql_json(&url, sql).await;
        assert!(
            out.status.success(),
            "{title}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[actix_web::test]
async fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    let Ok(version) = std::process::Command::new("promtool").arg("--version").output() else {
        assert!(
            std::env::var_os("TALK_RELAY_REQUIRE_POSTGRES").is_none(),
            "the alert rule tests need promtool (apt-get install prometheus)"
        );
        eprintln!("promtool test skipped: promtool is not installed");
        return;
    };
    assert!(version.status.success());
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let mut command = std::process::Command::new("promtool");
        command
            .args(args)
            .current_dir(format!("{}/docs", env!("CARGO_MANIFEST_DIR")));
        let out = crate::helpers::run_command(command).await;
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
