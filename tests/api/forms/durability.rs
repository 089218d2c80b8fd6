//! Durability at intake: restarts, idempotency keys, failed writes, readiness.

use super::*;

#[actix_web::test]
async fn a_restart_keeps_the_rows_and_intake_goes_on() {
    let mut app = spawn_app("").await;
    let (_, first) = app
        .post_json("demo", &json!({"email": "a@example.com", "message": "before"}))
        .await;
    app.restart("").await;
    let (status, second) = app
        .post_json("demo", &json!({"email": "b@example.com", "message": "after"}))
        .await;
    assert_eq!(status, 202);
    let ids: Vec<String> = app.ids().await;
    assert_eq!(
        ids,
        vec![
            first["id"].as_str().unwrap().to_owned(),
            second["id"].as_str().unwrap().to_owned()
        ]
    );
}

#[actix_web::test]
async fn an_idempotency_key_answers_the_first_id_and_records_once() {
    let app = spawn_app("").await;
    let send = |expect: u16| {
        app.post("/f/demo")
            .header("Accept", "application/json")
            .header("Idempotency-Key", "order-42")
            .json(&json!({"email": "a@example.com", "message": "once"}), expect)
    };
    let first = send(202).await.json();
    let again = send(200).await.json();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(app.submissions().await.len(), 1);
}

#[actix_web::test]
async fn health_and_readiness() {
    let app = spawn_app("").await;
    app.get("/healthz").send(200).await;
    let ready = app
        .get("/readyz")
        .header("Accept", BROWSER_ACCEPT)
        .send(200)
        .await;
    let body: Value = ready.json();
    assert_eq!(body["database"], "writable");
}

#[actix_web::test]
async fn a_failed_write_fails_only_its_own_request_with_a_clear_503() {
    let app = spawn_app("").await;
    // A write the database refuses: the batch it lands in fails, then each job is retried alone.
    let mut command = std::process::Command::new("sqlite3");
    // Wait out the relay's own brief write locks (a readiness probe, a checkpoint).
    command.args(["-cmd", ".timeout 5000"]).arg(&app.db_path).arg(
        "CREATE TRIGGER refuse_one BEFORE INSERT ON submissions WHEN NEW.email = 'refused@example.com'
         BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;",
    );
    let output = crate::helpers::run_command(command).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let posts = (0..12).map(|n| {
        let email = if n == 5 {
            "refused@example.com".to_owned()
        } else {
            format!("p{n}@example.com")
        };
        let app = &app;
        async move {
            (
                email.clone(),
                app.post_json("demo", &json!({"email": email, "message": "hi"}))
                    .await,
            )
        }
    });
    let answers = futures_util::future::join_all(posts).await;
    for (email, (status, body)) in &answers {
        if email == "refused@example.com" {
            assert_eq!(*status, 503, "{body}");
            assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
            assert!(
                !body.to_string().contains("refused for the test"),
                "no internals leak: {body}"
            );
        } else {
            assert_eq!(*status, 202, "{email}: {body}");
            app.submission(body["id"].as_str().unwrap()).await;
        }
    }
    let rows = app.submissions().await;
    assert_eq!(
        rows.len(),
        11,
        "every acknowledged request has its row, the refused one has none"
    );
}

#[actix_web::test]
async fn readiness_fails_when_the_database_refuses_writes() {
    let app = spawn_app("[database]\nreadiness_probe_ms = 1\n").await;
    assert_eq!(app.readyz().await.0, 200);
    let mut command = std::process::Command::new("sqlite3");
    // Wait out the relay's own brief write locks (a readiness probe, a checkpoint).
    command.args(["-cmd", ".timeout 5000"]).arg(&app.db_path).arg(
        "CREATE TRIGGER refuse_heartbeat BEFORE UPDATE ON relay_heartbeat BEGIN SELECT RAISE(ABORT, 'disk gone'); END;",
    );
    assert!(crate::helpers::run_command(command).await.status.success());
    let (status, body) = app.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "not writable");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("the database is not writable"),
        "{body}"
    );
}
