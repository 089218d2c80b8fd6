//! `[sessions]`: minting verified Talk session tokens for signed-in visitors.

use super::{SecretSource, WebOrigin};
use crate::domain::field_ids as ids;
use crate::domain::PersonFieldId;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSessions {
    /// Environment variables each holding one site key (several, for rotation).
    #[serde(default)]
    site_keys_env: Vec<String>,
    /// The environment variable holding the secret sites sign browser identities with.
    signing_secret_env: Option<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    merge_by: Option<Vec<String>>,
    /// Person fields a caller may set besides email and name.
    #[serde(default)]
    allowed_fields: Vec<String>,
    #[serde(default = "default_max_ahead")]
    max_expires_ahead_secs: i64,
}

fn default_max_ahead() -> i64 {
    24 * 3600
}

/// One site key; `id` (the variable's name) is what the log records, never the key.
#[derive(Debug, Clone)]
pub struct SiteKey {
    pub id: String,
    pub key: SecretString,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub site_keys: Vec<SiteKey>,
    pub signing_secret: Option<SecretString>,
    pub allowed_origins: Vec<WebOrigin>,
    pub merge_by: Vec<PersonFieldId>,
    pub allowed_fields: Vec<PersonFieldId>,
    pub max_expires_ahead_secs: i64,
}

impl SessionConfig {
    pub fn enabled(&self) -> bool {
        !self.site_keys.is_empty() || self.signing_secret.is_some()
    }
}

pub(crate) fn check_sessions(
    raw: Option<RawSessions>,
    secrets: &SecretSource<'_>,
) -> anyhow::Result<SessionConfig> {
    let Some(raw) = raw else {
        return Ok(SessionConfig {
            site_keys: Vec::new(),
            signing_secret: None,
            allowed_origins: Vec::new(),
            merge_by: vec![PersonFieldId::builtin(ids::EMAIL)],
            allowed_fields: Vec::new(),
            max_expires_ahead_secs: default_max_ahead(),
        });
    };
    let site_keys = raw
        .site_keys_env
        .iter()
        .map(|var| {
            let key = secrets.require(var, "sessions.site_keys_env")?;
            Ok(SiteKey { id: var.clone(), key })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let signing_secret = raw
        .signing_secret_env
        .map(|var| secrets.require(&var, "sessions.signing_secret_env"))
        .transpose()?;
    let allowed_origins = super::parse_origins("sessions.allowed_origins", &raw.allowed_origins)?;
    let ids = |key: &str, list: Vec<String>| {
        list.iter()
            .map(|id| PersonFieldId::parse(id).map_err(|e| anyhow::anyhow!("sessions.{key}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let merge_by = match raw.merge_by {
        Some(list) => {
            anyhow::ensure!(
                (1..=2).contains(&list.len()),
                "sessions.merge_by: one or two field ids"
            );
            ids("merge_by", list)?
        }
        None => vec![PersonFieldId::builtin(ids::EMAIL)],
    };
    anyhow::ensure!(
        (1..=default_max_ahead()).contains(&raw.max_expires_ahead_secs),
        "sessions.max_expires_ahead_secs: between 1 and 86400 (Ortto's 24 hours)"
    );
    Ok(SessionConfig {
        site_keys,
        signing_secret,
        allowed_origins,
        merge_by,
        allowed_fields: ids("allowed_fields", raw.allowed_fields)?,
        max_expires_ahead_secs: raw.max_expires_ahead_secs,
    })
}
