//! docs/files.md, "Storage": `files.store = "s3://bucket/prefix"` against moto's S3 server
//! (from PyPI) on a loopback port that the tests start, with the real binary and its
//! credentials from the environment, as an operator runs it.

use super::{contact, files_form, pdf, png, sha256, Multipart};
use crate::crash::{wait_healthy, Relay};
use crate::helpers::test_client;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static MOTO: OnceLock<Result<String, String>> = OnceLock::new();

/// moto's S3 endpoint, or `None` when moto is not installed (a failure where the whole suite
/// is required, as in CI).
fn moto() -> Option<String> {
    crate::commands::daemon(&MOTO, start_moto, "object storage")
}

fn start_moto() -> Result<String, String> {
    let port = crate::commands::free_loopback_port()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?.keep();
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting moto (pip install 'moto[server]'): {e}"))?;
    crate::commands::stop_when_tests_end(&format!("kill {}", child.id()), &dir)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err("moto's server did not listen within a minute (pip install 'moto[server]')".to_owned())
}

/// The keys stored in `bucket` (moto answers ListObjectsV2 without checking signatures).
async fn keys_in(endpoint: &str, bucket: &str) -> Vec<String> {
    let mut response = test_client()
        .get(format!("{endpoint}/{bucket}?list-type=2"))
        .send()
        .await
        .unwrap();
    let xml = String::from_utf8_lossy(&response.body().await.unwrap()).into_owned();
    xml.split("<Key>")
        .skip(1)
        .filter_map(|part| part.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

/// Starts the binary with its files in `bucket` under `prefix`.
fn start(dir: &std::path::Path, endpoint: &str, bucket: &str, port: u16) -> Relay {
    let config = dir.join("config.toml");
    let toml = format!(
        "[server]\nport = {port}\n[database]\npath = 'relay.db'\n[files]\nstore = \"s3://{bucket}/uploads\"\n\
         s3_endpoint = \"{endpoint}\"\n{}",
        files_form("")
    );
    std::fs::write(&config, toml).unwrap();
    let log = std::fs::File::create(dir.join("relay.log")).unwrap();
    let child = crate::commands::relay_binary()
        .args(["--config", config.to_str().unwrap(), "serve"])
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "test-access-key-not-real")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-key-not-real")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the relay starts");
    Relay::from(child)
}

#[actix_web::test]
async fn files_go_to_s3_and_come_back_and_erasure_deletes_them_there() {
    let Some(endpoint) = moto() else {
        return;
    };
    let bucket = format!("relay-{}", std::process::id());
    test_client()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::crash::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let relay = start(dir.path(), &endpoint, &bucket, port);
    wait_healthy(&base).await;

    let (image, document) = (png(), pdf());
    let body: Multipart = contact()
        .file("screenshot", "shot.png", "image/png", &image)
        .file("attachment", "report.pdf", "application/pdf", &document);
    let (content_type, bytes) = body.finish();
    let mut response = test_client()
        .post(format!("{base}/f/upload"))
        .insert_header(("Content-Type", content_type))
        .insert_header(("Accept", "application/json"))
        .send_body(bytes)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let answer: serde_json::Value = response.json().await.unwrap();
    let id = answer["id"].as_str().unwrap().to_owned();

    let mut keys = keys_in(&endpoint, &bucket).await;
    keys.sort();
    let mut expected = vec![
        format!("uploads/{id}/{}", sha256(&image)),
        format!("uploads/{id}/{}", sha256(&document)),
    ];
    expected.sort();
    assert_eq!(keys, expected);
    let spool = std::fs::read_dir(dir.path().join("data/files/tmp"))
        .unwrap()
        .count();
    assert_eq!(spool, 0, "the spool is emptied once S3 has the file");

    // The link reads the file back from S3, whole and by range.
    let rows =
        crate::helpers::sqlite3_json(&dir.path().join("relay.db"), "SELECT payload FROM submissions").await;
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).unwrap();
    let payload: serde_json::Value = serde_json::from_str(rows[0]["payload"].as_str().unwrap()).unwrap();
    let text = payload["conversation"]["messages"][0]["body"].as_str().unwrap();
    let links = super::links_in(text);
    for (link, bytes) in links.iter().zip([&image, &document]) {
        assert!(link.starts_with(&base), "{link}");
        let mut got = test_client().get(link).send().await.unwrap();
        assert_eq!(got.status().as_u16(), 200);
        assert_eq!(sha256(&got.body().await.unwrap()), sha256(bytes));
    }
    let mut part = test_client()
        .get(&links[0])
        .insert_header(("Range", "bytes=0-7"))
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(&part.body().await.unwrap()[..], &image[..8]);
    drop(relay);

    let mut erase = crate::commands::relay_binary();
    erase
        .args(["--config", dir.path().join("config.toml").to_str().unwrap()])
        .args(["erase", "--email", "ada@example.com"])
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "test-access-key-not-real")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-key-not-real")
        .env("AWS_REGION", "us-east-1");
    let output = crate::commands::run_command(erase).await;
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("erased 1 submissions") && said.contains(", 2 files"),
        "{said}"
    );
    assert!(keys_in(&endpoint, &bucket).await.is_empty());
}
