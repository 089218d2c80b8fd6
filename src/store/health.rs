//! Whether the log can take writes right now, and why not: the writer's last outcome, free
//! space on the database's filesystem, the file's identity and the WAL's size. Intake asks it
//! before writing, `/readyz`, `/metrics` and the status page report it (docs/faults.md, "Faults and
//! what the relay does").

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The settings the watch works to (from `[database]`).
#[derive(Debug, Clone)]
pub struct HealthSettings {
    /// The SQLite file; `None` on PostgreSQL (no local file or disk to watch).
    pub path: Option<PathBuf>,
    pub min_free_bytes: u64,
    pub max_wal_bytes: u64,
    pub probe_every: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct HealthSnapshot {
    /// Why the last write failed, while writes fail.
    pub write_error: Option<String>,
    /// Why intake refuses before writing: low disk, or a missing or replaced file.
    pub refusal: Option<String>,
    pub free_bytes: Option<u64>,
    pub wal_bytes: u64,
    /// The largest WAL seen since start.
    pub wal_peak_bytes: u64,
}

#[derive(Default)]
struct State {
    snapshot: HealthSnapshot,
    /// WAL frames the last background checkpoint could not copy yet.
    checkpoint_backlog: u64,
    low_disk_warned: bool,
    last_probe: Option<Instant>,
}

/// The WAL file's size and last modification time: a changed stamp means new frames (a
/// checkpoint copies frames out of the WAL but never writes it).
pub type WalStamp = (u64, Option<std::time::SystemTime>);

pub struct StorageHealth {
    settings: HealthSettings,
    /// The database file as opened: (device, inode).
    identity: Option<(u64, u64)>,
    state: Mutex<State>,
}

impl StorageHealth {
    pub fn new(settings: HealthSettings) -> Self {
        let identity = settings.path.as_deref().and_then(file_identity);
        Self {
            settings,
            identity,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn settings(&self) -> &HealthSettings {
        &self.settings
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        self.state().snapshot.clone()
    }

    /// Why intake must answer 503 before writing, if it must.
    pub fn intake_refusal(&self) -> Option<String> {
        self.state().snapshot.refusal.clone()
    }

    /// Why `/readyz` must answer 503, if it must.
    pub fn unready_reason(&self) -> Option<String> {
        let state = self.state();
        let snapshot = &state.snapshot;
        snapshot.refusal.clone().or_else(|| {
            snapshot
                .write_error
                .as_ref()
                .map(|e| format!("the database is not writable: {e}"))
        })
    }

    pub fn write_succeeded(&self) {
        let mut state = self.state();
        if state.snapshot.write_error.take().is_some() {
            tracing::info!("the database takes writes again");
        }
    }

    pub fn write_failed(&self, reason: &str) {
        let mut state = self.state();
        if state.snapshot.write_error.is_none() {
            tracing::error!(
                reason,
                "the database refuses writes; intake answers 503 until it recovers"
            );
        }
        state.snapshot.write_error = Some(reason.to_owned());
    }

    /// Claims the next writability probe if one is due, so a flood of `/readyz` requests
    /// writes at most once per `database.readiness_probe_ms`.
    pub fn claim_probe(&self) -> bool {
        let mut state = self.state();
        let due = state
            .last_probe
            .is_none_or(|at| at.elapsed() >= self.settings.probe_every);
        if due {
            state.last_probe = Some(Instant::now());
        }
        due
    }

    /// Whether the file at the configured path is still the one the relay opened.
    pub fn file_problem(&self) -> Option<String> {
        let path = self.settings.path.as_deref()?;
        match (self.identity, file_identity(path)) {
            (_, None) => Some(format!(
                "the database file {} is missing (deleted while the relay runs?)",
                path.display()
            )),
            (Some(opened), Some(now)) if opened != now => Some(format!(
                "the database file {} was replaced while the relay runs; restart the relay",
                path.display()
            )),
            _ => None,
        }
    }

    pub fn set_checkpoint_backlog(&self, frames: u64) {
        self.state().checkpoint_backlog = frames;
    }

    pub fn checkpoint_backlog(&self) -> u64 {
        self.state().checkpoint_backlog
    }

    /// The WAL's size now; also kept as the high-water mark.
    pub fn measure_wal(&self) -> u64 {
        self.wal_stamp().0
    }

    /// The WAL's size (recorded, as [`StorageHealth::measure_wal`] does) and its last
    /// modification time, from one look at the file: a changed stamp means new frames.
    pub fn wal_stamp(&self) -> WalStamp {
        let metadata = self
            .settings
            .path
            .as_deref()
            .and_then(|db| std::fs::metadata(wal_path(db)).ok());
        let bytes = metadata.as_ref().map_or(0, |m| m.len());
        let mut state = self.state();
        state.snapshot.wal_bytes = bytes;
        state.snapshot.wal_peak_bytes = state.snapshot.wal_peak_bytes.max(bytes);
        (bytes, metadata.and_then(|m| m.modified().ok()))
    }

    /// Looks at the disk and the file once: free space against `database.min_free_mb`, and
    /// whether the database file is still there. Logs each change of state once.
    pub fn watch_once(&self) {
        self.measure_wal();
        let Some(path) = self.settings.path.as_deref() else {
            return;
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let free = fs4::available_space(dir).ok();
        let problem = self.file_problem();
        let min = self.settings.min_free_bytes;
        let low = free.filter(|f| *f < min).map(|f| {
            format!(
                "only {} MB free on the database's filesystem (database.min_free_mb = {})",
                f / crate::config::MB,
                min / crate::config::MB
            )
        });
        let mut state = self.state();
        let near = free.is_some_and(|f| f < min.saturating_mul(2));
        if near && !state.low_disk_warned {
            tracing::warn!(
                free_mb = free.unwrap_or(0) / crate::config::MB,
                min_free_mb = min / crate::config::MB,
                "the database's filesystem is nearly full; intake stops below min_free_mb"
            );
        }
        state.low_disk_warned = near;
        let refusal = problem.or(low);
        if refusal != state.snapshot.refusal {
            match &refusal {
                Some(reason) => tracing::error!(%reason, "intake refuses new submissions"),
                None => tracing::info!("intake takes submissions again"),
            }
        }
        state.snapshot.refusal = refusal;
        state.snapshot.free_bytes = free;
    }
}

pub fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}
