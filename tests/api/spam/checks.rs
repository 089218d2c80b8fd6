//! docs/spam.md, "Checks": each built-in check through `POST /f/{form}`, read back from the
//! row's verdict and reasons; the token script; a bad pattern stopping start-up.

use super::{form, post, reasons, row_of};
use crate::helpers::{spawn_app, test_config_result};
use serde_json::json;

#[actix_web::test]
async fn throwaway_and_blocked_domains_score_and_allowed_domains_bypass_both() {
    let app = spawn_app(&form(
        "blocked_domains = [\"@spammy.example\"]\nallowed_domains = [\"partner.example\"]\n",
    ))
    .await;
    let post_from = |email: &'static str| post(&app, json!({"email": email, "message": "Hello there"}));
    let (_, body) = post_from("kim@mailinator.com").await;
    let row = row_of(&app, &body).await;
    assert_eq!(reasons(&row), ["disposable_email"]);
    assert_eq!(row.spam_verdict.as_deref(), Some("spam"));
    let (_, body) = post_from("kim@mail.spammy.example").await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["blocked_domain"]);
    let (_, body) = post_from("kim@partner.example").await;
    let row = row_of(&app, &body).await;
    assert_eq!(
        (row.spam_verdict.as_deref(), row.spam_score),
        (Some("ham"), Some(0))
    );
    let (_, body) = post_from("kim@gmail.com").await;
    assert_eq!(row_of(&app, &body).await.spam_verdict.as_deref(), Some("ham"));
}

#[actix_web::test]
async fn links_over_the_forms_maximum_shorteners_and_markup_score() {
    let rich = "[forms.rich]\nhtml_field = \"message_html\"\n";
    let app = spawn_app(&format!("{}{rich}", form("max_links = 1\n"))).await;
    let message = |m: &str| json!({"email": "kim@example.com", "message": m});
    let (_, body) = post(&app, message("Our page is https://a.example/x")).await;
    assert_eq!(row_of(&app, &body).await.spam_score, Some(0));
    let (_, body) = post(&app, message("see https://a.example, www.b.example and c.com/x")).await;
    let row = row_of(&app, &body).await;
    assert_eq!(reasons(&row), ["too_many_links"]);
    assert_eq!(row.spam_score, Some(6), "two links over the maximum of one");
    let (_, body) = post(&app, message("look: bit.ly/3abc")).await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["link_shortener"]);
    let (_, body) = post(&app, message("[url=http://x.com]deal[/url]")).await;
    assert!(reasons(&row_of(&app, &body).await).contains(&"link_markup".to_owned()));
    // A form's HTML field comes from a rich-text editor: its `<a href>` is not a bot's markup.
    let html = "<p>See <a href=\"https://a.example/x\">this</a></p>";
    let (_, body) = app
        .post_json("rich", &json!({"email": "kim@example.com", "message_html": html}))
        .await;
    assert_eq!(row_of(&app, &body).await.spam_score, Some(0));
    let (_, body) = post(
        &app,
        json!({"email": "kim@example.com", "name": "cheap-pills.com", "message": "hi"}),
    )
    .await;
    assert!(reasons(&row_of(&app, &body).await).contains(&"link_in_name".to_owned()));
}

#[actix_web::test]
async fn blocked_words_patterns_and_built_in_phrases_match_whole_words() {
    let app = spawn_app(&form(
        "blocked_words = [\"Rolex\"]\nblocked_patterns = [\"\\\\border\\\\s+#?\\\\d{9}\\\\b\"]\n",
    ))
    .await;
    let message = |m: &str| json!({"email": "kim@example.com", "message": m});
    let (_, body) = post(&app, message("cheap ROLEX watches")).await;
    let found = reasons(&row_of(&app, &body).await);
    assert!(found.contains(&"blocked_word".to_owned()), "{found:?}");
    let (_, body) = post(&app, message("my rolexes arrived")).await;
    assert!(!reasons(&row_of(&app, &body).await).contains(&"blocked_word".to_owned()));
    let (_, body) = post(&app, message("order #123456789 is late")).await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["blocked_pattern"]);
    let (_, body) = post(
        &app,
        message("We sell backlinks and guest posts, first page of Google"),
    )
    .await;
    let row = row_of(&app, &body).await;
    assert_eq!(reasons(&row), ["seo_offer"]);
    assert_eq!(row.spam_score, Some(8), "a kind counts at most twice");
    let (_, body) = post(&app, message("We live in Essex and Middlesex")).await;
    assert_eq!(row_of(&app, &body).await.spam_score, Some(0));
}

#[actix_web::test]
async fn allowed_scripts_hold_posts_in_other_scripts_and_are_off_by_default() {
    let app = spawn_app(&format!(
        "{}\n[forms.latin]\n[forms.latin.spam]\nallowed_scripts = [\"Latin\"]\n",
        form("")
    ))
    .await;
    let russian =
        json!({"email": "kim@example.com", "message": "Здравствуйте, есть ли доставка в Казахстан?"});
    let (_, body) = post(&app, russian.clone()).await;
    assert_eq!(row_of(&app, &body).await.spam_score, Some(0));
    let (_, body) = app.post_json("latin", &russian).await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["unexpected_script"]);
    let (_, body) = app
        .post_json(
            "latin",
            &json!({"email": "kim@example.com", "message": "Grüße aus Köln, ça va?"}),
        )
        .await;
    assert_eq!(row_of(&app, &body).await.spam_score, Some(0));
}

#[actix_web::test]
async fn the_time_to_submit_token_catches_fast_forged_and_missing_posts() {
    let app = spawn_app(&format!(
        "{}\n[forms.strict]\n[forms.strict.spam]\nrequire_token = true\nmin_fill_ms = 300\n",
        form("min_fill_ms = 300\n")
    ))
    .await;
    let script = app.get("/f/corpus/token.js").send(200).await;
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(script.header("cache-control"), Some("no-store"));
    let js = script.body.clone();
    let token = js
        .split("t=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(js.contains("_fill_token"), "{js}");
    app.get("/f/nope/token.js").send(404).await;

    let with = |token: &str| json!({"email": "kim@example.com", "message": "Hello", "_fill_token": token});
    let (_, body) = post(&app, with(&token)).await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["too_fast"]);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(350)).await;
    let (_, body) = post(&app, with(&token)).await;
    assert_eq!(
        row_of(&app, &body).await.spam_score,
        Some(0),
        "a person who took their time"
    );
    let forged = format!("{}.{}", token.split('.').next().unwrap(), "0".repeat(32));
    let (_, body) = post(&app, with(&forged)).await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["token_forged"]);
    // Another form's token is not this one's.
    let (_, body) = app.post_json("strict", &with(&token)).await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["token_forged"]);
    let (_, body) = app
        .post_json("strict", &json!({"email": "kim@example.com", "message": "Hello"}))
        .await;
    assert_eq!(reasons(&row_of(&app, &body).await), ["token_missing"]);
    // Without `require_token`, a page without the script loses nothing.
    let (_, body) = post(&app, json!({"email": "kim@example.com", "message": "Hello"})).await;
    assert_eq!(row_of(&app, &body).await.spam_score, Some(0));
}

#[actix_web::test]
async fn a_bad_pattern_or_script_name_stops_start_up_naming_the_key() {
    let error = test_config_result(&form("blocked_patterns = [\"(unclosed\"]\n")).unwrap_err();
    assert!(
        format!("{error:#}").contains("forms.corpus.spam.blocked_patterns"),
        "{error:#}"
    );
    let huge = form("blocked_patterns = [\"\\\\w{1000}\\\\w{1000}\\\\w{1000}\"]\n");
    let error = test_config_result(&huge).unwrap_err();
    assert!(format!("{error:#}").contains("blocked_patterns"), "{error:#}");
    let error = test_config_result(&form("allowed_scripts = [\"Klingon\"]\n")).unwrap_err();
    assert!(
        format!("{error:#}").contains("forms.corpus.spam.allowed_scripts"),
        "{error:#}"
    );
}

#[actix_web::test]
async fn a_64_kb_message_with_thousands_of_links_is_scored_and_recorded() {
    let limits =
        "[server]\nmax_body_bytes = 131072\n[limits]\nmax_value_chars = 70000\nmax_message_chars = 70000\n";
    let app = spawn_app(&format!("{limits}{}", form(""))).await;
    let links = "https://x.ru/a ".repeat(4000);
    let (status, body) = post(&app, json!({"email": "kim@example.com", "message": links})).await;
    assert_eq!(status, 202, "{body}");
    let row = row_of(&app, &body).await;
    assert_eq!(row.spam_verdict.as_deref(), Some("spam"));
    assert!(reasons(&row).contains(&"too_many_links".to_owned()));
}

/// The token is issued and checked by the same clock (the relay's), so a relay whose clock a
/// test (or an operator's fleet) sets reads its own tokens' age right.
#[actix_web::test]
async fn a_token_is_issued_and_checked_by_the_relays_one_clock() {
    let then = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let app = crate::helpers::spawn_app_at(&form(""), then).await;
    let js = app.get("/f/corpus/token.js").send(200).await.body;
    let token = js
        .split("t=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (_, body) = post(
        &app,
        json!({"email": "kim@example.com", "message": "Hello", "_fill_token": token}),
    )
    .await;
    assert_eq!(
        reasons(&row_of(&app, &body).await),
        ["too_fast"],
        "not expired by another clock"
    );
}
