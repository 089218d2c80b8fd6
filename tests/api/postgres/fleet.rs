//! The fleet test (docs/scale-out.md, "Running more than one relay"): three relay processes on one
//! PostgreSQL log, clients posting to whichever is up, a faulty fake Ortto, instances killed
//! with SIGKILL at random and restarted, and one instance whose clock runs 20 s ahead
//! (`faketime`). It checks every acknowledged submission ends `delivered`, Ortto sees
//! duplicates only for rows in flight at a kill, no row is claimed twice while its lease is
//! live, no 10 s or 60 s window across the fleet exceeds the plan, and a 429 pauses them all.
//!
//! CI runs the short version. The long one, by hand:
//! `TALK_RELAY_FLEET_SUBMISSIONS=3000 cargo test fleet -- --nocapture`.

use crate::crash::{created_per_message, free_port, wait_healthy, Relay};
use crate::fake_ortto::{Chaos, FakeOrtto, Reply, SeenRequest};
use crate::helpers::{test_client, TEST_ORTTO_KEY};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INSTANCES: usize = 3;
const CONCURRENCY: usize = 4;
const LEASE: Duration = Duration::from_secs(2);
const PER_10S: usize = 100;
const PER_60S: usize = 400;
/// A 429 asks for this pause; how long others may take to hear of it (a claim round).
const PAUSE: Duration = Duration::from_secs(1);
const HEARING: Duration = Duration::from_millis(500);

struct Instance {
    port: u16,
    config: PathBuf,
    skewed: bool,
    process: Option<Relay>,
    runs: usize,
}

impl Instance {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self, dir: &Path) {
        self.runs += 1;
        let log = std::fs::File::create(dir.join(format!("relay-{}-{}.log", self.port, self.runs))).unwrap();
        let binary = crate::commands::RELAY_BINARY;
        let mut command = if self.skewed {
            let mut c = Command::new("faketime");
            c.args(["-f", "+20s", binary]);
            c.env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
            c
        } else {
            Command::new(binary)
        };
        // Its own process group: `faketime` forks the relay and waits, so killing only the
        // process it started would leave the skewed relay running past the test.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .args(["--config", self.config.to_str().unwrap(), "serve"])
            .current_dir(dir)
            .env("ORTTO_API_KEY", TEST_ORTTO_KEY)
            // With a key the shipped `demo` form is off; turned on as a user would.
            .env("TALK_RELAY__FORMS__DEMO__ENABLED", "true")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the relay starts");
        self.process = Some(Relay::from(child));
    }

    fn kill(&mut self) {
        if let Some(mut relay) = self.process.take() {
            let group = format!("-{}", relay.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            relay.kill().unwrap();
            relay.wait().unwrap();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(dir: &Path, port: u16, db: &str, ortto: &str) -> PathBuf {
    let path = dir.join(format!("relay-{port}.toml"));
    std::fs::write(
        &path,
        format!(
            "[server]\nport = {port}\nworkers = 1\n[log]\nfilter = \"warn\"\n[database]\nurl = '{db}'\n\
             [rate_limits.form_per_ip]\nenabled = false\n[rate_limits.form]\nenabled = false\n\
             [ortto]\nbase_url = '{ortto}'\nlimit_outbound = true\nrequests_per_10s = {PER_10S}\n\
             requests_per_60s = {PER_60S}\ntimeout_ms = 1000\nconnect_timeout_ms = 500\n\
             [delivery]\nconcurrency = {CONCURRENCY}\nlease_ms = {}\npoll_interval_ms = 50\n\
             backoff_base_ms = 50\nbackoff_cap_ms = 500\n",
            LEASE.as_millis()
        ),
    )
    .unwrap();
    path
}

/// The most requests any window of `width` held.
fn busiest(seen: &[SeenRequest], width: Duration) -> usize {
    (0..seen.len())
        .map(|i| {
            seen[i..]
                .iter()
                .take_while(|r| r.at.duration_since(seen[i].at) < width)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[actix_web::test]
async fn a_fleet_on_one_database_delivers_everything_once_within_one_budget() {
    let Some(db) = crate::postgres::database().await else {
        return;
    };
    let submissions: usize = std::env::var("TALK_RELAY_FLEET_SUBMISSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(240);
    let skew = Command::new("faketime").arg("--version").output().is_ok();
    if !skew {
        assert!(
            std::env::var_os("TALK_RELAY_REQUIRE_POSTGRES").is_none(),
            "the fleet test needs faketime (Debian package faketime) here"
        );
        eprintln!("fleet test: faketime is not installed; no instance runs with a skewed clock");
    }
    let ortto = FakeOrtto::start().await;
    // Answers take a while, so a kill finds rows in flight (sent, outcome not yet recorded).
    ortto.set_default(Reply::ok().after(Duration::from_millis(150)));
    ortto.set_chaos(Chaos {
        server_error: 0.05,
        rate_limited: 0.01,
        timeout: 0.02,
        dropped: 0.02,
    });
    let dir = tempfile::tempdir().unwrap();
    let mut fleet: Vec<Instance> = (0..INSTANCES)
        .map(|i| {
            let port = free_port();
            Instance {
                port,
                config: config(dir.path(), port, &db, &ortto.base_url),
                skewed: skew && i == INSTANCES - 1,
                process: None,
                runs: 0,
            }
        })
        .collect();
    // All three start at once on an empty database: they migrate once between them.
    for instance in &mut fleet {
        instance.start(dir.path());
    }
    for instance in &fleet {
        wait_healthy(&instance.base()).await;
    }

    let client = test_client();
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    // Started together, they migrated once: each migration applied, none twice or failed.
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    let applied: (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(applied, (shipped, shipped));
    let min_kills = (submissions / 60).max(4);
    let mut acknowledged: HashMap<String, String> = HashMap::new();
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_secs(2);
    let mut revive: Option<(usize, Instant)> = None;
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(60 + submissions as u64 / 4);
    loop {
        // Chaos on the fleet: one instance down at a time, killed with SIGKILL, while clients
        // post and while the fleet drains.
        if let Some((down, at)) = revive {
            if Instant::now() >= at {
                fleet[down].start(dir.path());
                wait_healthy(&fleet[down].base()).await;
                revive = None;
                next_kill = Instant::now() + Duration::from_millis(1500 + rand::random::<u64>() % 2000);
            }
        } else if Instant::now() >= next_kill && kills < min_kills {
            let victim = rand::random::<u64>() as usize % INSTANCES;
            fleet[victim].kill();
            kills += 1;
            revive = Some((victim, Instant::now() + Duration::from_secs(1)));
        }
        if n < submissions {
            let up: Vec<String> = fleet
                .iter()
                .filter(|i| i.process.is_some())
                .map(Instance::base)
                .collect();
            let posts = (n..(n + 4).min(submissions)).map(|k| {
                let message = format!("fleet {k}");
                let target = up[k % up.len()].clone();
                let client = client.clone();
                async move {
                    let mut response = client
                        .post(format!("{target}/f/demo"))
                        .insert_header(("Accept", "application/json"))
                        .send_json(&json!({"email": format!("f{k}@example.com"), "message": message}))
                        .await
                        .ok()?;
                    if response.status().as_u16() != 202 {
                        return None;
                    }
                    let body: Value = response.json().await.ok()?;
                    Some((body["id"].as_str()?.to_owned(), message))
                }
            });
            acknowledged.extend(futures_util::future::join_all(posts).await.into_iter().flatten());
            n += 4;
        } else if revive.is_none() && kills >= min_kills {
            // Every acknowledged row ends delivered.
            let waiting: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM submissions WHERE status <> 'delivered'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            if waiting == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{waiting} rows still not delivered");
        }
        actix_web::rt::time::sleep(Duration::from_millis(if n < submissions { 30 } else { 200 })).await;
    }
    let delivered: Vec<String> = sqlx::query_scalar("SELECT id FROM submissions WHERE status = 'delivered'")
        .fetch_all(&pool)
        .await
        .unwrap();
    for id in acknowledged.keys() {
        assert!(
            delivered.contains(id),
            "{id} was acknowledged but is not delivered"
        );
    }

    let seen = ortto.requests();
    let created = created_per_message(&seen);
    let duplicates: usize = created.values().map(|sends| sends.len() - 1).sum();
    // A second conversation only after the first claim's lease ran out (its holder was killed).
    for (message, sends) in &created {
        for pair in sends.windows(2) {
            let gap = pair[1].duration_since(pair[0]);
            assert!(
                gap >= LEASE - Duration::from_millis(500),
                "{message} was sent again {gap:?} after a successful send, inside the first claim's lease"
            );
        }
    }
    assert!(
        duplicates <= kills * CONCURRENCY,
        "{duplicates} duplicates, but at most {} rows were in flight at the {kills} kills",
        kills * CONCURRENCY
    );
    let (busiest_10s, busiest_60s) = (
        busiest(&seen, Duration::from_secs(10)),
        busiest(&seen, Duration::from_secs(60)),
    );
    assert!(
        busiest_10s <= PER_10S,
        "{busiest_10s} requests in one 10 s window (plan {PER_10S})"
    );
    assert!(
        busiest_60s <= PER_60S,
        "{busiest_60s} requests in one 60 s window (plan {PER_60S})"
    );
    // A 429 pauses the whole fleet: once the others can have heard of it, nothing goes out
    // until the pause ends.
    let limited: Vec<Instant> = seen.iter().filter(|r| r.status == 429).map(|r| r.at).collect();
    for at in &limited {
        let during = seen
            .iter()
            .filter(|r| r.at > *at + HEARING && r.at < *at + PAUSE - Duration::from_millis(50))
            .count();
        assert_eq!(during, 0, "{during} requests went out during a fleet-wide pause");
    }
    eprintln!(
        "fleet test: {} acknowledged, {} delivered, {} requests to Ortto, {duplicates} duplicates, {kills} kills, \
         {} 429s, busiest 10 s window {busiest_10s}/{PER_10S}, busiest 60 s window {busiest_60s}/{PER_60S}, skewed clock: {skew}",
        acknowledged.len(),
        delivered.len(),
        seen.len(),
        limited.len()
    );
    assert!(kills > 0 && !acknowledged.is_empty(), "the test proved nothing");
}
