//! docs/spam.md, "A local content filter": Debian's real `spamd` on a loopback port that the
//! tests start (once per test process, stopped when the process ends), and filters that are
//! down, slow or answer nonsense.

use super::{form, post, reasons, row_of};
use crate::helpers::spawn_app;
use serde_json::json;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static SPAMD: OnceLock<Result<String, String>> = OnceLock::new();

/// The address of a running spamd, or `None` when Debian's `spamd` is not installed (a
/// failure instead where `TALK_RELAY_REQUIRE_POSTGRES` asks for the whole suite, as in CI).
pub(super) fn spamd() -> Option<String> {
    crate::commands::daemon(&SPAMD, start_spamd, "spam filter")
}

fn start_spamd() -> Result<String, String> {
    Command::new("spamd")
        .arg("--version")
        .output()
        .map_err(|e| format!("spamd is not installed (apt-get install spamd): {e}"))?;
    let port = crate::commands::free_loopback_port()?;
    let address = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?.keep();
    let mut spamd = Command::new("spamd");
    spamd.args([
        &format!("--listen={address}"),
        "--max-children=2",
        "--min-children=1",
        "--syslog=stderr",
        "--nouser-config",
        &format!("--pidfile={}", dir.join("spamd.pid").display()),
    ]);
    // spamd will not run as root; it drops to `nobody`.
    if unsafe_is_root() {
        spamd.args(["-u", "nobody"]);
    }
    let log = std::fs::File::create(dir.join("spamd.log")).map_err(|e| e.to_string())?;
    let child = spamd
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting spamd: {e}"))?;
    crate::commands::stop_when_tests_end(&format!("kill {}", child.id()), &dir)?;
    // Loading the shipped rules takes a few seconds (longer without sa-compile).
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if ping(&address) {
            return Ok(address);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let said = std::fs::read_to_string(dir.join("spamd.log")).unwrap_or_default();
    Err(format!("spamd did not answer PING within 2 minutes: {said}"))
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ping(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = String::new();
    stream.write_all(b"PING SPAMC/1.5\r\n\r\n").is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.contains("PONG")
}

/// The overlay that points the relay at `address`.
pub(super) fn filter_at(address: &str, extra: &str) -> String {
    format!("[spam_filter]\nspamd_address = \"{address}\"\n{extra}")
}

#[actix_web::test]
async fn the_real_spamd_scores_the_content_and_its_rules_become_a_reason() {
    let Some(address) = spamd() else {
        return;
    };
    let app = spawn_app(&format!(
        "{}{}",
        filter_at(&address, "timeout_ms = 20000\n"),
        form("")
    ))
    .await;
    let (_, body) = post(
        &app,
        json!({"email": "kim@example.com", "subject": "Win",
               "message": "Congratulations! You have been selected. 100% guaranteed returns, \
                           claim your reward at https://claim-btc.top before it expires."}),
    )
    .await;
    let row = row_of(&app, &body).await;
    let found: Vec<serde_json::Value> = serde_json::from_str(row.spam_reasons.as_deref().unwrap()).unwrap();
    let filter = found
        .iter()
        .find(|r| r["reason"] == "content_filter")
        .expect("the filter's reason");
    assert!(filter["score"].as_u64().unwrap() > 0, "{filter}");
    assert!(
        filter["detail"].as_str().unwrap().starts_with("spamd "),
        "{filter}"
    );
    assert!(
        filter["detail"]
            .as_str()
            .unwrap()
            .contains("GUARANTEED_100_PERCENT"),
        "{filter}"
    );

    let (_, body) = post(
        &app,
        json!({"email": "kim@gmail.com", "message": "Hi, my order 18812 has not shipped yet. Could you check?"}),
    )
    .await;
    let row = row_of(&app, &body).await;
    assert_eq!(row.spam_verdict.as_deref(), Some("ham"), "{:?}", row.spam_reasons);
    assert!(reasons(&row).contains(&"content_filter".to_owned()));
}

/// A peer that accepts and never answers, and one that answers as if it were a web server.
async fn bad_peer(answer: Option<&'static [u8]>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    actix_web::rt::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            if let Some(answer) = answer {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = Vec::new();
                let _ = stream.read_to_end(&mut request).await;
                let _ = stream.write_all(answer).await;
            } else {
                held.push(stream);
            }
        }
    });
    address
}

#[actix_web::test]
async fn a_filter_that_is_down_slow_or_talking_nonsense_never_blocks_intake() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let silent = bad_peer(None).await;
    let web = bad_peer(Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")).await;
    for (address, says) in [
        (closed, "spamd: "),
        (silent, "no answer within 300 ms"),
        (web, "spamd answered `HTTP/1.1 200 OK`"),
    ] {
        let app = spawn_app(&format!(
            "{}{}",
            filter_at(&address, "timeout_ms = 300\n"),
            form("")
        ))
        .await;
        let (status, body) = post(&app, json!({"email": "kim@example.com", "message": "Hello"})).await;
        assert_eq!(status, 202, "{body}");
        let row = row_of(&app, &body).await;
        assert_eq!(reasons(&row), ["filter_unavailable"]);
        assert_eq!(row.spam_verdict.as_deref(), Some("ham"));
        assert!(
            row.spam_reasons.as_deref().unwrap().contains(says),
            "{:?}",
            row.spam_reasons
        );
        let metrics = app.get("/metrics").send(200).await.body;
        assert!(
            metrics.contains("talk_relay_spam_filter_unavailable_total 1"),
            "{metrics}"
        );
    }
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let app = spawn_app(&format!(
        "{}{}",
        filter_at(&down, "on_unreachable = \"refuse\"\n"),
        form("")
    ))
    .await;
    let (status, body) = post(&app, json!({"email": "kim@example.com", "message": "Hello"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["code"], "SPAM_FILTER_UNAVAILABLE");
    assert!(
        app.submissions().await.is_empty(),
        "refused before anything was recorded"
    );
}

/// A local fake of Akismet's `comment-check` (Akismet itself cannot run here): `true` for a
/// comment naming "akismet-spam", with the discard hint for "akismet-discard"; `invalid` with
/// its debug header for a wrong key. It keeps what it was sent.
struct FakeAkismet {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<std::collections::HashMap<String, String>>>>,
}

async fn fake_akismet() -> FakeAkismet {
    use actix_web::{web, App, HttpResponse, HttpServer};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<std::collections::HashMap<String, String>>>>;
    let seen: Seen = Default::default();
    let kept = seen.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().route(
            "/1.1/comment-check",
            web::post().to(
                move |form: web::Form<std::collections::HashMap<String, String>>| {
                    let kept = kept.clone();
                    async move {
                        let form = form.into_inner();
                        kept.lock().unwrap().push(form.clone());
                        let content = form.get("comment_content").cloned().unwrap_or_default();
                        if form.get("api_key").map(String::as_str) != Some("akismet-key-not-real") {
                            return HttpResponse::Ok()
                                .insert_header((
                                    "X-akismet-debug-help",
                                    "We were unable to verify your API key.",
                                ))
                                .body("invalid");
                        }
                        match () {
                            _ if content.contains("akismet-discard") => HttpResponse::Ok()
                                .insert_header(("X-akismet-pro-tip", "discard"))
                                .body("true"),
                            _ if content.contains("akismet-spam") => HttpResponse::Ok().body("true"),
                            _ => HttpResponse::Ok().body("false"),
                        }
                    }
                },
            ),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    FakeAkismet { url, seen }
}

fn akismet_at(url: &str, key_env: &str) -> String {
    format!(
        "[spam_filter]\nakismet_key_env = \"{key_env}\"\nakismet_site = \"https://www.example.com\"\nakismet_url = \"{url}\"\n"
    )
}

#[actix_web::test]
async fn akismet_holds_what_it_calls_spam_keeps_discards_and_a_bad_key_never_blocks() {
    let akismet = fake_akismet().await;
    let app = spawn_app(&format!(
        "{}{}",
        akismet_at(&akismet.url, "TEST_AKISMET_KEY"),
        form("")
    ))
    .await;
    let send = |message: &'static str| {
        post(
            &app,
            json!({"email": "kim@example.com", "name": "Kim Lee", "message": message}),
        )
    };
    let (status, body) = send("hello, akismet-spam here").await;
    assert_eq!(status, 202);
    let row = row_of(&app, &body).await;
    assert_eq!(
        (row.status, reasons(&row)),
        (talk_relay::domain::Status::Spam, vec!["akismet".to_owned()])
    );
    let (_, body) = send("akismet-discard").await;
    let row = row_of(&app, &body).await;
    assert_eq!(
        row.status,
        talk_relay::domain::Status::Spam,
        "a discard is held, never dropped"
    );
    assert!(row.spam_reasons.as_deref().unwrap().contains("spam; discard"));
    let (_, body) = send("Hi, is the shop open on Sunday?").await;
    assert_eq!(row_of(&app, &body).await.spam_score, Some(0));
    let sent = akismet.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent["comment_type"], "contact-form");
    assert_eq!(sent["comment_author_email"], "kim@example.com");
    assert_eq!(sent["comment_author"], "Kim Lee");
    assert_eq!(sent["user_ip"], "127.0.0.1");
    assert_eq!(sent["blog"], "https://www.example.com");

    let wrong = spawn_app(&format!(
        "{}{}",
        akismet_at(&akismet.url, "TEST_HOOK_TOKEN"),
        form("")
    ))
    .await;
    let (status, body) = post(
        &wrong,
        json!({"email": "kim@example.com", "message": "akismet-spam"}),
    )
    .await;
    assert_eq!(status, 202);
    let row = row_of(&wrong, &body).await;
    assert_eq!(reasons(&row), ["filter_unavailable"]);
    assert!(
        row.spam_reasons
            .as_deref()
            .unwrap()
            .contains("unable to verify your API key"),
        "{:?}",
        row.spam_reasons
    );
    let error =
        crate::helpers::test_config_result(&akismet_at(&akismet.url, "NOT_SET_ANYWHERE")).unwrap_err();
    assert!(
        format!("{error:#}").contains("spam_filter.akismet_key_env"),
        "{error:#}"
    );
}
