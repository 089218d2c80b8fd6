//! Files without a row (docs/files.md, "Durability"): a file is stored before its row is
//! committed, so a crash in between, a refused post, or a row removed by retention leaves
//! files that no row names. The sweep removes them once they are older than an hour, so that
//! an upload whose row is about to be committed is never taken.

use super::FileStore;
use crate::store::Store;
use std::time::{Duration, SystemTime};

/// How old an unnamed file must be before the sweep takes it.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Stored files whose submission is gone.
    pub files: u64,
    /// Spooled uploads that were never finished.
    pub spooled: u64,
}

/// Removes stored files whose submission no longer exists and spool files, both older than
/// `older_than`.
pub async fn sweep(files: &FileStore, log: &Store, older_than: Duration) -> anyhow::Result<Swept> {
    let cutoff = SystemTime::now() - older_than;
    let mut swept = Swept {
        spooled: sweep_spool(files, cutoff).await?,
        ..Swept::default()
    };
    for (id, modified) in files.submissions().await? {
        if modified < cutoff && log.submission(&id).await?.is_none() {
            swept.files += files.delete_submission(&id).await?;
        }
    }
    Ok(swept)
}

async fn sweep_spool(files: &FileStore, cutoff: SystemTime) -> anyhow::Result<u64> {
    let spool = files.spool_dir();
    tokio::task::spawn_blocking(move || {
        let mut removed = 0;
        for entry in std::fs::read_dir(&spool)? {
            let entry = entry?;
            if entry.metadata()?.modified()? < cutoff && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    })
    .await?
}
