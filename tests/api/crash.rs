//! The real binary, killed with SIGKILL mid-delivery: nothing acknowledged is lost and
//! only rows in flight at the kill can reach Ortto twice. Then SIGTERM exits cleanly.

use crate::fake_ortto::{FakeOrtto, Reply, SeenRequest};
use crate::helpers::{test_client, Call, Method, TEST_ORTTO_KEY};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUBMISSIONS: usize = 200;
const CONCURRENCY: usize = 4;

/// The real binary's config for these tests: one worker, no inbound limits, short Ortto
/// timeouts and leases; `ortto` and `delivery` add each test's own keys.
fn write_config(dir: &Path, port: u16, ortto: &str, delivery: &str) -> std::path::PathBuf {
    let config = dir.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = {port}\nworkers = 1\n[log]\nfilter = \"warn\"\n[database]\npath = 'relay.db'\n\
             [rate_limits.form_per_ip]\nenabled = false\n[rate_limits.form]\nenabled = false\n\
             [ortto]\n{ortto}timeout_ms = 1000\nconnect_timeout_ms = 500\n\
             [delivery]\nconcurrency = {CONCURRENCY}\nlease_ms = 2000\npoll_interval_ms = 50\n{delivery}"
        ),
    )
    .unwrap();
    config
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A relay process that is killed when the test ends, even by a panic.
pub(crate) struct Relay(Child);

impl From<Child> for Relay {
    fn from(child: Child) -> Self {
        Self(child)
    }
}

impl std::ops::Deref for Relay {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Relay {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start_relay(dir: &Path, config: &Path, run: usize) -> Relay {
    let log = std::fs::File::create(dir.join(format!("relay-{run}.log"))).unwrap();
    let child = crate::commands::relay_binary()
        .args(["--config", config.to_str().unwrap(), "serve"])
        .current_dir(dir)
        .env("ORTTO_API_KEY", TEST_ORTTO_KEY)
        // With a key the shipped `demo` form is off; turned on as a user would.
        .env("TALK_RELAY__FORMS__DEMO__ENABLED", "true")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the relay starts");
    Relay(child)
}

pub(crate) async fn wait_healthy(base: &str) {
    let client = test_client();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the relay did not become healthy");
}

/// Waits (up to `within`) until no row in the test's log is anything but delivered.
async fn wait_until_all_delivered(dir: &Path, within: Duration) -> sqlx::SqlitePool {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("relay.db").display()))
        .await
        .unwrap();
    let deadline = Instant::now() + within;
    loop {
        let (waiting,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM submissions WHERE status <> 'delivered'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if waiting == 0 || Instant::now() > deadline {
            return pool;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Conversations the fake Ortto created, per message, in the order they were created.
pub(crate) fn created_per_message(requests: &[SeenRequest]) -> HashMap<String, Vec<Instant>> {
    let mut created: HashMap<String, Vec<Instant>> = HashMap::new();
    for request in requests.iter().filter(|r| r.created) {
        created
            .entry(message_of(&request.body))
            .or_default()
            .push(request.at);
    }
    created
}

fn message_of(body: &str) -> String {
    let payload: Value = serde_json::from_str(body).unwrap();
    payload["conversation"]["messages"][0]["body"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_sigkill_mid_delivery_loses_nothing_and_duplicates_only_rows_in_flight() {
    let ortto = FakeOrtto::start().await;
    // Slow until the kill, so deliveries are still in flight then even on a loaded machine.
    ortto.set_default(Reply::ok().after(Duration::from_millis(300)));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = write_config(
        dir.path(),
        port,
        &format!("base_url = '{}'\nlimit_outbound = false\n", ortto.base_url),
        "backoff_base_ms = 20\nbackoff_cap_ms = 200\n",
    );

    let mut relay = start_relay(dir.path(), &config, 1);
    wait_healthy(&base).await;

    // Accept 200 submissions from 8 concurrent clients while Ortto is slow.
    let client = test_client();
    let mut acknowledged: HashMap<String, String> = HashMap::new();
    for chunk in (0..SUBMISSIONS).collect::<Vec<_>>().chunks(8) {
        let posts = chunk.iter().map(|n| {
            let message = format!("crash test {n}");
            let request = Call::new(&client, Method::POST, &format!("{base}/f/demo"))
                .header("Accept", "application/json")
                .json(
                    &json!({"email": format!("p{n}@example.com"), "message": message.clone()}),
                    202,
                );
            async move {
                let body = request.await.json();
                (body["id"].as_str().unwrap().to_owned(), message)
            }
        });
        acknowledged.extend(futures_util::future::join_all(posts).await);
    }
    assert_eq!(acknowledged.len(), SUBMISSIONS);

    // Kill it mid-delivery.
    ortto.wait_for_requests(20, Duration::from_secs(20)).await;
    relay.kill().unwrap();
    relay.wait().unwrap();
    let seen_at_kill = ortto.requests().len();
    ortto.set_default(Reply::ok().after(Duration::from_millis(20)));
    assert!(
        seen_at_kill < SUBMISSIONS,
        "everything was delivered before the kill; the test proves nothing"
    );

    // Restart on the same database and let it drain.
    let mut relay = start_relay(dir.path(), &config, 2);
    wait_healthy(&base).await;
    let pool = wait_until_all_delivered(dir.path(), Duration::from_secs(60)).await;

    let mut times_sent: HashMap<String, usize> = HashMap::new();
    for request in ortto.requests() {
        *times_sent.entry(message_of(&request.body)).or_default() += 1;
    }
    for (id, message) in &acknowledged {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM submissions WHERE id = ?")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(status, "delivered", "{id} was acknowledged but is {status}");
        let sent = times_sent.get(message).copied().unwrap_or(0);
        assert!((1..=2).contains(&sent), "{message} reached Ortto {sent} times");
    }
    let duplicates: usize = times_sent.values().map(|n| n - 1).sum();
    eprintln!(
        "crash test: accepted {SUBMISSIONS}, sent before kill {seen_at_kill}, delivered {}, duplicates {duplicates}",
        times_sent.len()
    );
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicates, but only {CONCURRENCY} rows can be in flight"
    );

    // SIGTERM: a clean exit.
    let status = Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = relay.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the relay did not stop on SIGTERM");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
}

/// The crash soak: the real binary against a faulty Ortto, SIGKILLed at random moments
/// while several clients post. `SOAK_SECS` (default 30) sets how long clients keep posting.
#[actix_web::test]
async fn soak_under_faults_and_kills_loses_nothing_and_keeps_the_plan_limit() {
    use crate::fake_ortto::Chaos;
    use rand::Rng;

    let soak = Duration::from_secs(
        std::env::var("SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let per_10s = 100;
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::ok().after(Duration::from_millis(30)));
    ortto.set_chaos(Chaos {
        server_error: 0.10,
        rate_limited: 0.04,
        timeout: 0.04,
        dropped: 0.05,
    });
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = write_config(
        dir.path(),
        port,
        &format!(
            "base_url = '{}'\nrequests_per_10s = {per_10s}\nrequests_per_60s = 600\n",
            ortto.base_url
        ),
        "backoff_base_ms = 50\nbackoff_cap_ms = 500\nmax_attempts = 1000\n",
    );

    let mut run = 1;
    let mut relay = start_relay(dir.path(), &config, run);
    wait_healthy(&base).await;
    let started = Instant::now();
    let acknowledged = std::rc::Rc::new(std::cell::RefCell::new(HashMap::<String, String>::new()));
    let clients = (0..4).map(|client_no| {
        let acknowledged = acknowledged.clone();
        let base = base.clone();
        async move {
            let client = test_client();
            let mut n = 0;
            while started.elapsed() < soak {
                n += 1;
                let message = format!("soak {client_no}-{n}");
                let sent = client
                    .post(format!("{base}/f/demo"))
                    .insert_header(("Accept", "application/json"))
                    .send_json(
                        &json!({"email": format!("c{client_no}@example.com"), "message": message.clone()}),
                    )
                    .await;
                // Only a 202 with an id is an acknowledgement; refused connections during a restart
                // are not (so this is the one request that does not go through `Call`).
                if let Ok(mut response) = sent {
                    if response.status().as_u16() == 202 {
                        if let Ok(body) = response.json::<Value>().await {
                            acknowledged
                                .borrow_mut()
                                .insert(body["id"].as_str().unwrap().to_owned(), message);
                        }
                    }
                }
                actix_web::rt::time::sleep(Duration::from_millis(650)).await;
            }
        }
    });
    let mut kills = Vec::new();
    let killer = async {
        while started.elapsed() + Duration::from_secs(3) < soak {
            let pause = rand::rng().random_range(2000..5000);
            actix_web::rt::time::sleep(Duration::from_millis(pause)).await;
            relay.kill().unwrap();
            relay.wait().unwrap();
            kills.push(Instant::now());
            run += 1;
            relay = start_relay(dir.path(), &config, run);
            wait_healthy(&base).await;
        }
    };
    futures_util::future::join(futures_util::future::join_all(clients), killer).await;

    // Drain: everything acknowledged must arrive.
    let pool = wait_until_all_delivered(dir.path(), Duration::from_secs(120)).await;
    let _ = relay.kill();
    let _ = relay.wait();

    let requests = ortto.requests();
    let created = created_per_message(&requests);
    let acknowledged = acknowledged.borrow().clone();
    for (id, message) in acknowledged.iter() {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM submissions WHERE id = ?")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            status, "delivered",
            "{message} ({id}) was acknowledged but is {status}"
        );
        let times = created.get(message).map_or(0, Vec::len);
        assert!((1..=2).contains(&times), "{message} was created {times} times");
    }
    // A duplicate is only possible for a row in flight at a kill: created just before one.
    let duplicates: Vec<&String> = created
        .iter()
        .filter(|(_, t)| t.len() > 1)
        .map(|(m, _)| m)
        .collect();
    for message in &duplicates {
        let first = created[*message][0];
        let near_a_kill = kills
            .iter()
            .any(|k| *k >= first && k.duration_since(first) < Duration::from_millis(2500));
        assert!(
            near_a_kill,
            "{message} was sent twice without a kill while it was in flight"
        );
    }
    // Never faster than the plan: at most `per_10s` requests in any 10-second window.
    let times: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    let busiest = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| t.duration_since(times[i]) < Duration::from_secs(10))
                .count()
        })
        .max()
        .unwrap_or(0);
    eprintln!(
        "soak {}s: acknowledged {}, kills {}, delivered {}, duplicates {}, compose requests {} (failed by chaos {}), busiest 10 s window {} (limit {per_10s})",
        soak.as_secs(),
        acknowledged.len(),
        kills.len(),
        created.len(),
        duplicates.len(),
        requests.len(),
        requests.iter().filter(|r| !r.created).count(),
        busiest
    );
    assert!(
        busiest <= per_10s,
        "{busiest} requests in one 10-second window; the plan allows {per_10s}"
    );
    assert!(
        !kills.is_empty() && acknowledged.len() > 50,
        "the soak did too little to prove anything"
    );
}
