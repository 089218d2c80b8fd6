//! docs/files.md, "Durability" and "Operations": orphans swept, erasure and retention
//! deleting files, the inbox and the CSV export listing them.

use super::{files_form, pdf, png, post_files, sha256, stored, FILES_FORM};
use crate::helpers::{relay_cli, spawn_app, Method, TestApp};
use std::time::{Duration, SystemTime};

async fn upload(app: &TestApp, email: &str) -> String {
    let body = super::Multipart::new()
        .text("email", email)
        .text("message", "see attached")
        .file("attachment", "report.pdf", "application/pdf", &pdf())
        .file("screenshot", "shot;=cmd.png", "image/png", &png());
    post_files(app, body, 202).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Makes a stored directory look written `age` ago.
fn age(path: &std::path::Path, age: Duration) {
    let then = SystemTime::now() - age;
    let dir = std::fs::File::open(path).unwrap();
    dir.set_modified(then).unwrap();
}

#[actix_web::test]
async fn the_sweep_removes_old_files_no_row_names_and_keeps_the_rest() {
    let mut app = spawn_app(FILES_FORM).await;
    let kept = upload(&app, "kept@example.com").await;
    app.stop().await;
    let dir = app.files_dir();
    // A crash between the file and the row: an hour old, and a minute old.
    for (orphan, old) in [
        ("0193d2a4-7c4e-7000-8000-0000000000aa", true),
        ("0193d2a4-7c4e-7000-8000-0000000000bb", false),
    ] {
        std::fs::create_dir_all(dir.join(orphan)).unwrap();
        std::fs::write(dir.join(orphan).join(sha256(b"x")), b"x").unwrap();
        let when = if old {
            Duration::from_secs(3700)
        } else {
            Duration::from_secs(60)
        };
        age(&dir.join(orphan), when);
    }
    std::fs::write(dir.join("tmp").join("unfinished"), b"half an upload").unwrap();
    std::fs::File::open(dir.join("tmp").join("unfinished"))
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    age(&dir.join(&kept), Duration::from_secs(7200));

    app.restart(FILES_FORM).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (mut submissions, spooled) = stored(&app);
        submissions.sort();
        if submissions.len() == 2 && spooled == 0 {
            assert_eq!(
                submissions,
                ["0193d2a4-7c4e-7000-8000-0000000000bb".to_owned(), kept.clone()]
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not swept: {submissions:?}, {spooled} spooled"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn erasure_and_retention_delete_the_files_and_say_how_many() {
    let mut app = spawn_app(FILES_FORM).await;
    let gone = upload(&app, "gone@example.com").await;
    let old = upload(&app, "old@example.com").await;
    let kept = upload(&app, "kept@example.com").await;
    app.stop().await;

    let out = relay_cli(&["erase", "--email", "GONE@example.com"], &app.db_path).await;
    assert!(
        out.contains("erased 1 submissions, 0 delivery attempts, 0 session logs, 2 files"),
        "{out}"
    );
    assert!(!app.files_dir().join(&gone).exists());

    // Retention: the row goes, then its files (written days ago) with the sweep.
    sqlx::query("UPDATE submissions SET received_at = '2020-01-01T00:00:00.000Z' WHERE id = ?")
        .bind(&old)
        .execute(app.store().await.pool())
        .await
        .unwrap();
    age(&app.files_dir().join(&old), Duration::from_secs(86_400 * 3));
    let out = relay_cli(&["purge", "--older-than", "1"], &app.db_path).await;
    assert!(
        out.contains("1 submissions") && out.contains(", 2 files"),
        "{out}"
    );
    let (submissions, _) = stored(&app);
    assert_eq!(submissions, [kept]);
}

#[actix_web::test]
async fn the_inbox_shows_attachments_and_the_csv_lists_them() {
    let overlay = format!("{}{}", files_form("max_files = 3\n"), crate::helpers::ADMIN);
    let app = spawn_app(&overlay).await;
    let id = upload(&app, "ada@example.com").await;
    let page = app
        .admin(Method::GET, &format!("/admin/inbox/{id}"))
        .send(200)
        .await;
    assert!(page.body.contains("id=\"attachments\""), "{}", page.body);
    // As the browser reads the attribute (the template escapes `/` and `&`).
    let body = page.body.replace("&#x2f;", "/");
    let link = body
        .split("href=\"")
        .find(|part| part.starts_with("/files/"))
        .and_then(|part| part.split('"').next())
        .expect("a link to the file")
        .replace("&amp;", "&");
    let file = app.get(&link).send(200).await;
    assert_eq!(sha256(&file.bytes), sha256(&pdf()));

    let csv = app.admin(Method::GET, "/admin/submissions.csv").send(200).await;
    let mut lines = csv.body.lines();
    assert!(lines.next().unwrap().ends_with("\"files\",\"file_names\""));
    let row = lines.next().unwrap();
    // The count, and the names with a formula-like part defused.
    assert!(row.ends_with(",2,\"report.pdf; shot;'=cmd.png\""), "{row}");
}
