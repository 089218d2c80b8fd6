//! docs/alerts.md, "Notifications": a local receiver on a loopback port takes the relay's
//! webhook posts, as Slack, Discord or Teams would.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{spawn_app, spawn_app_with_ortto, TestApp};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where `TEST_ALERT_URL` points (a port of its own: one receiver at a time).
pub const RECEIVER: &str = "http://127.0.0.1:18397/notify";

/// What the receiver took, and how many of the first posts it refuses with 500.
#[derive(Default)]
struct Received {
    bodies: Vec<Value>,
    refuse_first: usize,
    seen: usize,
}

struct Receiver {
    received: Arc<Mutex<Received>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(refuse_first: usize) -> Self {
        let received = Arc::new(Mutex::new(Received {
            refuse_first,
            ..Received::default()
        }));
        let shared = web::Data::from(received.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).route(
                "/notify",
                web::post().to(
                    |body: web::Json<Value>, got: web::Data<Mutex<Received>>| async move {
                        let mut got = got.lock().unwrap();
                        got.seen += 1;
                        if got.seen <= got.refuse_first {
                            return HttpResponse::InternalServerError().finish();
                        }
                        got.bodies.push(body.into_inner());
                        HttpResponse::Ok().body("ok")
                    },
                ),
            )
        })
        .workers(1)
        .bind("127.0.0.1:18397")
        .expect("the notification receiver's port is free")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            received,
            server: handle,
        }
    }

    /// The texts received, once `count` have come (or the wait is over).
    async fn texts(&self, count: usize) -> Vec<String> {
        self.texts_until(|texts| texts.len() >= count).await
    }

    /// The texts received, once `done` says so (or the wait is over).
    async fn texts_until(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let texts: Vec<String> = {
                let got = self.received.lock().unwrap();
                got.bodies
                    .iter()
                    .map(|b| b["text"].as_str().unwrap_or("").to_owned())
                    .collect()
            };
            if done(&texts) || Instant::now() > deadline {
                return texts;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const ALERTS: &str = "[alerts]\nwebhook_url_env = \"TEST_ALERT_URL\"\ncheck_interval_ms = 100\nretries = 3\n";

async fn submit(app: &TestApp) -> String {
    let (status, body) = app
        .post_json(
            "demo",
            &serde_json::json!({"email": "a@example.com", "message": "hi"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// One test, since the receiver has one port.
#[actix_web::test]
async fn notifications_reach_a_webhook_receiver() {
    pauses_resumes_and_dead_rows_are_notified_once_per_cooldown().await;
    a_log_that_stops_taking_writes_and_an_old_queue_are_notified().await;
}

async fn pauses_resumes_and_dead_rows_are_notified_once_per_cooldown() {
    // The first post to the receiver fails: the relay tries again.
    let receiver = Receiver::start(1).await;
    let ortto = FakeOrtto::start().await;
    // A rejected key pauses deliveries (auth_pause_ms = 600 here); the retry succeeds.
    ortto.script([Reply::status(401)]);
    let overlay = format!(
        "{ALERTS}cooldown_s = 3600\n[server]\npublic_url = \"https://relay.example.com\"\n\
         [delivery]\nmax_attempts = 1\n"
    );
    let mut app = spawn_app_with_ortto(&ortto, &overlay).await;
    let paused = submit(&app).await;
    app.wait_for_status(&paused, &["delivered"], Duration::from_secs(10))
        .await;
    let texts = receiver.texts(2).await;
    assert!(texts[0].contains("Deliveries to Ortto are paused"), "{texts:?}");
    assert!(
        texts[0].contains("https://relay.example.com/admin/"),
        "a link to the status page: {texts:?}"
    );
    assert!(texts[1].contains("Deliveries to Ortto have resumed"), "{texts:?}");
    assert_eq!(
        receiver.received.lock().unwrap().seen,
        3,
        "the refused first post was tried again"
    );

    // Two dead rows: one notification, the second is within the cooldown.
    ortto.set_default(Reply::status(400));
    for _ in 0..2 {
        let dead = submit(&app).await;
        app.wait_for_status(&dead, &["dead"], Duration::from_secs(10))
            .await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let texts = receiver.texts(3).await;
    let dead: Vec<_> = texts.iter().filter(|t| t.contains("went dead")).collect();
    assert_eq!(dead.len(), 1, "{texts:?}");
    let body = receiver.received.lock().unwrap().bodies[2].clone();
    assert_eq!(body["content"], body["text"], "Discord reads `content`");
    app.stop().await;
    receiver.server.stop(true).await;
}

async fn a_log_that_stops_taking_writes_and_an_old_queue_are_notified() {
    let receiver = Receiver::start(0).await;
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::status(500));
    let mut app = spawn_app_with_ortto(
        &ortto,
        &format!("{ALERTS}queue_age_s = 1\n[delivery]\nmax_attempts = 500\n"),
    )
    .await;
    submit(&app).await;
    let old = |texts: &[String]| {
        texts
            .iter()
            .any(|t| t.contains("The oldest queued submission has waited"))
    };
    let texts = receiver.texts_until(old).await;
    assert!(old(&texts), "{texts:?}");
    app.stop().await;
    receiver.server.stop(true).await;

    let receiver = Receiver::start(0).await;
    let mut full = spawn_app(&format!("{ALERTS}[database]\nmin_free_mb = 100000000\n")).await;
    let stopped = |texts: &[String]| texts.iter().any(|t| t.contains("The log is not taking writes"));
    let texts = receiver.texts_until(stopped).await;
    assert!(stopped(&texts), "{texts:?}");
    full.stop().await;
    receiver.server.stop(true).await;
}
