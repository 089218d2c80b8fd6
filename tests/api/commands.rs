//! The real binary and the `sqlite3` shell as commands, run off the test's runtime thread.

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `talk-relay` binary as a command: the one place tests start it. The developer's
/// own `ORTTO_API_KEY` and `RUST_LOG` are left out (a test sets what it needs).
pub fn relay_binary() -> std::process::Command {
    let mut command = std::process::Command::new(RELAY_BINARY);
    command.env_remove("ORTTO_API_KEY").env_remove("RUST_LOG");
    command
}

/// The binary's path, for a test that starts it under another program (`faketime`).
pub const RELAY_BINARY: &str = env!("CARGO_BIN_EXE_talk-relay");

/// Runs a command off the test's runtime thread: a blocking wait there would stall the
/// relay's own tasks (and any transaction they hold open) until it returns.
pub async fn run_command(mut command: std::process::Command) -> std::process::Output {
    actix_web::rt::task::spawn_blocking(move || command.output().expect("the command runs"))
        .await
        .expect("joined")
}

/// `talk-relay ARGS` against a test database.
pub async fn relay_cli(args: &[&str], db_path: &std::path::Path) -> String {
    let mut command = relay_binary();
    command
        .args(args)
        .env("TALK_RELAY__DATABASE__PATH", db_path)
        .env("TALK_RELAY__FILES__DIR", db_path.with_file_name("files"))
        .env_remove("ORTTO_API_KEY");
    let output = run_command(command).await;
    assert!(
        output.status.success(),
        "talk-relay {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One SQL statement through the `sqlite3` shell, read-only, as JSON rows.
pub async fn sqlite3_json(db_path: &std::path::Path, sql: &str) -> std::process::Output {
    let db = db_path.to_owned();
    let sql = sql.to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("sqlite3")
            .args(["-readonly", "-json"])
            .arg(&db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sqlite3 shell installed");
        child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .expect("joined")
}

/// `talk-relay check-config` with `toml` as the `--config` overlay, in a fresh directory.
pub async fn check_config(toml: &str) -> std::process::Output {
    relay_with_config(toml, &["check-config"]).await
}

/// `talk-relay --config <toml> ARGS…` in a fresh directory (its own database file there).
pub async fn relay_with_config(toml: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[server]\nport = 0\n{toml}")).expect("config written");
    let mut command = relay_binary();
    command
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .env_remove("ORTTO_API_KEY")
        .current_dir(dir.path());
    let output = run_command(command).await;
    drop(dir);
    output
}

/// A free port on loopback for a daemon a test starts.
pub fn free_loopback_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Stops a daemon the tests started (runs `stop`, a shell command) and removes its directory
/// once this test process is gone, however it ends.
pub fn stop_when_tests_end(stop: &str, dir: &std::path::Path) -> Result<(), String> {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = dir.display()
        ))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("starting a daemon's watchdog: {e}"))
}

/// The address of a daemon the tests start once per test process (`start` runs the first
/// time), or `None` when it cannot run here: a failure instead where the whole suite is
/// required (`TALK_RELAY_REQUIRE_POSTGRES`, as in CI).
pub fn daemon(
    cell: &'static std::sync::OnceLock<Result<String, String>>,
    start: fn() -> Result<String, String>,
    tests: &str,
) -> Option<String> {
    match cell.get_or_init(start) {
        Ok(address) => Some(address.clone()),
        Err(why) => {
            assert!(
                std::env::var_os("TALK_RELAY_REQUIRE_POSTGRES").is_none(),
                "the {tests} tests cannot run: {why}"
            );
            eprintln!("{tests} test skipped: {why}");
            None
        }
    }
}
