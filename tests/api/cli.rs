//! The binary's commands and configuration layering, run as a user would.

use std::process::Command;

fn relay(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_talk-relay"));
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
