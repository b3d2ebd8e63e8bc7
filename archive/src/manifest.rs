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
    /// Set once the object has moved to a colder storage class (S3 cold tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// A base snapshot: the group's whole state as of one applied index, so a restore need not
/// replay the log from its first entry and retention can delete the segments before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedSnapshot {
    /// The last log index the snapshot includes.
    pub index: u64,
    /// HLC (packed) of the entry at `index`: the instant the snapshot restores to.
    pub hlc: u64,
    pub object: String,
    pub plain_bytes: u64,
    pub plain_crc32c: u32,
    pub sealed_bytes: u64,
    pub key_id: String,
    pub archived_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

impl ArchivedSnapshot {
    pub fn physical_ms(&self) -> u64 {
        self.hlc >> 16
    }
}

/// Up to which instant the archived log is known complete: every entry of the group whose
/// HLC falls at or before `through_ms` is in the archive (at or below `index`). Recorded by
/// the group's leader, which proves it (see the node's `group/coverage.rs`), and refreshed
/// every few seconds even when nothing is written, so an idle group still advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub through_ms: u64,
    /// The archived index when it was recorded.
    pub index: u64,
    pub recorded_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub cluster: String,
    pub group: u32,
    /// In index order, contiguous.
    pub segments: Vec<ArchivedSegment>,
    /// In index order. Absent in manifests written before base snapshots existed.
    #[serde(default)]
    pub snapshots: Vec<ArchivedSnapshot>,
    /// Absent in manifests written before coverage was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

/// What restoring one group to an instant reads: a base snapshot (if one is old enough),
/// then the segments after it, the last of which may run past the instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan<'a> {
    pub snapshot: Option<&'a ArchivedSnapshot>,
    pub segments: Vec<&'a ArchivedSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("nothing is archived")]
    Empty,
    #[error("the earliest restorable instant is {earliest_ms} ms (Unix)")]
    TooEarly { earliest_ms: u64 },
    #[error("no archived segment follows index {after}; the next starts at {next}")]
    Gap { after: u64, next: u64 },
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
            snapshots: Vec::new(),
            coverage: None,
        }
    }

    /// The latest instant (physical ms) up to which the archive provably holds every entry of
    /// this group: the recorded coverage, and at least everything before the newest archived
    /// entry or snapshot (HLCs never decrease along the log, so an entry not archived yet
    /// carries at least that entry's time; the same millisecond is excluded). None when
    /// nothing is known.
    pub fn covered_through_ms(&self) -> Option<u64> {
        let from_log = self
            .segments
            .last()
            .map(|s| s.meta.last_physical_ms())
            .into_iter()
            .chain(self.snapshots.last().map(ArchivedSnapshot::physical_ms))
            .max()
            .filter(|&ms| ms > 0)
            .map(|ms| ms - 1);
        from_log.max(self.coverage.map(|c| c.through_ms))
    }

    /// Raises the recorded coverage (never lowers it); true if it changed.
    pub fn raise_coverage(&mut self, through_ms: u64, index: u64, now_ms: u64) -> bool {
        if self.coverage.is_some_and(|c| c.through_ms >= through_ms) {
            return false;
        }
        self.coverage = Some(Coverage {
            through_ms,
            index,
            recorded_at_ms: now_ms,
        });
        true
    }

    /// The earliest instant (physical ms) a restore can reach: the oldest base snapshot, or
    /// the first entry that carries a time if the segments still start at the log's start.
    pub fn earliest_restorable_ms(&self) -> Option<u64> {
        let from_log = match self.segments.first() {
            Some(s) if s.meta.indexes.first == 1 => self
                .segments
                .iter()
                .map(|s| s.meta.first_hlc)
                .find(|&h| h != 0)
                .or(Some(0))
                .map(|h| h >> 16),
            _ => None,
        };
        let from_snapshot = self.snapshots.first().map(ArchivedSnapshot::physical_ms);
        match (from_log, from_snapshot) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The latest instant a restore can reach.
    pub fn latest_restorable_ms(&self) -> Option<u64> {
        let seg = self.segments.last().map(|s| s.meta.last_physical_ms());
        let snap = self.snapshots.last().map(ArchivedSnapshot::physical_ms);
        seg.max(snap)
    }

    /// Chooses the objects that restore this group to `cutoff_ms` (physical ms; `u64::MAX`
    /// for the latest state): the newest snapshot at or before it, then every segment after
    /// the snapshot whose first entry is at or before it.
    pub fn plan(&self, cutoff_ms: u64) -> Result<RestorePlan<'_>, PlanError> {
        if self.segments.is_empty() && self.snapshots.is_empty() {
            return Err(PlanError::Empty);
        }
        let snapshot = self
            .snapshots
            .iter()
            .rev()
            .find(|s| s.physical_ms() <= cutoff_ms);
        let base = snapshot.map_or(0, |s| s.index);
        let segments: Vec<_> = self
            .segments
            .iter()
            .filter(|s| s.meta.indexes.last > base)
            .take_while(|s| s.meta.first_hlc >> 16 <= cutoff_ms)
            .collect();
        let too_early = || PlanError::TooEarly {
            earliest_ms: self.earliest_restorable_ms().unwrap_or(0),
        };
        match (snapshot, segments.first()) {
            (None, None) => Err(too_early()),
            (None, Some(first)) if first.meta.indexes.first != 1 => Err(too_early()),
            (Some(_), Some(first)) if first.meta.indexes.first > base + 1 => Err(PlanError::Gap {
                after: base,
                next: first.meta.indexes.first,
            }),
            _ => Ok(RestorePlan { snapshot, segments }),
        }
    }

    /// Retention: keeps every instant from `keep_from_ms` on restorable and drops what no such
    /// restore needs, which is everything before the newest snapshot at or before
    /// `keep_from_ms`. The newest segment always stays, so the manifest still says where the
    /// archived log ends. Returns the objects dropped from the manifest (delete them only
    /// after storing it).
    pub fn retain_from(&mut self, keep_from_ms: u64) -> Vec<String> {
        let Some(base) = self
            .snapshots
            .iter()
            .rev()
            .find(|s| s.physical_ms() <= keep_from_ms)
            .map(|s| s.index)
        else {
            return Vec::new();
        };
        let mut dropped = Vec::new();
        self.snapshots.retain(|s| {
            let keep = s.index >= base;
            if !keep {
                dropped.push(s.object.clone());
            }
            keep
        });
        let newest = self.segments.len().saturating_sub(1);
        let mut i = 0;
        self.segments.retain(|s| {
            let keep = s.meta.indexes.last > base || i == newest;
            i += 1;
            if !keep {
                dropped.push(s.object.clone());
            }
            keep
        });
        dropped
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
                if m.snapshots.windows(2).any(|w| w[0].index >= w[1].index) {
                    return Err(ManifestError::Invalid {
                        name,
                        reason: "snapshots are not in index order".into(),
                    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{IndexRange, SegmentMeta};

    fn seg(first: u64, last: u64, first_ms: u64, last_ms: u64) -> ArchivedSegment {
        ArchivedSegment {
            meta: SegmentMeta {
                cluster: "c".into(),
                group: 2,
                indexes: IndexRange::new(first, last).unwrap(),
                first_hlc: first_ms << 16,
                last_hlc: last_ms << 16,
                plain_bytes: 1,
                plain_crc32c: 0,
            },
            object: format!("seg-{first}"),
            sealed_bytes: 1,
            key_id: "k".into(),
            archived_at_ms: 0,
            storage_class: None,
        }
    }

    fn snap(index: u64, ms: u64) -> ArchivedSnapshot {
        ArchivedSnapshot {
            index,
            hlc: ms << 16,
            object: format!("snap-{index}"),
            plain_bytes: 1,
            plain_crc32c: 0,
            sealed_bytes: 1,
            key_id: "k".into(),
            archived_at_ms: 0,
            storage_class: None,
        }
    }

    fn manifest() -> Manifest {
        // entries 1..=40, one per 10 ms from t=100; snapshots at 15 (t=240) and 32 (t=410)
        let mut m = Manifest::empty("c", 2);
        m.segments = vec![
            seg(1, 10, 100, 190),
            seg(11, 20, 200, 290),
            seg(21, 30, 300, 390),
            seg(31, 40, 400, 490),
        ];
        m.snapshots = vec![snap(15, 240), snap(32, 410)];
        m
    }

    fn objects(p: &RestorePlan<'_>) -> Vec<String> {
        p.snapshot
            .iter()
            .map(|s| s.object.clone())
            .chain(p.segments.iter().map(|s| s.object.clone()))
            .collect()
    }

    #[test]
    fn coverage_is_the_recorded_claim_or_what_the_log_itself_proves() {
        let mut m = manifest();
        // no claim recorded: everything before the last archived entry's millisecond
        assert_eq!(m.covered_through_ms(), Some(489));
        assert!(m.raise_coverage(5_000, 40, 9));
        assert_eq!(m.covered_through_ms(), Some(5_000));
        // never lowered
        assert!(!m.raise_coverage(4_000, 40, 10));
        assert_eq!(m.covered_through_ms(), Some(5_000));
        assert_eq!(Manifest::empty("c", 1).covered_through_ms(), None);
        // old manifests without the field still parse
        let json = serde_json::to_string(&manifest()).unwrap();
        assert!(!json.contains("coverage"));
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back.coverage, None);
    }

    #[test]
    fn plan_takes_the_newest_snapshot_at_or_before_the_instant() {
        let m = manifest();
        assert_eq!(objects(&m.plan(150).unwrap()), ["seg-1"]);
        assert_eq!(objects(&m.plan(240).unwrap()), ["snap-15", "seg-11"]);
        assert_eq!(
            objects(&m.plan(350).unwrap()),
            ["snap-15", "seg-11", "seg-21"]
        );
        assert_eq!(objects(&m.plan(u64::MAX).unwrap()), ["snap-32", "seg-31"]);
        assert_eq!(
            m.plan(50).unwrap_err(),
            PlanError::TooEarly { earliest_ms: 100 }
        );
    }

    #[test]
    fn retention_drops_only_what_no_later_restore_needs() {
        let mut m = manifest();
        assert!(m.retain_from(200).is_empty(), "no snapshot is old enough");
        let dropped = m.retain_from(300);
        assert_eq!(
            dropped,
            ["seg-1"],
            "11..=20 holds entries after the snapshot at 15"
        );
        assert_eq!(m.earliest_restorable_ms(), Some(240));
        // every instant from the retention point on still plans
        for t in [300, 350, 410, 489, u64::MAX] {
            m.plan(t).unwrap();
        }
        assert_eq!(
            m.plan(200).unwrap_err(),
            PlanError::TooEarly { earliest_ms: 240 }
        );
        let dropped = m.retain_from(1000);
        assert_eq!(dropped, ["snap-15", "seg-11", "seg-21"]);
        assert_eq!(objects(&m.plan(u64::MAX).unwrap()), ["snap-32", "seg-31"]);

        // the newest segment stays even when a snapshot covers it
        let mut m = manifest();
        m.snapshots.push(snap(40, 490));
        m.retain_from(1000);
        assert_eq!(m.last_index(), Some(40));
        assert_eq!(objects(&m.plan(u64::MAX).unwrap()), ["snap-40"]);
    }

    #[test]
    fn a_missing_segment_after_a_snapshot_is_a_gap() {
        let mut m = manifest();
        m.segments.drain(..2);
        m.snapshots.remove(1);
        m.snapshots[0].index = 5; // before the first kept segment (21)
        assert_eq!(
            m.plan(u64::MAX).unwrap_err(),
            PlanError::Gap { after: 5, next: 21 }
        );
    }
}
