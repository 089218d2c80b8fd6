//! `POST /hooks/{hook}`: a form tool's webhook, authenticated over its raw bytes, then
//! normalised by its preset and mapped, recorded and delivered exactly like a form.
//! Vendors retry on anything but 2xx, so everything accepted (or already seen) is 2xx,
//! and 4xx is kept for what retrying cannot fix.

use super::respond::{Accepted, BatchOutcome};
use super::{answer, Asker, IntakeError, ResponseKind};
use super::{map_and_record, Receipt, RequestMeta, Source};
use crate::config::{Config, HookAuth, HookConfig};
use crate::domain::SourceKind;
use crate::domain::SubmittedFields;
use crate::guard;
use crate::http::body;
use crate::mapping::{self, CAPTCHA_FIELDS};
use crate::metrics::Outcome;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn receive_hook_request(
    req: HttpRequest,
    hook_name: web::Path<String>,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let config = state.config();
    let meta = RequestMeta::of(&req, &config);
    let hook = config.hook(&hook_name);
    let asker = Asker {
        kind: ResponseKind::Api,
        source_kind: SourceKind::Hook,
        source: hook.map_or("unknown", |h| h.name.as_str()),
        client_ip: meta.client_ip.clone(),
        form: None,
        back: None,
        relay_base: None,
    };
    let outcome = match hook {
        Some(hook) => receive_hook(hook, &config, &req, body, &state, meta).await,
        None => Err(IntakeError::HookNotFound(hook_name.into_inner())),
    };
    answer(&state, &asker, &outcome)
}

/// The pipeline for one webhook call, step by step.
async fn receive_hook(
    hook: &HookConfig,
    config: &Config,
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    meta: RequestMeta,
) -> Result<Accepted, IntakeError> {
    // 1. Guard and 2. parse: rate limit and size before reading, then the signature over
    //    the raw bytes; then the vendor's payload, as the fields a form would have sent, one
    //    set per event.
    let (bytes, signed_key) = authenticated_body(hook, config, req, body, state, &meta).await?;
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    let events = mapping::normalise(hook, content_type, bytes, &config.limits).await?;
    // 3. Clean each event, with its replay key.
    let prepared = prepare(hook, events, meta, signed_key);
    // 4. and 5. Map and record: all of a batch's events go to the writer together, so they
    //    share one commit.
    let source = Source {
        kind: SourceKind::Hook,
        name: &hook.name,
        rules: &hook.rules,
        honeypot: None,
        files: None,
    };
    let mut answers = futures_util::future::join_all(prepared.iter().map(|event| async {
        let (event_meta, fields) = event.as_ref()?;
        let recorded_fields = fields.to_json(CAPTCHA_FIELDS);
        Some(
            map_and_record(state, event_meta, &source, fields, recorded_fields, None, None)
                .await
                .map(|filed| filed.recorded),
        )
    }))
    .await;
    if hook.batch.is_none() {
        return match answers.pop().flatten() {
            None => Ok(Accepted::Ignored),
            Some(recorded) => Ok(Accepted::One(Receipt::of(
                recorded?,
                &hook.name,
                None,
                Outcome::Accepted,
            ))),
        };
    }
    BatchOutcome::tally(answers).map(Accepted::Batch)
}

/// The guard's steps for a hook: its rate limit before reading, the body under the size and
/// time limits, then the signature (or token) over the raw bytes. Answers the body and, for a
/// signed call, its replay key.
async fn authenticated_body(
    hook: &HookConfig,
    config: &Config,
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    meta: &RequestMeta,
) -> Result<(actix_web::web::Bytes, Option<String>), IntakeError> {
    if let Err(limited) = state.rate_limits().check_hook(meta.client_addr) {
        state.metrics.count_rate_limited(limited.scope);
        return Err(IntakeError::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        });
    }
    let bytes = body::read_request_body(req, body, &config.server).await?;
    // `{url}`: the hook's address under `server.public_url` (or the hook's own `signed_url`,
    // which the guard prefers), never what a client's Host or forwarded headers say.
    let url = config.server.public_url().map_or_else(String::new, |base| {
        format!("{}{}", base.as_str().trim_end_matches('/'), req.uri())
    });
    let signed_request = guard::SignedRequest {
        method: req.method().as_str(),
        url: &url,
        path: req.path(),
        query: req.query_string(),
        headers: req.headers(),
        body: &bytes,
    };
    let signed_key = guard::authenticate(&hook.auth, &signed_request, (state.clock)())?;
    Ok((bytes, signed_key))
}

/// Each event the `accept` filter lets through, cleaned, with the facts its row keeps and its
/// replay key: the vendor's own event id; for a single event the signed id or the digest of
/// the signed bytes (a replay is a duplicate), or on an unsigned hook an `Idempotency-Key`.
/// On a signed hook the key comes from signed material only: an unsigned header on a
/// captured call must not make it new (docs/webhooks.md).
fn prepare(
    hook: &HookConfig,
    events: Vec<mapping::Normalised>,
    mut meta: RequestMeta,
    signed_key: Option<String>,
) -> Vec<Option<(RequestMeta, SubmittedFields)>> {
    meta.page_url = None;
    let header_key = meta
        .idempotency_key
        .take()
        .filter(|_| !matches!(hook.auth, HookAuth::Hmac(_)));
    let single = hook.batch.is_none();
    events
        .into_iter()
        .map(|event| {
            (!event.ignored).then(|| {
                let mut event_meta = meta.clone();
                event_meta.idempotency_key = event
                    .event_id
                    .map(|id| id.chars().take(255).collect())
                    .or_else(|| single.then(|| signed_key.clone()).flatten())
                    .or_else(|| single.then(|| header_key.clone()).flatten());
                (event_meta, event.fields.cleaned())
            })
        })
        .collect()
}
