//! docs/operations.md "Admin": the inbox (list, filter, open, replay, CSV), the recent refusals and
//! reload without a restart.

use crate::crash::{free_port, wait_healthy};
use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{
    spawn_app, spawn_app_with_ortto, test_client, Call, Expect, Method, TestApp, ADMIN, TEST_ADMIN_TOKEN,
};
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = TEST_ADMIN_TOKEN;

/// A GET with the admin token; (status, content type, body).
async fn admin_page(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app.admin(Method::GET, path).send(Expect::Any).await;
    let content_type = response.header("content-type").unwrap_or_default().to_owned();
    (response.status, content_type, response.body)
}

#[actix_web::test]
async fn the_inbox_lists_filters_opens_and_exports_what_the_log_holds() {
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::status(400));
    let app = spawn_app_with_ortto(
        &ortto,
        &format!("{ADMIN}[delivery]\nmax_attempts = 1\n[forms.other]\n"),
    )
    .await;
    let (_, dead) = app
        .post_json(
            "demo",
            &json!({"email": "dead@example.com", "message": "secret message body"}),
        )
        .await;
    let dead = dead["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post_json(
            "other",
            &json!({"email": "not-an-email", "message": "=HYPERLINK(\"x\")"}),
        )
        .await;
    assert_eq!(status, 422);
    app.post_json(
        "demo",
        &json!({"email": "spam@example.com", "message": "buy", "_gotcha": "bot"}),
    )
    .await;
    app.wait_for_status(&dead, &["dead"], Duration::from_secs(10))
        .await;

    let (status, content_type, page) = admin_page(&app, "/admin/inbox").await;
    assert_eq!((status, content_type.starts_with("text/html")), (200, true));
    assert_eq!(
        page.matches("<tr><td><a href=\"/admin/inbox/").count(),
        3,
        "{page}"
    );
    assert!(page.contains("name=\"viewport\""), "readable on a phone");

    let (_, _, invalid) = admin_page(&app, "/admin/inbox?status=invalid&source=&email=").await;
    assert_eq!(invalid.matches("<tr><td><a href").count(), 1, "{invalid}");
    assert!(
        invalid.contains("email: InvalidEmail") || invalid.contains("email:"),
        "the reason: {invalid}"
    );
    let (_, _, spam) = admin_page(&app, "/admin/inbox?status=spam").await;
    assert!(spam.contains("honeypot (the hidden field was filled)"), "{spam}");
    let (_, _, by_email) = admin_page(&app, "/admin/inbox?email=DEAD%40example.com").await;
    assert!(by_email.contains(&dead) && by_email.matches("<tr><td><a href").count() == 1);
    let (_, _, none) = admin_page(&app, "/admin/inbox?until=2000-01-01").await;
    assert!(none.contains("No submissions match."));

    let (status, _, detail) = admin_page(&app, &format!("/admin/inbox/{dead}")).await;
    assert_eq!(status, 200);
    assert!(
        detail.contains("secret message body"),
        "the fields and payload: {detail}"
    );
    assert!(detail.contains("<td>400</td>"), "the attempt: {detail}");
    assert!(detail.contains("id=\"replay\""), "a dead row can be replayed");
    let (status, _, missing) = admin_page(&app, "/admin/inbox/no-such-id").await;
    assert_eq!(status, 404);
    assert!(missing.contains("No submission has that id."), "{missing}");

    let response = app
        .get("/admin/submissions.csv?source=other")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send(200)
        .await;
    assert!(response.header("content-disposition").is_some());
    let csv = response.body.clone();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with("\"id\",\"received_at\",\"source_kind\",\"source\",\"status\""),
        "{csv}"
    );
    assert!(lines[1].contains(",\"other\",\"invalid\","), "{csv}");
    assert!(!csv.contains("HYPERLINK"), "no payloads or fields: {csv}");
    let (_, _, all) = admin_page(&app, "/admin/submissions.csv").await;
    assert_eq!(all.lines().count(), 4);
    assert!(!all.contains("str::email"), "no payloads: {all}");
}

#[actix_web::test]
async fn replay_from_the_inbox_is_a_same_origin_form_post_and_a_cross_site_one_is_refused() {
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::status(400));
    let app = spawn_app_with_ortto(&ortto, &format!("{ADMIN}[delivery]\nmax_attempts = 1\n")).await;
    let (_, dead) = app
        .post_json("demo", &json!({"email": "jo@example.com", "message": "hi"}))
        .await;
    let dead = dead["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&dead, &["dead"], Duration::from_secs(10))
        .await;
    ortto.set_default(Reply::ok());
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("admin:{TOKEN}")
        )
    );
    let replay = |origin: String, expect: u16| {
        app.post(&format!("/admin/submissions/{dead}/replay"))
            .header("Authorization", basic.clone())
            .header("Origin", origin)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("", expect)
    };
    replay("https://evil.example".to_owned(), 403).await;
    let response = replay(app.address.clone(), 303).await;
    let location = response.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/admin/inbox/{dead}?replayed=1"));
    let row = app
        .wait_for_status(&dead, &["delivered"], Duration::from_secs(10))
        .await;
    assert_eq!(row.status, "delivered");
    let (_, _, detail) = admin_page(&app, &location).await;
    assert!(detail.contains("id=\"replayed\""), "{detail}");
}

#[actix_web::test]
async fn refused_hook_and_form_requests_are_kept_in_memory_without_bodies_and_shown() {
    let app = spawn_app(&format!(
        "{ADMIN}[hooks.crm]\npreset = \"generic\"\nauth = \"token\"\nsecret_env = \"TEST_HOOK_TOKEN\"\n\
         [forms.locked]\nallowed_origins = [\"https://www.example.com\"]\n"
    ))
    .await;
    app.post("/hooks/crm")
        .header("Authorization", "wrong-token")
        .header("X-Forwarded-For", "203.0.113.9")
        .json(
            &json!({"email": "jo@example.com", "message": "a private message"}),
            401,
        )
        .await;
    app.post("/f/locked")
        .header("Origin", "https://evil.example")
        .json(
            &json!({"email": "jo@example.com", "message": "another private message"}),
            403,
        )
        .await;

    let (status, _, body) = admin_page(&app, "/admin/refusals").await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&body).unwrap();
    let refusals = listed["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 2, "{listed}");
    assert_eq!(
        (
            refusals[0]["source"].as_str(),
            refusals[0]["code"].as_str(),
            refusals[0]["status"].as_u64()
        ),
        (Some("locked"), Some("ORIGIN_NOT_ALLOWED"), Some(403))
    );
    assert_eq!(
        (
            refusals[1]["source_kind"].as_str(),
            refusals[1]["source"].as_str(),
            refusals[1]["code"].as_str()
        ),
        (Some("hook"), Some("crm"), Some("BAD_SIGNATURE"))
    );
    assert_eq!(
        refusals[1]["client_ip"], "127.0.0.1",
        "the socket's IP: no trusted proxy"
    );
    assert!(
        !body.contains("private message") && !body.contains("wrong-token"),
        "{body}"
    );

    let (_, _, status_page) = admin_page(&app, "/admin/").await;
    assert!(status_page.contains("id=\"refusal-table\""), "{status_page}");
    assert!(status_page.contains("BAD_SIGNATURE") || status_page.contains("could not be authenticated"));
    // Nothing went to disk.
    assert!(app.submissions().await.is_empty());
}

#[actix_web::test]
async fn sighup_and_post_reload_swap_forms_in_and_a_bad_config_keeps_the_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("relay.toml");
    let write = |forms: &str| {
        std::fs::write(
            &config,
            format!(
                "[server]\nport = {port}\nworkers = 1\n[log]\nfilter = \"info\"\n[database]\npath = 'relay.db'\n\
                 [admin]\ntoken_env = \"RELOAD_ADMIN_TOKEN\"\n{forms}"
            ),
        )
        .unwrap()
    };
    write("[forms.first]\n");
    let mut relay = {
        let mut command = crate::commands::relay_binary();
        command
            .args(["--config", config.to_str().unwrap(), "serve"])
            .current_dir(dir.path())
            .env("RELOAD_ADMIN_TOKEN", TOKEN)
            .env_remove("ORTTO_API_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("relay.log")).unwrap());
        crate::crash::Relay::from(command.spawn().unwrap())
    };
    wait_healthy(&base).await;
    let client = test_client();
    let post = |form: &'static str| {
        Call::new(&client, Method::POST, &format!("{base}/f/{form}")).json(
            &json!({"email": "jo@example.com", "message": "hi"}),
            &[202, 404, 429][..],
        )
    };
    let reload = |expect: u16| {
        Call::new(&client, Method::POST, &format!("{base}/admin/reload"))
            .bearer(TOKEN)
            .send(expect)
    };
    assert_eq!(post("second").await.status, 404);

    write("[forms.first]\n[forms.second]\n");
    let pid = relay.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while post("second").await.status != 202 {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not add the form"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    write("[forms.first]\n[forms.second]\n[forms.third]\nallowed_origins = [\"not a url\"]\n");
    let answer = reload(422).await.json();
    assert!(
        answer["error"].as_str().unwrap().contains("forms.third"),
        "{answer}"
    );
    assert_eq!(post("second").await.status, 202, "the running config stays");
    assert_eq!(post("third").await.status, 404);

    write("[forms.first]\n");
    let answer = reload(200).await.json();
    // The shipped defaults bring the `demo` form.
    assert_eq!(answer["reloaded"]["forms"], json!(["demo", "first"]), "{answer}");
    assert_eq!(post("second").await.status, 404);

    // Limits swap in too; the counters survive a reload that leaves `[rate_limits]` alone.
    let limited =
        |burst: u32| format!("[forms.first]\n[rate_limits.form_per_ip]\nburst = {burst}\nper_minute = 1\n");
    write(&limited(1));
    reload(200).await;
    assert_eq!(post("first").await.status, 202);
    assert_eq!(post("first").await.status, 429, "the new limit holds");
    reload(200).await;
    assert_eq!(
        post("first").await.status,
        429,
        "an unchanged limit keeps its count"
    );
    write(&limited(3));
    reload(200).await;
    assert_eq!(post("first").await.status, 202, "a changed limit starts afresh");
    assert!(relay.try_wait().unwrap().is_none(), "still the same process");
    let log = std::fs::read_to_string(dir.path().join("relay.log")).unwrap();
    assert!(
        log.contains("configuration reloaded") && log.contains("reload refused"),
        "{log}"
    );
}
