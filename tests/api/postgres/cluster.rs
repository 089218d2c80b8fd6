//! One throwaway PostgreSQL cluster per test run, in a temp dir on a free port, started by
//! the first test that asks for a database and stopped by a watchdog once the test process
//! is gone. `initdb` refuses root, so as root the cluster runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty database in the run's cluster, as a `postgres://` URL; `None` (having said
/// so) when PostgreSQL is not installed, unless `TALK_RELAY_REQUIRE_POSTGRES` is set.
pub(crate) async fn database() -> Option<String> {
    let cluster = actix_web::rt::task::spawn_blocking(|| CLUSTER.get_or_init(start).as_ref().map(|c| c.port))
        .await
        .expect("the cluster start did not panic");
    let port = match cluster {
        Ok(port) => port,
        Err(reason) => {
            if std::env::var_os("TALK_RELAY_REQUIRE_POSTGRES").is_some() {
                panic!("the PostgreSQL tests are required here, but: {reason}");
            }
            // Straight to the process's stderr, past the test harness's capture, once per run.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\nSKIPPED: the PostgreSQL tests ({reason}); they pass without checking anything. \
                     Install Debian's postgresql and faketime (the tests start their own cluster) and run \
                     `cargo test` again, or run `bash .ci/run`.\n"
                );
            });
            return None;
        }
    };
    let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
    let admin = format!("postgres://relay@127.0.0.1:{port}/postgres");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("the test cluster takes connections");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("a test database is created");
    Some(format!("postgres://relay@127.0.0.1:{port}/{name}"))
}

/// The directory of `initdb` and `pg_ctl`: `TALK_RELAY_PG_BINDIR`, `pg_config --bindir`, or
/// Debian's newest version.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TALK_RELAY_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|dir| dir.join("initdb").exists());
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|dir| dir.join("initdb").exists());
    from_pg_config.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program args…`, as the `postgres` user when this process is root.
fn as_cluster_owner(program: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program).args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn start() -> Result<Cluster, String> {
    let bin = bin_dir().ok_or("no initdb found (Debian package postgresql)")?;
    let dir = std::env::temp_dir().join(format!("talk-relay-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["postgres:postgres"]).arg(&dir);
                c
            },
            "handing the cluster directory to the postgres user",
        )?;
    }
    let data = dir.join("data");
    let data_s = data.to_str().expect("a UTF-8 temp path");
    run(
        as_cluster_owner(
            &bin.join("initdb"),
            &[
                "-D",
                data_s,
                "-U",
                "relay",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        ),
        "initdb",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("finding a free port: {e}"))?
        .port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off \
         -c full_page_writes=off -c shared_buffers=64MB",
        dir.display()
    );
    let log = dir.join("server.log");
    run(
        as_cluster_owner(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data_s,
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        ),
        "pg_ctl start",
    )?;
    // Stop the cluster and remove it once this test process is gone, however it ends.
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- {} -D {data_s} stop -m immediate",
            pg_ctl.display()
        )
    } else {
        format!("{} -D {data_s} stop -m immediate", pg_ctl.display())
    };
    crate::commands::stop_when_tests_end(&stop, &dir)?;
    Ok(Cluster { port })
}
