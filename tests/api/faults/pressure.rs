//! Pressure from outside: WAL growth under load and readers, probe floods, refused sessions.

use super::*;

fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(talk_relay::store::health::wal_path(db)).map_or(0, |m| m.len())
}

/// Posts from `clients` concurrent clients until `stop` says so; counts what was accepted.
async fn load(app: &TestApp, clients: usize, run_for: Duration, min_posts: usize) -> usize {
    let started = Instant::now();
    let accepted = std::cell::Cell::new(0usize);
    let one = |n: usize| {
        let accepted = &accepted;
        async move {
            let mut k = 0;
            while started.elapsed() < run_for || accepted.get() < min_posts {
                let (status, _) = app
                    .post_json(
                        "demo",
                        &json!({"email": format!("w{n}-{k}@example.com"), "message": "y".repeat(4000)}),
                    )
                    .await;
                assert_eq!(status, 202);
                accepted.set(accepted.get() + 1);
                k += 1;
            }
        }
    };
    futures_util::future::join_all((0..clients).map(one)).await;
    accepted.get()
}

/// Samples the WAL's size every 20 ms while `work` runs; returns the largest.
async fn peak_wal_during<F: std::future::Future>(db: &Path, work: F) -> (u64, F::Output) {
    let peak = std::cell::Cell::new(0u64);
    let done = std::cell::Cell::new(false);
    let sampler = async {
        while !done.get() {
            peak.set(peak.get().max(wal_size(db)));
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let work = async {
        let output = work.await;
        done.set(true);
        output
    };
    let ((), output) = futures_util::future::join(sampler, work).await;
    (peak.get().max(wal_size(db)), output)
}

/// Waits until the idle writer has truncated the WAL to zero: a second with no new frames,
/// then a truncation, which a busy machine may delay by a few seconds.
async fn wait_for_truncation(db: &Path, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while wal_size(db) > 0 {
        assert!(
            Instant::now() < deadline,
            "{when}, the WAL stayed at {} bytes",
            wal_size(db)
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_wal_stays_bounded_under_load_returns_under_after_a_long_reader_and_shrinks_when_idle() {
    const BOUND: u64 = 1 << 20;
    // Without the bound this load grows the WAL by tens of MB; the slack absorbs a busy machine.
    const SLACK: u64 = 6 << 20;
    let app = spawn_app("[database]\nmax_wal_mb = 1\n").await;
    let db = app.db_path.clone();

    let (peak, posted) = peak_wal_during(&db, load(&app, 8, Duration::from_secs(2), 600)).await;
    eprintln!("WAL high-water mark without a reader: {peak} bytes over {posted} posts");
    assert!(
        peak <= BOUND + SLACK,
        "the WAL reached {peak} bytes; the bound is {BOUND}"
    );

    // A dashboard holds a read transaction for two seconds while the load goes on.
    let mut reader = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let (peak_with_reader, _) = peak_wal_during(&db, async {
        sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
        let _: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions")
            .fetch_one(&mut reader)
            .await
            .unwrap();
        load(&app, 8, Duration::from_secs(2), 200).await;
        sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    })
    .await;
    eprintln!("WAL high-water mark with a 2 s reader: {peak_with_reader} bytes");
    reader.close().await.unwrap();

    // Once the reader is gone the next crossing truncates it, load or not.
    load(&app, 8, Duration::from_millis(800), 100).await;
    assert!(
        wal_size(&db) <= BOUND + SLACK,
        "after the reader ended the WAL is still {} bytes",
        wal_size(&db)
    );
    // Idle means the worker too: wait until the dry-run worker has parked every queued row.
    let drained = Instant::now() + Duration::from_secs(60);
    loop {
        let out = sqlite3_json(
            &db,
            "SELECT COUNT(*) AS n FROM submissions WHERE status IN ('queued', 'retrying')",
        )
        .await;
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if rows.first().and_then(|r| r["n"].as_i64()) == Some(0) {
            break;
        }
        assert!(Instant::now() < drained, "the worker did not drain the queue");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_truncation(&db, "idle").await;
}

/// A WAL left past its bound by a reader, with no write after the writer restarted it, is
/// idle: it is truncated a second later. (It used to be restarted again at every upkeep,
/// each restart counted as activity, and the file stayed past the bound for good.)
#[actix_web::test]
async fn a_wal_left_past_its_bound_with_nothing_more_to_write_is_truncated() {
    const BOUND: u64 = 1 << 20;
    // Spam rows: the worker never touches them, so nothing writes once the posts stop.
    let app = spawn_app("[database]\nmax_wal_mb = 1\n").await;
    let db = app.db_path.clone();
    let mut reader = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    let _: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    let mut n = 0;
    while wal_size(&db) <= 3 * BOUND {
        let (status, _) = app
            .post_json(
                "demo",
                &json!({"email": format!("s{n}@example.com"), "message": "z".repeat(4000), "_gotcha": "bot"}),
            )
            .await;
        assert_eq!(status, 202);
        n += 1;
    }
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    reader.close().await.unwrap();
    wait_for_truncation(&db, "with nothing more to write").await;
}

async fn heartbeat_at(db: &Path) -> String {
    let out = sqlite3_json(db, "SELECT at FROM relay_heartbeat").await;
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[actix_web::test]
async fn a_flood_of_readiness_probes_writes_at_most_once_per_probe_interval() {
    let app = spawn_app("[database]\nreadiness_probe_ms = 60000\n").await;
    assert_eq!(app.readyz().await.0, 200);
    let first = heartbeat_at(&app.db_path).await;
    assert!(
        first.contains("\"at\""),
        "the first probe wrote the heartbeat: {first}"
    );
    for _ in 0..50 {
        assert_eq!(app.readyz().await.0, 200);
    }
    assert_eq!(
        heartbeat_at(&app.db_path).await,
        first,
        "later probes wrote nothing"
    );
}

#[actix_web::test]
async fn refused_session_requests_write_nothing_and_stored_inputs_are_bounded() {
    let app = spawn_app(
        "[sessions]\nsite_keys_env = ['TEST_SITE_KEY_A']\nsigning_secret_env = 'TEST_SESSION_SIGNING'\n",
    )
    .await;
    let send = |bearer: Option<&'static str>, body: Value| {
        let mut request = app.post("/talk/session");
        if let Some(key) = bearer {
            request = request.bearer(key);
        }
        async move { request.json(&body, Expect::Any).await.status }
    };
    // Authenticated, with a 60,000-byte email: refused as invalid, logged without it.
    let long = format!("{}@example.com", "a".repeat(60_000));
    assert_eq!(
        send(Some("site-key-a-not-real"), json!({"email": long, "name": "Jo"})).await,
        422
    );
    let mut statuses = Vec::new();
    for n in 0..30 {
        let body =
            json!({"email": format!("x{n}@example.com"), "name": "X", "expires": 1, "signature": "00"});
        statuses.push(send(if n % 2 == 0 { Some("wrong-key") } else { None }, body).await);
    }
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "the per-IP session limit refused some: {statuses:?}"
    );

    let out = sqlite3_json(&app.db_path, "SELECT auth, outcome, email FROM talk_sessions").await;
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        rows.len(),
        1,
        "only the authenticated request was logged: {rows:?}"
    );
    assert_eq!(rows[0]["auth"], "TEST_SITE_KEY_A");
    assert_eq!(
        rows[0]["email"],
        Value::Null,
        "an unchecked email is never stored"
    );

    let metrics = app.get("/metrics").send(Expect::Any).await;
    let text = metrics.body.clone();
    assert!(
        text.contains("talk_relay_sessions_total{outcome=\"unauthorized\"}"),
        "{text}"
    );
    assert!(
        text.contains("talk_relay_sessions_total{outcome=\"rate_limited\"}"),
        "{text}"
    );
}
