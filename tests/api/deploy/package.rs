//! docs/deploy.md, "The Debian package": the packaged configuration is the shipped defaults
//! with only the documented changes and loads as `serve` loads it; the unit carries the
//! hardening the page lists; Cargo.toml's `rust-version` is the highest any locked
//! dependency declares (how the README says the minimum was found).

use std::collections::BTreeMap;
use talk_relay::config::{Config, ConfigSources};

const PACKAGED: &str = include_str!("../../../deploy/debian/config.toml");
const UNIT: &str = include_str!("../../../deploy/debian/talk-relay.service");

#[test]
fn the_packaged_configuration_is_the_shipped_defaults_with_the_documented_changes() {
    let defaults = talk_relay::config::DEFAULT_TOML;
    let swaps = [
        (
            "trusted_proxies = []",
            r#"trusted_proxies = ["127.0.0.1/32", "::1/128"]"#,
        ),
        (
            r#"path = "data/talk-relay.db""#,
            r#"path = "/var/lib/talk-relay/talk-relay.db""#,
        ),
        (r#"dir = "data/files""#, r#"dir = "/var/lib/talk-relay/files""#),
    ];
    let expected: Vec<String> = defaults
        .lines()
        .skip(3)
        .map(|line| {
            swaps
                .iter()
                .find(|(from, _)| line == *from)
                .map_or_else(|| line.to_owned(), |(_, to)| (*to).to_owned())
        })
        .collect();
    let packaged: Vec<&str> = PACKAGED.lines().skip(3).collect();
    assert_eq!(
        packaged, expected,
        "deploy/debian/config.toml must be config/default.toml with only the changes above \
         (its first three comment lines aside)"
    );
    assert!(PACKAGED.lines().take(3).all(|line| line.starts_with('#')));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, PACKAGED).unwrap();
    let config = Config::load(&ConfigSources {
        file: Some(file),
        overlays: Vec::new(),
        read_env: false,
        secrets: BTreeMap::new(),
        lenient_secrets: false,
    })
    .expect("the packaged configuration loads");
    assert_eq!(
        config.database.path.display().to_string(),
        "/var/lib/talk-relay/talk-relay.db"
    );
}

#[test]
fn the_unit_runs_hardened_as_the_service_user_and_speaks_notify() {
    let settings: Vec<&str> = UNIT.lines().filter(|line| !line.starts_with('#')).collect();
    for wanted in [
        "Type=notify",
        "WatchdogSec=30s",
        "User=talk-relay",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/talk-relay",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "MemoryMax=512M",
        "LimitNOFILE=65536",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "TimeoutStopSec=30s",
        "EnvironmentFile=-/etc/talk-relay/env",
        "ExecStart=/usr/bin/talk-relay --config /etc/talk-relay/config.toml serve",
    ] {
        assert!(settings.contains(&wanted), "the unit lacks {wanted}");
    }
    // The stop bound leaves room for the shipped delivery grace.
    let grace_ms: u64 = talk_relay::config::DEFAULT_TOML
        .lines()
        .find_map(|line| line.strip_prefix("shutdown_grace_ms = "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(grace_ms < 30_000);
}

/// The minimum Rust is the highest `rust-version` of any package in Cargo.lock: found with
/// `cargo metadata`, as the README says. A dependency update that raises it fails here until
/// Cargo.toml says so.
#[test]
fn rust_version_is_the_highest_any_locked_dependency_needs() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = |text: &str| -> Vec<u32> { text.split('.').map(|part| part.parse().unwrap()).collect() };
    let packages = metadata["packages"].as_array().unwrap();
    let ours = packages.iter().find(|p| p["name"] == "talk-relay").unwrap();
    let (needed, by) = packages
        .iter()
        .filter(|p| p["name"] != "talk-relay")
        .filter_map(|p| {
            Some((
                version(p["rust_version"].as_str()?),
                p["name"].as_str()?.to_owned(),
            ))
        })
        .max()
        .unwrap();
    let mut declared = version(ours["rust_version"].as_str().unwrap());
    declared.resize(3, 0);
    let mut needed = needed;
    needed.resize(3, 0);
    assert_eq!(
        declared, needed,
        "Cargo.toml's rust-version must be what {by} needs"
    );
}
