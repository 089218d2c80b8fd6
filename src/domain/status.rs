/// A submission's place in its life, as stored in `submissions.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
