//! What only a shared database gives: relays on one PostgreSQL log keep one outbound budget
//! and one pause between them, and honour each other's thank-you links (docs/scale-out.md, "Running
//! more than one relay").

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{spawn_app_on, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

async fn submit(app: &TestApp, n: usize) {
    let (status, body) = app
        .post_json(
            "demo",
            &json!({"email": format!("p{n}@example.com"), "message": format!("shared {n}")}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

/// 10 per 10 s is a burst of 1 and a token every 1.17 s, whichever relay takes it: two
/// relays with a budget each would send about twice as many.
#[actix_web::test]
async fn two_relays_share_one_outbound_budget() {
    let Some(db) = crate::postgres::database().await else {
        return;
    };
    let ortto = FakeOrtto::start().await;
    let budget = "[ortto]\nlimit_outbound = true\nrequests_per_10s = 10\nrequests_per_60s = 600\n";
    let mut a = spawn_app_on(Some(&db), &ortto, budget).await;
    let mut b = spawn_app_on(Some(&db), &ortto, budget).await;
    let started = Instant::now();
    for n in 0..12 {
        submit(if n % 2 == 0 { &a } else { &b }, n).await;
    }
    actix_web::rt::time::sleep(Duration::from_secs(6)).await;
    let seen = ortto.requests();
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = 1 + (elapsed / (10.5 / 9.0)) as usize;
    eprintln!(
        "shared budget: {} requests in {elapsed:.1} s, at most {allowed} allowed",
        seen.len()
    );
    assert!(
        seen.len() >= 3,
        "the budget let almost nothing through: {}",
        seen.len()
    );
    assert!(
        seen.len() <= allowed,
        "{} requests in {elapsed:.1} s: more than one budget's {allowed}",
        seen.len()
    );
    // Stopped inside the test's runtime, so no claim is cut off at its end.
    a.stop().await;
    b.stop().await;
}

/// One relay's 429 pauses the other: its row waits out Ortto's "try in 2 s" too.
#[actix_web::test]
async fn one_relays_429_pauses_every_relay() {
    let Some(db) = crate::postgres::database().await else {
        return;
    };
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::json(
        429,
        r#"{"error":{"code":"rate-limit","message":"rate limit","try-in-seconds":2}}"#,
    )]);
    let budget = "[ortto]\nlimit_outbound = true\nrequests_per_10s = 1000\nrequests_per_60s = 6000\n";
    let mut a = spawn_app_on(Some(&db), &ortto, budget).await;
    let mut b = spawn_app_on(Some(&db), &ortto, budget).await;
    submit(&a, 1).await;
    let first = ortto.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1);
    let limited_at = first[0].at;
    // Once relay A has shared its pause, B's row must wait for it too.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while sqlx::query("SELECT 1 FROM delivery_pause WHERE paused_until > now()")
        .fetch_optional(&pool)
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "relay A never shared its pause");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    submit(&b, 2).await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let (_, ready) = b.readyz().await;
    assert_eq!(ready["deliveries"], json!("paused"), "relay B: {ready}");
    assert_eq!(ready["reason"], json!("rate limited by Ortto"), "{ready}");

    pool.close().await;
    let seen = ortto.wait_for_requests(3, Duration::from_secs(10)).await;
    assert_eq!(seen.len(), 3, "both rows are delivered after the pause");
    for later in &seen[1..] {
        let gap = later.at.duration_since(limited_at);
        assert!(
            gap >= Duration::from_millis(1900),
            "a request went out {gap:?} after the 429"
        );
    }
    a.stop().await;
    b.stop().await;
}

/// Behind a round-robin balancer the 303 comes from one relay and `/thanks` from another:
/// the back link is signed with the fleet's one key, so the visitor still gets it.
#[actix_web::test]
async fn a_thank_you_link_signed_by_one_relay_is_honoured_by_another() {
    use crate::visitors::{browser_post, get_page, unescaped};
    let Some(db) = crate::postgres::database().await else {
        return;
    };
    let ortto = FakeOrtto::start().await;
    let form = "[forms.contact]\nallowed_origins = [\"https://www.example.com\"]\n";
    let mut a = spawn_app_on(Some(&db), &ortto, form).await;
    let mut b = spawn_app_on(Some(&db), &ortto, form).await;
    let (status, location, _) = browser_post(
        &a,
        "contact",
        "email=jo%40example.com&message=hi&_page=https%3A%2F%2Fwww.example.com%2Fpricing",
    )
    .await;
    assert_eq!(status, 303);
    let (status, page) = get_page(&b, &location).await;
    assert_eq!(status, 200);
    assert!(
        unescaped(&page).contains("href=\"https://www.example.com/pricing\""),
        "the other relay shows no back link: {page}"
    );
    // Forged links are still refused there.
    let (_, page) = get_page(&b, &location.replace("pricing", "phishing")).await;
    assert!(!page.contains("id=\"back\""), "{page}");
    a.stop().await;
    b.stop().await;
}

/// Relays that start together race to make the key; every one of them ends up with the one
/// that won (docs/scale-out.md, "One key for thank-you links").
#[actix_web::test]
async fn relays_starting_together_agree_on_one_link_key() {
    use talk_relay::store::{LogStore, PgStore};
    let Some(db) = crate::postgres::database().await else {
        return;
    };
    let first = PgStore::connect(&db, 2).await.unwrap();
    first.migrate().await.unwrap();
    let mut stores = vec![first];
    for _ in 0..5 {
        stores.push(PgStore::connect(&db, 2).await.unwrap());
    }
    let keys = futures_util::future::join_all(stores.iter().map(|s| s.shared_link_key())).await;
    let keys: Vec<String> = keys.into_iter().map(|k| k.unwrap().unwrap()).collect();
    assert_eq!(keys[0].len(), 64, "a 32-byte key in hex");
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "the relays disagree: {keys:?}"
    );
}
