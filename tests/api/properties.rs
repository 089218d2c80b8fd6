//! Property tests and fuzzing of everything that parses untrusted input. Bounded for CI
//! (PROPTEST_CASES, default 256 per property); run longer with PROPTEST_CASES=20000.

use crate::helpers::{spawn_app, Expect};
use futures_util::FutureExt;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use talk_relay::clean::HtmlCleaner;
use talk_relay::config::{Config, ConfigSources};
use talk_relay::http::parse::{parse_json, parse_urlencoded};

mod requests;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

fn config(overlay: &str) -> Config {
    Config::load(&ConfigSources {
        overlays: vec![overlay.to_owned()],
        secrets: [("PROP_SECRET".to_owned(), "prop-secret".to_owned())]
            .into_iter()
            .collect(),
        ..Default::default()
    })
    .unwrap()
}

/// HTML built from the pieces attacks are made of, glued in random orders.
fn hostile_html() -> impl Strategy<Value = String> {
    let tags = prop::sample::select(vec![
        "script",
        "style",
        "iframe",
        "svg",
        "img",
        "a",
        "p",
        "b",
        "math",
        "template",
        "noscript",
        "object",
        "embed",
        "form",
        "input",
        "body",
        "meta",
        "link",
        "base",
        "table",
        "td",
        "div",
        "span",
        "details",
        "video",
        "audio",
        "source",
        "textarea",
        "select",
        "button",
        "frame",
        "frameset",
        "xmp",
        "plaintext",
    ]);
    let attributes = prop::sample::select(vec![
        "onerror",
        "onload",
        "onclick",
        "ONMOUSEOVER",
        "href",
        "src",
        "style",
        "formaction",
        "xlink:href",
        "srcdoc",
        "action",
        "background",
        "poster",
        "data",
        "title",
        "alt",
        "ontoggle",
    ]);
    let values = prop::sample::select(vec![
        "javascript:alert(1)",
        "JaVaScRiPt&#58;alert(1)",
        "&#x6A;avascript:alert(1)",
        " javascript:x",
        "java\tscript:x",
        "vbscript:msgbox(1)",
        "data:text/html,<script>x</script>",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "data:image/png;base64,iVBORw0KGgo=",
        "https://ok.example/a.png",
        "http://plain.example",
        "expression(alert(1))",
        "url(javascript:x)",
        "x\" onerror=\"alert(1)",
        "'><script>alert(1)</script>",
        "mailto:a@example.com",
    ]);
    let piece = prop_oneof![
        (tags.clone(), attributes, values).prop_map(|(t, a, v)| format!("<{t} {a}=\"{v}\">")),
        (
            tags.clone(),
            prop::sample::select(vec!["onerror", "onload", "href", "src"]),
            "[ -~]{0,12}"
        )
            .prop_map(|(t, a, v)| format!("<{t} {a}={v}>")),
        tags.clone().prop_map(|t| format!("</{t}>")),
        tags.prop_map(|t| format!("<{t}>")),
        "[ -~]{0,20}",
        prop::sample::select(vec![
            "<!--",
            "-->",
            "<![CDATA[",
            "]]>",
            "<",
            ">",
            "\"",
            "'",
            "&lt;",
            "\u{0}"
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

const ALLOWED_TAGS: &[&str] = &[
    "a",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
];

/// The attributes of one tag's text, as (name, value), honouring double quotes.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start_matches('/');
    rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        let name: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '=' && *c != '/')
            .collect();
        if name.is_empty() {
            return out;
        }
        rest = &rest[name.len()..];
        let mut value = String::new();
        if let Some(after) = rest.trim_start().strip_prefix('=') {
            let after = after.trim_start();
            if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"').unwrap_or(quoted.len());
                value = quoted[..end].to_owned();
                rest = &quoted[(end + 1).min(quoted.len())..];
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                value = after[..end].to_owned();
                rest = &after[end..];
            }
        }
        out.push((name, value));
    }
}

/// Every real tag in sanitised output is allowed, with no event handler or style attribute,
/// and no executable URL in a URL attribute. (Text `<` is escaped, so each `<` opens a tag.)
fn assert_inert(output: &str, input: &str) {
    let lower = output.to_ascii_lowercase();
    for tag in lower.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            ALLOWED_TAGS.contains(&name.as_str()),
            "tag <{name}> survived: {output:?} from {input:?}"
        );
        for (attribute, value) in attributes(tag) {
            assert!(
                !attribute.starts_with("on") && attribute != "style" && attribute != "srcdoc",
                "attribute {attribute} survived: {output:?} from {input:?}"
            );
            let is_url = [
                "href",
                "src",
                "action",
                "formaction",
                "background",
                "poster",
                "xlink:href",
                "data",
            ]
            .contains(&attribute.as_str());
            if !is_url {
                continue;
            }
            let value = value.trim();
            let safe = ["https:", "http:", "mailto:"]
                .iter()
                .any(|s| value.starts_with(s))
                || [
                    "data:image/png;base64,",
                    "data:image/jpeg;base64,",
                    "data:image/gif;base64,",
                    "data:image/webp;base64,",
                ]
                .iter()
                .any(|p| value.starts_with(p));
            assert!(safe, "{attribute}={value:?} survived: {output:?} from {input:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_sanitiser_never_outputs_an_executable_construct(input in hostile_html()) {
        assert_inert(HtmlCleaner::new().clean(&input).as_str(), &input);
    }

    #[test]
    fn body_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let limits = config("").limits;
        let _ = parse_urlencoded(&bytes, &limits);
        let _ = parse_json(&bytes, &limits);
    }

    #[test]
    fn urlencoded_round_trips_what_it_was_given(pairs in prop::collection::vec(("[a-z_]{1,8}", "\\PC{0,16}"), 0..8)) {
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let fields = parse_urlencoded(body.as_bytes(), &config("").limits).unwrap();
        for (name, value) in &pairs {
            prop_assert!(fields.values(name).unwrap().contains(value));
        }
    }

    #[test]
    fn consent_is_given_only_by_the_documented_words(value in "\\PC{0,10}") {
        let documented = ["on", "true", "1", "yes", "checked"].contains(&value.trim().to_lowercase().as_str());
        prop_assert_eq!(talk_relay::mapping::is_checked(&value), documented);
    }
}
