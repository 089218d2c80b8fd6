//! Cleaning (README, "How a submission flows"): HTML through an explicit ammonia allowlist, control characters
//! out of text. Built once at start-up; sanitising is the costliest step per request.

use ammonia::{Builder, UrlRelative};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

const TAGS: &[&str] = &[
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

/// HTML that went through the allowlist; the only way to make one is [`HtmlCleaner::clean`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanitizedHtml(String);

impl SanitizedHtml {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

pub struct HtmlCleaner {
    builder: Builder<'static>,
}

impl Default for HtmlCleaner {
    fn default() -> Self {
        Self::new()
    }
}

impl HtmlCleaner {
    pub fn new() -> Self {
        let mut builder = Builder::empty();
        let tag_attributes: HashMap<&str, HashSet<&str>> = [
            ("a", ["href", "title"].as_slice()),
            ("img", ["src", "alt", "title", "width", "height"].as_slice()),
            ("td", ["colspan", "rowspan"].as_slice()),
            ("th", ["colspan", "rowspan", "scope"].as_slice()),
            ("ol", ["start"].as_slice()),
        ]
        .into_iter()
        .map(|(tag, attrs)| (tag, attrs.iter().copied().collect()))
        .collect();
        builder
            .tags(TAGS.iter().copied().collect())
            .clean_content_tags(["script", "style", "template", "textarea"].into_iter().collect())
            .tag_attributes(tag_attributes)
            .url_schemes(["http", "https", "mailto", "data"].into_iter().collect())
            .url_relative(UrlRelative::Deny)
            .link_rel(Some("noopener noreferrer nofollow"))
            .attribute_filter(filter_url_attribute);
        Self { builder }
    }

    /// Sanitises `html`. Text holding nothing the HTML parser or serialiser would change
    /// (no `<`, `&`, `>`, carriage return, NUL, no-break space or byte-order mark) comes out as it went in,
    /// so it skips the parse: the property test `plain_text_skips_the_parse_with_the_same_output`
    /// checks the two paths agree.
    pub fn clean(&self, html: &str) -> SanitizedHtml {
        if !html.contains(['<', '&', '>', '\r', '\0', '\u{a0}', '\u{feff}']) {
            return SanitizedHtml(html.to_owned());
        }
        self.parse_and_clean(html)
    }

    fn parse_and_clean(&self, html: &str) -> SanitizedHtml {
        SanitizedHtml(self.builder.clean(html).to_string())
    }
}

/// Schemes per attribute: links may be http/https/mailto; images only https or
/// base64 raster data URIs (no SVG: it can carry script).
fn filter_url_attribute<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    let lower = value.trim().to_ascii_lowercase();
    let allowed = match (element, attribute) {
        ("a", "href") => ["http:", "https:", "mailto:"]
            .iter()
            .any(|s| lower.starts_with(s)),
        ("img", "src") => lower.starts_with("https:") || is_raster_data_uri(value.trim()),
        _ => true,
    };
    allowed.then_some(Cow::Borrowed(value))
}

fn is_raster_data_uri(value: &str) -> bool {
    let Some(rest) = value
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &value[5..])
    else {
        return false;
    };
    let Some((media, data)) = rest.split_once(',') else {
        return false;
    };
    let media = media.to_ascii_lowercase();
    let allowed_media = [
        "image/png;base64",
        "image/jpeg;base64",
        "image/gif;base64",
        "image/webp;base64",
    ];
    allowed_media.contains(&media.as_str())
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b' ' | b'\n' | b'\r'))
}

/// Drops NULs and control characters, keeps newlines and tabs, and turns CRLF/CR
/// into LF (browsers send textarea line breaks as CRLF).
pub fn strip_control(text: &str) -> Cow<'_, str> {
    let needs_work = text.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    Cow::Owned(
        normalised
            .chars()
            .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
            .collect(),
    )
}

/// For names, subjects and labels, which are one line: control characters go, and line
/// breaks and tabs become a space. Ortto refuses control characters, and a CR/LF in a name
/// would forge a line of the message.
pub fn single_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .filter_map(|c| match c {
                '\n' | '\r' | '\t' => Some(' '),
                c if c.is_control() => None,
                c => Some(c),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn plain_text_skips_the_parse_with_the_same_output(text in "[^<>&\r\u{0}\u{a0}]{0,200}") {
            let cleaner = super::HtmlCleaner::new();
            let (fast, parsed) = (cleaner.clean(&text), cleaner.parse_and_clean(&text));
            prop_assert_eq!(fast.as_str(), parsed.as_str());
        }

        #[test]
        fn text_with_any_character_agrees_too(text in "(\\PC|[\r\n\t\u{0}\u{a0}<>&])*") {
            let cleaner = super::HtmlCleaner::new();
            let (fast, parsed) = (cleaner.clean(&text), cleaner.parse_and_clean(&text));
            prop_assert_eq!(fast.as_str(), parsed.as_str());
        }
    }

    use super::*;

    #[test]
    fn single_lines_lose_controls_and_breaks() {
        assert_eq!(single_line("we\u{1}ird"), "weird");
        assert_eq!(single_line("a\r\nInjected: yes"), "a  Injected: yes");
        assert_eq!(single_line("plain"), "plain");
    }

    #[test]
    fn control_characters_go_newlines_and_tabs_stay() {
        assert_eq!(strip_control("a\u{0}b\u{7}c\r\nd\te\u{1b}[31m"), "abc\nd\te[31m");
        assert!(matches!(strip_control("plain\ntext"), Cow::Borrowed(_)));
    }

    #[test]
    fn raster_data_uris_only() {
        assert!(is_raster_data_uri("data:image/png;base64,iVBORw0KGgo="));
        assert!(!is_raster_data_uri("data:image/svg+xml;base64,PHN2Zz4="));
        assert!(!is_raster_data_uri("data:text/html;base64,PHNjcmlwdD4="));
        assert!(!is_raster_data_uri("data:image/png,<script>"));
    }
}
