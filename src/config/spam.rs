//! `[forms.NAME.spam]`: the spam checks' settings (docs/spam.md), checked into `SpamSettings`.
//! Patterns are compiled here, once at start and at reload, under a size limit.

use serde::Deserialize;

/// What happens to a `suspect` post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspectAction {
    /// Held in the quarantine until an operator releases it (the default).
    Hold,
    /// Delivered, its reasons kept on the row.
    Deliver,
}

/// What the visitor of a quarantined post is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpamAnswer {
    /// The same answer as a success: bots learn nothing (the default).
    Accept,
    /// 403 `SPAM_SUSPECTED`.
    Refuse,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpam {
    #[serde(default = "super::forms::default_true")]
    enabled: bool,
    #[serde(default = "default_suspect_score")]
    suspect_score: u32,
    #[serde(default = "default_spam_score")]
    spam_score: u32,
    #[serde(default = "default_suspect")]
    suspect: SuspectAction,
    #[serde(default = "default_on_spam")]
    on_spam: SpamAnswer,
    #[serde(default = "default_max_links")]
    max_links: u32,
    #[serde(default = "super::forms::default_true")]
    disposable_domains: bool,
    #[serde(default)]
    blocked_domains: Vec<String>,
    #[serde(default)]
    allowed_domains: Vec<String>,
    #[serde(default = "super::forms::default_true")]
    builtin_phrases: bool,
    #[serde(default)]
    blocked_words: Vec<String>,
    #[serde(default)]
    blocked_patterns: Vec<String>,
    #[serde(default)]
    allowed_scripts: Vec<String>,
    #[serde(default = "default_min_fill_ms")]
    min_fill_ms: u64,
    #[serde(default)]
    require_token: bool,
    #[serde(default = "default_token_max_age_s")]
    token_max_age_s: u64,
    #[serde(default = "super::forms::default_true")]
    filter: bool,
}

impl Default for RawSpam {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every key has a default")
    }
}

fn default_suspect_score() -> u32 {
    5
}
fn default_spam_score() -> u32 {
    10
}
fn default_suspect() -> SuspectAction {
    SuspectAction::Hold
}
fn default_on_spam() -> SpamAnswer {
    SpamAnswer::Accept
}
fn default_max_links() -> u32 {
    2
}
fn default_min_fill_ms() -> u64 {
    3000
}
fn default_token_max_age_s() -> u64 {
    86_400
}

/// The compiled size a pattern may take (the `regex` crate matches in linear time; this
/// bounds its memory too).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A form's spam settings, checked.
#[derive(Debug, Clone)]
pub struct SpamSettings {
    pub enabled: bool,
    pub suspect_score: u32,
    pub spam_score: u32,
    pub suspect: SuspectAction,
    pub on_spam: SpamAnswer,
    pub max_links: u32,
    pub disposable_domains: bool,
    /// Lowercased, without a leading `@`; a domain matches itself and its subdomains.
    pub blocked_domains: Vec<String>,
    pub allowed_domains: Vec<String>,
    pub builtin_phrases: bool,
    /// `blocked_words`, matched as whole words, case-insensitively, in one pass.
    pub blocked_words: Option<aho_corasick::AhoCorasick>,
    /// The words, lowercased, as the matcher's patterns number them.
    pub blocked_word_list: Vec<String>,
    pub blocked_patterns: Vec<regex::Regex>,
    pub allowed_scripts: Vec<unicode_script::Script>,
    pub min_fill_ms: u64,
    pub require_token: bool,
    pub token_max_age_s: u64,
    /// Ask `[spam_filter]`, when one is configured.
    pub filter: bool,
}

impl Default for SpamSettings {
    fn default() -> Self {
        check_spam(&|k| k.to_owned(), RawSpam::default()).expect("the defaults are valid")
    }
}

fn domains(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

/// `blocked_patterns`, each compiled under the size limit; a bad one names the key.
fn patterns(key: &dyn Fn(&str) -> String, raw: &[String]) -> anyhow::Result<Vec<regex::Regex>> {
    raw.iter()
        .map(|pattern| {
            regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{}: `{pattern}` is not a usable pattern ({e})",
                        key("spam.blocked_patterns")
                    )
                })
        })
        .collect()
}

/// `allowed_scripts`, by their Unicode names.
fn scripts(key: &dyn Fn(&str) -> String, raw: &[String]) -> anyhow::Result<Vec<unicode_script::Script>> {
    raw.iter()
        .map(|name| {
            unicode_script::Script::from_full_name(name.trim()).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: `{name}` is not a Unicode script name (for example Latin, Cyrillic, Greek, Han)",
                    key("spam.allowed_scripts")
                )
            })
        })
        .collect()
}

pub(crate) fn check_spam(key: &dyn Fn(&str) -> String, raw: RawSpam) -> anyhow::Result<SpamSettings> {
    anyhow::ensure!(
        raw.suspect_score > 0 && raw.suspect_score <= raw.spam_score,
        "{} must be above 0 and at most {}",
        key("spam.suspect_score"),
        key("spam.spam_score")
    );
    let blocked_patterns = patterns(key, &raw.blocked_patterns)?;
    let allowed_scripts = scripts(key, &raw.allowed_scripts)?;
    let words: Vec<String> = raw
        .blocked_words
        .into_iter()
        .map(|w| w.trim().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    Ok(SpamSettings {
        enabled: raw.enabled,
        suspect_score: raw.suspect_score,
        spam_score: raw.spam_score,
        suspect: raw.suspect,
        on_spam: raw.on_spam,
        max_links: raw.max_links,
        disposable_domains: raw.disposable_domains,
        blocked_domains: domains(raw.blocked_domains),
        allowed_domains: domains(raw.allowed_domains),
        builtin_phrases: raw.builtin_phrases,
        blocked_words: (!words.is_empty()).then(|| {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&words)
                .expect("a word list builds")
        }),
        blocked_word_list: words,
        blocked_patterns,
        allowed_scripts,
        min_fill_ms: raw.min_fill_ms,
        require_token: raw.require_token,
        token_max_age_s: raw.token_max_age_s,
        filter: raw.filter,
    })
}
