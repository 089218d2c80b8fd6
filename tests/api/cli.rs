//! The binary's commands and configuration layering, run as a user would.

use std::process::Command;

fn relay(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = crate::commands::relay_binary();
    command.current_dir(dir).args(args).env_remove("ORTTO_API_KEY");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

#[test]
fn check_config_prints_the_effective_forms_with_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let output = relay(
        dir.path(),
        &["check-config"],
        &[
            ("TALK_RELAY__SERVER__PORT", "9191"),
            ("TALK_RELAY__FORMS__DEMO__TITLE", "From env"),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("listen: 127.0.0.1:9191"), "{stdout}");
    assert!(
        stdout.contains("form demo — \"From env\" at POST /f/demo"),
        "{stdout}"
    );
    assert!(stdout.contains("dry run"), "{stdout}");
}

#[test]
fn a_config_file_overlays_the_defaults_and_bad_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[forms.contact]\ntitle = \"Contact\"\nallowed_origins = [\"https://www.example.com\"]\n",
    )
    .unwrap();
    let output = relay(
        dir.path(),
        &["--config", good.to_str().unwrap(), "check-config"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.contains("form contact") && stdout.contains("form demo"),
        "{stdout}"
    );
    assert!(stdout.contains("origins: https://www.example.com"), "{stdout}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[forms.news.consent]\nfield = \"subscribe\"\n").unwrap();
    let output = relay(
        dir.path(),
        &["--config", bad.to_str().unwrap(), "check-config"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("forms.news.consent.unchecked"), "{stderr}");

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[server]\nprot = 1\n").unwrap();
    let output = relay(dir.path(), &["--config", typo.to_str().unwrap(), "serve"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("prot"));
}

#[test]
fn serve_refuses_to_start_on_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let output = relay(
        dir.path(),
        &["serve"],
        &[("TALK_RELAY__FORMS__DEMO__ALLOWED_ORIGINS", "not a url")],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("forms.demo.allowed_origins"));
}

#[test]
fn migrate_creates_the_database_with_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/relay.db");
    let output = relay(
        dir.path(),
        &["migrate"],
        &[("TALK_RELAY__DATABASE__PATH", db.to_str().unwrap())],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(db.exists());
    let tables = Command::new("sqlite3")
        .arg(&db)
        .arg(".tables")
        .output()
        .expect("sqlite3 shell installed");
    let listing = String::from_utf8_lossy(&tables.stdout);
    for table in ["submissions", "delivery_attempts", "talk_sessions"] {
        assert!(listing.contains(table), "{listing}");
    }
}

#[actix_web::test]
async fn read_only_and_maintenance_commands_need_no_hook_or_session_secrets() {
    // Every secret named here is unset in the operator's shell.
    let toml = "[hooks.basin]\npreset = 'generic'\nauth = 'hmac'\nsecret_env = 'UNSET_BASIN_SECRET'\n\
                signature_header = 'X-Basin-Signature'\n\
                [sessions]\nsite_keys_env = ['UNSET_SITE_KEY']\nsigning_secret_env = 'UNSET_SIGNING'\n";
    for args in [
        &["migrate"][..],
        &["stats"],
        &["replay", "--status", "dead"],
        &["purge", "--older-than", "30"],
        &["erase", "--email", "jo@example.com"],
    ] {
        let output = crate::helpers::relay_with_config(toml, args).await;
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let serve = crate::helpers::relay_with_config(toml, &["serve"]).await;
    assert!(!serve.status.success(), "serve still requires every secret");
    assert!(String::from_utf8_lossy(&serve.stderr).contains("UNSET_BASIN_SECRET"));
}

/// Every migration that has shipped, with what sqlx recorded for it (the first 16 hex digits
/// of its SHA-384). Editing a shipped migration would make every database it ran on refuse
/// to start; a new migration is added here once it ships.
const SHIPPED_MIGRATIONS: &[(&str, &str)] = &[
    ("postgres/20261202000010_create_log.sql", "f3e882145012af4d"),
    ("sqlite/20261123000001_create_log.sql", "d5476980a101d4a2"),
    ("sqlite/20261123000002_add_captcha_column.sql", "ba0f476343712351"),
    ("sqlite/20261123000003_dashboard_views.sql", "b7df67f3b23c7915"),
    ("sqlite/20261123000004_dashboard_rollups.sql", "a0f24d4f328d4b50"),
    (
        "sqlite/20261123000005_hourly_volume_rollup.sql",
        "9df09992bfcd03f0",
    ),
    ("sqlite/20261201000001_heartbeat_probe.sql", "8ac7ff5b313e5b69"),
    ("sqlite/20261201000002_consent_note.sql", "86871695b0638f48"),
    ("sqlite/20261202000001_lease_token.sql", "c088e9fd4ce80f31"),
    ("sqlite/20261202000002_rollups_per_batch.sql", "34d30207bcb316f3"),
    ("sqlite/20261202000003_fewer_indexes.sql", "cea74362060000bf"),
];

fn migrations_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

#[test]
fn shipped_migrations_never_change() {
    for (name, recorded) in SHIPPED_MIGRATIONS {
        let bytes = std::fs::read(migrations_dir().join(name)).unwrap();
        let digest = hex::encode(<sha2::Sha384 as sha2::Digest>::digest(&bytes));
        assert_eq!(&digest[..16], *recorded, "{name} changed since it shipped");
    }
    // Nothing else is in the folders unpinned but what the next release adds (dated later).
    let newest = SHIPPED_MIGRATIONS
        .iter()
        .map(|(n, _)| n.rsplit('/').next().unwrap())
        .max()
        .unwrap();
    for backend in ["sqlite", "postgres"] {
        for entry in std::fs::read_dir(migrations_dir().join(backend)).unwrap() {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            let pinned = SHIPPED_MIGRATIONS
                .iter()
                .any(|(n, _)| *n == format!("{backend}/{file}"));
            assert!(
                pinned || file.as_str() > newest,
                "{backend}/{file} is older than the newest shipped migration but not pinned"
            );
        }
    }
}

/// A log created by an earlier release (its seven migrations, as `migrations/sqlite` still
/// holds them byte for byte) upgrades in place: no checksum error, its rows kept, the new
/// columns there.
#[actix_web::test]
async fn a_database_from_the_previous_release_upgrades_without_checksum_errors() {
    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("previous-migrations");
    std::fs::create_dir(&previous).unwrap();
    let earlier = SHIPPED_MIGRATIONS
        .iter()
        .filter(|(name, _)| name.starts_with("sqlite/") && name["sqlite/".len()..] < *"20261202");
    for (name, _) in earlier.clone() {
        std::fs::copy(
            migrations_dir().join(name),
            previous.join(&name["sqlite/".len()..]),
        )
        .unwrap();
    }
    assert_eq!(earlier.count(), 7);
    let db = dir.path().join("old.db");
    let store = talk_relay::store::SqliteStore::open(&db).await.unwrap();
    sqlx::migrate::Migrator::new(previous.as_path())
        .await
        .unwrap()
        .run(store.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO submissions (id, received_at, source_kind, source, status, next_attempt_at, payload, fields)
         VALUES ('kept', '2026-12-01T00:00:00.000Z', 'form', 'demo', 'queued', '2026-12-01T00:00:00.000Z', '{}', '{}')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;

    crate::helpers::relay_cli(&["migrate"], &db).await;
    let store = talk_relay::store::SqliteStore::open(&db).await.unwrap();
    let (id, token): (String, Option<String>) = sqlx::query_as("SELECT id, lease_token FROM submissions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!((id.as_str(), token), ("kept", None));
}

/// `database.url` picks the backend; its password never reaches the output, and a scheme the
/// relay does not speak stops it with the key's name.
#[test]
fn database_url_chooses_the_backend_and_never_prints_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let check = |url: &str| {
        relay(
            dir.path(),
            &["check-config"],
            &[("TALK_RELAY__DATABASE__URL", url)],
        )
    };
    let output = check("postgres://relay:s3cret-pw@db.internal:5433/relay");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("database: postgres db.internal:5433/relay"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "{stdout}{stderr}"
    );

    let output = check("sqlite://elsewhere/log.db");
    assert!(String::from_utf8_lossy(&output.stdout).contains("database: sqlite elsewhere/log.db"));

    let output = check("mysql://relay@db/relay");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("database.url") && stderr.contains("`mysql`"),
        "{stderr}"
    );

    // Unreachable: `migrate` fails with a clear message, still without the password.
    let output = relay(
        dir.path(),
        &["migrate"],
        &[(
            "TALK_RELAY__DATABASE__URL",
            "postgres://relay:s3cret-pw@127.0.0.1:1/relay",
        )],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("connecting to PostgreSQL (database.url)"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

/// docs/operations.md, "Commands": `init` writes a starter configuration that the relay then
/// runs as written, prints what to do next, and never overwrites a file.
#[actix_web::test]
async fn init_writes_a_starter_configuration_that_serves_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = relay(
        dir.path(),
        &[
            "init",
            "--form",
            "support",
            "--origin",
            "https://www.example.com/contact",
        ],
        &[],
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = dir.path().join("config/local.toml");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(
        text.contains("[forms.support]") && text.contains("allowed_origins = [\"https://www.example.com\"]")
    );
    assert!(
        said.contains("<form action=\"http://127.0.0.1:8080/f/support\" method=\"post\">"),
        "{said}"
    );
    assert!(said.contains("ORTTO_API_KEY") && said.contains("TALK_RELAY_ADMIN_TOKEN"));
    assert_eq!(
        said.matches("\n  talk-relay --config config/local.toml ").count(),
        2,
        "{said}"
    );
    assert!(said.contains("curl "));

    // The next commands work as printed: check-config, then serve and a post.
    let checked = relay(
        dir.path(),
        &["--config", "config/local.toml", "check-config"],
        &[],
    );
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("support"));
    let port = crate::crash::free_port();
    let child = crate::commands::relay_binary()
        .args(["--config", "config/local.toml", "serve"])
        .current_dir(dir.path())
        .env("TALK_RELAY__SERVER__PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _relay = crate::crash::Relay::from(child);
    let base = format!("http://127.0.0.1:{port}");
    crate::crash::wait_healthy(&base).await;
    let answer = crate::helpers::test_client()
        .post(format!("{base}/f/support"))
        .insert_header(("Accept", "application/json"))
        .insert_header(("Content-Type", crate::helpers::URLENCODED))
        .send_body("email=you%40example.com&message=hello")
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);

    // Never over a file that is there, and bad input is refused with a reason.
    let again = relay(dir.path(), &["init"], &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&written).unwrap(), text);
    let bad = relay(
        dir.path(),
        &["--config", "other.toml", "init", "--origin", "ftp://example.com"],
        &[],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--origin"));
    assert!(!dir.path().join("other.toml").exists());
}

/// docs/operations.md, "Running under systemd": with `NOTIFY_SOCKET` (a `Type=notify` unit) the
/// relay says `READY=1` once it listens and its log is open, pings `WATCHDOG=1` at half of
/// `WATCHDOG_USEC`, and says `STOPPING=1` on SIGTERM, then exits cleanly.
#[actix_web::test]
async fn serve_tells_systemd_it_is_ready_pings_the_watchdog_and_says_it_stops() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let port = crate::crash::free_port();
    let mut child = crate::commands::relay_binary()
        .arg("serve")
        .current_dir(dir.path())
        .env("TALK_RELAY__SERVER__PORT", port.to_string())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buffer = [0u8; 256];
    let mut said = Vec::new();
    while said.iter().filter(|m: &&String| m.contains("WATCHDOG=1")).count() < 3 {
        let read = socket
            .recv(&mut buffer)
            .expect("the relay speaks to the notify socket");
        said.push(String::from_utf8_lossy(&buffer[..read]).into_owned());
    }
    assert!(said[0].contains("READY=1"), "ready first: {said:?}");
    // Ready means serving: the health check answers at once.
    crate::crash::wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    loop {
        let read = socket.recv(&mut buffer).expect("STOPPING=1 before the exit");
        if String::from_utf8_lossy(&buffer[..read]).contains("STOPPING=1") {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
}
