//! Answers from Ortto that are neither a plain yes nor a plain no: a 2xx that is not a
//! compose answer, and a run of 400s that would get the relay's IP banned.

use super::*;

#[actix_web::test]
async fn a_2xx_that_is_not_a_compose_answer_is_retried_then_dead_with_an_excerpt_and_replayable() {
    let ortto = FakeOrtto::start().await;
    // A captive proxy or a wrong base_url: 200, but a login page, not a conversation.
    ortto.set_default(Reply::json(200, "<html>Login required</html>"));
    let app = spawn_app_with_ortto(&ortto, "[delivery]\nmax_attempts = 2\n").await;
    let id = submit(&app, "hi").await;
    let row = app.wait_for_status(&id, &["dead"], WAIT).await;
    assert_eq!(row.status, "dead", "never counted as delivered");
    let last_error = row.last_error.clone().unwrap_or_default();
    assert!(last_error.contains("Login required"), "{last_error}");
    let attempts = app.attempts(&id).await;
    assert_eq!(attempts.len(), 2);
    assert!(attempts
        .iter()
        .all(|(_, status, kind)| *status == Some(200) && kind.as_deref() == Some("unexpected_response")));

    ortto.set_default(Reply::ok());
    assert_eq!(
        app.store()
            .await
            .replay(std::slice::from_ref(&id), None)
            .await
            .unwrap(),
        1
    );
    let row = app.wait_for_status(&id, &["delivered"], WAIT).await;
    assert_eq!(row.status, "delivered", "replayable once Ortto answers properly");
}

#[actix_web::test]
async fn several_refused_payloads_pause_every_delivery_before_ortto_bans_the_ip() {
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::json(400, r#"{"error":{"message":"invalid field"}}"#));
    let app = spawn_app_with_ortto(
        &ortto,
        "[delivery]\nconcurrency = 1\n[admin]\ntoken_env = 'TEST_ADMIN_TOKEN'\n",
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(submit(&app, &format!("refused {n}")).await);
    }
    ortto.wait_for_requests(3, WAIT).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ortto.requests().len(),
        3,
        "the fourth request waits out the pause"
    );

    let (status, ready) = app.readyz().await;
    assert_eq!(status, 200, "intake still works: {ready}");
    assert_eq!(ready["deliveries"], "paused");
    assert!(
        ready["reason"].as_str().unwrap().contains("refused 3 payloads"),
        "{ready}"
    );
    let page = app
        .get("/admin/")
        .header("Authorization", format!("Bearer {TEST_ADMIN_TOKEN}"))
        .send(200)
        .await;
    assert!(
        page.body.contains("paused") && page.body.contains("refused 3 payloads"),
        "the status page says why: {}",
        page.body
    );
    let metrics = app.get("/metrics").send(Expect::Any).await;
    let text = metrics.body.clone();
    assert!(
        text.contains("talk_relay_deliveries_paused{reason=\"refusals\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("talk_relay_deliveries_total{outcome=\"paused_for_refusals\"} 1"),
        "{text}"
    );

    let mut statuses = Vec::new();
    for id in &ids {
        statuses.push(app.submission(id).await.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == "dead").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "queued").count(),
        2,
        "{statuses:?}"
    );
}
