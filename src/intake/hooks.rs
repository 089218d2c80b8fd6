//! `POST /hooks/{hook}`: a form tool's webhook, authenticated over its raw bytes, then
//! normalised by its preset and mapped, recorded and delivered exactly like a form.
//! Vendors retry on anything but 2xx, so everything accepted (or already seen) is 2xx,
//! and 4xx is kept for what retrying cannot fix.

use super::{answer, Asker, IntakeError, ResponseKind};
use super::{map_and_record, Receipt, RequestMeta, Source};
use crate::config::{Config, HookAuth, HookConfig};
use crate::domain::SourceKind;
use crate::domain::SubmittedFields;
use crate::guard;
use crate::http::body;
use crate::mapping::{self, CAPTCHA_FIELDS};
use crate::state::AppState;
use crate::store::Recorded;
use actix_web::{web, HttpRequest, HttpResponse};

/// What a hook call came to: one submission, an event the `accept` filter ignores, or a
/// batch of them.
enum HookAnswer {
    One(Receipt),
    Ignored,
    Batch(BatchOutcome),
}

/// What each event of a batch came to; the answer's body.
#[derive(Debug, Default, serde::Serialize)]
struct BatchOutcome {
    ids: Vec<String>,
    new: usize,
    duplicates: usize,
    ignored: usize,
    invalid: usize,
}

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
    let source = hook.map_or("unknown", |h| h.name.as_str());
    match outcome {
        Ok(HookAnswer::One(receipt)) => answer(&state, &asker, &Ok(receipt)),
        Ok(HookAnswer::Ignored) => {
            state.metrics.count_intake("hook", source, "ignored");
            HttpResponse::Ok().json(serde_json::json!({ "ok": true, "ignored": true }))
        }
        Ok(HookAnswer::Batch(batch)) => {
            for (outcome, n) in [
                ("accepted", batch.new),
                ("duplicate", batch.duplicates),
                ("ignored", batch.ignored),
                ("invalid", batch.invalid),
            ] {
                for _ in 0..n {
                    state.metrics.count_intake("hook", source, outcome);
                }
            }
            let mut body = serde_json::to_value(&batch).expect("batch outcomes serialise");
            body["ok"] = serde_json::json!(true);
            // Vendors retry anything but 2xx; a batch that brought nothing new is a 200.
            if batch.new > 0 {
                HttpResponse::Accepted().json(body)
            } else {
                HttpResponse::Ok().json(body)
            }
        }
        Err(error) => answer(&state, &asker, &Err(error)),
    }
}

/// The pipeline for one webhook call, step by step.
async fn receive_hook(
    hook: &HookConfig,
    config: &Config,
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    mut meta: RequestMeta,
) -> Result<HookAnswer, IntakeError> {
    // Guard: rate limit and size before reading, then the signature over the raw bytes.
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
    let signed_digest = guard::authenticate(&hook.auth, &signed_request, (state.clock)())?;

    // Parse: the vendor's payload, as the fields a form would have sent, one set per event.
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    let events = mapping::normalise(hook, content_type, bytes, &config.limits).await?;
    meta.page_url = None;
    // On a signed hook the replay key comes from signed material only: an unsigned
    // `Idempotency-Key` on a captured call must not make it new (docs/webhooks.md, "Webhooks").
    let header_key = meta
        .idempotency_key
        .take()
        .filter(|_| !matches!(hook.auth, HookAuth::Hmac(_)));
    let source = Source {
        kind: SourceKind::Hook,
        name: &hook.name,
        rules: &hook.rules,
        honeypot: None,
    };
    let single = hook.batch.is_none();
    // Clean each event, then map and record it, as for forms. The vendor's own event id
    // dedupes its retries; for a single event the signed id or the digest of the signed
    // bytes (a replay is a duplicate), or on an unsigned hook an Idempotency-Key, stand in.
    let prepared: Vec<Option<(RequestMeta, SubmittedFields)>> = events
        .into_iter()
        .map(|event| {
            (!event.ignored).then(|| {
                let mut event_meta = meta.clone();
                event_meta.idempotency_key = event
                    .event_id
                    .map(|id| id.chars().take(255).collect())
                    .or_else(|| single.then(|| signed_digest.clone()).flatten())
                    .or_else(|| single.then(|| header_key.clone()).flatten());
                (event_meta, event.fields.cleaned())
            })
        })
        .collect();
    // All of a batch's events go to the writer together, so they share one commit.
    let mut answers = futures_util::future::join_all(prepared.iter().map(|event| async {
        match event {
            None => None,
            Some((event_meta, fields)) => {
                let recorded_fields = fields.to_json(CAPTCHA_FIELDS);
                Some(map_and_record(state, event_meta, &source, fields, recorded_fields, None).await)
            }
        }
    }))
    .await;
    if single {
        return match answers.pop().flatten() {
            None => Ok(HookAnswer::Ignored),
            Some(recorded) => Ok(HookAnswer::One(receipt(hook, recorded?))),
        };
    }
    let mut batch = BatchOutcome::default();
    for answer in answers {
        match answer {
            None => batch.ignored += 1,
            Some(Ok(Recorded::New(id))) => {
                batch.new += 1;
                batch.ids.push(id);
            }
            Some(Ok(Recorded::Duplicate(id))) => {
                batch.duplicates += 1;
                batch.ids.push(id);
            }
            Some(Err(IntakeError::Invalid(_))) => batch.invalid += 1,
            Some(Err(other)) => return Err(other),
        }
    }
    Ok(HookAnswer::Batch(batch))
}

fn receipt(hook: &HookConfig, recorded: Recorded) -> Receipt {
    Receipt::of(recorded, &hook.name, None, "accepted")
}
