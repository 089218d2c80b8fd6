//! docs/operations.md, "A person's data": `GET /admin/person` and `talk-relay export-person`
//! return everything held about one address, matched as erasure matches (Unicode included),
//! with each row's proof of consent; the inbox shows that proof.

use crate::files::{files_form, pdf};
use crate::helpers::{relay_cli, spawn_app, Method, ADMIN, BROWSER_ACCEPT};
use serde_json::Value;

const CONSENT: &str = "[forms.upload.consent]\nfield = \"subscribe\"\nunchecked = \"opt_out\"\n\
    text = \"Yes, send me the monthly product newsletter. I can unsubscribe at any time.\"\n";

#[actix_web::test]
async fn a_persons_data_comes_back_whole_with_proof_of_consent() {
    let mut app = spawn_app(&format!("{}{CONSENT}{ADMIN}", files_form(""))).await;
    // Ticked, with a file, from a page in a browser.
    let (content_type, body) = crate::files::Multipart::new()
        .text("email", "Zoe@Exämple.com")
        .text("message", "It breaks like this.")
        .text("subscribe", "on")
        .file("attachment", "report.pdf", "application/pdf", &pdf())
        .finish();
    let ticked = app
        .post("/f/upload")
        .header("Content-Type", content_type)
        .header("Accept", BROWSER_ACCEPT)
        .header("Referer", "https://www.example.com/support")
        .header("User-Agent", "Mozilla/5.0 (test)")
        .body(body, 303)
        .await;
    assert!(ticked.header("location").is_some());
    // Unticked (a browser sends no field for it), another time.
    let (status, _) = app
        .post_json(
            "upload",
            &serde_json::json!({"email": "zoe@EXÄMPLE.com", "message": "again"}),
        )
        .await;
    assert_eq!(status, 202);
    // Someone else.
    app.post_json(
        "upload",
        &serde_json::json!({"email": "other@example.com", "message": "x"}),
    )
    .await;

    let answer = app
        .admin(Method::GET, "/admin/person?email=ZOE%40ex%C3%84mple.com")
        .send(200)
        .await;
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let exported: Value = answer.json();
    let rows = exported["submissions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{exported:#}");
    let with_file = rows
        .iter()
        .find(|r| r["files"].as_array().is_some_and(|f| !f.is_empty()))
        .unwrap();
    assert_eq!(with_file["files"][0]["name"], "report.pdf");
    assert_eq!(with_file["fields"]["subscribe"], "on");
    assert!(with_file["payload"]["fields"].is_object());
    let consent = &with_file["consent"];
    assert_eq!(consent["form"], "upload");
    assert_eq!(consent["page"], "https://www.example.com/support");
    assert_eq!(consent["ip"], "127.0.0.1");
    assert_eq!(consent["user_agent"], "Mozilla/5.0 (test)");
    assert_eq!(consent["answer"], "on");
    assert!(consent["text"]
        .as_str()
        .unwrap()
        .starts_with("Yes, send me the monthly"));
    assert_eq!(consent["permission_sent"], true);
    assert_eq!(consent["permission"], true);
    assert!(
        consent["context"].as_str().unwrap().starts_with("Opted in via"),
        "{consent}"
    );
    let unticked = rows.iter().find(|r| r["id"] != with_file["id"]).unwrap();
    assert_eq!(unticked["consent"]["answer"], Value::Null);
    assert!(exported["sessions"].as_array().unwrap().is_empty());

    // The inbox shows the proof.
    let id = with_file["id"].as_str().unwrap();
    let page = app
        .admin(Method::GET, &format!("/admin/inbox/{id}"))
        .send(200)
        .await;
    assert!(page.body.contains("id=\"consent-proof\"") && page.body.contains("monthly product newsletter"));

    app.admin(Method::GET, "/admin/person?email=not-an-address")
        .send(400)
        .await;
    app.get("/admin/person?email=zoe%40example.com").send(401).await;

    // The CLI answers the same rows.
    app.stop().await;
    let printed = relay_cli(&["export-person", "zoe@exämple.COM"], &app.db_path).await;
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(printed["submissions"].as_array().unwrap().len(), 2);
}
