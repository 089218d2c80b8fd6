//! Word lists matched as whole words in one pass (Aho–Corasick): the built-in phrases of the
//! kinds of spam contact forms get (docs/spam.md, "Built-in phrases"), and a form's own
//! `blocked_words`.

use aho_corasick::{AhoCorasick, MatchKind};
use std::sync::LazyLock;

/// A kind of spam, its phrases, and what one phrase of it scores. A kind counts at most
/// twice, so a long list of one kind's words does not outweigh everything else.
pub struct Kind {
    pub name: &'static str,
    pub score: u32,
    pub phrases: &'static [&'static str],
}

pub const KINDS: &[Kind] = &[
    Kind {
        name: "seo_offer",
        score: 4,
        phrases: &[
            "seo",
            "backlinks",
            "backlink",
            "domain authority",
            "first page of google",
            "page 1 of google",
            "google ranking",
            "google rankings",
            "search engine ranking",
            "search rankings",
            "rank higher",
            "organic traffic",
            "guest post",
            "guest posts",
            "guest posting",
            "link building",
            "dofollow",
            "do-follow",
            "high da",
            "website traffic",
            "boost your traffic",
            "increase your traffic",
            "top of google",
            "keyword rankings",
            "продвижение сайта",
            "раскрутка",
            "seo-продвижение",
        ],
    },
    Kind {
        name: "lead_generation",
        score: 3,
        phrases: &[
            "i noticed your website",
            "i came across your website",
            "i was checking out your website",
            "i visited your website",
            "i found your website",
            "your website is missing",
            "lead generation",
            "more leads",
            "qualified leads",
            "appointments per month",
            "our agency",
            "white label",
            "white-label",
            "redesign your website",
            "book a call",
            "schedule a call",
            "15-minute call",
            "quick call",
            "not interested",
            "unsubscribe",
            "opt out",
            "opt-out",
            "to stop receiving",
            "reply stop",
            "growth hacking",
            "explainer video",
            "outsourcing",
            "virtual assistant",
            "increase your sales",
            "more customers",
            "grow your business",
            "your competitors",
            "fiverr",
            "upwork",
            "whatsapp",
            "telegram",
            "wa.me",
            "web design services",
            "app development services",
            "social media marketing",
        ],
    },
    Kind {
        name: "money_offer",
        score: 4,
        phrases: &[
            "bitcoin",
            "btc",
            "crypto",
            "cryptocurrency",
            "ethereum",
            "usdt",
            "airdrop",
            "nft",
            "forex",
            "binary options",
            "trading bot",
            "passive income",
            "investment opportunity",
            "double your",
            "guaranteed returns",
            "guaranteed profit",
            "make money",
            "earn money",
            "work from home",
            "payday",
            "payday loan",
            "credit repair",
            "business funding",
            "business loan",
            "merchant cash advance",
            "working capital",
            "pre-approved",
            "loan offer",
            "low interest",
            "заработок",
            "кредит",
            "криптовалют",
            "兼职",
            "日赚",
            "代开发票",
            "加微信",
        ],
    },
    Kind {
        name: "adult",
        score: 6,
        phrases: &[
            "porn",
            "porno",
            "xxx",
            "sex",
            "sexy",
            "nude",
            "nudes",
            "hot girls",
            "dating site",
            "escort",
            "escorts",
            "webcam girls",
            "onlyfans",
            "horny",
            "viagra",
            "cialis",
            "erectile",
            "секс",
            "знакомства",
            "约炮",
        ],
    },
    Kind {
        name: "gambling_pharma",
        score: 5,
        phrases: &[
            "casino",
            "online casino",
            "betting",
            "slots",
            "jackpot",
            "poker",
            "pharmacy",
            "no prescription",
            "weight loss",
            "keto",
            "казино",
            "ставки",
            "博彩",
            "赌场",
            "百家乐",
        ],
    },
    Kind {
        name: "bait",
        score: 3,
        phrases: &[
            "click here",
            "limited time",
            "act now",
            "100% free",
            "congratulations",
            "you have won",
            "claim your",
            "risk-free",
            "risk free",
            "special offer",
            "exclusive offer",
            "buy now",
            "cheap",
            "discount code",
            "promo code",
            "бесплатно",
            "скидка",
        ],
    },
];

/// Every built-in phrase, lowercased, with its kind.
static BUILT_IN: LazyLock<(AhoCorasick, Vec<(&'static Kind, &'static str)>)> = LazyLock::new(|| {
    let phrases: Vec<(&'static Kind, &'static str)> = KINDS
        .iter()
        .flat_map(|kind| kind.phrases.iter().map(move |p| (kind, *p)))
        .collect();
    let words: Vec<&str> = phrases.iter().map(|(_, p)| *p).collect();
    (matcher(&words), phrases)
});

/// A one-pass matcher of `phrases` (lowercased), longest match first.
pub fn matcher<S: AsRef<str>>(phrases: &[S]) -> AhoCorasick {
    // A full DFA: a few hundred short phrases make a small one, and it scans several times
    // faster than the default NFA on long texts.
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(phrases.iter().map(|p| p.as_ref().to_lowercase()))
        .expect("word lists are small")
}

/// Whether `c` joins a word on a phrase's edge: letters and digits do, except in scripts
/// written without spaces, where any phrase is a word.
fn joins(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() && !is_unspaced(c))
}

fn is_unspaced(c: char) -> bool {
    matches!(c, '\u{2E80}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}' | '\u{F900}'..='\u{FAFF}')
}

/// The patterns of `matcher` found as whole words in `lowered` (already lowercased), each
/// pattern once.
pub fn whole_words(matcher: &AhoCorasick, lowered: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for m in matcher.find_iter(lowered) {
        let before = lowered[..m.start()].chars().next_back();
        let after = lowered[m.end()..].chars().next();
        let first = lowered[m.start()..].chars().next();
        let last = lowered[..m.end()].chars().next_back();
        // A phrase's letter edge may not run on into a neighbouring letter.
        let bounded = |edge: Option<char>, neighbour| !(joins(edge) && joins(neighbour));
        if bounded(first, before) && bounded(last, after) && !found.contains(&m.pattern().as_usize()) {
            found.push(m.pattern().as_usize());
        }
    }
    found
}

/// The built-in kinds found in `lowered`: each kind with how many of its phrases matched.
pub fn built_in_kinds(lowered: &str) -> Vec<(&'static Kind, Vec<&'static str>)> {
    let (matcher, phrases) = &*BUILT_IN;
    let mut hits: Vec<(&'static Kind, Vec<&'static str>)> = Vec::new();
    for pattern in whole_words(matcher, lowered) {
        let (kind, phrase) = phrases[pattern];
        match hits.iter_mut().find(|(k, _)| k.name == kind.name) {
            Some((_, found)) => found.push(phrase),
            None => hits.push((kind, vec![phrase])),
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words_only() {
        let found = built_in_kinds("we do seo and sell backlinks from essex and sussex. 加微信领取");
        let names: Vec<_> = found.iter().map(|(k, p)| (k.name, p.len())).collect();
        assert_eq!(names, [("seo_offer", 2), ("money_offer", 1)]);
        assert!(built_in_kinds("middlesex seoul").is_empty());
    }
}
