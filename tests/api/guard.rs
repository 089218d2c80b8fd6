//! docs/guard.md "Guard": rate limits, client IPs, input limits, CAPTCHA and origins.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{spawn_app, Expect, TestApp, BROWSER_ACCEPT};
use serde_json::{json, Value};
use std::time::Duration;

mod captcha;

const PER_IP: &str = "[rate_limits.form_per_ip]\nenabled = true\nburst = 3\nper_minute = 60\n";

async fn post_as(app: &TestApp, forwarded_for: Option<&str>, body: &Value) -> (u16, Option<String>, Value) {
    let mut request = app.post("/f/demo").header("Accept", "application/json");
    if let Some(xff) = forwarded_for {
        request = request.header("X-Forwarded-For", xff);
    }
    let response = request.json(body, Expect::Any).await;
    let retry_after = response.header("retry-after").map(str::to_owned);
    (response.status, retry_after, response.json())
}

fn message() -> Value {
    json!({"email": "a@example.com", "message": "hello"})
}

async fn metric(app: &TestApp, line_start: &str) -> Option<f64> {
    let response = app.get("/metrics").send(Expect::Any).await;
    let text = response.body.clone();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[actix_web::test]
async fn a_limit_trips_exactly_at_its_quota_is_not_recorded_and_resets() {
    let app = spawn_app(PER_IP).await;
    for _ in 0..3 {
        assert_eq!(post_as(&app, None, &message()).await.0, 202);
    }
    let (status, retry_after, body) = post_as(&app, None, &message()).await;
    assert_eq!(status, 429);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["errors"][0]["code"], "RATE_LIMITED");
    assert_eq!(
        app.submissions().await.len(),
        3,
        "a refused request is not recorded"
    );
    assert_eq!(
        metric(&app, "talk_relay_rate_limited_total{scope=\"form_per_ip\"}").await,
        Some(1.0)
    );
    assert_eq!(
        metric(
            &app,
            "talk_relay_intake_total{source_kind=\"form\",source=\"demo\",outcome=\"rate_limited\"}"
        )
        .await,
        Some(1.0)
    );

    // A browser gets the same refusal as a page.
    let page = app
        .post("/f/demo")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", BROWSER_ACCEPT)
        .body("email=a%40example.com&message=hi", 429)
        .await;
    assert!(page.header("retry-after").is_some());
    assert!(page.body.clone().contains("Please wait a moment"));

    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        post_as(&app, None, &message()).await.0,
        202,
        "one request's worth refilled after 1 s"
    );
}

#[actix_web::test]
async fn the_per_form_limit_holds_across_clients_and_can_be_switched_off() {
    let app = spawn_app(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[rate_limits.form]\nenabled = true\nburst = 2\nper_minute = 1\n",
    )
    .await;
    assert_eq!(post_as(&app, Some("203.0.113.1"), &message()).await.0, 202);
    assert_eq!(post_as(&app, Some("203.0.113.2"), &message()).await.0, 202);
    let (status, retry_after, _) = post_as(&app, Some("203.0.113.3"), &message()).await;
    assert_eq!(status, 429);
    assert_eq!(retry_after.as_deref(), Some("60"));

    let open =
        spawn_app("[rate_limits.form]\nenabled = false\n[rate_limits.form_per_ip]\nenabled = false\n").await;
    for _ in 0..20 {
        assert_eq!(post_as(&open, None, &message()).await.0, 202);
    }
}

#[actix_web::test]
async fn a_spoofed_forwarded_header_from_an_untrusted_peer_changes_nothing() {
    let app = spawn_app("[rate_limits.form_per_ip]\nenabled = true\nburst = 1\nper_minute = 1\n").await;
    let (status, _, body) = post_as(&app, Some("198.51.100.1"), &message()).await;
    assert_eq!(status, 202);
    assert_eq!(
        post_as(&app, Some("198.51.100.2"), &message()).await.0,
        429,
        "same peer, same key"
    );
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(row.client_ip.as_deref(), Some("127.0.0.1"));
}

#[actix_web::test]
async fn a_trusted_proxys_header_names_the_client() {
    let app = spawn_app(
        "[server]\ntrusted_proxies = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\n\
         [rate_limits.form_per_ip]\nenabled = true\nburst = 1\nper_minute = 1\n",
    )
    .await;
    let (status, _, body) = post_as(&app, Some("203.0.113.5"), &message()).await;
    assert_eq!(status, 202);
    assert_eq!(
        app.submission(body["id"].as_str().unwrap())
            .await
            .client_ip
            .as_deref(),
        Some("203.0.113.5")
    );
    assert_eq!(
        post_as(&app, Some("203.0.113.6"), &message()).await.0,
        202,
        "another client, another key"
    );
    assert_eq!(post_as(&app, Some("203.0.113.5"), &message()).await.0, 429);

    // The right-most hop that is not a trusted proxy wins; what the client itself wrote is ignored.
    let (_, _, body) = post_as(&app, Some("1.2.3.4, 198.51.100.7, 10.1.2.3"), &message()).await;
    assert_eq!(
        app.submission(body["id"].as_str().unwrap())
            .await
            .client_ip
            .as_deref(),
        Some("198.51.100.7")
    );

    // With `client_ip_header = "forwarded"`, the RFC 7239 header is the one read.
    let app =
        spawn_app("[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\nclient_ip_header = \"forwarded\"\n").await;
    let response = app
        .post("/f/demo")
        .header("Accept", "application/json")
        .header("Forwarded", "for=\"[2001:db8::1]:4711\";proto=https")
        .json(&message(), Expect::Any)
        .await;
    let body: Value = response.json();
    assert_eq!(
        app.submission(body["id"].as_str().unwrap())
            .await
            .client_ip
            .as_deref(),
        Some("2001:db8::1")
    );
}

#[actix_web::test]
async fn ten_thousand_rotating_ips_are_pruned_away() {
    let app = spawn_app(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[rate_limits]\nprune_interval_ms = 4000\n\
         [rate_limits.form_per_ip]\nenabled = true\nburst = 1\nper_minute = 60000\n",
    )
    .await;
    let started = std::time::Instant::now();
    for chunk in (0..10_000u32).collect::<Vec<_>>().chunks(100) {
        let requests = chunk.iter().map(|n| {
            let ip = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
            // Refused after the rate-limit check (wrong content type): cheap, nothing recorded.
            app.post("/f/demo")
                .header("X-Forwarded-For", ip)
                .header("Content-Type", "text/plain")
                .body("flood", 415)
        });
        futures_util::future::join_all(requests).await;
    }
    let sent_in = started.elapsed();
    let before = metric(&app, "talk_relay_rate_limiter_keys{scope=\"form_per_ip\"}")
        .await
        .unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(4500)).await;
    let after = metric(&app, "talk_relay_rate_limiter_keys{scope=\"form_per_ip\"}")
        .await
        .unwrap();
    eprintln!("10,000 IPs in {sent_in:?}: {before} keys before pruning, {after} after");
    if sent_in < Duration::from_millis(3500) {
        assert!(before >= 9_000.0, "{before} keys tracked right after the flood");
    }
    assert!(after < 100.0, "{after} keys left after pruning");
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn input_limits_each_answer_a_clear_error_naming_the_limit() {
    let app = spawn_app(
        "[limits]\nmax_fields = 5\nmax_field_name_chars = 20\nmax_value_chars = 50\nmax_json_depth = 3\n",
    )
    .await;
    let (status, _, body) = post_as(
        &app,
        None,
        &json!({"email": "a@example.com", "message": "m", "a": "1", "b": "2", "c": ["3", "4"]}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_FIELDS");
    assert!(body["error"].as_str().unwrap().contains("limits.max_fields"));

    let (status, _, body) = post_as(
        &app,
        None,
        &json!({"email": "a@example.com", "x".repeat(21): "v"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "FIELD_NAME_TOO_LONG");

    let (status, _, body) = post_as(
        &app,
        None,
        &json!({"email": "a@example.com", "message": "m".repeat(51)}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "message");
    assert_eq!(body["errors"][0]["code"], "FIELD_TOO_LONG");

    let (status, _, body) = post_as(
        &app,
        None,
        &json!({"email": "a@example.com", "a": {"b": {"c": {"d": "deep"}}}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["code"], "JSON_TOO_DEEP");

    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let response = app
        .post("/f/demo")
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(format!("{{\"a\": {deep}}}"), Expect::Any)
        .await;
    assert_eq!(response.status, 400, "{}", response.body.clone());
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn posts_naming_no_origin_follow_the_forms_setting() {
    let lenient = spawn_app("[forms.demo]\nallowed_origins = [\"https://www.example.com\"]\n").await;
    assert_eq!(post_as(&lenient, None, &message()).await.0, 202);
    let strict =
        spawn_app("[forms.demo]\nallowed_origins = [\"https://www.example.com\"]\nrequire_origin = true\n")
            .await;
    let (status, _, body) = post_as(&strict, None, &message()).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["code"], "ORIGIN_NOT_ALLOWED");
    // A Referer stands in for a missing Origin.
    let response = strict
        .post("/f/demo")
        .header("Accept", "application/json")
        .header("Referer", "https://www.example.com/contact")
        .json(&message(), Expect::Any)
        .await;
    assert_eq!(response.status, 202, "{}", response.body.clone());
    let look_alike = strict
        .post("/f/demo")
        .header("Accept", "application/json")
        .header("Referer", "https://www.example.com.evil.example/contact")
        .json(&message(), Expect::Any)
        .await;
    assert_eq!(look_alike.status, 403, "{}", look_alike.body.clone());
}

/// Posts with extra headers as a client behind the trusted proxy at 127.0.0.1.
async fn post_with(app: &TestApp, headers: &[(&str, String)]) -> (u16, Value) {
    let mut request = app.post("/f/demo").header("Accept", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.json(&message(), Expect::Any).await;
    (response.status, response.json())
}

const BEHIND_A_PROXY: &str = "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
    [rate_limits.form_per_ip]\nenabled = true\nburst = 5\nper_minute = 1\n";

#[actix_web::test]
async fn a_client_cannot_pick_its_ip_with_a_second_header_or_an_unreadable_hop() {
    let app = spawn_app(BEHIND_A_PROXY).await;
    // The proxy says 7.7.7.7; the client adds its own Forwarded header, a new one each time.
    let mut statuses = Vec::new();
    for n in 0..10 {
        let (status, body) = post_with(
            &app,
            &[
                ("Forwarded", format!("for=9.9.9.{n}")),
                ("X-Forwarded-For", "7.7.7.7".to_owned()),
            ],
        )
        .await;
        if status == 202 {
            let row = app.submission(body["id"].as_str().unwrap()).await;
            assert_eq!(row.client_ip.as_deref(), Some("7.7.7.7"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 5, "{statuses:?}");

    // An unreadable hop ends the walk: the trusted proxy stands for the client, never the
    // forged hop to its left.
    let app = spawn_app(BEHIND_A_PROXY).await;
    let mut statuses = Vec::new();
    for n in 0..10 {
        let (status, body) = post_with(&app, &[("X-Forwarded-For", format!("7.7.7.{n}, unknown"))]).await;
        if status == 202 {
            let row = app.submission(body["id"].as_str().unwrap()).await;
            assert_eq!(row.client_ip.as_deref(), Some("127.0.0.1"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 5, "{statuses:?}");
}

#[actix_web::test]
async fn a_cdn_header_can_name_the_client_instead() {
    let app = spawn_app(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\nclient_ip_header = \"cf-connecting-ip\"\n",
    )
    .await;
    let (status, body) = post_with(
        &app,
        &[
            ("CF-Connecting-IP", "203.0.113.9".to_owned()),
            ("X-Forwarded-For", "198.51.100.1".to_owned()),
        ],
    )
    .await;
    assert_eq!(status, 202);
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(row.client_ip.as_deref(), Some("203.0.113.9"));
}

#[actix_web::test]
async fn ipv6_clients_share_a_limit_per_slash_64() {
    let app = spawn_app(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
         [rate_limits.form_per_ip]\nenabled = true\nburst = 1\nper_minute = 1\n",
    )
    .await;
    let from = |ip: &'static str| {
        let app = &app;
        async move { post_with(app, &[("X-Forwarded-For", ip.to_owned())]).await }
    };
    assert_eq!(from("2001:db8::1").await.0, 202);
    assert_eq!(from("2001:db8::2").await.0, 429, "same /64, same limit");
    let (status, body) = from("2001:db8:0:1::1").await;
    assert_eq!(status, 202, "another /64");
    let row = app.submission(body["id"].as_str().unwrap()).await;
    assert_eq!(
        row.client_ip.as_deref(),
        Some("2001:db8:0:1::1"),
        "the full address is recorded"
    );
}
