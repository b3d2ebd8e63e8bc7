//! The per-group manifest: which segments are archived, with their index and HLC ranges, so
//! that listing and restore read one small object instead of listing everything.
//!
//! Stored as JSON at `<cluster>/g<group>/manifest.json` and only ever replaced by a
//! conditional put against the version that was read, so two archivers can never silently
//! overwrite each other's entries.

use serde::{Deserialize, Serialize};

use crate::backend::{ArchiveBackend, BackendError, ObjectVersion};
use crate::segment::SegmentMeta;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedSegment {
    pub meta: SegmentMeta,
    /// Object name relative to the archive root.
    pub object: String,
    /// Size of the sealed (compressed, encrypted) object.
    pub sealed_bytes: u64,
    pub key_id: String,
    pub archived_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub cluster: String,
    pub group: u32,
    /// In index order, contiguous.
    pub segments: Vec<ArchivedSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("manifest {name} is not valid: {reason}")]
    Invalid { name: String, reason: String },
}

pub fn manifest_name(cluster: &str, group: u32) -> String {
    format!("{cluster}/g{group}/manifest.json")
}

impl Manifest {
    pub fn empty(cluster: &str, group: u32) -> Self {
        Self {
            format: FORMAT,
            cluster: cluster.to_string(),
            group,
            segments: Vec::new(),
        }
    }

    /// Highest archived index, if any.
    pub fn last_index(&self) -> Option<u64> {
        self.segments.last().map(|s| s.meta.indexes.last)
    }

    /// Loads the manifest and the version to update it against (`None` if it does not exist).
    pub async fn load(
        backend: &ArchiveBackend,
        cluster: &str,
        group: u32,
    ) -> Result<(Manifest, Option<ObjectVersion>), ManifestError> {
        let name = manifest_name(cluster, group);
        match backend.get(&name).await {
            Ok((bytes, version)) => {
                let m: Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| ManifestError::Invalid {
                        name: name.clone(),
                        reason: e.to_string(),
                    })?;
                if m.format != FORMAT || m.cluster != cluster || m.group != group {
                    return Err(ManifestError::Invalid {
                        name,
                        reason: format!(
                            "format {} for cluster {:?} group {}",
                            m.format, m.cluster, m.group
                        ),
                    });
                }
                for w in m.segments.windows(2) {
                    if !w[0].meta.indexes.is_followed_by(&w[1].meta.indexes) {
                        return Err(ManifestError::Invalid {
                            name,
                            reason: format!(
                                "segments {} and {} are not contiguous",
                                w[0].object, w[1].object
                            ),
                        });
                    }
                }
                Ok((m, Some(version)))
            }
            Err(BackendError::NotFound { .. }) => Ok((Manifest::empty(cluster, group), None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Every manifest in the archive (one per cluster and group), in name order.
    pub async fn list_all(backend: &ArchiveBackend) -> Result<Vec<Manifest>, ManifestError> {
        let mut out = Vec::new();
        for obj in backend.list("").await? {
            let parts: Vec<&str> = obj.name.split('/').collect();
            if let [cluster, group, "manifest.json"] = parts.as_slice()
                && let Some(g) = group.strip_prefix('g').and_then(|g| g.parse().ok())
            {
                out.push(Manifest::load(backend, cluster, g).await?.0);
            }
        }
        Ok(out)
    }

    /// Writes this manifest if the stored one is still at `read` (created if `None`).
    pub async fn store(
        &self,
        backend: &ArchiveBackend,
        read: Option<&ObjectVersion>,
    ) -> Result<ObjectVersion, ManifestError> {
        let name = manifest_name(&self.cluster, self.group);
        let bytes =
            bytes::Bytes::from(serde_json::to_vec_pretty(self).expect("manifest serializes"));
        Ok(match read {
            Some(v) => backend.put_if_match(&name, bytes, v).await?,
            None => backend.put_if_absent(&name, bytes).await?,
        })
    }
}
