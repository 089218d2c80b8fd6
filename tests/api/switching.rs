//! What a site moving here from Formspree meets first (docs/forms.md, "Coming from Formspree" and
//! "Pages"): `next` in every JSON success, CORS for the library's headers, forms that can be
//! switched off (the shipped `demo` only in dry run), `_page` as the consent record's page,
//! and the small things a new user trips over.

use crate::crash::{free_port, wait_healthy};
use crate::fake_ortto::FakeOrtto;
use crate::helpers::{
    relay_with_config, spawn_app, spawn_app_with_ortto, test_client, Call, Expect, Method, TestApp, ADMIN,
    BROWSER_ACCEPT, TEST_ADMIN_TOKEN,
};
use serde_json::{json, Value};
use std::time::Duration;

const SITE: &str = "[forms.contact]\ntitle = \"Sales\"\nallowed_origins = [\"https://www.example.com\"]\n\
                    [forms.contact.consent]\nfield = \"subscribe\"\nunchecked = \"opt_out\"\n";

/// The same form with more keys of its own.
fn site_with(keys: &str) -> String {
    SITE.replacen(
        "[forms.contact.consent]",
        &format!("{keys}[forms.contact.consent]"),
        1,
    )
}

async fn post_from_site(app: &TestApp, form: &str, body: &Value, host: Option<&str>) -> (u16, Value) {
    let mut call = app
        .post(&format!("/f/{form}"))
        .header("Accept", "application/json")
        .header("Origin", "https://www.example.com")
        .header("Formspree-Client", "@formspree/core@4.0.0");
    if let Some(host) = host {
        call = call.header("Host", host);
    }
    let answer = call.json(body, Expect::Any).await;
    (answer.status, answer.json())
}

#[actix_web::test]
async fn every_json_success_carries_next_as_formspree_clients_read_it() {
    let app = spawn_app(SITE).await;
    let body =
        json!({"email": "fs@example.com", "message": "hi", "_page": "https://www.example.com/contact"});
    let (status, answer) = post_from_site(&app, "contact", &body, Some("relay.example.com")).await;
    assert_eq!(status, 202, "{answer}");
    let next = answer["next"].as_str().unwrap();
    assert!(
        next.starts_with("http://relay.example.com/thanks?form=contact&page="),
        "{next}"
    );
    // The link is the relay's signed thank-you page, and it shows the way back.
    let path = next.trim_start_matches("http://relay.example.com");
    let page = app
        .get(path)
        .header("Accept", BROWSER_ACCEPT)
        .send(200)
        .await
        .body;
    assert!(page.contains("id=\"back\""), "{page}");

    // A configured public address wins over the Host header; a form's redirect over both.
    let mut app = app;
    app.restart(&format!(
        "{SITE}[server]\npublic_url = \"https://relay.example.net\"\n"
    ))
    .await;
    let body = json!({"email": "fs2@example.com", "message": "hi"});
    let (_, answer) = post_from_site(&app, "contact", &body, Some("evil.example")).await;
    assert!(
        answer["next"]
            .as_str()
            .unwrap()
            .starts_with("https://relay.example.net/thanks?form=contact"),
        "{answer}"
    );
    app.restart(&site_with("redirect = \"https://www.example.com/thanks\"\n"))
        .await;
    let body = json!({"email": "fs3@example.com", "message": "hi"});
    let (_, answer) = post_from_site(&app, "contact", &body, None).await;
    assert_eq!(answer["next"], "https://www.example.com/thanks");
    // A repeat of the same post is a success too, with its `next`.
    let repeat = app
        .post("/f/contact")
        .header("Accept", "application/json")
        .header("Idempotency-Key", "once")
        .json(&body, Expect::Any)
        .await;
    assert_eq!(repeat.status, 202);
    let again = app
        .post("/f/contact")
        .header("Accept", "application/json")
        .header("Idempotency-Key", "once")
        .json(&body, Expect::Any)
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["next"],
        "https://www.example.com/thanks",
        "{}",
        again.body
    );
}

#[actix_web::test]
async fn preflights_allow_the_formspree_headers_and_an_unknown_form_is_readable_cross_site() {
    let app = spawn_app(SITE).await;
    let preflight = |form: &str| {
        app.call(Method::OPTIONS, &format!("/f/{form}"))
            .header("Origin", "https://www.example.com")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,formspree-client,formspree-session-data",
            )
            .send(Expect::Any)
    };
    let answer = preflight("contact").await;
    assert_eq!(answer.status, 204);
    let allowed = answer
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("formspree-client") && allowed.contains("formspree-session-data"),
        "{allowed}"
    );
    let answer = preflight("no-such-form").await;
    assert_eq!(answer.status, 204);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    let (status, refused) =
        post_from_site(&app, "no-such-form", &json!({"email": "a@example.com"}), None).await;
    assert_eq!(status, 404);
    assert_eq!(refused["errors"][0]["code"], "FORM_NOT_FOUND");
}

#[actix_web::test]
async fn the_shipped_demo_form_takes_posts_only_in_dry_run_and_any_form_can_be_switched_off() {
    let demo = json!({"email": "jo@example.com", "message": "hello"});
    let dry = spawn_app("[forms.paused]\nenabled = false\n").await;
    assert_eq!(
        dry.post_json("demo", &demo).await.0,
        202,
        "dry run: the demo works out of the box"
    );
    let (status, refused) = dry.post_json("paused", &demo).await;
    assert_eq!(
        (status, refused["errors"][0]["code"].as_str()),
        (403, Some("INACTIVE")),
        "{refused}"
    );

    let ortto = FakeOrtto::start().await;
    let live = spawn_app_with_ortto(&ortto, "[forms.demo]\nenabled = \"dry_run\"\n").await;
    let (status, refused) = live.post_json("demo", &demo).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["errors"][0]["code"], "INACTIVE");
    let page = live.post_form("demo", "email=jo%40example.com&message=hi").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("not taking submissions"), "{}", page.body);
    assert!(live.submissions().await.is_empty(), "nothing is recorded");
    assert!(ortto.requests().is_empty());

    // check-config and the start-up log say so, and an explicit `true` turns it back on.
    let output = check_config_with_key("").await;
    let described = String::from_utf8_lossy(&output.stdout);
    assert!(
        described.contains("form demo") && described.contains("enabled: OFF"),
        "{described}"
    );
    let output = check_config_with_key("[forms.demo]\nenabled = true\n").await;
    assert!(String::from_utf8_lossy(&output.stdout).contains("enabled: on"));
}

async fn check_config_with_key(toml: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, toml).unwrap();
    let mut command = crate::commands::relay_binary();
    command
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .current_dir(dir.path())
        .env("ORTTO_API_KEY", "a-key-for-this-test-only");
    let output = crate::helpers::run_command(command).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[actix_web::test]
async fn page_names_the_page_in_page_url_and_the_consent_record() {
    let app = spawn_app(SITE).await;
    let body = json!({"email": "pg@example.com", "message": "hi", "_page": "https://www.example.com/pricing?plan=pro"});
    let (status, answer) = post_from_site(&app, "contact", &body, None).await;
    assert_eq!(status, 202, "{answer}");
    let row = app.submission(answer["id"].as_str().unwrap()).await;
    assert_eq!(
        row.page_url.as_deref(),
        Some("https://www.example.com/pricing?plan=pro")
    );
    let context = TestApp::payload(&row)["fields"]["str::s-ctx"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        context.contains("on https://www.example.com/pricing?plan=pro at"),
        "{context}"
    );
    // A `_page` on an origin the form does not list is ignored: the Referer stands in.
    let answer = app
        .post("/f/contact")
        .header("Accept", "application/json")
        .header("Origin", "https://www.example.com")
        .header("Referer", "https://www.example.com/")
        .json(
            &json!({"email": "pg2@example.com", "message": "hi", "_page": "https://evil.example/x"}),
            202,
        )
        .await;
    let row = app.submission(answer.json()["id"].as_str().unwrap()).await;
    assert_eq!(row.page_url.as_deref(), Some("https://www.example.com/"));
}

#[actix_web::test]
async fn check_config_piped_into_a_reader_that_stops_early_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = crate::commands::relay_binary()
        .arg("check-config")
        .current_dir(dir.path())
        .env_remove("ORTTO_API_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the reader is gone before the first line is written.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{stderr}");
}

#[actix_web::test]
async fn in_dry_run_the_thank_you_page_says_the_message_was_kept_not_sent() {
    let dry = spawn_app("").await;
    let page = dry.get("/thanks?form=demo").send(200).await.body;
    assert!(
        page.contains("test mode") && !page.contains("has been sent"),
        "{page}"
    );
    let ortto = FakeOrtto::start().await;
    let live = spawn_app_with_ortto(&ortto, "").await;
    let page = live.get("/thanks?form=demo").send(200).await.body;
    assert!(
        page.contains("has been sent") && !page.contains("test mode"),
        "{page}"
    );
}

#[actix_web::test]
async fn a_site_template_that_fills_no_layout_block_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("thank_you.html"),
        "{% extends \"layout.html\" %}{% block content %}<h1>Thanks!</h1>{% endblock %}",
    )
    .unwrap();
    let toml = format!("[pages]\ndir = '{}'\n", dir.path().display());
    let output = relay_with_config(&toml, &["check-config"]).await;
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("thank_you.html") && stderr.contains("body"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("thank_you.html"),
        "{% extends \"layout.html\" %}{% block body %}<h1>Thanks!</h1>{% endblock %}",
    )
    .unwrap();
    let output = relay_with_config(&toml, &["check-config"]).await;
    assert!(!String::from_utf8_lossy(&output.stderr).contains("warning"));
}

#[actix_web::test]
async fn invalid_rows_keep_the_api_codes_and_the_address_as_submitted() {
    let app = spawn_app(&format!("{ADMIN}{SITE}")).await;
    let (status, _) = post_from_site(
        &app,
        "contact",
        &json!({"email": "jo@example", "message": "hi"}),
        None,
    )
    .await;
    assert_eq!(status, 422);
    let row = app.latest().await;
    assert_eq!(row.status, "invalid");
    assert_eq!(row.last_error.as_deref(), Some("email: TYPE_EMAIL"));
    assert_eq!(row.email.as_deref(), Some("jo@example"));
    let inbox = app
        .admin(Method::GET, "/admin/inbox?status=invalid")
        .send(200)
        .await
        .body;
    assert!(
        inbox.contains("jo@example") && inbox.contains("TYPE_EMAIL"),
        "{inbox}"
    );
    assert!(!inbox.contains("TypeEmail"));
    let status = app.admin(Method::GET, "/admin/").send(200).await.body;
    assert!(
        status.contains(&format!("pid {}", std::process::id())),
        "{status}"
    );
}

#[actix_web::test]
async fn reverting_a_change_that_needed_a_restart_clears_the_warning_and_new_secrets_need_one() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("relay.toml");
    let write = |extra: &str| {
        let head = format!("[server]\nport = {port}\nworkers = 1\n[database]\npath = 'relay.db'\n");
        std::fs::write(
            &config,
            format!("{head}[admin]\ntoken_env = \"RELOAD_TOKEN\"\n{extra}"),
        )
        .unwrap()
    };
    write("");
    let _relay = {
        let mut command = crate::commands::relay_binary();
        command
            .args(["--config", config.to_str().unwrap(), "serve"])
            .current_dir(dir.path())
            .env("RELOAD_TOKEN", TEST_ADMIN_TOKEN)
            .env_remove("ORTTO_API_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        crate::crash::Relay::from(command.spawn().unwrap())
    };
    wait_healthy(&base).await;
    let client = test_client();
    let reload = |expect: u16| {
        Call::new(&client, Method::POST, &format!("{base}/admin/reload"))
            .bearer(TEST_ADMIN_TOKEN)
            .send(expect)
    };
    write("[delivery]\nconcurrency = 9\n");
    assert_eq!(
        reload(200).await.json()["reloaded"]["restart_needed"],
        json!(["delivery"])
    );
    write("");
    assert_eq!(reload(200).await.json()["reloaded"]["restart_needed"], json!([]));
    write("[hooks.new]\npreset = \"tally\"\nsecret_env = \"NEW_TALLY_SECRET\"\n");
    let refused = reload(422).await.json();
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("NEW_TALLY_SECRET") && error.contains("restart"),
        "{error}"
    );
    actix_web::rt::time::sleep(Duration::from_millis(10)).await;
}

#[actix_web::test]
async fn next_keeps_the_path_of_a_public_url_behind_a_prefix() {
    let app = spawn_app(&format!(
        "{SITE}[server]\npublic_url = \"https://example.com/relay\"\n"
    ))
    .await;
    let body = json!({"email": "prefix@example.com", "message": "hi"});
    let (status, answer) = post_from_site(&app, "contact", &body, None).await;
    assert_eq!(status, 202, "{answer}");
    let next = answer["next"].as_str().unwrap();
    assert!(
        next.starts_with("https://example.com/relay/thanks?form=contact"),
        "{next}"
    );
}
