//! `POST /admin/submissions/{id}/release` and `/confirm`: an operator's verdict on a
//! quarantined row (docs/spam.md, "The quarantine"), under the same CSRF rule as replay.

use super::access::OperatorChange;
use super::admin::{internal, path_segment};
use super::AdminError;
use crate::spam::Reviewed;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::ResponseError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// `POST /admin/submissions/{id}/release`: not spam; deliver it.
pub async fn release(
    req: HttpRequest,
    _access: OperatorChange,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let done = crate::spam::release(&state.store, &id, (state.clock)()).await;
    answer(&req, &id, "released", done)
}

/// `POST /admin/submissions/{id}/confirm`: spam indeed; it stays out of delivery.
pub async fn confirm(
    req: HttpRequest,
    _access: OperatorChange,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let done = crate::spam::confirm(&state.store, &id, (state.clock)()).await;
    answer(&req, &id, "confirmed", done)
}

fn answer(req: &HttpRequest, id: &str, review: &str, done: anyhow::Result<Reviewed>) -> HttpResponse {
    let reviewed =
        match done {
            Ok(Reviewed::Done) => review,
            Ok(Reviewed::NotFound) => return AdminError::NotFound.error_response(),
            Ok(Reviewed::NotQuarantined) => {
                return AdminError::Conflict("The submission is not in the quarantine.".to_owned())
                    .error_response()
            }
            Ok(Reviewed::NothingToDeliver) => return AdminError::Conflict(
                "The submission did not map to a payload (see its reason), so there is nothing to deliver."
                    .to_owned(),
            )
            .error_response(),
            Err(error) => return internal(error),
        };
    // The inbox's buttons are plain HTML forms: answer them with the submission's page again.
    if super::admin::from_html_form(req) {
        return HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/admin/inbox/{}?reviewed={reviewed}", path_segment(id)),
            ))
            .finish();
    }
    HttpResponse::Ok().json(json!({ "ok": true, "id": id, "review": reviewed }))
}
