//! Releasing and confirming quarantined rows (docs/spam.md, "The quarantine"), the same for
//! the inbox's buttons, the admin API and `talk-relay release`.

use crate::domain::field_ids::PERMISSION_CONTEXT;
use crate::domain::Status;
use crate::store::{Review, Store};

/// What became of one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reviewed {
    /// Released to delivery, or confirmed as spam.
    Done,
    NotFound,
    /// Not (or no longer) in the quarantine.
    NotQuarantined,
    /// A quarantined row without a payload (it did not map): nothing could be delivered.
    NothingToDeliver,
}

/// Releases one quarantined row: queued for delivery with the consent it was posted with,
/// its `str::s-ctx` saying that and when it was released.
pub async fn release(
    store: &Store,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Reviewed> {
    let Some(row) = store.submission(id).await? else {
        return Ok(Reviewed::NotFound);
    };
    if row.status != Status::Spam {
        return Ok(Reviewed::NotQuarantined);
    }
    let Some(payload) = row.payload.as_deref() else {
        return Ok(Reviewed::NothingToDeliver);
    };
    let released = released_payload(payload, now)?;
    let at = crate::domain::utc_timestamp(now);
    Ok(match store.review(id, Review::Release(&released), &at).await? {
        true => Reviewed::Done,
        false => Reviewed::NotQuarantined,
    })
}

/// Confirms one quarantined row as spam: it stays, never delivered, until retention.
pub async fn confirm(
    store: &Store,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Reviewed> {
    let at = crate::domain::utc_timestamp(now);
    if store.review(id, Review::Confirm, &at).await? {
        return Ok(Reviewed::Done);
    }
    Ok(match store.submission(id).await? {
        None => Reviewed::NotFound,
        Some(_) => Reviewed::NotQuarantined,
    })
}

/// The payload with its permission context extended by when it left the quarantine. A
/// payload without a permission sends none when released either.
pub fn released_payload(payload: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
    let mut compose: serde_json::Value = serde_json::from_str(payload)?;
    if let Some(context) = compose
        .get_mut("fields")
        .and_then(|f| f.get_mut(PERMISSION_CONTEXT))
    {
        let said = context.as_str().unwrap_or_default();
        let note = format!(
            " Held as suspected spam; released by an operator {}.",
            now.format("%Y-%m-%d %H:%M UTC")
        );
        let room = crate::ortto::STR_MAX_CHARS.saturating_sub(crate::ortto::text_len(&note));
        let mut kept: String = said.to_owned();
        while crate::ortto::text_len(&kept) > room {
            kept.pop();
        }
        *context = serde_json::Value::String(format!("{kept}{note}"));
    }
    Ok(serde_json::to_string(&compose)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_payload_says_so_in_its_permission_context_and_fits() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .to_utc();
        let payload =
            r#"{"fields":{"str::email":"a@example.com","bol::p":true,"str::s-ctx":"Opted in on Contact"}}"#;
        let out: serde_json::Value = serde_json::from_str(&released_payload(payload, now).unwrap()).unwrap();
        assert_eq!(out["fields"]["bol::p"], true);
        assert_eq!(
            out["fields"]["str::s-ctx"],
            "Opted in on Contact Held as suspected spam; released by an operator 2026-12-06 10:00 UTC."
        );
        let long = format!(r#"{{"fields":{{"str::s-ctx":"{}"}}}}"#, "x".repeat(255));
        let out: serde_json::Value = serde_json::from_str(&released_payload(&long, now).unwrap()).unwrap();
        assert_eq!(
            crate::ortto::text_len(out["fields"]["str::s-ctx"].as_str().unwrap()),
            255
        );
        let none = r#"{"fields":{"str::email":"a@example.com"}}"#;
        assert_eq!(released_payload(none, now).unwrap(), none);
    }
}
