//! `[files]` (where attachments are kept, how their links work, the virus scanner) and
//! `[forms.NAME.files]` (what one form accepts), checked (docs/files.md).

use serde::Deserialize;

/// `files.link_auth`: who may open an attachment's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAuth {
    /// Anyone holding the signed, unexpired link (the default).
    Signed,
    /// The signed link and the admin login.
    Admin,
}

/// `[files]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSettings {
    /// `local`, or `s3://bucket/prefix` for S3-compatible object storage.
    pub store: String,
    /// The local store's directory (and, for S3, where uploads are spooled).
    pub dir: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); empty: AWS, or `AWS_ENDPOINT_URL`.
    pub s3_endpoint: String,
    pub link_ttl_days: u32,
    pub link_auth: LinkAuth,
    /// How long a multipart body with files may take to arrive, in all.
    pub upload_timeout_ms: u64,
    /// `HOST:PORT` of clamd; empty: files are not scanned.
    pub clamd_address: String,
    pub scan_timeout_ms: u64,
    /// `accept`: keep the file unscanned and log it; `refuse`: 503, try again.
    pub on_unreachable: super::CaptchaUnreachable,
}

impl FilesSettings {
    /// The object store's bucket and prefix, when `store` names one.
    pub fn s3(&self) -> anyhow::Result<Option<(String, String)>> {
        let store = self.store.trim();
        if store == "local" {
            return Ok(None);
        }
        let rest = store.strip_prefix("s3://").ok_or_else(|| {
            anyhow::anyhow!("files.store: `{store}` is neither `local` nor `s3://bucket/prefix`")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "files.store: `{store}` names no bucket");
        Ok(Some((bucket.to_owned(), prefix.trim_matches('/').to_owned())))
    }

    pub(super) fn check(&self) -> anyhow::Result<()> {
        self.s3()?;
        for (key, value) in [
            ("files.link_ttl_days", u64::from(self.link_ttl_days)),
            ("files.upload_timeout_ms", self.upload_timeout_ms),
            ("files.scan_timeout_ms", self.scan_timeout_ms),
        ] {
            anyhow::ensure!(value > 0, "{key} must be above zero");
        }
        anyhow::ensure!(!self.dir.trim().is_empty(), "files.dir must name a directory");
        Ok(())
    }
}

/// The kinds of file `[forms.NAME.files] types` may name besides exact MIME types.
pub const TYPE_GROUPS: [&str; 4] = ["image", "pdf", "text", "office"];

/// `[forms.NAME.files]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFormFiles {
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default = "default_max_files")]
    max_files: usize,
    #[serde(default = "default_max_file_mb")]
    max_file_mb: u64,
    #[serde(default = "default_max_total_mb")]
    max_total_mb: u64,
    #[serde(default = "default_types")]
    types: Vec<String>,
}

fn default_max_files() -> usize {
    5
}
fn default_max_file_mb() -> u64 {
    10
}
fn default_max_total_mb() -> u64 {
    25
}
fn default_types() -> Vec<String> {
    TYPE_GROUPS.iter().map(|t| (*t).to_owned()).collect()
}

/// What one form accepts as files, checked.
#[derive(Debug, Clone)]
pub struct FormFiles {
    /// The fields that may carry files; empty: any field.
    pub fields: Vec<String>,
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    /// Groups from [`TYPE_GROUPS`] and exact MIME types, lowercased.
    pub types: Vec<String>,
}

impl FormFiles {
    /// Whether `field` may carry a file.
    pub fn allows_field(&self, field: &str) -> bool {
        self.fields.is_empty() || self.fields.iter().any(|f| f == field)
    }

    /// Whether a detected type (`image/png`, in its group `image`) is allowed.
    pub fn allows_type(&self, mime: &str, group: Option<&str>) -> bool {
        self.types
            .iter()
            .any(|t| t == mime || group.is_some_and(|g| g == t))
    }
}

pub(crate) fn check_form_files(key: &dyn Fn(&str) -> String, raw: RawFormFiles) -> anyhow::Result<FormFiles> {
    for (name, value) in [
        ("max_files", raw.max_files as u64),
        ("max_file_mb", raw.max_file_mb),
        ("max_total_mb", raw.max_total_mb),
    ] {
        anyhow::ensure!(value > 0, "{} must be above zero", key(&format!("files.{name}")));
    }
    anyhow::ensure!(
        raw.max_file_mb <= raw.max_total_mb,
        "{} is larger than {}",
        key("files.max_file_mb"),
        key("files.max_total_mb")
    );
    let types: Vec<String> = raw.types.iter().map(|t| t.trim().to_ascii_lowercase()).collect();
    for kind in &types {
        anyhow::ensure!(
            TYPE_GROUPS.contains(&kind.as_str())
                || kind.parse::<mime::Mime>().is_ok_and(|m| m.subtype() != "*"),
            "{}: `{kind}` is neither a group ({}) nor a MIME type",
            key("files.types"),
            TYPE_GROUPS.join(", ")
        );
    }
    anyhow::ensure!(!types.is_empty(), "{} allows no type at all", key("files.types"));
    Ok(FormFiles {
        fields: raw.fields,
        max_files: raw.max_files,
        max_file_bytes: raw.max_file_mb * super::MB,
        max_total_bytes: raw.max_total_mb * super::MB,
        types,
    })
}
