//! README "How a submission flows" (clean): HTML messages go through the allowlist; nothing executable survives.

use crate::helpers::{spawn_app, TestApp};
use serde_json::json;

const HTML_FORM: &str = "[forms.rich]\nhtml_field = \"message_html\"\n";

async fn cleaned(app: &TestApp, html: &str) -> String {
    let (status, body) = app
        .post_json(
            "rich",
            &json!({"email": "a@example.com", "message": "text", "message_html": html}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let payload = TestApp::payload(&app.submission(body["id"].as_str().unwrap()).await);
    let messages = payload["conversation"]["messages"].as_array().unwrap().clone();
    messages
        .iter()
        .find(|m| m["type"] == "html")
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn assert_inert(output: &str, input: &str) {
    let lower = output.to_ascii_lowercase();
    for forbidden in [
        "<script",
        "javascript:",
        "vbscript:",
        "onerror",
        "onload",
        "onclick",
        "onmouseover",
        "<iframe",
        "<style",
        "style=",
        "<form",
        "<input",
        "<svg",
        "<object",
        "<embed",
        "data:text",
        "data:image/svg",
        "expression(",
        "<meta",
        "<link",
        "<base",
    ] {
        assert!(
            !lower.contains(forbidden),
            "`{forbidden}` survived in {output:?} (from {input:?})"
        );
    }
}

#[actix_web::test]
async fn an_xss_corpus_comes_out_inert() {
    let app = spawn_app(HTML_FORM).await;
    let corpus = [
        "<script>alert(1)</script><p>hi</p>",
        "<img src=x onerror=alert(1)>",
        "<img src=\"https://example.com/a.png\" onerror=\"alert(1)\">",
        "<a href=\"javascript:alert(1)\">click</a>",
        "<a href=\"JaVaScRiPt&#58;alert(1)\">click</a>",
        "<a href=\"&#106;avascript:alert(1)\">click</a>",
        "<a href=\"vbscript:msgbox(1)\">x</a>",
        "<svg onload=alert(1)><circle/></svg>",
        "<svg><script>alert(1)</script></svg>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "<p style=\"width: expression(alert(1))\">x</p>",
        "<style>body{background:url(javascript:alert(1))}</style>",
        "<img src=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
        "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">",
        "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
        "<form action=\"https://evil.example\"><input name=p></form>",
        "<object data=\"evil.swf\"></object><embed src=\"evil.swf\">",
        "<body onload=alert(1)>",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
        "<a href=\" javascript:alert(1)\">x</a>",
        "<details open ontoggle=alert(1)>",
        "<base href=\"javascript:/\"><a href=\"x\">x</a>",
    ];
    for input in corpus {
        let output = cleaned(&app, input).await;
        assert_inert(&output, input);
    }
}

#[actix_web::test]
async fn formatting_links_tables_and_allowed_images_survive() {
    let app = spawn_app(HTML_FORM).await;
    let input = "<p>Do you offer <b>discounts</b>? <em>Asap</em></p><ul><li>one</li></ul>\
                 <table><tr><td>a</td></tr></table><blockquote>q</blockquote><pre><code>x</code></pre>\
                 <a href=\"https://example.com/p\">link</a> <a href=\"mailto:jo@example.com\">mail</a>\
                 <img src=\"https://cdn.example.com/a.png\" alt=\"logo\">\
                 <img src=\"data:image/png;base64,iVBORw0KGgo=\">";
    let output = cleaned(&app, input).await;
    for kept in [
        "<p>Do you offer <b>discounts</b>? <em>Asap</em></p>",
        "<ul><li>one</li></ul>",
        "<td>a</td>",
        "<blockquote>q</blockquote>",
        "<pre><code>x</code></pre>",
        "href=\"https://example.com/p\"",
        "href=\"mailto:jo@example.com\"",
        "rel=\"noopener noreferrer nofollow\"",
        "<img src=\"https://cdn.example.com/a.png\" alt=\"logo\">",
        "<img src=\"data:image/png;base64,iVBORw0KGgo=\">",
    ] {
        assert!(output.contains(kept), "`{kept}` was lost: {output}");
    }
}

#[actix_web::test]
async fn http_images_and_relative_links_are_dropped() {
    let app = spawn_app(HTML_FORM).await;
    let output = cleaned(
        &app,
        "<p>x<img src=\"http://example.com/a.png\"><a href=\"/relative\">r</a></p>",
    )
    .await;
    assert!(!output.contains("http://example.com/a.png"), "{output}");
    assert!(!output.contains("/relative"), "{output}");
    assert!(output.contains("<p>x"), "{output}");
}

#[actix_web::test]
async fn an_html_message_that_cleans_to_nothing_is_not_sent() {
    let app = spawn_app(HTML_FORM).await;
    assert_eq!(cleaned(&app, "<script>alert(1)</script>").await, "");
}
