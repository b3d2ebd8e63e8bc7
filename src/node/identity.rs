//! The data directory's owner: written on first start, checked on every start, so a node
//! never serves (or mixes) another cluster's or another region's data.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util::atomic_file;

const FILE: &str = "IDENTITY";
const LOCK: &str = "LOCK";
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub cluster: String,
    pub region: String,
}

/// Why a data directory cannot be claimed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "data dir {path} belongs to cluster {:?} region {:?}, not cluster {:?} region {:?}; \
         choose another --data-dir",
        found.cluster, found.region, expected.cluster, expected.region
    )]
    Foreign {
        path: PathBuf,
        found: Identity,
        expected: Identity,
    },
    #[error("data dir {path} is in use by another georep process")]
    InUse { path: PathBuf },
    #[error("data dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data dir identity: {0}")]
    Unreadable(String),
}

/// Creates `dir` if needed, takes its exclusive lock (held by the returned file) and checks
/// or writes its identity.
pub fn claim(dir: &Path, expected: &Identity) -> Result<File, IdentityError> {
    let io = |path: PathBuf| move |source| IdentityError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(lock_path.clone()))?;
    if lock.try_lock().is_err() {
        return Err(IdentityError::InUse {
            path: dir.to_path_buf(),
        });
    }
    let path = dir.join(FILE);
    match atomic_file::read(&path).map_err(|e| IdentityError::Unreadable(e.to_string()))? {
        None => {
            let body = serde_json::to_vec(expected).expect("identity serializes");
            atomic_file::write(&path, VERSION, &body)
                .map_err(|e| IdentityError::Unreadable(e.to_string()))?;
        }
        Some((_, body)) => {
            let found: Identity = serde_json::from_slice(&body)
                .map_err(|e| IdentityError::Unreadable(format!("{}: {e}", path.display())))?;
            if &found != expected {
                return Err(IdentityError::Foreign {
                    path: dir.to_path_buf(),
                    found,
                    expected: expected.clone(),
                });
            }
        }
    }
    Ok(lock)
}
