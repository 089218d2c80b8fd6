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
