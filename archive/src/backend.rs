//! Where archive objects live: one type over object_store for `file://`, `s3://`, `gs://` and
//! `az://` URLs, with the calls the archiver needs and errors by meaning.
//!
//! URLs: `file://<dir>`, `s3://<bucket>/<prefix>`, `gs://<bucket>/<prefix>`,
//! `az://<account>/<container>/<prefix>`. Credentials and endpoints come from the usual
//! environment (`AWS_*`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_*`), so the same code talks
//! to the clouds and to the emulators the tests start. HTTP backends retry failed requests
//! with jittered exponential backoff. Uploads are idempotent (an object's name is its
//! content's identity), and manifests use conditional puts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    UpdateVersion, WriteMultipart,
};

/// Objects above this are uploaded in parts of this size.
pub const MULTIPART_ABOVE: usize = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("invalid archive URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("archive object {name} does not exist")]
    NotFound { name: String },
    #[error("archive object {name} already exists")]
    AlreadyExists { name: String },
    #[error("archive object {name} changed since it was read (conditional put refused)")]
    Precondition { name: String },
    #[error("archive {op} of {name} failed: {message}")]
    Backend {
        op: &'static str,
        name: String,
        message: String,
    },
}

/// The version a conditional update must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectVersion {
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Name relative to the archive's prefix.
    pub name: String,
    pub size: u64,
}

#[derive(Clone)]
pub struct ArchiveBackend {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    /// For `file://`: the directory, whose conditional updates are serialised by lock files.
    local_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ArchiveBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveBackend")
            .field("url", &self.url)
            .finish()
    }
}

fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 8,
        retry_timeout: Duration::from_secs(120),
    }
}

impl ArchiveBackend {
    pub fn from_url(url: &str) -> Result<ArchiveBackend, BackendError> {
        let bad = |reason: &str| BackendError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://..."))?;
        let mut parts = rest.trim_end_matches('/').splitn(2, '/');
        let first = parts.next().unwrap_or_default();
        let remainder = parts.next().unwrap_or_default();
        let backend_err = |e: object_store::Error| bad(&e.to_string());
        let local_root = (scheme == "file").then(|| std::path::PathBuf::from(rest));
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match scheme {
            "file" => {
                std::fs::create_dir_all(rest)
                    .map_err(|e| bad(&format!("cannot create {rest}: {e}")))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(rest)
                    .map_err(backend_err)?;
                (Arc::new(fs), String::new())
            }
            "s3" => {
                if first.is_empty() {
                    return Err(bad("s3://<bucket>/<prefix> needs a bucket"));
                }
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(first)
                    .with_retry(retry())
                    .build()
                    .map_err(backend_err)?;
                (Arc::new(s3), remainder.to_string())
            }
            "gs" => {
                if first.is_empty() {
                    return Err(bad("gs://<bucket>/<prefix> needs a bucket"));
                }
                let gcs = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(first)
                    .with_retry(retry())
                    .build()
                    .map_err(backend_err)?;
                (Arc::new(gcs), remainder.to_string())
            }
            "az" => {
                let mut p = remainder.splitn(2, '/');
                let container = p.next().unwrap_or_default();
                if first.is_empty() || container.is_empty() {
                    return Err(bad(
                        "az://<account>/<container>/<prefix> needs an account and a container",
                    ));
                }
                let az = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_account(first)
                    .with_container_name(container)
                    .with_retry(retry())
                    .build()
                    .map_err(backend_err)?;
                (Arc::new(az), p.next().unwrap_or_default().to_string())
            }
            other => {
                return Err(bad(&format!(
                    "unsupported scheme {other:?}: use file, s3, gs or az"
                )));
            }
        };
        Ok(ArchiveBackend {
            store,
            prefix: Path::from(prefix),
            url: url.to_string(),
            local_root,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in name.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    fn map(&self, op: &'static str, name: &str, e: object_store::Error) -> BackendError {
        let name = name.to_string();
        match e {
            object_store::Error::NotFound { .. } => BackendError::NotFound { name },
            object_store::Error::AlreadyExists { .. } => BackendError::AlreadyExists { name },
            object_store::Error::Precondition { .. } => BackendError::Precondition { name },
            other => BackendError::Backend {
                op,
                name,
                message: other.to_string(),
            },
        }
    }

    /// Writes `bytes` to `name`, replacing what is there (idempotent re-upload).
    pub async fn put(&self, name: &str, bytes: Bytes) -> Result<ObjectVersion, BackendError> {
        let path = self.path(name);
        if bytes.len() > MULTIPART_ABOVE {
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| self.map("multipart put", name, e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_ABOVE);
            writer.put(bytes);
            let r = writer
                .finish()
                .await
                .map_err(|e| self.map("multipart put", name, e))?;
            return Ok(ObjectVersion {
                e_tag: r.e_tag,
                version: r.version,
            });
        }
        let r = self
            .store
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| self.map("put", name, e))?;
        Ok(ObjectVersion {
            e_tag: r.e_tag,
            version: r.version,
        })
    }

    /// Creates `name` only if it does not exist yet.
    pub async fn put_if_absent(
        &self,
        name: &str,
        bytes: Bytes,
    ) -> Result<ObjectVersion, BackendError> {
        self.put_mode(name, bytes, PutMode::Create).await
    }

    /// Replaces `name` only if it is still at `expected` (compare-and-swap for manifests).
    pub async fn put_if_match(
        &self,
        name: &str,
        bytes: Bytes,
        expected: &ObjectVersion,
    ) -> Result<ObjectVersion, BackendError> {
        if let Some(root) = &self.local_root {
            return self.local_put_if_match(root, name, bytes, expected).await;
        }
        let mode = PutMode::Update(UpdateVersion {
            e_tag: expected.e_tag.clone(),
            version: expected.version.clone(),
        });
        self.put_mode(name, bytes, mode).await
    }

    /// object_store's local file system has no conditional update; an exclusive lock file
    /// (outside the object namespace) serialises compare-and-swap among this machine's writers.
    async fn local_put_if_match(
        &self,
        root: &std::path::Path,
        name: &str,
        bytes: Bytes,
        expected: &ObjectVersion,
    ) -> Result<ObjectVersion, BackendError> {
        let io = |e: std::io::Error| BackendError::Backend {
            op: "lock",
            name: name.to_string(),
            message: e.to_string(),
        };
        let locks = root.join(".georep-locks");
        std::fs::create_dir_all(&locks).map_err(io)?;
        let lock_path = locks.join(format!("{}.lock", name.replace('/', "%2F")));
        let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_path)?;
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(|e| BackendError::Backend {
            op: "lock",
            name: name.to_string(),
            message: e.to_string(),
        })?
        .map_err(io)?;
        let current = self
            .store
            .head(&self.path(name))
            .await
            .map_err(|e| self.map("head", name, e))?;
        if current.e_tag != expected.e_tag {
            return Err(BackendError::Precondition {
                name: name.to_string(),
            });
        }
        let result = self.put(name, bytes).await;
        drop(lock);
        result
    }

    async fn put_mode(
        &self,
        name: &str,
        bytes: Bytes,
        mode: PutMode,
    ) -> Result<ObjectVersion, BackendError> {
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let r = self
            .store
            .put_opts(&self.path(name), PutPayload::from_bytes(bytes), opts)
            .await
            .map_err(|e| self.map("conditional put", name, e))?;
        Ok(ObjectVersion {
            e_tag: r.e_tag,
            version: r.version,
        })
    }

    pub async fn get(&self, name: &str) -> Result<(Bytes, ObjectVersion), BackendError> {
        let r = self
            .store
            .get(&self.path(name))
            .await
            .map_err(|e| self.map("get", name, e))?;
        let version = ObjectVersion {
            e_tag: r.meta.e_tag.clone(),
            version: r.meta.version.clone(),
        };
        let bytes = r.bytes().await.map_err(|e| self.map("get", name, e))?;
        Ok((bytes, version))
    }

    /// Objects whose names start with `prefix` (a folder, like `c1/g3/segments`), in name order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        let under = self.path(prefix);
        let strip = self.prefix.as_ref().len();
        let mut out: Vec<ObjectInfo> = self
            .store
            .list(Some(&under))
            .map_ok(|m| ObjectInfo {
                name: m.location.as_ref()[strip..]
                    .trim_start_matches('/')
                    .to_string(),
                size: m.size,
            })
            .try_collect()
            .await
            .map_err(|e| self.map("list", prefix, e))?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn delete(&self, name: &str) -> Result<(), BackendError> {
        self.store
            .delete(&self.path(name))
            .await
            .map_err(|e| self.map("delete", name, e))
    }
}
