//! docs/files.md, "Limits": each bad upload gets a clear 4xx (or 408) while it streams, and
//! nothing of it is stored or acknowledged: no row, no stored file, no spooled file.

use super::{contact, files_form, pdf, png, post_files, stored, Multipart, FILES_FORM};
use crate::helpers::{spawn_app, TestApp};
use actix_web::rt::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Nothing of a refused upload is left.
async fn nothing_kept(app: &TestApp, what: &str) {
    assert!(app.submissions().await.is_empty(), "{what}: a row was recorded");
    let (submissions, spooled) = stored(app);
    assert!(
        submissions.is_empty(),
        "{what}: files were stored: {submissions:?}"
    );
    assert_eq!(spooled, 0, "{what}: a spooled upload was left behind");
}

#[actix_web::test]
async fn bad_uploads_get_a_clear_error_and_nothing_is_kept() {
    let app = spawn_app(&files_form("max_files = 2\nmax_file_mb = 1\nmax_total_mb = 1\n")).await;
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".repeat(20);
    let big = vec![b'a'; 1024 * 1024 + 1];
    let cases: Vec<(&str, Multipart, u16, &str)> = vec![
        (
            "three files where two are allowed",
            contact()
                .file("attachment", "a.png", "image/png", &png())
                .file("attachment", "b.pdf", "application/pdf", &pdf())
                .file("screenshot", "c.png", "image/png", &png()),
            422,
            "TOO_MANY_FILES",
        ),
        (
            "a file over max_file_mb",
            contact().file("attachment", "big.txt", "text/plain", &big),
            413,
            "FILE_TOO_LARGE",
        ),
        (
            "an executable named .png",
            contact().file("attachment", "shot.png", "image/png", &elf),
            415,
            "FILE_TYPE_NOT_ALLOWED",
        ),
        (
            "HTML that would run in the relay's origin",
            contact().file(
                "attachment",
                "page.txt",
                "text/plain",
                b"<html><script>alert(1)</script></html>",
            ),
            415,
            "FILE_TYPE_NOT_ALLOWED",
        ),
        (
            "a name that climbs out (`../`)",
            contact().file("attachment", "../../etc/cron.d/x.png", "image/png", &png()),
            422,
            "FILE_NAME_INVALID",
        ),
        (
            "a name with NUL",
            contact().file("attachment", "shot\0.png", "image/png", &png()),
            400,
            "MALFORMED_BODY",
        ),
        (
            "a name with a control character that reaches the relay (a tab)",
            contact().file("attachment", "shot\t.png", "image/png", &png()),
            422,
            "FILE_NAME_INVALID",
        ),
        (
            "a name with a right-to-left override",
            contact().file("attachment", "invoice\u{202E}gnp.exe", "image/png", &png()),
            422,
            "FILE_NAME_INVALID",
        ),
        (
            "a field that may not carry files",
            contact().file("avatar", "shot.png", "image/png", &png()),
            422,
            "FILE_FIELD_NOT_ALLOWED",
        ),
        (
            "a part without a name",
            contact().file("", "shot.png", "image/png", &png()),
            400,
            "MALFORMED_BODY",
        ),
    ];
    for (what, body, status, code) in cases {
        let answer = post_files(&app, body, status).await;
        assert_eq!(
            answer.json()["errors"][0]["code"],
            code,
            "{what}: {}",
            answer.body
        );
        nothing_kept(&app, what).await;
    }
    // Files together over max_total_mb, each under max_file_mb.
    let under = vec![b'b'; 600 * 1024];
    let two = contact().file("attachment", "a.txt", "text/plain", &under).file(
        "screenshot",
        "b.txt",
        "text/plain",
        &under,
    );
    let answer = post_files(&app, two, 413).await;
    assert_eq!(answer.json()["errors"][0]["code"], "FILES_TOO_LARGE");
    nothing_kept(&app, "files over max_total_mb").await;
}

#[actix_web::test]
async fn ten_thousand_parts_a_truncated_body_and_a_missing_boundary_are_refused() {
    let app = spawn_app(FILES_FORM).await;
    let mut many = contact();
    for i in 0..10_000 {
        many = many.text(&format!("f{i}"), "x");
    }
    let answer = post_files(&app, many, 422).await;
    assert_eq!(answer.json()["errors"][0]["code"], "TOO_MANY_FIELDS");
    nothing_kept(&app, "10,000 parts").await;

    let (content_type, bytes) = contact()
        .file("attachment", "shot.png", "image/png", &png())
        .unfinished();
    let cut = &bytes[..bytes.len() - 500];
    let answer = app
        .post("/f/upload")
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .body(cut.to_vec(), 400)
        .await;
    assert_eq!(answer.json()["errors"][0]["code"], "MALFORMED_BODY");
    nothing_kept(&app, "a truncated body").await;

    app.post("/f/upload")
        .header("Content-Type", "multipart/form-data")
        .header("Accept", "application/json")
        .body("--x\r\n", 400)
        .await;
    nothing_kept(&app, "no boundary").await;
}

/// Writes a request head, then the body in pieces until the relay answers or closes; answers
/// what it said and how many body bytes were written.
async fn stream_until_answered(app: &TestApp, head: &str, piece: &[u8], pause: Duration) -> (String, usize) {
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.split();
    let mut written = 0;
    let mut answer = vec![0u8; 4096];
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the relay never answered"
        );
        tokio::select! {
            read = reader.read(&mut answer) => {
                let read = read.unwrap_or(0);
                return (String::from_utf8_lossy(&answer[..read]).into_owned(), written);
            }
            wrote = async {
                actix_web::rt::time::sleep(pause).await;
                writer.write_all(piece).await
            } => {
                if wrote.is_err() {
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest).await;
                    return (String::from_utf8_lossy(&rest).into_owned(), written);
                }
                written += piece.len();
            }
        }
    }
}

fn upload_head(length: Option<u64>) -> String {
    let length = length.map_or("Transfer-Encoding: chunked\r\n".to_owned(), |l| {
        format!("Content-Length: {l}\r\n")
    });
    format!(
        "POST /f/upload HTTP/1.1\r\nHost: relay\r\nAccept: application/json\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\n{length}\r\n"
    )
}

#[actix_web::test]
async fn past_a_limit_the_relay_answers_413_at_once_and_closes() {
    let app = spawn_app(&files_form("max_file_mb = 1\nmax_total_mb = 1\n")).await;
    // Declared too large: refused before a byte of the body is read.
    let (answer, _) =
        stream_until_answered(&app, &upload_head(Some(50 << 20)), b"", Duration::from_millis(50)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // Streamed (chunked, no length): refused as the limit is crossed, not at the end.
    let start = "--XyZ\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"big.txt\"\r\n\r\n";
    let mut head = upload_head(None);
    head.push_str(&format!("{:x}\r\n{start}\r\n", start.len()));
    let piece = format!("{:x}\r\n{}\r\n", 64 * 1024, "a".repeat(64 * 1024));
    let (answer, written) = stream_until_answered(&app, &head, piece.as_bytes(), Duration::ZERO).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("FILE_TOO_LARGE"), "{answer}");
    assert!(
        written < 8 << 20,
        "the relay read {written} bytes past a 1 MB limit"
    );
    nothing_kept(&app, "an endless upload").await;
}

#[actix_web::test]
async fn an_upload_that_trickles_in_gets_408_and_nothing_is_kept() {
    let app = spawn_app(&format!(
        "{FILES_FORM}[server]\nbody_timeout_ms = 1000\n[files]\nupload_timeout_ms = 2500\n"
    ))
    .await;
    let start = "--XyZ\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"slow.txt\"\r\n\r\n";
    let mut head = upload_head(None);
    head.push_str(&format!("{:x}\r\n{start}\r\n", start.len()));
    // A byte every 300 ms: never idle for body_timeout_ms, but never done either.
    let started = Instant::now();
    let (answer, _) = stream_until_answered(&app, &head, b"1\r\na\r\n", Duration::from_millis(300)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Silent after the head: the pause between pieces is what times out.
    let (answer, _) = stream_until_answered(&app, &head, b"", Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    nothing_kept(&app, "a trickled upload").await;
}

#[actix_web::test]
async fn a_file_store_without_room_answers_503_and_keeps_nothing() {
    // Room for rows (500 MB above database.min_free_mb) but not for a file as large as the
    // form allows (1000 MB): the file store's check refuses, not the database's.
    let probe = tempfile::tempdir().unwrap();
    let free_mb = fs4::available_space(probe.path()).unwrap() / (1 << 20);
    let overlay = format!(
        "{}[database]\nmin_free_mb = {}\n",
        files_form("max_file_mb = 1000\nmax_total_mb = 1000\n"),
        free_mb.saturating_sub(500)
    );
    let app = spawn_app(&overlay).await;
    let answer = post_files(
        &app,
        contact().file("attachment", "report.pdf", "application/pdf", &pdf()),
        503,
    )
    .await;
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("The file could not be stored"),
        "{}",
        answer.body
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
    nothing_kept(&app, "a full file store").await;
    // A post without files still has room.
    post_files(&app, contact(), 202).await;
}
