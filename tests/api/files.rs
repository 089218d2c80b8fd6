//! docs/files.md: attachments through `POST /f/{form}` (multipart, streamed, judged by their
//! content), their signed links, the stored bytes, and what bad uploads are answered.

use crate::fake_ortto::FakeOrtto;
use crate::helpers::{spawn_app, spawn_app_with_ortto, Expect, TestApp};
use serde_json::Value;
use sha2::Digest;
use std::time::Duration;

mod lifecycle;
mod limits;
mod objects;
mod scanning;

/// A form that takes files with the shipped defaults, and asks no spam questions of them.
pub const FILES_FORM: &str =
    "[forms.upload]\nspam.min_fill_ms = 0\n[forms.upload.files]\nfields = [\"attachment\", \"screenshot\"]\n";

/// The `upload` form with more `[forms.upload.files]` keys.
pub fn files_form(keys: &str) -> String {
    format!("{FILES_FORM}{keys}")
}

/// A small PNG (a real header, so its type shows in its content).
pub fn png() -> Vec<u8> {
    let mut bytes =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    bytes.extend((0..2000u32).map(|i| (i * 7 % 251) as u8));
    bytes
}

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// A multipart body, built part by part.
pub struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    pub fn new() -> Self {
        Self {
            boundary: "----talkrelaytestboundary7MA4YWxk".to_owned(),
            body: Vec::new(),
        }
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n",
            self.boundary
        );
        self.body.extend(head.as_bytes());
        self.body.extend(value.as_bytes());
        self.body.extend(b"\r\n");
        self
    }

    /// A file part; `claimed` is the type the client says it is (the relay never believes it).
    pub fn file(mut self, name: &str, file_name: &str, claimed: &str, bytes: &[u8]) -> Self {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
             Content-Type: {claimed}\r\n\r\n",
            self.boundary
        );
        self.body.extend(head.as_bytes());
        self.body.extend(bytes);
        self.body.extend(b"\r\n");
        self
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend(format!("--{}--\r\n", self.boundary).as_bytes());
        (self.content_type(), self.body)
    }

    /// The body as it is so far, without its closing boundary (a body cut short).
    pub fn unfinished(self) -> (String, Vec<u8>) {
        (self.content_type(), self.body)
    }
}

/// A visitor's post with files to the `upload` form, asking for JSON.
pub async fn post_files(app: &TestApp, body: Multipart, expect: impl Into<Expect>) -> crate::helpers::Answer {
    let (content_type, bytes) = body.finish();
    app.post("/f/upload")
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .body(bytes, expect)
        .await
}

/// Posts `body` to the `upload` form, which must accept it; answers the row's id.
pub async fn accepted(app: &TestApp, body: Multipart) -> String {
    post_files(app, body, 202).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The text message's first file link of a recorded row, as a path on this relay.
pub async fn first_link(app: &TestApp, id: &str) -> String {
    let payload = TestApp::payload(&app.submission(id).await);
    let text = payload["conversation"]["messages"][0]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    local(app, &links_in(&text)[0])
}

pub fn contact() -> Multipart {
    Multipart::new()
        .text("email", "ada@example.com")
        .text("name", "Ada Lovelace")
        .text("message", "It breaks like this, see the screenshot.")
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The links a message lists.
pub fn links_in(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.contains("/files/"))
        .map(|w| w.trim_end_matches([')', ',']).to_owned())
        .collect()
}

/// What a link path-and-query is on this relay (the messages carry absolute links).
pub fn local(app: &TestApp, link: &str) -> String {
    link.strip_prefix(&app.address).unwrap_or(link).to_owned()
}

/// Everything the local store holds: submission directories and spooled uploads.
pub fn stored(app: &TestApp) -> (Vec<String>, usize) {
    let dir = app.files_dir();
    let submissions = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name != "tmp")
                .collect()
        })
        .unwrap_or_default();
    let spooled = std::fs::read_dir(dir.join("tmp")).map(|e| e.count()).unwrap_or(0);
    (submissions, spooled)
}

#[actix_web::test]
async fn files_reach_the_conversation_as_links_that_return_the_same_bytes() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, FILES_FORM).await;
    let (image, document) = (png(), pdf());
    let body = contact()
        .file(
            "screenshot",
            "C:\\fakepath\\shot.png",
            "application/octet-stream",
            &image,
        )
        .file("attachment", "report.pdf", "image/png", &document);
    let answer = post_files(&app, body, 202).await;
    let id = answer.json()["id"].as_str().unwrap().to_owned();

    let row = app.submission(&id).await;
    let files: Value = serde_json::from_str(row.files.as_deref().unwrap()).unwrap();
    assert_eq!(files[0]["name"], "shot.png");
    assert_eq!(files[0]["type"], "image/png");
    assert_eq!(files[0]["size"], image.len());
    assert_eq!(
        files[1]["type"], "application/pdf",
        "judged by content, not the claimed image/png"
    );
    assert_eq!(files[1]["sha256"], sha256(&document));
    // Stored under the row's id and the content's hash, fsynced before the answer.
    let stored_at = app.files_dir().join(&id).join(sha256(&image));
    assert_eq!(std::fs::read(&stored_at).unwrap(), image);

    let sent = ortto.wait_for_requests(1, Duration::from_secs(10)).await;
    let payload: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert!(!sent[0].body.contains("data:"), "no file is inlined");
    let messages = payload["conversation"]["messages"].as_array().unwrap();
    let text = messages.iter().find(|m| m["type"] == "text").unwrap()["body"]
        .as_str()
        .unwrap();
    let html = messages.iter().find(|m| m["type"] == "html").unwrap()["body"]
        .as_str()
        .unwrap();
    assert!(text.contains("- shot.png (image/png, 2.0 KB): http://"), "{text}");
    assert!(text.contains("- report.pdf (application/pdf, "), "{text}");
    assert!(
        html.contains("<a href=\"http://") && html.contains(">report.pdf</a>"),
        "{html}"
    );
    let links = links_in(text);
    assert_eq!(links.len(), 2);
    for (link, bytes) in links.iter().zip([&image, &document]) {
        let answer = app.get(&local(&app, link)).send(200).await;
        assert_eq!(sha256(&answer.bytes), sha256(bytes), "the same bytes come back");
    }
}

#[actix_web::test]
async fn a_link_downloads_safely_and_supports_head_and_ranges() {
    let app = spawn_app(FILES_FORM).await;
    let image = png();
    let id = accepted(
        &app,
        contact().file("screenshot", "shot.png", "image/png", &image),
    )
    .await;
    let link = first_link(&app, &id).await;

    let whole = app.get(&link).send(200).await;
    assert_eq!(whole.header("content-type"), Some("image/png"));
    let disposition = whole.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("shot.png"),
        "{disposition}"
    );
    assert_eq!(whole.header("x-content-type-options"), Some("nosniff"));
    assert!(whole
        .header("content-security-policy")
        .unwrap()
        .contains("sandbox"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));

    let head = app.call(actix_web::http::Method::HEAD, &link).send(200).await;
    assert_eq!(
        head.header("content-length"),
        Some(image.len().to_string().as_str())
    );
    assert!(head.body.is_empty());

    let part = app.get(&link).header("Range", "bytes=1-3").send(206).await;
    assert_eq!(&part.bytes[..], &image[1..4]);
    let content_range = format!("bytes 1-3/{}", image.len());
    assert_eq!(part.header("content-range"), Some(content_range.as_str()));
    app.get(&link).header("Range", "bytes=999999-").send(416).await;

    // A changed signature, a changed expiry, another file's id: all 404, telling nothing.
    let tampered = format!("{}0", &link[..link.len() - 1]);
    let later = link.replace("exp=", "exp=9");
    let other = link.replacen(&format!("{id}.0"), &format!("{id}.1"), 1);
    for bad in [tampered, later, other, format!("/files/{id}.0/shot.png")] {
        let refused = app.get(&bad).send(404).await;
        assert!(!refused.body.contains(&id));
    }
}

#[actix_web::test]
async fn an_expired_link_is_404_and_admin_links_need_the_login() {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = offset.clone();
    let clock: talk_relay::startup::Clock =
        Arc::new(move || chrono::Utc::now() + chrono::Duration::seconds(clock_offset.load(Ordering::SeqCst)));
    let overlay = |auth: &str| {
        format!(
            "{FILES_FORM}{}[files]\nlink_ttl_days = 1\nlink_auth = \"{auth}\"\n",
            crate::helpers::ADMIN
        )
    };
    let mut app = crate::helpers::spawn_app_with_clock(&overlay("signed"), clock).await;
    let id = accepted(
        &app,
        contact().file("screenshot", "shot.png", "image/png", &png()),
    )
    .await;
    let link = first_link(&app, &id).await;
    app.get(&link).send(200).await;
    offset.store(86_400 + 60, Ordering::SeqCst);
    app.get(&link).send(404).await;
    offset.store(0, Ordering::SeqCst);

    app.restart(&overlay("admin")).await;
    app.get(&link).send(401).await;
    app.get(&link)
        .bearer(crate::helpers::TEST_ADMIN_TOKEN)
        .send(200)
        .await;
}

#[actix_web::test]
async fn a_form_without_a_files_section_refuses_file_parts_and_takes_text_multipart() {
    let app = spawn_app("[forms.plain]\nspam.min_fill_ms = 0\n").await;
    let post = |body: Multipart, status: u16| {
        let (content_type, bytes) = body.finish();
        app.post("/f/plain")
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .body(bytes, status)
    };
    let refused = post(contact().file("attachment", "shot.png", "image/png", &png()), 415).await;
    assert_eq!(refused.json()["errors"][0]["code"], "FILE_NOT_SUPPORTED");
    assert!(app.submissions().await.is_empty());
    post(contact(), 202).await;
    // An empty file input (a browser sends an empty part named "") is no file.
    post(
        contact().file("attachment", "", "application/octet-stream", b""),
        202,
    )
    .await;
    assert_eq!(app.submissions().await.len(), 2);
}
