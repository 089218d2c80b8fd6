//! Counting the links in a post (docs/spam.md, "Links"): `http(s)://`, `www.`, bare domains
//! on common top-level domains, BBCode `[url]` and `<a href>`. One linear pass per text.

use std::sync::LazyLock;

/// One regex, so each text is scanned once; the `regex` crate matches in linear time. It
/// runs on bytes with ASCII classes: a link's marks are ASCII, and Unicode classes would
/// cost the fast engines their cache.
static LINK: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    let shorteners: Vec<String> = SHORTENERS.iter().map(|s| regex::escape(s)).collect();
    let pattern = format!(
        r"(?x-u)
        (?P<markup>\[url[=\]]|<a\s[^>]{{0,200}}?href)
        | (?P<url>(?:https?://|www\.)[^\s<>\[\]]+)
        | (?P<short>\b(?:{shorteners})/[^\s<>]*)
        | (?P<bare>\b[a-z0-9](?:[a-z0-9-]{{0,62}}[a-z0-9])?\.
            (?:com|net|org|info|biz|ru|su|ua|xyz|top|site|online|club|shop|store|live|life|pro|io|co|me|cc|ws|tk|ml|ga|cf|gq|icu|buzz|click|link|vip|win|bid|loan|work|today|fun|space|website|cn|in|us|uk|de|fr|pl|nl|br)
            \b(?:/[^\s<>]*)?)",
        shorteners = shorteners.join("|")
    );
    regex::bytes::RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .build()
        .expect("a valid pattern")
});

/// Hosts that hide where a link goes.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "cutt.ly",
    "rebrand.ly",
    "shorturl.at",
    "t.ly",
    "rb.gy",
    "tiny.cc",
    "s.id",
    "v.gd",
    "bl.ink",
    "shorte.st",
    "adf.ly",
    "t.me",
];

/// Top-level domains that, in a contact form, are mostly spam's.
const SUSPICIOUS_TLDS: &[&str] = &[
    "ru", "su", "xyz", "top", "icu", "buzz", "click", "tk", "ml", "ga", "cf", "gq", "win", "bid", "loan",
    "work",
];

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkCount {
    pub links: u32,
    pub shorteners: u32,
    /// `[url]` or `<a href>`: markup a person typing into a form does not write.
    pub markup: u32,
    pub suspicious_tlds: u32,
}

/// Past this many links every link score has reached its cap, so counting stops: a post of
/// thousands of links costs no more than one of a few hundred.
pub const COUNTED: u32 = 200;

pub fn count(texts: &[&str]) -> LinkCount {
    let mut total = LinkCount::default();
    for text in texts {
        count_into(text, &mut total);
    }
    total
}

fn count_into(text: &str, count: &mut LinkCount) {
    // `find_iter`, not captures: the kind of a match is read off its first bytes.
    for found in LINK.find_iter(text.as_bytes()) {
        if count.links + count.markup >= COUNTED {
            return;
        }
        // A match starts and ends on ASCII or at whitespace, so it is whole UTF-8.
        let Some(link) = text.get(found.start()..found.end()) else {
            continue;
        };
        let head = link.as_bytes()[0].to_ascii_lowercase();
        if matches!(head, b'[' | b'<') {
            count.markup += 1;
            continue;
        }
        let marked =
            head == b'h' && link.contains("://") || link.len() > 3 && link[..4].eq_ignore_ascii_case("www.");
        if !marked && in_email_address(text, found.start()) {
            continue;
        }
        count.links += 1;
        let host = host_of(link);
        if SHORTENERS.iter().any(|s| host.eq_ignore_ascii_case(s)) {
            count.shorteners += 1;
        }
        let tld = host.rsplit('.').next().unwrap_or("");
        if SUSPICIOUS_TLDS.iter().any(|t| tld.eq_ignore_ascii_case(t)) {
            count.suspicious_tlds += 1;
        }
    }
}

/// Whether the domain found at `start` is an email address's (`jo@mail.example.com`).
fn in_email_address(text: &str, start: usize) -> bool {
    // A domain is at most 253 characters: no need to look further back.
    text[..start]
        .chars()
        .rev()
        .take(254)
        .find(|c| !(c.is_alphanumeric() || *c == '.' || *c == '-'))
        == Some('@')
}

/// The host of a link as written (`https://www.x.ru/a` → `x.ru`).
fn host_of(link: &str) -> &str {
    let rest = link.split_once("://").map_or(link, |(_, rest)| rest);
    let rest = match rest.get(..4) {
        Some(www) if www.eq_ignore_ascii_case("www.") => &rest[4..],
        _ => rest,
    };
    rest.split(['/', '?', '#', ':'])
        .next()
        .unwrap_or("")
        .trim_end_matches(['.', ',', ')', '"', '\''])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_writing_a_link_counts() {
        let c = count(&["see https://a.example/x, www.b.example and c-shop.ru/buy"]);
        assert_eq!((c.links, c.suspicious_tlds), (3, 1));
        let c = count(&["[url=http://x.com]x[/url] <a href=\"http://y.com\">y</a> bit.ly/abc"]);
        assert_eq!((c.markup, c.shorteners), (2, 1));
        assert_eq!(c.links, 3);
        assert_eq!(count(&["I use version 2.0 and e.g. this. Thanks."]).links, 0);
        assert_eq!(count(&["write to jo@mail.example.com or kim@shop.ru"]).links, 0);
    }
}
