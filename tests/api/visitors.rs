//! docs/pages.md "Pages": the visitor's pages link back to where they came from, can be the site's
//! own templates (autoescaped, per form) and speak English or German.

use crate::helpers::{check_config, spawn_app, Expect, TestApp, BROWSER_ACCEPT};

pub(crate) const SITE: &str = "https://www.example.com";

/// Posts like a browser from the site; (status, Location, body).
pub(crate) async fn browser_post(app: &TestApp, form: &str, body: &str) -> (u16, String, String) {
    let response = app
        .post(&format!("/f/{form}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", BROWSER_ACCEPT)
        .header("Origin", SITE)
        .header("Referer", "https://www.example.com/")
        .body(body.to_owned(), Expect::Any)
        .await;
    let location = response.header("location").unwrap_or_default().to_owned();
    (response.status, location, response.body)
}

pub(crate) async fn get_page(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.get(path).send(Expect::Any).await;
    (response.status, response.body.clone())
}

/// minijinja writes `/` as `&#x2f;` in attributes; a browser reads it back as `/`.
pub(crate) fn unescaped(page: &str) -> String {
    page.replace("&#x2f;", "/").replace("&amp;", "&")
}

#[actix_web::test]
async fn the_thank_you_page_links_back_to_the_page_named_in_page_and_only_when_the_relay_signed_it() {
    let app =
        spawn_app("[forms.contact]\ntitle = \"Sales\"\nallowed_origins = [\"https://www.example.com\"]\n")
            .await;
    let (status, location, _) = browser_post(
        &app,
        "contact",
        "email=jo%40example.com&message=hi&_page=https%3A%2F%2Fwww.example.com%2Fpricing%3Fplan%3Dpro",
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.starts_with("/thanks?form=contact&page="), "{location}");
    let (status, page) = get_page(&app, &location).await;
    assert_eq!(status, 200);
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("<em>Sales</em>"), "{page}");
    assert!(
        unescaped(&page).contains("href=\"https://www.example.com/pricing?plan=pro\""),
        "{page}"
    );

    // A link someone crafts (or edits) shows no back link at all.
    let forged = location.replace("pricing", "phishing");
    let (_, page) = get_page(&app, &forged).await;
    assert!(!page.contains("id=\"back\""), "{page}");
    let (_, page) = get_page(
        &app,
        "/thanks?form=contact&page=https%3A%2F%2Fevil.example%2F&sig=00",
    )
    .await;
    assert!(!page.contains("evil.example"), "{page}");

    // `_page` on another origin than the form's is ignored: Referer stands in.
    let (_, location, _) = browser_post(
        &app,
        "contact",
        "email=jo%40example.com&message=hi&_page=https%3A%2F%2Fevil.example%2F",
    )
    .await;
    let (_, page) = get_page(&app, &location).await;
    assert!(!page.contains("evil.example"), "{page}");
    assert!(
        unescaped(&page).contains("href=\"https://www.example.com/\""),
        "{page}"
    );
}

#[actix_web::test]
async fn the_error_page_returns_to_the_form_and_keeps_what_was_typed_with_history_back() {
    let app = spawn_app("[forms.contact]\nallowed_origins = [\"https://www.example.com\"]\n").await;
    let (status, _, page) = browser_post(
        &app,
        "contact",
        "email=not-an-email&message=hi&_page=https%3A%2F%2Fwww.example.com%2Fcontact",
    )
    .await;
    assert_eq!(status, 422);
    let page = unescaped(&page);
    // The form's own page, not the bare origin a cross-site Referer carries.
    assert!(
        page.contains("href=\"https://www.example.com/contact\""),
        "{page}"
    );
    assert!(page.contains("history.back()"), "{page}");
    assert!(page.contains("← Back to the form"), "{page}");
}

#[actix_web::test]
async fn site_templates_replace_the_built_in_pages_per_form_autoescaped_and_german_is_built_in() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir_all(pages.join("careers")).unwrap();
    std::fs::write(
        pages.join("thank_you.html"),
        "<!doctype html><html lang=\"{{ t.lang }}\"><body class=\"acme\"><h1>{{ t.thank_you_heading }} {{ title }}</h1>\
         {% if back %}<a id=\"back\" href=\"{{ back }}\">{{ t.back_to_site }}</a>{% endif %}</body></html>",
    )
    .unwrap();
    std::fs::write(
        pages.join("careers/thank_you.html"),
        "{% extends \"layout.html\" %}{% block body %}<p id=\"careers\">We read every application, {{ title }}.</p>{% endblock %}",
    )
    .unwrap();
    let app = spawn_app(&format!(
        "[pages]\ndir = '{}'\nlang = \"de\"\n[forms.contact]\ntitle = \"<script>alert(1)</script>\"\n\
         [forms.careers]\nlang = \"en\"\ntitle = \"Jobs\"\n",
        pages.display()
    ))
    .await;
    let (_, location, _) = browser_post(&app, "contact", "email=jo%40example.com&message=hi").await;
    let (_, page) = get_page(&app, &location).await;
    assert!(page.contains("class=\"acme\""), "the site's template: {page}");
    assert!(
        page.contains("lang=\"de\"") && page.contains("Vielen Dank!"),
        "German: {page}"
    );
    assert!(!page.contains("<script>"), "autoescaped: {page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");

    let (_, location, _) = browser_post(&app, "careers", "email=jo%40example.com&message=hi").await;
    let (_, page) = get_page(&app, &location).await;
    assert!(
        page.contains("id=\"careers\"") && page.contains("Jobs"),
        "the form's own: {page}"
    );
    assert!(page.contains("lang=\"en\""), "forms.careers.lang: {page}");

    // The German error page, from the built-in template.
    let (status, _, page) = browser_post(&app, "contact", "email=nope&message=hi").await;
    assert_eq!(status, 422);
    assert!(page.contains("Bitte prüfen Sie das Formular"), "{page}");
}

#[actix_web::test]
async fn a_template_that_does_not_parse_or_an_unknown_language_is_refused_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("error.html"), "{% if %}broken").unwrap();
    let output = check_config(&format!("[pages]\ndir = '{}'\n", dir.path().display())).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error.html"), "{stderr}");

    let output = check_config("[pages]\nlang = \"xx\"\n").await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pages.lang"));
}

#[actix_web::test]
async fn a_site_template_that_fails_while_serving_falls_back_to_the_built_in_page() {
    // It renders for the sample `check-config` uses (422), and fails for a 404.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("layout.html"),
        "<!doctype html><html><body class=\"site\">{% block body %}{% endblock %}</body></html>",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("error.html"),
        "{% extends \"layout.html\" %}{% block body %}<h1>{{ heading }}</h1>\
         {% if status == 404 %}{{ 1 // 0 }}{% endif %}{% endblock %}",
    )
    .unwrap();
    let app = spawn_app(&format!("[pages]\ndir = '{}'\n", dir.path().display())).await;
    let (status, _, page) = browser_post(&app, "demo", "email=nope&message=hi").await;
    assert_eq!(status, 422);
    assert!(
        page.contains("class=\"site\""),
        "the site's page while it works: {page}"
    );
    let (status, _, page) = browser_post(&app, "nope", "email=a%40example.com").await;
    assert_eq!(status, 404);
    assert!(
        page.contains("Form not found") && page.contains("Error 404"),
        "{page}"
    );
    assert!(
        !page.contains("class=\"site\""),
        "the built-in page, with its own layout: {page}"
    );
}

#[actix_web::test]
async fn a_referer_off_the_forms_origins_gets_no_signed_back_link() {
    // A script can send an allowed Origin with any Referer; the relay must not sign a link to it.
    let app = spawn_app("[forms.contact]\nallowed_origins = [\"https://www.example.com\"]\n").await;
    let location = app
        .post("/f/contact")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", BROWSER_ACCEPT)
        .header("Origin", SITE)
        .header("Referer", "https://evil.example/login")
        .body("email=jo%40example.com&message=hi", 303)
        .await
        .header("location")
        .unwrap()
        .to_owned();
    assert_eq!(location, "/thanks?form=contact", "no page, no signature");
    let (_, page) = get_page(&app, &location).await;
    assert!(
        !page.contains("evil.example") && !page.contains("id=\"back\""),
        "{page}"
    );
}
