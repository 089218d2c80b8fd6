/// A submission's place in its life, as stored in `submissions.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Status {
    Queued,
    Retrying,
    Delivered,
    Dead,
    Spam,
    Invalid,
    DryRun,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Self::Queued,
        Self::Retrying,
        Self::Delivered,
        Self::Dead,
        Self::Spam,
        Self::Invalid,
        Self::DryRun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Spam => "spam",
            Self::Invalid => "invalid",
            Self::DryRun => "dry_run",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Rows that still wait for delivery.
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Queued | Self::Retrying)
    }
}

impl From<Status> for &'static str {
    fn from(status: Status) -> Self {
        status.as_str()
    }
}

/// How a stored status is read back: the column holds one of [`Status::ALL`]'s words.
impl TryFrom<String> for Status {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or_else(|| format!("`{raw}` is not a submission status"))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Where a submission came from: an HTML form or a third-party webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Form,
    Hook,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Hook => "hook",
        }
    }
}
