//! Faults and what the relay does (docs/faults.md): a full disk, low free space, a runaway WAL, a
//! flood of probes and unauthenticated requests, a slow body, a held lock, a deleted file.
//! Each promise: no 2xx without its committed row, refusals say so clearly, nothing lost.

use crate::crash::{free_port, start_relay, wait_healthy, Relay};
use crate::helpers::{closed_port, spawn_app, sqlite3_json, test_client, Call, Expect, Method, TestApp};
use serde_json::{json, Value};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod pressure;

/// A message big enough that every row needs fresh pages.
fn big_message(n: usize) -> String {
    format!("fault test {n} {}", "x".repeat(15_000))
}

/// Posts one JSON submission; (status, id when accepted).
async fn post(client: &awc::Client, base: &str, n: usize) -> (u16, Option<String>) {
    let response = Call::new(client, Method::POST, &format!("{base}/f/demo"))
        .header("Accept", "application/json")
        .json(
            &json!({"email": format!("p{n}@example.com"), "message": big_message(n)}),
            &[202, 503][..],
        )
        .await;
    if response.status == 503 {
        assert!(
            response.header("retry-after").is_some(),
            "503 carries Retry-After"
        );
    }
    (response.status, response.json()["id"].as_str().map(str::to_owned))
}

async fn readyz(base: &str) -> (u16, Value) {
    let response = Call::new(&test_client(), Method::GET, &format!("{base}/readyz"))
        .send(&[200, 503][..])
        .await;
    (response.status, response.json())
}

fn sh(command: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("sh runs")
}

/// How a test makes the disk full and frees it again.
struct DiskFault {
    database: PathBuf,
    /// Extra `[database]` keys.
    settings: String,
    fill: String,
    free: String,
}

/// Posts before, during and after the fault, then SIGKILLs and restarts the real binary:
/// every 2xx has its row, requests during the fault got 503, and nothing else was kept.
async fn run_disk_full(dir: &Path, fault: DiskFault) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = {port}\nworkers = 1\n[log]\nfilter = \"warn\"\n\
             [database]\npath = '{}'\nmin_free_mb = 0\nreadiness_probe_ms = 100\n{}\n\
             [rate_limits.form_per_ip]\nenabled = false\n[rate_limits.form]\nenabled = false\n\
             [ortto]\nbase_url = 'http://127.0.0.1:{}'\n[delivery]\nmax_attempts = 1\n",
            fault.database.display(),
            fault.settings,
            closed_port()
        ),
    )
    .unwrap();
    let mut relay: Relay = start_relay(dir, &config, 1);
    wait_healthy(&base).await;
    let client = test_client();
    let mut acknowledged = Vec::new();
    let mut refused_during_fault = 0;

    for n in 0..3 {
        let (status, id) = post(&client, &base, n).await;
        assert_eq!(status, 202, "before the fault");
        acknowledged.push(id.unwrap());
    }
    // Wait for the idle writer to truncate the WAL: frames already in the file could take a
    // few more rows without new space, and the test wants every write to need some.
    let wal = PathBuf::from(format!("{}-wal", fault.database.display()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
        assert!(Instant::now() < deadline, "the idle WAL was not truncated");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let filled = sh(&fault.fill);
    eprintln!("fill: {}", String::from_utf8_lossy(&filled.stderr).trim());

    for n in 3..15 {
        match post(&client, &base, n).await {
            (202, Some(id)) => acknowledged.push(id),
            (503, _) => refused_during_fault += 1,
            other => panic!("during the fault: {other:?}"),
        }
    }
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    let (status, ready) = readyz(&base).await;
    assert_eq!(status, 503, "readyz during the fault: {ready}");
    assert_eq!(ready["database"], "not writable", "{ready}");
    assert!(
        refused_during_fault >= 10,
        "only {refused_during_fault} of 12 posts were refused"
    );

    let freed = sh(&fault.free);
    assert!(
        freed.status.success(),
        "freeing space: {}",
        String::from_utf8_lossy(&freed.stderr)
    );
    for n in 15..18 {
        let (status, id) = post(&client, &base, n).await;
        assert_eq!(status, 202, "after the space is freed");
        acknowledged.push(id.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while readyz(&base).await.0 != 200 {
        assert!(Instant::now() < deadline, "readyz did not recover by itself");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    relay.kill().unwrap();
    relay.wait().unwrap();
    // The log went to a file: it says what happened, in plain text without colour codes.
    let log = std::fs::read_to_string(dir.join("relay-1.log")).unwrap();
    assert!(log.contains("refuses writes"), "the fault was logged: {log}");
    // Intake said so once, then once more when it recorded again (not once per refusal).
    assert!(
        log.contains("recording submissions again"),
        "the recovery was logged: {log}"
    );
    assert!(!log.contains('\u{1b}'), "no terminal colour codes in a log file");
    let _relay = start_relay(dir, &config, 2);
    wait_healthy(&base).await;
    let rows = sqlite3_json(&fault.database, "SELECT id FROM submissions").await;
    let rows: Vec<Value> = serde_json::from_slice(&rows.stdout).unwrap_or_default();
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    for id in &acknowledged {
        assert!(
            ids.contains(&id.as_str()),
            "{id} was acknowledged but is not in the log"
        );
    }
    assert_eq!(
        ids.len(),
        acknowledged.len(),
        "only acknowledged submissions were kept"
    );
    eprintln!(
        "disk full: {} acknowledged, {} rows after SIGKILL and restart, {refused_during_fault} refused with 503 during the fault",
        acknowledged.len(),
        ids.len()
    );
}

#[actix_web::test]
async fn a_full_database_fails_only_the_writes_it_hits_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("relay.db");
    // The relay's connections may not grow the file past 5,000 pages; a filler table written
    // by another process takes it past that, and dropping it frees the pages again.
    let fault = DiskFault {
        settings: "max_page_count = 5000\n".to_owned(),
        fill: format!(
            "sqlite3 -cmd '.timeout 5000' '{0}' 'CREATE TABLE filler (b BLOB); INSERT INTO filler VALUES (zeroblob(24000000));'",
            database.display()
        ),
        free: format!("sqlite3 -cmd '.timeout 5000' '{}' 'DROP TABLE filler;'", database.display()),
        database,
    };
    run_disk_full(dir.path(), fault).await;
}

/// Unmounts the tmpfs when the test ends, even by a panic.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[actix_web::test]
async fn a_full_filesystem_fails_only_the_writes_it_hits_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small-disk");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=20m", "tmpfs"])
        .arg(&small)
        .output();
    if !mounted.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED the tmpfs disk-full test: mounting a tmpfs needs root (the max_page_count variant ran)"
        );
        return;
    }
    let _mount = Mount(small.clone());
    let fault = DiskFault {
        database: small.join("f.db"),
        settings: String::new(),
        fill: format!("dd if=/dev/zero of='{}' bs=1M", small.join("filler").display()),
        free: format!("rm '{}'", small.join("filler").display()),
    };
    run_disk_full(dir.path(), fault).await;
}

#[actix_web::test]
async fn below_min_free_space_intake_answers_503_before_writing_and_says_why() {
    let app =
        spawn_app("[database]\nmin_free_mb = 1000000000\n[admin]\ntoken_env = 'TEST_ADMIN_TOKEN'\n").await;
    let response = app
        .post("/f/demo")
        .header("Accept", "application/json")
        .json(&json!({"email": "jo@example.com", "message": "hello"}), 503)
        .await;
    assert!(response.header("retry-after").is_some());
    let body: Value = response.json();
    assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
    assert!(app.submissions().await.is_empty(), "nothing was written");

    let (status, ready) = app.readyz().await;
    assert_eq!(status, 503);
    assert!(
        ready["reason"].as_str().unwrap().contains("min_free_mb"),
        "{ready}"
    );
    assert!(ready["free_mb"].as_u64().is_some(), "{ready}");

    let metrics = app.get("/metrics").send(Expect::Any).await;
    let text = metrics.body.clone();
    assert!(text.contains("talk_relay_database_writable 0"), "{text}");
    assert!(text.contains("talk_relay_database_free_bytes "), "{text}");
    let page = app
        .get("/admin/")
        .header(
            "Authorization",
            "Bearer admin-token-not-real-32-characters-or-more",
        )
        .send(Expect::Any)
        .await;
    let page = page.body.clone();
    assert!(page.contains("id=\"free-space\""), "{page}");
    assert!(page.contains("not writable"), "{page}");
}

/// Within twice `database.min_free_mb` the relay warns once in its log, and still takes
/// submissions: the warning comes before the refusal.
#[actix_web::test]
async fn nearing_min_free_space_is_logged_once_while_intake_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let free_mb = fs4::available_space(dir.path()).unwrap() / talk_relay::config::MB;
    // Free space is 1.5 × the minimum: near it, not below it (room for the disk to move).
    let min_free_mb = free_mb * 2 / 3;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!("[server]\nport = {port}\n[log]\nfilter = 'warn'\n[database]\npath = 'relay.db'\nmin_free_mb = {min_free_mb}\n"),
    )
    .unwrap();
    let _relay = start_relay(dir.path(), &config, 1);
    wait_healthy(&base).await;
    let client = test_client();
    assert_eq!(
        post(&client, &base, 1).await.0,
        202,
        "near the limit, not below it"
    );
    let log = dir.path().join("relay-1.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let warnings = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let warnings = text.matches("nearly full").count();
        if warnings > 0 || Instant::now() > deadline {
            break warnings;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    // Another pass of the watcher (every second) does not repeat it.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(post(&client, &base, 2).await.0, 202);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(warnings, 1, "one warning as the disk nears the limit: {text}");
    assert_eq!(text.matches("nearly full").count(), 1, "{text}");
    assert!(text.contains(&format!("min_free_mb={min_free_mb}")), "{text}");
}

#[actix_web::test]
async fn a_body_that_trickles_in_gets_408_and_its_connection_closed() {
    use actix_web::rt::net::TcpStream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app("[server]\nbody_timeout_ms = 500\n").await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /f/demo HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n\
              Accept: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = actix_web::rt::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection stayed open for 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    eprintln!("slow body answered 408 and closed after {:?}", started.elapsed());
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn a_write_lock_held_by_another_process_gets_503_after_the_busy_timeout_and_loses_nothing() {
    let app = spawn_app("[database]\nbusy_timeout_ms = 300\n").await;
    let (status, _) = app
        .post_json("demo", &json!({"email": "a@example.com", "message": "before"}))
        .await;
    assert_eq!(status, 202);
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
    let started = Instant::now();
    let (status, body) = app
        .post_json("demo", &json!({"email": "b@example.com", "message": "held"}))
        .await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(waited < Duration::from_secs(10), "intake hung for {waited:?}");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let (status, _) = app
        .post_json("demo", &json!({"email": "c@example.com", "message": "after"}))
        .await;
    assert_eq!(status, 202, "the writer recovered once the lock was released");
    let emails: Vec<String> = app
        .submissions()
        .await
        .into_iter()
        .filter_map(|r| r.email.clone())
        .collect();
    assert_eq!(emails, ["a@example.com", "c@example.com"]);
    eprintln!("held lock: 503 after {waited:?}");
}

#[actix_web::test]
async fn a_deleted_or_replaced_database_file_makes_readyz_fail_and_intake_refuse() {
    let app = spawn_app("[database]\nreadiness_probe_ms = 1\n").await;
    let (status, _) = app
        .post_json("demo", &json!({"email": "a@example.com", "message": "hi"}))
        .await;
    assert_eq!(status, 202);
    std::fs::remove_file(&app.db_path).unwrap();

    let (status, body) = app
        .post_json("demo", &json!({"email": "b@example.com", "message": "hi"}))
        .await;
    assert_eq!(
        status, 503,
        "nothing is acknowledged into an unlinked file: {body}"
    );
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 503);
    assert!(ready["reason"].as_str().unwrap().contains("missing"), "{ready}");

    std::fs::write(&app.db_path, b"not the relay's database").unwrap();
    let (status, _) = app
        .post_json("demo", &json!({"email": "c@example.com", "message": "hi"}))
        .await;
    assert_eq!(status, 503);
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 503);
    assert!(ready["reason"].as_str().unwrap().contains("replaced"), "{ready}");
}
