//! `POST /hooks/{hook}`: a form tool's webhook, authenticated over its raw bytes, then
//! normalised by its preset and mapped, recorded and delivered exactly like a form.
//! Vendors retry on anything but 2xx, so everything accepted (or already seen) is 2xx,
//! and 4xx is kept for what retrying cannot fix.

use super::{accepted, refused, IntakeError, ResponseKind};
use super::{body, log_refusal, map_and_record, Receipt, RequestMeta, Source};
use crate::config::HookConfig;
use crate::domain::SourceKind;
use crate::guard;
use crate::mapping::{self, CAPTCHA_FIELDS};
use crate::startup::AppState;
use crate::store::Recorded;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn receive_hook_request(
    req: HttpRequest,
    hook_name: web::Path<String>,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let meta = RequestMeta::of(&req, &state);
    let hook = state.config.hook(&hook_name);
    let outcome = match hook {
        Some(hook) => receive_hook(hook, &req, body, &state, meta).await,
        None => Err(IntakeError::HookNotFound(hook_name.into_inner())),
    };
    let source = hook.map_or("unknown", |h| h.name.as_str());
    match &outcome {
        Ok(receipt) => {
            let outcome = if receipt.duplicate {
                "duplicate"
            } else {
                receipt.outcome
            };
            state.metrics.count_intake("hook", source, outcome);
            accepted(ResponseKind::Api, receipt)
        }
        Err(error) => {
            state.metrics.count_intake("hook", source, error.outcome());
            log_refusal(error);
            refused(ResponseKind::Api, error, None)
        }
    }
}

/// The pipeline for one webhook delivery, step by step.
async fn receive_hook(
    hook: &HookConfig,
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    mut meta: RequestMeta,
) -> Result<Receipt, IntakeError> {
    // 1. Guard: rate limit and size before reading, then the signature over the raw bytes.
    if let Err(limited) = state.rate_limits.check_hook(meta.client_addr) {
        state.metrics.count_rate_limited(limited.scope);
        return Err(IntakeError::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        });
    }
    let bytes = body::read_request_body(req, body, &state.config.server).await?;
    let signed_digest = guard::authenticate(
        &hook.auth,
        req.headers(),
        req.query_string(),
        &bytes,
        (state.clock)(),
    )?;

    // The vendor's payload, as the fields a form would have sent.
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    let normalised = mapping::normalise(hook, content_type, bytes, &state.config.limits).await?;
    // 3. Clean text before mapping (HTML is sanitised in map).
    let fields = normalised.fields.cleaned();
    // The vendor's own event id dedupes its retries; an Idempotency-Key header otherwise;
    // for a signed call with neither, the digest of the signed bytes (a replay is a duplicate).
    meta.idempotency_key = normalised
        .event_id
        .map(|id| id.chars().take(255).collect())
        .or(meta.idempotency_key)
        .or(signed_digest);
    meta.page_url = None;

    // 2 and 4. Map and record, as for forms.
    let source = Source {
        kind: SourceKind::Hook,
        name: &hook.name,
        rules: &hook.rules,
        honeypot: None,
    };
    let recorded = map_and_record(
        state,
        &meta,
        &source,
        &fields,
        fields.to_json(CAPTCHA_FIELDS),
        None,
    )
    .await?;
    let (id, duplicate) = match recorded {
        Recorded::New(id) => (id, false),
        Recorded::Duplicate(id) => (id, true),
    };
    Ok(Receipt {
        id,
        duplicate,
        next: None,
        source: hook.name.clone(),
        outcome: "accepted",
    })
}
