//! Where attachments live (docs/files.md, "Storage"): a local directory, written and fsynced
//! with its directory before the row is committed, or S3-compatible object storage through
//! `object_store`, so that a fleet on PostgreSQL shares its files. Either way, an upload is
//! first spooled under `files.dir/tmp` while it arrives.

use actix_web::web::Bytes;
use anyhow::Context;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::{path::Path as ObjectPath, ObjectStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The bytes of a stored file (or a range of them), as they are read.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// The spool's name under `files.dir`.
const SPOOL: &str = "tmp";
/// The piece size of an S3 multipart upload (S3's smallest is 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;

#[derive(Clone)]
pub enum FileStore {
    Local {
        dir: PathBuf,
    },
    S3 {
        objects: Arc<dyn ObjectStore>,
        prefix: String,
        dir: PathBuf,
    },
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local { dir } => write!(f, "local {}", dir.display()),
            Self::S3 { prefix, .. } => write!(f, "s3 (prefix `{prefix}`)"),
        }
    }
}

impl FileStore {
    /// The store `[files]` names; its directories are made now.
    pub fn open(settings: &crate::config::FilesSettings) -> anyhow::Result<Self> {
        let dir = PathBuf::from(settings.dir.trim());
        std::fs::create_dir_all(dir.join(SPOOL))
            .with_context(|| format!("creating the file store's directory {}", dir.display()))?;
        let Some((bucket, prefix)) = settings.s3()? else {
            return Ok(Self::Local { dir });
        };
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = settings.s3_endpoint.trim();
        if !endpoint.is_empty() {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let objects = builder.build().context("files.store: the S3 store")?;
        Ok(Self::S3 {
            objects: Arc::new(objects),
            prefix,
            dir,
        })
    }

    /// Where uploads are spooled while they arrive.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir().join(SPOOL)
    }

    fn dir(&self) -> &Path {
        match self {
            Self::Local { dir } | Self::S3 { dir, .. } => dir,
        }
    }

    /// Free space where uploads are spooled (and, locally, kept).
    pub fn free_bytes(&self) -> Option<u64> {
        fs4::available_space(self.dir()).ok()
    }

    fn object(&self, prefix: &str, key: &str) -> ObjectPath {
        match prefix {
            "" => ObjectPath::from(key),
            _ => ObjectPath::from(format!("{prefix}/{key}")),
        }
    }

    /// Moves a spooled (and fsynced) file to its key, durably: locally the file is renamed
    /// into its submission's directory and both directories are fsynced; in S3 the upload
    /// has completed when this returns.
    pub async fn place(&self, spool: &Path, key: &str) -> anyhow::Result<()> {
        match self {
            Self::Local { dir } => {
                let (spool, target) = (spool.to_owned(), dir.join(key));
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || place_local(&dir, &spool, &target)).await?
            }
            Self::S3 { objects, prefix, .. } => {
                let location = self.object(prefix, key);
                upload(objects.as_ref(), spool, &location).await
            }
        }
    }

    /// The bytes of `key` in `range` (all of them when `None`); `None` when it is gone.
    pub async fn read(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> anyhow::Result<Option<ByteStream>> {
        match self {
            Self::Local { dir } => read_local(&dir.join(key), range).await,
            Self::S3 { objects, prefix, .. } => {
                let options = object_store::GetOptions {
                    range: range.map(object_store::GetRange::Bounded),
                    ..Default::default()
                };
                match objects.get_opts(&self.object(prefix, key), options).await {
                    Ok(found) => Ok(Some(found.into_stream().map_err(std::io::Error::other).boxed())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e).context("reading a file from S3"),
                }
            }
        }
    }

    /// Deletes a submission's files; answers how many went.
    pub async fn delete_submission(&self, id: &str) -> anyhow::Result<u64> {
        anyhow::ensure!(is_submission_id(id), "`{id}` is not a submission id");
        match self {
            Self::Local { dir } => {
                let path = dir.join(id);
                tokio::task::spawn_blocking(move || remove_local(&path)).await?
            }
            Self::S3 { objects, prefix, .. } => {
                let within = self.object(prefix, id);
                let found: Vec<ObjectPath> = objects
                    .list(Some(&within))
                    .map_ok(|meta| meta.location)
                    .try_collect()
                    .await
                    .context("listing a submission's files in S3")?;
                for location in &found {
                    objects.delete(location).await.context("deleting a file in S3")?;
                }
                Ok(found.len() as u64)
            }
        }
    }

    /// Every submission that has files here, with when its newest file was written.
    pub async fn submissions(&self) -> anyhow::Result<Vec<(String, std::time::SystemTime)>> {
        match self {
            Self::Local { dir } => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || list_local(&dir)).await?
            }
            Self::S3 { objects, prefix, .. } => {
                let within = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                let mut newest = std::collections::BTreeMap::<String, std::time::SystemTime>::new();
                let mut listing = objects.list(within.as_ref());
                while let Some(meta) = listing.try_next().await.context("listing files in S3")? {
                    let parts: Vec<_> = meta.location.parts().collect();
                    let skip = within.as_ref().map_or(0, |w| w.parts().count());
                    let Some(id) = parts.get(skip).map(|p| p.as_ref().to_owned()) else {
                        continue;
                    };
                    let at = std::time::SystemTime::from(meta.last_modified);
                    let entry = newest.entry(id).or_insert(at);
                    *entry = (*entry).max(at);
                }
                Ok(newest.into_iter().collect())
            }
        }
    }
}

/// Whether `id` can be a submission's id (UUID text), so that no key leaves the store.
pub fn is_submission_id(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok()
}

fn place_local(dir: &Path, spool: &Path, target: &Path) -> anyhow::Result<()> {
    let parent = target.parent().expect("a key has a directory");
    std::fs::create_dir_all(parent).context("making a submission's file directory")?;
    std::fs::rename(spool, target).context("moving a file into the store")?;
    for directory in [parent, dir] {
        std::fs::File::open(directory)
            .and_then(|d| d.sync_all())
            .context("syncing the file store's directory")?;
    }
    Ok(())
}

async fn read_local(path: &Path, range: Option<std::ops::Range<u64>>) -> anyhow::Result<Option<ByteStream>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("opening a stored file"),
    };
    let stream: ByteStream = match range {
        Some(range) => {
            file.seek(std::io::SeekFrom::Start(range.start)).await?;
            tokio_util::io::ReaderStream::new(file.take(range.end - range.start)).boxed()
        }
        None => tokio_util::io::ReaderStream::new(file).boxed(),
    };
    Ok(Some(stream))
}

fn remove_local(path: &Path) -> anyhow::Result<u64> {
    let count = match std::fs::read_dir(path) {
        Ok(entries) => entries.count() as u64,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).context("reading a submission's file directory"),
    };
    std::fs::remove_dir_all(path).context("deleting a submission's files")?;
    Ok(count)
}

fn list_local(dir: &Path) -> anyhow::Result<Vec<(String, std::time::SystemTime)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).context("listing the file store")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_submission_id(&name) {
            found.push((name, entry.metadata()?.modified()?));
        }
    }
    Ok(found)
}

async fn upload(objects: &dyn ObjectStore, spool: &Path, location: &ObjectPath) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(spool)
        .await
        .context("opening a spooled file")?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(
        objects
            .put_multipart(location)
            .await
            .context("starting an S3 upload")?,
        PART_BYTES,
    );
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let read = file.read(&mut buffer).await.context("reading a spooled file")?;
        if read == 0 {
            break;
        }
        writer.wait_for_capacity(2).await.context("uploading to S3")?;
        writer.write(&buffer[..read]);
    }
    writer.finish().await.context("completing an S3 upload")?;
    tokio::fs::remove_file(spool).await.ok();
    Ok(())
}
