//! docs/files.md, "Virus scanning": Debian's real clamd on a loopback port that the tests
//! start (once per test process), with a signature database the tests write, since virus
//! definitions cannot be downloaded here: an MD5 (`.hdb`) signature of a sample file and a
//! body (`.ndb`) signature of the EICAR test string.

use super::{contact, files_form, pdf, post_files, stored};
use crate::helpers::{spawn_app, TestApp};
use serde_json::Value;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The EICAR anti-virus test file: harmless, and every scanner's agreed test signature.
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The file the `.hdb` signature names by its MD5.
const SAMPLE: &[u8] = b"talk-relay's harmless test sample, signed by its MD5\n";

static CLAMD: OnceLock<Result<String, String>> = OnceLock::new();

/// The address of a running clamd, or `None` when Debian's `clamav-daemon` is not installed
/// (a failure instead where the whole suite is required, as in CI).
fn clamd() -> Option<String> {
    crate::commands::daemon(&CLAMD, start_clamd, "virus scanning")
}

fn start_clamd() -> Result<String, String> {
    Command::new("clamd")
        .arg("--version")
        .output()
        .map_err(|e| format!("clamd is not installed (apt-get install clamav-daemon): {e}"))?;
    let port = crate::commands::free_loopback_port()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?.keep();
    let db = dir.join("db");
    std::fs::create_dir_all(&db).map_err(|e| e.to_string())?;
    let md5 = hex::encode(<md5::Md5 as sha2::Digest>::digest(SAMPLE));
    let signatures = [
        (
            "test.hdb",
            format!("{md5}:{}:TalkRelay.Test.Sample\n", SAMPLE.len()),
        ),
        (
            "test.ndb",
            format!("TalkRelay.Test.Eicar:0:*:{}\n", hex::encode(EICAR)),
        ),
    ];
    for (name, text) in signatures {
        std::fs::write(db.join(name), text).map_err(|e| e.to_string())?;
    }
    let conf = dir.join("clamd.conf");
    let settings = format!(
        "Foreground yes\nTCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {}\nPidFile {}\nLogFile {}\n",
        db.display(),
        dir.join("clamd.pid").display(),
        dir.join("clamd.log").display()
    );
    std::fs::write(&conf, settings).map_err(|e| e.to_string())?;
    let child = Command::new("clamd")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("starting clamd: {e}"))?;
    crate::commands::stop_when_tests_end(&format!("kill {}", child.id()), &dir)?;
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ping(&address) {
            return Ok(address);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let said = std::fs::read_to_string(dir.join("clamd.log")).unwrap_or_default();
    Err(format!("clamd did not answer PING within a minute: {said}"))
}

fn ping(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = String::new();
    stream.write_all(b"zPING\0").is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.contains("PONG")
}

fn scanned_by(address: &str, extra: &str) -> String {
    format!(
        "{}[files]\nclamd_address = \"{address}\"\n{extra}",
        files_form("")
    )
}

fn files_of(app_row: &talk_relay::store::SubmissionRow) -> Value {
    serde_json::from_str(app_row.files.as_deref().unwrap()).unwrap()
}

async fn text_message(app: &TestApp, id: &str) -> String {
    let payload = TestApp::payload(&app.submission(id).await);
    payload["conversation"]["messages"][0]["body"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn an_infected_file_quarantines_the_post_and_is_neither_stored_nor_linked() {
    let Some(address) = clamd() else {
        return;
    };
    let app = spawn_app(&scanned_by(&address, "")).await;
    for (name, bytes, signature) in [
        ("eicar.txt", EICAR.as_bytes(), "TalkRelay.Test.Eicar"),
        ("sample.txt", SAMPLE, "TalkRelay.Test.Sample"),
    ] {
        let body = contact().file("attachment", name, "text/plain", bytes).file(
            "screenshot",
            "report.pdf",
            "application/pdf",
            &pdf(),
        );
        // The visitor's answer is an ordinary success (docs/spam.md): bots learn nothing.
        let id = post_files(&app, body, 202).await.json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let row = app.submission(&id).await;
        assert_eq!(row.status, "spam");
        let reasons = row.spam_reasons.clone().unwrap();
        assert!(
            reasons.contains("\"virus\"") && reasons.contains(signature),
            "{reasons}"
        );
        let files = files_of(&row);
        assert!(files[0]["infected"].as_str().unwrap().starts_with(signature));
        assert!(files[1].get("infected").is_none());
        let text = text_message(&app, &id).await;
        assert!(
            text.contains(&format!("- {name} (text/plain, ")) && text.contains("removed, a virus was found"),
            "{text}"
        );
        assert_eq!(
            super::links_in(&text).len(),
            1,
            "only the clean file is linked: {text}"
        );
        let kept: Vec<_> = std::fs::read_dir(app.files_dir().join(&id)).unwrap().collect();
        assert_eq!(kept.len(), 1, "the infected file is not stored");
    }
}

#[actix_web::test]
async fn a_clean_file_goes_through_the_scanner_and_is_stored() {
    let Some(address) = clamd() else {
        return;
    };
    let app = spawn_app(&scanned_by(&address, "")).await;
    let body = contact().file("attachment", "notes.txt", "text/plain", b"nothing to see here\n");
    let id = post_files(&app, body, 202).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = app.submission(&id).await;
    assert_ne!(row.status, "spam");
    assert_eq!(files_of(&row)[0]["type"], "text/plain");
    assert_eq!(stored(&app).0, [id]);
}

#[actix_web::test]
async fn a_scanner_that_is_down_follows_on_unreachable() {
    let closed = crate::helpers::closed_port();
    let app = spawn_app(&scanned_by(
        &format!("127.0.0.1:{closed}"),
        "scan_timeout_ms = 2000\n",
    ))
    .await;
    let id = super::accepted(
        &app,
        contact().file("attachment", "notes.txt", "text/plain", b"hello\n"),
    )
    .await;
    assert_eq!(stored(&app).0, [id], "accepted unscanned");
    let metrics = app.get("/metrics").send(200).await.body;
    assert!(
        metrics.contains("talk_relay_scanner_unavailable_total 1"),
        "{metrics}"
    );

    let app = spawn_app(&scanned_by(
        &format!("127.0.0.1:{closed}"),
        "on_unreachable = \"refuse\"\n",
    ))
    .await;
    let answer = post_files(
        &app,
        contact().file("attachment", "notes.txt", "text/plain", b"hello\n"),
        503,
    )
    .await;
    assert_eq!(answer.json()["errors"][0]["code"], "SCANNER_UNAVAILABLE");
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(app.submissions().await.is_empty());
    assert_eq!(stored(&app), (Vec::new(), 0));
}
