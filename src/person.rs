//! A person's data on request (docs/operations.md, "A person's data"): everything the log holds
//! about one address, found as erasure finds it, as one JSON document. The GDPR right of
//! access, the counterpart of `erase`. Each row carries its proof of consent.

use crate::files;
use crate::store::{Store, SubmissionRow};
use serde_json::{json, Value};

/// Everything held about `email`: submissions (fields, payloads, attempts, files, consent)
/// and session logs.
pub async fn export(store: &Store, email: &str) -> anyhow::Result<Value> {
    let found = store.find_person(email).await?;
    let mut submissions = Vec::new();
    for id in &found.submissions {
        if let Some((row, attempts)) = store.submission_with_attempts(id).await? {
            submissions.push(submission(&row, serde_json::to_value(attempts)?));
        }
    }
    let sessions = store.sessions(&found.sessions).await?;
    Ok(json!({
        "email": email,
        "exported_at": crate::domain::now_timestamp(),
        "submissions": submissions,
        "sessions": sessions,
    }))
}

fn parsed(json: Option<&str>) -> Value {
    json.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

fn submission(row: &SubmissionRow, attempts: Value) -> Value {
    let payload = parsed(row.payload.as_deref());
    json!({
        "id": row.id,
        "received_at": row.received_at,
        "source_kind": row.source_kind,
        "source": row.source,
        "status": row.status,
        "email": row.email,
        "subject": row.subject,
        "fields": parsed(Some(&row.fields)),
        "payload": payload,
        "attempts": attempts,
        "files": files::files_of(row.files.as_deref()),
        "consent": consent(row, &payload),
        "conversation_id": row.conversation_id,
        "person_id": row.person_id,
        "spam_verdict": row.spam_verdict,
        "spam_reasons": parsed(row.spam_reasons.as_deref()),
    })
}

/// The proof of consent for one row: where and when, from whom, what was answered, whether
/// `bol::p` was sent and with which `str::s-ctx`, and the words the visitor saw.
pub fn consent(row: &SubmissionRow, payload: &Value) -> Value {
    let proof = parsed(row.consent_proof.as_deref());
    let fields = &payload["fields"];
    json!({
        "form": row.source,
        "page": row.page_url,
        "time": row.received_at,
        "ip": row.client_ip,
        "user_agent": row.user_agent,
        "field": proof["field"],
        "answer": proof["answer"],
        "text": proof["text"],
        "permission_sent": row.consent.is_some(),
        "permission": row.consent.map(|c| c != 0),
        "context": fields["str::s-ctx"],
        "note": row.consent_note,
    })
}
