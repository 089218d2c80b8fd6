//! Intake: `POST /f/{form}` through the pipeline guard → parse → clean → map → record →
//! respond; delivery picks recorded rows up in the background.

mod answer;
mod attachments;
mod error;
mod hooks;
mod kind;
mod meta;
pub mod redirect;
mod respond;
mod screen;

pub(crate) use answer::{answer, Asker};
pub use error::{ErrorEntry, IntakeError, Problem};
pub use hooks::receive_hook_request;
pub use kind::ResponseKind;
pub use meta::RequestMeta;
pub use respond::{accepted, html as html_response, refused, Accepted, BatchOutcome, Receipt};

use crate::config::{Config, FormConfig, SpamAnswer, SpamSettings};
use crate::domain::{utc_timestamp, SourceKind, Status, SubmittedFields};
use crate::guard;
use crate::http::cors;
use crate::mapping::{self, MappingContext, CAPTCHA_FIELDS};
use crate::metrics::Outcome;
use crate::spam;
use crate::state::AppState;
use crate::store::{NewSubmission, Recorded};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tracing::Instrument;

/// Intake's routes: `POST /f/{form}` (and its CORS preflight), `POST /hooks/{hook}`, and
/// `GET /thanks`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/f/{form}", web::post().to(submit_form))
        .route(
            "/f/{form}",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route("/f/{form}/token.js", web::get().to(fill_token_script))
        .route("/hooks/{hook}", web::post().to(receive_hook_request))
        .route("/thanks", web::get().to(thank_you));
}

/// `POST /f/{form}`.
pub async fn submit_form(
    req: HttpRequest,
    form_name: web::Path<String>,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let kind = ResponseKind::of(&req);
    let config = state.config();
    let meta = RequestMeta::of(&req, &config);
    let form = config.form(&form_name);
    let mut page = None;
    let outcome = match form {
        Some(form) if !form.switch.is_on() => Err(IntakeError::FormInactive(form.name.clone())),
        Some(form) => receive_form(form, &config, &req, body, &state, &meta, &mut page)
            .await
            .map(Accepted::One),
        None => Err(IntakeError::FormNotFound(form_name.into_inner())),
    };
    let asker = Asker {
        kind,
        source_kind: SourceKind::Form,
        source: form.map_or("unknown", |f| f.name.as_str()),
        client_ip: meta.client_ip.clone(),
        form,
        // The page the visitor came from: `_page`, else `Referer` (only the origin,
        // cross-site), each only where `_page` may point, and for a form without an origin
        // list only on the relay's own origin (a signed `/thanks` link must not lead off the
        // site because a script named a page of its choosing).
        back: form
            .and_then(|f| {
                let page =
                    page.or_else(|| redirect::back_page(f, meta.page_url.as_deref(), meta.origin.as_ref()))?;
                let relay = config
                    .server
                    .public_url()
                    .and_then(|u| crate::config::WebOrigin::parse(u.as_str()));
                redirect::back_link(f, page, relay.as_ref())
            })
            .map(String::from),
        relay_base: Some(guard::relay_base(&req, &config.server)),
    };
    let mut response = answer(&state, &asker, &outcome);
    // A script may read why a form it names does not exist (Formspree's `FORM_NOT_FOUND`).
    cors::allow(&mut response, form, meta.origin.as_ref());
    response
}

/// The pipeline for one HTML form post, step by step. `page` learns the `_page` field as
/// soon as the body is parsed, so even a refusal can link back to the form.
async fn receive_form(
    form: &FormConfig,
    config: &Config,
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    meta: &RequestMeta,
    page: &mut Option<url::Url>,
) -> Result<Receipt, IntakeError> {
    // 1. Guard: rate limits and the origin, before anything is read.
    tracing::info_span!("guard").in_scope(|| guard_form(form, req, state, meta))?;
    // 2. Parse: the body under the size and time limits, fields under the input limits,
    //    files (docs/files.md) streamed to the spool under the form's file limits.
    let (fields, mut spooled) = attachments::read_fields(form, config, req, body, state).await?;
    // 3. Clean (text first, so mapping sees what will be kept; HTML is sanitised in map).
    let fields = fields.cleaned();
    *page = redirect::back_page(form, fields.first("_page"), meta.origin.as_ref());
    let meta = &meta.on_page(page.as_ref());
    let next = redirect::allowed_next(
        form,
        fields.first("_next").or_else(|| fields.first("_redirect")),
        meta.origin.as_ref(),
    )
    .or_else(|| form.redirect.clone());
    let receipt =
        |recorded: Recorded, outcome: Outcome| Receipt::of(recorded, &form.name, next.clone(), outcome);
    //    Guard, once the fields are known: the honeypot, the CAPTCHA, the content filters.
    let mut screened = screen::screen(form, config, req, state, meta, &fields).await?;
    //    The virus scanner, for the files.
    let infected = attachments::scan(config, state, form, &mut spooled).await?;
    screened.judge.reasons.extend(infected);
    let base = guard::relay_base(req, &config.server);
    let files = attachments::Attachments::new(spooled, config, state, base.to_string());
    // 4. and 5. Map, judge (spam checks) and record; 6. respond is the caller's.
    let source = Source {
        kind: SourceKind::Form,
        name: &form.name,
        rules: &form.rules,
        honeypot: Some(&form.honeypot),
        files: files.as_ref(),
    };
    let recorded_fields = fields.to_json(CAPTCHA_FIELDS);
    let (captcha, judge) = (screened.captcha, Some(screened.judge));
    let filed = map_and_record(state, meta, &source, &fields, recorded_fields, captcha, judge).await?;
    match (filed.quarantined, screened.refusal) {
        (_, Some(refusal)) => Err(refusal),
        (true, None) if form.spam.on_spam == SpamAnswer::Refuse => Err(IntakeError::SpamSuspected),
        // Bots learn nothing: the answer is the same as for a real submission.
        (true, None) => Ok(receipt(filed.recorded, Outcome::Spam)),
        (false, None) => Ok(receipt(filed.recorded, Outcome::Accepted)),
    }
}

/// The guard's checks before a form's body is read: the rate limits, then the origin.
fn guard_form(
    form: &FormConfig,
    req: &HttpRequest,
    state: &AppState,
    meta: &RequestMeta,
) -> Result<(), IntakeError> {
    if let Err(limited) = state.rate_limits().check_form(meta.client_addr, &form.name) {
        state.metrics.count_rate_limited(limited.scope);
        return Err(IntakeError::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        });
    }
    if !guard::origin_allowed(form, meta.origin.as_ref(), guard::sent_null_origin(req)) {
        return Err(IntakeError::OriginNotAllowed);
    }
    Ok(())
}

/// A form post's spam checks: the form's settings, the time-to-submit token's verdict and
/// what the guard already found.
pub struct Judge<'a> {
    pub settings: &'a SpamSettings,
    pub token: spam::TokenCheck,
    pub reasons: Vec<spam::Reason>,
}

/// What was recorded, and whether it went to the quarantine.
pub struct Filed {
    pub recorded: Recorded,
    pub quarantined: bool,
}

/// Where a submission came from, and the rules that map it.
pub struct Source<'a> {
    pub kind: SourceKind,
    pub name: &'a str,
    pub rules: &'a crate::config::MappingRules,
    pub honeypot: Option<&'a str>,
    /// A form post's files (docs/files.md).
    pub files: Option<&'a attachments::Attachments>,
}

/// Steps 2–4, the same for forms and hooks: map the fields (person fields, consent,
/// subject, messages; HTML sanitised, limits enforced), judge a form post (docs/spam.md),
/// then record the submission, committed before anyone answers. Invalid submissions are
/// recorded too, with why; a quarantined one keeps its payload and is never delivered
/// until an operator releases it.
pub async fn map_and_record(
    state: &AppState,
    meta: &RequestMeta,
    source: &Source<'_>,
    fields: &SubmittedFields,
    recorded_fields: String,
    captcha: Option<&'static str>,
    judge: Option<Judge<'_>>,
) -> Result<Filed, IntakeError> {
    let draft = mapping::draft_from_fields(source.rules, source.honeypot, fields);
    let email = draft.email().or_else(|| draft.submitted_email());
    let consent_proof = consent_proof(source.rules, &draft);
    let assessment = judge.map(|judge| {
        let post = spam::Post::of(&draft, email.as_deref(), judge.token);
        spam::assess_after(judge.settings, &post, judge.reasons)
    });
    let quarantined = assessment.as_ref().is_some_and(|a| a.quarantines());
    let context = MappingContext {
        page_url: meta.page_url.clone(),
        received_at: meta.received_at,
        attachments: source.files.map(|f| f.lines(state)).unwrap_or_default(),
    };
    let mapped = mapping::compose(draft, source.rules, &state.cleaner, &context);
    let status = |ok| match (quarantined, ok) {
        (true, _) => Status::Spam,
        (false, true) => Status::Queued,
        (false, false) => Status::Invalid,
    };
    let mut row = meta.new_row(source.kind, source.name, status(mapped.is_ok()), recorded_fields);
    row.captcha = captcha;
    row.consent_proof = consent_proof;
    if let Some(assessment) = &assessment {
        row.spam_verdict = Some(assessment.verdict.as_str());
        row.spam_score = Some(i64::from(assessment.score));
        row.spam_reasons = Some(assessment.reasons_json());
    }
    let problems = match mapped {
        Ok(mapped) => {
            fill_mapped(&mut row, mapped, state, source);
            None
        }
        Err(problems) => {
            row.email = email;
            Some(problems)
        }
    };
    match (&assessment, &problems) {
        (Some(assessment), _) if quarantined => {
            row.last_error = Some(assessment.summary());
            for reason in &assessment.reasons {
                state.metrics.count_spam(source.name, reason.reason);
            }
        }
        (_, Some(problems)) => row.last_error = Some(invalid_reason(problems)),
        _ => row.next_attempt_at = Some(utc_timestamp(meta.received_at)),
    }
    let files = source.files.filter(|_| problems.is_none());
    let recorded = attachments::record_with_files(state, row, files).await?;
    match problems {
        Some(problems) if !quarantined => Err(IntakeError::Invalid(problems)),
        _ => Ok(Filed {
            recorded,
            quarantined,
        }),
    }
}

/// Proof of consent for a source with a consent box (docs/operations.md, "A person's data"):
/// the box's field, the answer as sent (`null`: the box was not sent, an unticked box), and
/// the words the visitor saw (`consent.text`).
fn consent_proof(rules: &crate::config::MappingRules, draft: &mapping::Draft) -> Option<String> {
    let policy = rules.consent.as_ref()?;
    let answer = draft.consent.as_ref().map(|a| a.value.as_str());
    Some(serde_json::json!({ "field": policy.field, "answer": answer, "text": policy.text }).to_string())
}

/// A row's columns from what mapping built: the payload, and what a list shows of it.
fn fill_mapped(
    row: &mut NewSubmission,
    mapped: mapping::MappedSubmission,
    state: &AppState,
    source: &Source<'_>,
) {
    row.email = mapped.email;
    row.subject = Some(mapped.subject);
    row.consent = mapped.consent;
    if let Some(note) = &mapped.consent_note {
        tracing::warn!(source = source.name, "{note}");
        state
            .metrics
            .count_consent_unrecognised(source.kind.as_str(), source.name);
    }
    row.consent_note = mapped.consent_note;
    row.payload = Some(mapped.payload);
}

/// An invalid row's `last_error`: `field: CODE` pairs; the pre-send check's reason names a
/// limit or a field id, never a value.
fn invalid_reason(problems: &[crate::domain::FieldProblem]) -> String {
    problems
        .iter()
        .map(|p| match p.code {
            crate::domain::ProblemCode::NotSendable => {
                format!("{}: {}: {}", p.field, p.code.as_str(), p.message)
            }
            _ => format!("{}: {}", p.field, p.code.as_str()),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) async fn record(state: &AppState, row: NewSubmission) -> Result<Recorded, IntakeError> {
    if let Some(reason) = state.health.intake_refusal() {
        return Err(IntakeError::Unavailable(crate::store::RecordError::Refused(
            reason,
        )));
    }
    let status = row.status;
    let recorded = state
        .writer
        .record(row)
        .instrument(tracing::info_span!("log write"))
        .await
        .map_err(IntakeError::Unavailable)?;
    state.outage_log.recorded();
    if let Recorded::New(id) = &recorded {
        tracing::info!(submission_id = %id, status = status.as_str(), "submission recorded");
    }
    Ok(recorded)
}

/// `GET /f/{form}/token.js`: the time-to-submit script (docs/spam.md, "Time to submit"), with
/// a token signed now. Never cached: the time it is fetched is the time the page opened.
pub async fn fill_token_script(form_name: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let config = state.config();
    let mut response = match config.form(&form_name) {
        Some(form) => {
            let token = spam::token::issue(&state.link_key, &form.name, (state.clock)().timestamp_millis());
            HttpResponse::Ok().body(spam::token::script(&form.name, &token))
        }
        None => HttpResponse::NotFound().body("/* talk-relay: there is no such form */\n"),
    };
    let headers = response.headers_mut();
    headers.insert(
        actix_web::http::header::CONTENT_TYPE,
        actix_web::http::header::HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `OPTIONS /f/{form}`: CORS preflight.
pub async fn preflight(
    req: HttpRequest,
    form_name: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let config = state.config();
    cors::preflight(&req, config.form(&form_name))
}

/// `GET /thanks`: where browsers land after posting when no redirect is configured. The
/// back link shows only when the relay signed it (so nobody can put a link of theirs here).
pub async fn thank_you(query: web::Query<redirect::ThanksQuery>, state: web::Data<AppState>) -> HttpResponse {
    let config = state.config();
    let form = query.form.as_deref().and_then(|name| config.form(name));
    let back = redirect::verified_back(&state.link_key, &query, (state.clock)().timestamp());
    let visit = crate::pages::Visit {
        form: form.map(|f| f.name.as_str()),
        strings: form.map_or(&crate::pages::ENGLISH, |f| f.lang),
        back: back.as_deref(),
    };
    let title = form.map(|f| f.rules.title.as_str());
    respond::html(
        StatusCode::OK,
        state.pages().thank_you(&visit, title, state.deliveries.dry_run()),
    )
}
