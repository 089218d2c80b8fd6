//! Respond's shared tail (README, "How a submission flows", step 6): every intake request,
//! form or hook, is counted, a refusal is kept in the recent refusals and logged (an outage
//! once, then summaries), and the answer is shaped for a browser or a script.

use super::respond::{self, accepted, refused, Accepted};
use super::{redirect, IntakeError, Problem, ResponseKind};
use crate::config::FormConfig;
use crate::domain::SourceKind;
use crate::metrics::Outcome;
use crate::state::AppState;
use actix_web::HttpResponse;

/// Who is being answered: for the metrics, the recent refusals and a browser's pages.
pub(crate) struct Asker<'a> {
    pub kind: ResponseKind,
    pub source_kind: SourceKind,
    pub source: &'a str,
    pub client_ip: Option<String>,
    /// The form, for its pages' language and templates.
    pub form: Option<&'a FormConfig>,
    /// The page the visitor came from.
    pub back: Option<String>,
    /// The relay's own address, for the absolute `/thanks` link in a form's JSON `next`.
    pub relay_base: Option<url::Url>,
}

/// The tail every intake request shares: count the outcome, keep and log a refusal, answer it.
pub(crate) fn answer(
    state: &AppState,
    asker: &Asker<'_>,
    outcome: &Result<Accepted, IntakeError>,
) -> HttpResponse {
    let source_kind = asker.source_kind.as_str();
    let count = |outcome: Outcome| state.metrics.count_intake(source_kind, asker.source, outcome);
    match outcome {
        Ok(Accepted::One(receipt)) => {
            count(if receipt.duplicate {
                Outcome::Duplicate
            } else {
                receipt.outcome
            });
            let now = (state.clock)().timestamp();
            let thanks =
                || redirect::thanks_link(&state.link_key, &receipt.source, asker.back.as_deref(), now);
            accepted(
                asker.kind,
                receipt,
                state.deliveries.dry_run(),
                asker.relay_base.as_ref(),
                thanks,
            )
        }
        Ok(Accepted::Ignored) => {
            count(Outcome::Ignored);
            respond::ignored()
        }
        Ok(Accepted::Batch(batch)) => {
            batch.outcomes().for_each(count);
            batch.response()
        }
        Err(error) => {
            let refusal = error.answer();
            count(refusal.outcome);
            log_refusal(state, error);
            state.refusals.push(crate::refusals::Refusal {
                at: crate::domain::now_timestamp(),
                source_kind,
                source: asker.source.to_owned(),
                status: refusal.status.as_u16(),
                code: error
                    .entries()
                    .first()
                    .map_or_else(String::new, |e| e.code.clone()),
                reason: error.to_string(),
                client_ip: asker.client_ip.clone(),
            });
            let page = (asker.kind == ResponseKind::Browser).then(|| error_page(state, asker, error));
            refused(error, page)
        }
    }
}

/// The visitor's error page, in the form's language, linking back to the form.
fn error_page(state: &AppState, asker: &Asker<'_>, error: &IntakeError) -> String {
    let entries = error.entries();
    let problems: Vec<crate::pages::Problem<'_>> = entries
        .iter()
        .map(|e| crate::pages::Problem {
            field: e.field.as_deref(),
            message: &e.message,
        })
        .collect();
    let visit = crate::pages::Visit {
        form: asker.form.map(|f| f.name.as_str()),
        strings: asker.form.map_or(&crate::pages::ENGLISH, |f| f.lang),
        back: asker.back.as_deref(),
    };
    state.pages().error(
        &visit,
        error.answer().status.as_u16(),
        &problems,
        respond::retry_after(error),
    )
}

fn log_refusal(state: &AppState, error: &IntakeError) {
    match error {
        IntakeError::Unavailable(cause) => state.outage_log.refused(&crate::telemetry::error_chain(cause)),
        other => tracing::info!(
            status = other.answer().status.as_u16(),
            "intake refused a request"
        ),
    }
}
