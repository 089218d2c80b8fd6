//! The spam verdict (docs/spam.md): cheap checks with no network, each adding a named reason
//! with a score; the form's thresholds turn the total into `ham`, `suspect` or `spam`.
//! Every check is linear in the post.

pub mod akismet;
pub mod filter;
mod links;
mod quarantine;
pub mod token;
mod words;

use crate::config::SpamSettings;
use crate::mapping::Draft;
pub use quarantine::{confirm, release, released_payload, Reviewed};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::LazyLock;
pub use token::TokenCheck;

/// One check's finding. `detail` names counts and listed words, never the submitter's text
/// beyond a matched list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub reason: &'static str,
    pub score: u32,
    pub detail: String,
}

impl Reason {
    pub fn new(reason: &'static str, score: u32, detail: impl Into<String>) -> Self {
        Self {
            reason,
            score,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ham,
    Suspect,
    Spam,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ham => "ham",
            Self::Suspect => "suspect",
            Self::Spam => "spam",
        }
    }
}

/// A post's verdict, its total score and the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub verdict: Verdict,
    pub score: u32,
    pub reasons: Vec<Reason>,
    /// `suspect = "hold"`.
    hold_suspects: bool,
}

impl Assessment {
    /// The verdict for `reasons` under the form's thresholds.
    pub fn of(settings: &SpamSettings, reasons: Vec<Reason>) -> Self {
        let score = reasons.iter().map(|r| r.score).sum();
        let verdict = match score {
            s if s >= settings.spam_score => Verdict::Spam,
            s if s >= settings.suspect_score => Verdict::Suspect,
            _ => Verdict::Ham,
        };
        Self {
            verdict,
            score,
            reasons,
            hold_suspects: settings.suspect == crate::config::SuspectAction::Hold,
        }
    }

    /// Whether the post waits in the quarantine: `spam`, or `suspect` on a form that holds them.
    pub fn quarantines(&self) -> bool {
        self.verdict == Verdict::Spam || (self.verdict == Verdict::Suspect && self.hold_suspects)
    }

    /// The row's `last_error` while it is quarantined: the verdict, score and reasons.
    pub fn summary(&self) -> String {
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .map(|r| match r.detail.as_str() {
                "" => r.reason.to_owned(),
                detail => format!("{} ({detail})", r.reason),
            })
            .collect();
        format!(
            "{} (score {}): {}",
            self.verdict.as_str(),
            self.score,
            reasons.join("; ")
        )
    }

    /// The reasons as the log's `spam_reasons` column holds them (a JSON array).
    pub fn reasons_json(&self) -> String {
        serde_json::to_string(&self.reasons).expect("reasons serialise")
    }
}

/// What the checks read of a post: its address, the name fields, every other text, and the
/// time-to-submit token's verdict.
pub struct Post<'a> {
    pub email: Option<&'a str>,
    pub names: Vec<&'a str>,
    pub texts: Vec<&'a str>,
    /// The form's HTML field: its links count, its markup does not (a rich-text editor writes
    /// `<a href>`).
    pub html: Option<&'a str>,
    pub token: TokenCheck,
}

impl<'a> Post<'a> {
    /// The post as mapping classified it.
    pub fn of(draft: &'a Draft, email: Option<&'a str>, token: TokenCheck) -> Self {
        use crate::domain::field_ids::{FIRST, LAST, NAME};
        let mut names = Vec::new();
        let mut texts = Vec::new();
        for bound in &draft.person_fields {
            let values = bound.values.iter().map(String::as_str);
            if [FIRST, LAST, NAME].contains(&bound.id.as_str()) {
                names.extend(values);
            } else if bound.id.as_str() != crate::domain::field_ids::EMAIL {
                texts.extend(values);
            }
        }
        for answer in [&draft.subject, &draft.message].into_iter().flatten() {
            texts.push(answer.value.as_str());
        }
        texts.extend(draft.extras.iter().map(|(_, v)| v.as_str()));
        Self {
            email,
            names,
            texts,
            html: draft.html.as_ref().map(|a| a.value.as_str()),
            token,
        }
    }
}

/// Runs every check the form has on.
pub fn assess(settings: &SpamSettings, post: &Post<'_>) -> Assessment {
    assess_after(settings, post, Vec::new())
}

/// Runs every check the form has on, after what the guard found (`honeypot`, `captcha_failed`).
pub fn assess_after(settings: &SpamSettings, post: &Post<'_>, mut reasons: Vec<Reason>) -> Assessment {
    if settings.enabled {
        address(settings, post, &mut reasons);
        link_reasons(settings, post, &mut reasons);
        word_reasons(settings, post, &mut reasons);
        script_reason(settings, post, &mut reasons);
        same_text(post, &mut reasons);
        token_reason(settings, post.token, &mut reasons);
    }
    Assessment::of(settings, reasons)
}

static DISPOSABLE: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| mailchecker::blacklist().into_iter().collect());

/// `domain` and every parent domain of it (`a.b.example` → `a.b.example`, `b.example`, `example`).
fn suffixes(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(domain), |d| d.split_once('.').map(|(_, rest)| rest))
}

/// Throwaway and blocked domains; `allowed_domains` bypass both.
fn address(settings: &SpamSettings, post: &Post<'_>, reasons: &mut Vec<Reason>) {
    let Some(domain) = post
        .email
        .and_then(|e| e.rsplit_once('@'))
        .map(|(_, d)| d.to_lowercase())
    else {
        return;
    };
    let listed = |list: &[String]| suffixes(&domain).any(|d| list.iter().any(|l| l == d));
    if listed(&settings.allowed_domains) {
        return;
    }
    if listed(&settings.blocked_domains) {
        reasons.push(Reason::new("blocked_domain", 10, domain.clone()));
    } else if settings.disposable_domains && suffixes(&domain).any(|d| DISPOSABLE.contains(d)) {
        reasons.push(Reason::new("disposable_email", 10, domain.clone()));
    }
}

fn link_reasons(settings: &SpamSettings, post: &Post<'_>, reasons: &mut Vec<Reason>) {
    let mut found = links::count(&post.texts);
    if let Some(html) = post.html {
        let in_html = links::count(&[html]);
        found.links += in_html.links;
        found.shorteners += in_html.shorteners;
        found.suspicious_tlds += in_html.suspicious_tlds;
    }
    if found.links > settings.max_links {
        let over = found.links - settings.max_links;
        reasons.push(Reason::new(
            "too_many_links",
            (3 * over).min(15),
            match found.links {
                n if n >= links::COUNTED => format!("{n}+ links (at most {})", settings.max_links),
                n => format!("{n} links (at most {})", settings.max_links),
            },
        ));
    }
    let extra = [
        ("link_shortener", found.shorteners, 5, 10),
        ("link_markup", found.markup, 6, 6),
        ("suspicious_link", found.suspicious_tlds, 3, 6),
    ];
    for (reason, count, each, cap) in extra {
        if count > 0 {
            reasons.push(Reason::new(reason, (each * count).min(cap), format!("{count}")));
        }
    }
    let in_names = links::count(&post.names);
    if in_names.links + in_names.markup > 0 {
        reasons.push(Reason::new(
            "link_in_name",
            10,
            format!("{}", in_names.links + in_names.markup),
        ));
    }
}

fn word_reasons(settings: &SpamSettings, post: &Post<'_>, reasons: &mut Vec<Reason>) {
    let lowered: String = post
        .texts
        .iter()
        .chain(&post.names)
        .chain(&post.html)
        .flat_map(|t| [t, "\n"])
        .collect::<String>()
        .to_lowercase();
    if settings.builtin_phrases {
        for (kind, phrases) in words::built_in_kinds(&lowered) {
            let counted = phrases.len().min(2) as u32;
            reasons.push(Reason::new(kind.name, kind.score * counted, phrases.join(", ")));
        }
    }
    if let Some(blocked) = &settings.blocked_words {
        let found = words::whole_words(blocked, &lowered);
        if !found.is_empty() {
            let listed: Vec<&str> = found
                .iter()
                .map(|i| settings.blocked_word_list[*i].as_str())
                .collect();
            reasons.push(Reason::new("blocked_word", 10, listed.join(", ")));
        }
    }
    let patterns = settings
        .blocked_patterns
        .iter()
        .filter(|p| {
            post.texts
                .iter()
                .chain(&post.names)
                .chain(&post.html)
                .any(|t| p.is_match(t))
        })
        .count();
    if patterns > 0 {
        reasons.push(Reason::new("blocked_pattern", 10, format!("{patterns}")));
    }
}

/// With `allowed_scripts`, letters of other scripts making up over a third of the letters.
fn script_reason(settings: &SpamSettings, post: &Post<'_>, reasons: &mut Vec<Reason>) {
    use unicode_script::{Script, UnicodeScript};
    if settings.allowed_scripts.is_empty() {
        return;
    }
    let (mut letters, mut foreign) = (0usize, 0usize);
    for c in post
        .texts
        .iter()
        .chain(&post.names)
        .flat_map(|t| t.chars())
        .filter(|c| c.is_alphabetic())
    {
        letters += 1;
        let script = c.script();
        if !matches!(script, Script::Common | Script::Inherited)
            && !settings.allowed_scripts.contains(&script)
        {
            foreign += 1;
        }
    }
    if foreign * 3 > letters {
        reasons.push(Reason::new(
            "unexpected_script",
            10,
            format!("{foreign} of {letters} letters"),
        ));
    }
}

/// The same text in the name and the message (or subject), as form-filling bots write.
fn same_text(post: &Post<'_>, reasons: &mut Vec<Reason>) {
    let normal = |t: &str| t.trim().to_lowercase();
    let repeated = post.names.iter().any(|name| {
        let name = normal(name);
        name.chars().count() >= 3 && post.texts.iter().any(|t| normal(t) == name)
    });
    if repeated {
        reasons.push(Reason::new("same_text", 5, "a name repeated as the text"));
    }
}

fn token_reason(settings: &SpamSettings, token: TokenCheck, reasons: &mut Vec<Reason>) {
    match token {
        TokenCheck::Missing if settings.require_token => {
            reasons.push(Reason::new("token_missing", 10, "the form requires a token"))
        }
        TokenCheck::Missing => {}
        TokenCheck::Forged => reasons.push(Reason::new("token_forged", 10, "")),
        TokenCheck::Expired => reasons.push(Reason::new("token_expired", 10, "")),
        TokenCheck::Filled(ms) if ms < settings.min_fill_ms as i64 => reasons.push(Reason::new(
            "too_fast",
            10,
            format!("{ms} ms (at least {})", settings.min_fill_ms),
        )),
        TokenCheck::Filled(_) => {}
    }
}
