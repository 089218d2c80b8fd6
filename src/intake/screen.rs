//! The guard's checks once a form post's fields are known (docs/guard.md, docs/spam.md): the
//! honeypot, the CAPTCHA, the content filters and the time-to-submit token.

use super::{IntakeError, Judge, RequestMeta};
use crate::config::{CaptchaUnreachable, Config, FormConfig};
use crate::domain::SubmittedFields;
use crate::guard;
use crate::mapping;
use crate::spam;
use crate::state::AppState;
use actix_web::HttpRequest;

/// What the guard's checks on the fields made of a form post: the CAPTCHA's verdict for the
/// row, the spam checks to run, and what the visitor is told once the post is recorded.
pub(super) struct Screening<'a> {
    pub captcha: Option<&'static str>,
    pub judge: Judge<'a>,
    pub refusal: Option<IntakeError>,
}

/// The honeypot and the CAPTCHA, then (when neither caught the post) the content filters, and
/// the time-to-submit token's verdict.
pub(super) async fn screen<'a>(
    form: &'a FormConfig,
    config: &Config,
    req: &HttpRequest,
    state: &AppState,
    meta: &RequestMeta,
    fields: &SubmittedFields,
) -> Result<Screening<'a>, IntakeError> {
    let mut screened = guard_fields(form, req, meta, fields).await?;
    //    The content filters, when configured (they never block intake).
    if screened.reasons.is_empty() {
        let found = ask_filters(config, form, req, meta, state, fields).await?;
        screened.reasons.extend(found);
    }
    let token = spam::token::check(
        &state.link_key,
        &form.name,
        fields.first(spam::token::FIELD),
        (state.clock)().timestamp_millis(),
        form.spam.token_max_age_s,
    );
    Ok(Screening {
        captcha: screened.captcha,
        judge: Judge {
            settings: &form.spam,
            token,
            reasons: screened.reasons,
        },
        refusal: screened.refusal,
    })
}

/// What the honeypot and the CAPTCHA made of a form post.
struct Screened {
    /// The CAPTCHA's verdict for the row (`None`: the form has none, or the honeypot caught it).
    captcha: Option<&'static str>,
    /// `honeypot` or `captcha_failed`: either quarantines the post.
    reasons: Vec<spam::Reason>,
    /// What the visitor is told once the post is recorded (a failed CAPTCHA).
    refusal: Option<IntakeError>,
}

/// The guard's checks once the fields are known. A filled honeypot and a failed CAPTCHA
/// quarantine the post (docs/spam.md): recorded, with its payload, so that a false positive
/// can be released.
async fn guard_fields(
    form: &FormConfig,
    req: &HttpRequest,
    meta: &RequestMeta,
    fields: &SubmittedFields,
) -> Result<Screened, IntakeError> {
    let caught = |reason, detail, captcha, refusal| Screened {
        captcha,
        reasons: vec![spam::Reason::new(reason, QUARANTINED, detail)],
        refusal,
    };
    if guard::honeypot_tripped(form, fields) {
        return Ok(caught(
            "honeypot",
            "the hidden field was filled".to_owned(),
            None,
            None,
        ));
    }
    let Some(captcha) = &form.captcha else {
        return Ok(Screened {
            captcha: None,
            reasons: Vec::new(),
            refusal: None,
        });
    };
    let http = req
        .app_data::<awc::Client>()
        .expect("every worker has an HTTP client");
    let passed = |verdict| Screened {
        captcha: Some(verdict),
        reasons: Vec::new(),
        refusal: None,
    };
    match guard::verify_captcha(http, captcha, fields, meta.client_ip.as_deref()).await {
        guard::CaptchaVerdict::Passed => Ok(passed("passed")),
        guard::CaptchaVerdict::Failed(reason) => {
            tracing::info!(%reason, form = %form.name, "CAPTCHA failed; the post is quarantined");
            Ok(caught(
                "captcha_failed",
                reason,
                Some("failed"),
                Some(IntakeError::CaptchaFailed),
            ))
        }
        guard::CaptchaVerdict::Unreachable(reason) => {
            tracing::warn!(%reason, form = %form.name, "CAPTCHA provider unreachable");
            match captcha.on_unreachable {
                CaptchaUnreachable::Refuse => Err(IntakeError::CaptchaUnavailable),
                CaptchaUnreachable::Accept => Ok(passed("unverified")),
            }
        }
    }
}

/// The content filters' reasons for a form post (docs/spam.md, "A local content filter",
/// "Akismet"): none when none is configured or the form does not ask them. A filter that is
/// down or slow adds `filter_unavailable`, or refuses with 503 when `on_unreachable = "refuse"`.
async fn ask_filters(
    config: &Config,
    form: &FormConfig,
    req: &HttpRequest,
    meta: &RequestMeta,
    state: &AppState,
    fields: &SubmittedFields,
) -> Result<Vec<spam::Reason>, IntakeError> {
    let filter = &config.spam_filter;
    if !filter.is_on() || !form.spam.enabled || !form.spam.filter {
        return Ok(Vec::new());
    }
    let draft = mapping::draft_from_fields(&form.rules, Some(&form.honeypot), fields);
    let email = draft.email();
    let post = spam::Post::of(&draft, email.as_deref(), spam::TokenCheck::Missing);
    let subject = draft.subject.as_ref().map(|s| s.value.as_str());
    let text = post
        .texts
        .iter()
        .chain(&post.html)
        .copied()
        .collect::<Vec<_>>()
        .join("\n\n");
    let spamd = async {
        if filter.spamd_address.trim().is_empty() {
            return None;
        }
        let message = spam::filter::message(email.as_deref(), subject, &text);
        Some(spam::filter::check(filter, &message).await.reason())
    };
    let akismet = async {
        let key = config.akismet_key.as_ref()?;
        let http = req
            .app_data::<awc::Client>()
            .expect("every worker has an HTTP client");
        let names = post.names.join(" ");
        let comment = spam::akismet::Comment {
            user_ip: meta.client_ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            referrer: meta.page_url.as_deref(),
            author: (!names.is_empty()).then_some(names.as_str()),
            email: email.as_deref(),
            content: &text,
        };
        spam::akismet::check(http, filter, key, &comment).await
    };
    let (spamd, akismet) = tokio::join!(spamd, akismet);
    let reasons: Vec<spam::Reason> = spamd.into_iter().chain(akismet).collect();
    for unavailable in reasons.iter().filter(|r| r.reason == "filter_unavailable") {
        tracing::warn!(form = %form.name, why = %unavailable.detail, "spam filter unavailable");
        state.metrics.spam_filter_unavailable.inc();
        if filter.on_unreachable == CaptchaUnreachable::Refuse {
            return Err(IntakeError::SpamFilterUnavailable);
        }
    }
    Ok(reasons)
}

/// The score of a reason that quarantines a post on its own (the honeypot, a failed CAPTCHA).
pub(super) const QUARANTINED: u32 = 100;
