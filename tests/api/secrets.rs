//! Secrets hygiene: a full scenario through the real binary with known secret values, then
//! a search for each of them in every log line, HTTP response, metric and database row.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{run_command, test_client, Call, Expect, Method};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRETS: [(&str, &str); 7] = [
    ("ORTTO_API_KEY", "ortto-key-SECRET-0001"),
    (
        "TALK_RELAY_ADMIN_TOKEN",
        "admin-token-SECRET-0002-padded-to-32-chars",
    ),
    ("HYGIENE_HOOK_SECRET", "hook-secret-SECRET-0003"),
    ("HYGIENE_SITE_KEY", "site-key-SECRET-0004"),
    ("HYGIENE_SIGNING", "signing-secret-SECRET-0005"),
    ("HYGIENE_CAPTCHA", "captcha-secret-SECRET-0006"),
    ("HYGIENE_HOOK_TOKEN", "hook-token-SECRET-0008"),
];

fn secret(var: &str) -> &'static str {
    SECRETS.iter().find(|(v, _)| *v == var).unwrap().1
}

#[actix_web::test]
async fn no_secret_appears_in_logs_responses_metrics_or_the_database() {
    let ortto = FakeOrtto::start().await;
    ortto.set_reply_for(
        "/v1/talk/session",
        Reply::json(200, r#"{"session_id":"s1","token":"talk-session-token-SECRET-0007","person_id":"p1","person_status":"by-id"}"#),
    );
    let siteverify = FakeOrtto::start().await;
    siteverify.set_default(Reply::json(200, r#"{"success": true}"#));
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
port = {port}
workers = 1
[log]
filter = "debug"
[database]
path = "relay.db"
[ortto]
base_url = "{ortto}"
limit_outbound = false
[rate_limits.form_per_ip]
enabled = false
[forms.demo]
enabled = true
[forms.demo.captcha]
provider = "turnstile"
secret_env = "HYGIENE_CAPTCHA"
verify_url = "{siteverify}/siteverify"
[hooks.typeform]
preset = "typeform"
secret_env = "HYGIENE_HOOK_SECRET"
[hooks.zapier]
preset = "generic"
auth = "token"
secret_env = "HYGIENE_HOOK_TOKEN"
[hooks.zapier.pointers]
email = "/email"
message = "/m"
[sessions]
site_keys_env = ["HYGIENE_SITE_KEY"]
signing_secret_env = "HYGIENE_SIGNING"
"#,
            ortto = ortto.base_url,
            siteverify = siteverify.base_url
        ),
    )
    .unwrap();
    let log_path = dir.path().join("relay.log");
    let mut relay = crate::commands::relay_binary();
    relay
        .args(["--config", config.to_str().unwrap(), "serve"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::from(
            std::fs::File::create(dir.path().join("stdout.log")).unwrap(),
        ))
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()));
    for (var, value) in SECRETS {
        relay.env(var, value);
    }
    let mut relay = KillOnDrop(relay.spawn().unwrap());
    let client = test_client();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the relay did not start");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    let mut seen = String::new();
    let mut exchange = |status: u16, headers: String, body: String| {
        seen.push_str(&format!("{status}\n{headers}\n{body}\n"));
    };
    let post = |path: &str| Call::new(&client, Method::POST, &format!("{base}{path}"));
    let get = |path: &str| Call::new(&client, Method::GET, &format!("{base}{path}"));
    macro_rules! send {
        ($request:expr) => {{
            let answer = $request.await;
            exchange(answer.status, format!("{:?}", answer.headers), answer.body);
        }};
    }
    // A form with a CAPTCHA, delivered with the Ortto key.
    send!(post("/f/demo").header("Accept", "application/json").json(
        &json!({"email": "jo@example.com", "message": "hi", "cf-turnstile-response": "tok"}),
        Expect::Any
    ));
    // A signed webhook, and one with a wrong signature.
    let body = std::fs::read(format!(
        "{}/tests/fixtures/vendors/typeform.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret("HYGIENE_HOOK_SECRET").as_bytes()).unwrap();
    mac.update(&body);
    let signature = format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    send!(post("/hooks/typeform")
        .header("Content-Type", "application/json")
        .header("Typeform-Signature", signature)
        .body(body.clone(), Expect::Any));
    send!(post("/hooks/typeform")
        .header("Content-Type", "application/json")
        .header("Typeform-Signature", "sha256=AAAA")
        .body(body, Expect::Any));
    // A hook that authenticates with a token in the query string, as Jotform and Zapier do.
    send!(
        post(&format!("/hooks/zapier?token={}", secret("HYGIENE_HOOK_TOKEN"))).json(
            &json!({"email": "zap@example.com", "m": "from zapier"}),
            Expect::Any
        )
    );
    // Sessions: a site key, a signed identity, and a wrong key.
    send!(post("/talk/session")
        .header("Authorization", format!("Bearer {}", secret("HYGIENE_SITE_KEY")))
        .json(&json!({"email": "jo@example.com", "name": "Jo"}), Expect::Any));
    let expires = chrono::Utc::now().timestamp() + 600;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret("HYGIENE_SIGNING").as_bytes()).unwrap();
    mac.update(format!("jo@example.com\nJo\n{expires}").as_bytes());
    send!(post("/talk/session").json(
        &json!({"email": "jo@example.com", "name": "Jo", "expires": expires, "signature": hex::encode(mac.finalize().into_bytes())}),
        Expect::Any,
    ));
    send!(post("/talk/session")
        .header("Authorization", "Bearer nope")
        .json(&json!({"email": "jo@example.com", "name": "Jo"}), Expect::Any));
    // Admin, metrics, readiness, once both submissions are delivered.
    let deadline = Instant::now() + Duration::from_secs(15);
    while ortto
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/talk/compose")
        .count()
        < 2
        && Instant::now() < deadline
    {
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = format!("Bearer {}", secret("TALK_RELAY_ADMIN_TOKEN"));
    for path in ["/admin/", "/admin/submissions", "/admin/stats"] {
        send!(get(path).header("Authorization", admin.clone()).send(Expect::Any));
    }
    send!(get("/admin/stats")
        .header("Authorization", "Bearer wrong")
        .send(Expect::Any));
    send!(get("/metrics").send(Expect::Any));
    send!(get("/readyz").send(Expect::Any));

    let status = Command::new("kill")
        .args(["-TERM", &relay.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = relay.0.wait();
    let mut check = crate::commands::relay_binary();
    check
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .current_dir(dir.path());
    for (var, value) in SECRETS {
        check.env(var, value);
    }
    let check = run_command(check).await;
    let mut dump = Command::new("sqlite3");
    dump.arg(dir.path().join("relay.db")).arg(".dump");
    let dump = run_command(dump).await;

    let logs = std::fs::read_to_string(&log_path).unwrap()
        + &std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    let check = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
    assert!(logs.contains("submission recorded"), "the scenario ran: {logs}");
    // The intake request's id is carried into that submission's delivery log lines.
    let row = crate::helpers::sqlite3_json(
        &dir.path().join("relay.db"),
        "SELECT id, request_id FROM submissions WHERE status = 'delivered' AND request_id IS NOT NULL LIMIT 1",
    )
    .await;
    let row: serde_json::Value =
        serde_json::from_slice(&row.stdout).expect("a delivered row with a request id");
    let (id, request_id) = (
        row[0]["id"].as_str().unwrap().to_owned(),
        row[0]["request_id"].as_str().unwrap().to_owned(),
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("delivered") && l.contains(&id) && l.contains(&request_id)),
        "no delivery log line carries submission {id} with request {request_id}"
    );
    assert!(seen.contains("talk_relay_intake_total"), "metrics were read");
    assert!(dump.contains("INSERT INTO submissions") && dump.contains("INSERT INTO talk_sessions"));
    let statuses: Vec<&str> = seen
        .lines()
        .filter(|l| l.len() == 3 && l.parse::<u16>().is_ok())
        .collect();
    assert_eq!(
        ortto
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/talk/compose")
            .count(),
        3,
        "form and hooks delivered; answers {statuses:?}; rows {}",
        dump.lines()
            .filter(|l| l.starts_with("INSERT INTO submissions"))
            .map(|l| &l[..l.len().min(160)])
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The minted session token reaches the caller, and nothing else.
    assert!(
        seen.contains("talk-session-token-SECRET-0007"),
        "the caller got its token"
    );
    for (place, text) in [("logs", &logs), ("database", &dump)] {
        assert!(
            !text.contains("talk-session-token-SECRET-0007"),
            "the session token appears in the {place}"
        );
    }
    for (var, value) in SECRETS {
        for (place, text) in [
            ("logs", &logs),
            ("HTTP responses", &seen),
            ("database", &dump),
            ("check-config", &check),
        ] {
            assert!(!text.contains(value), "${var} appears in the {place}");
        }
    }
}

/// Kills the relay if the test ends early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
