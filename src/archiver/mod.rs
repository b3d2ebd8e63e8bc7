//! The archiver: ships every sealed WAL segment of a log group to the archive.
//!
//! Each sealed segment is read, described (index range, HLC range, size, CRC32C), sealed
//! (zstd + AES-256-GCM) and uploaded under its index range. Then the group's manifest is
//! extended by a conditional put. Uploads are idempotent (the name is the index range), so a
//! crash between upload and manifest update only repeats an upload. A failed round is counted
//! and retried on the next tick; nothing is skipped, so the manifest always covers a
//! contiguous prefix of the log. Lag (entries and seconds, i.e. the RPO) is a metric.
//!
//! In a replicated group every replica runs an archiver but only the leader ships, and only
//! segments whose entries are all applied (so committed: no failover can replace them).
//! Replicas seal segments at their own boundaries, so a new leader may find the start of
//! one of its segments already archived by its predecessor; it ships the rest as a segment
//! of its own. Followers read the manifest and purge only what it covers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use georep_archive::{
    ArchiveBackend, ArchivedSegment, IndexRange, KeyRing, Manifest, ObjectKind, ObjectName,
    ObjectVersion, SegmentMeta,
};
use prometheus::{
    Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::clock::{PhysicalClock, SystemClock};
use crate::group::LogGroup;

#[derive(Debug, thiserror::Error)]
pub enum ArchiverError {
    #[error(transparent)]
    Manifest(#[from] georep_archive::ManifestError),
    #[error(transparent)]
    Backend(#[from] georep_archive::BackendError),
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
    #[error("reading sealed segment {path}: {message}")]
    Read { path: String, message: String },
    #[error("segment starting at {first} does not follow the archived prefix ending at {archived}")]
    Gap { first: u64, archived: u64 },
    #[error("sealing failed: {0}")]
    Seal(String),
}

#[derive(Clone)]
pub struct ArchiveMetrics {
    pub lag_entries: IntGauge,
    pub lag_seconds: Gauge,
    pub segments: IntCounter,
    pub plain_bytes: IntCounter,
    pub sealed_bytes: IntCounter,
    pub errors: IntCounter,
}

/// The archive metrics of a node, labelled by group; [`ArchiveMetricFamilies::for_group`]
/// gives one archiver its handles.
#[derive(Clone)]
pub struct ArchiveMetricFamilies {
    lag_entries: IntGaugeVec,
    lag_seconds: GaugeVec,
    segments: IntCounterVec,
    plain_bytes: IntCounterVec,
    sealed_bytes: IntCounterVec,
    errors: IntCounterVec,
}

impl ArchiveMetricFamilies {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let opts = |name: &str, help: &str| Opts::new(name, help);
        let g = &["group"];
        let m = Self {
            lag_entries: IntGaugeVec::new(
                opts(
                    "georep_archive_lag_entries",
                    "Durable log entries not yet in the archive",
                ),
                g,
            )?,
            lag_seconds: GaugeVec::new(
                opts(
                    "georep_archive_lag_seconds",
                    "Age of the oldest durable entry not yet in the archive (RPO)",
                ),
                g,
            )?,
            segments: IntCounterVec::new(
                opts("georep_archive_segments_total", "Segments archived"),
                g,
            )?,
            plain_bytes: IntCounterVec::new(
                opts(
                    "georep_archive_plain_bytes_total",
                    "Segment bytes archived, before compression",
                ),
                g,
            )?,
            sealed_bytes: IntCounterVec::new(
                opts(
                    "georep_archive_uploaded_bytes_total",
                    "Sealed bytes uploaded",
                ),
                g,
            )?,
            errors: IntCounterVec::new(
                opts(
                    "georep_archive_errors_total",
                    "Failed archive rounds (retried)",
                ),
                g,
            )?,
        };
        registry.register(Box::new(m.lag_entries.clone()))?;
        registry.register(Box::new(m.lag_seconds.clone()))?;
        registry.register(Box::new(m.segments.clone()))?;
        registry.register(Box::new(m.plain_bytes.clone()))?;
        registry.register(Box::new(m.sealed_bytes.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        Ok(m)
    }

    pub fn for_group(&self, group: &str) -> ArchiveMetrics {
        let l = &[group];
        ArchiveMetrics {
            lag_entries: self.lag_entries.with_label_values(l),
            lag_seconds: self.lag_seconds.with_label_values(l),
            segments: self.segments.with_label_values(l),
            plain_bytes: self.plain_bytes.with_label_values(l),
            sealed_bytes: self.sealed_bytes.with_label_values(l),
            errors: self.errors.with_label_values(l),
        }
    }
}

pub struct Archiver {
    pub cluster: String,
    pub backend: ArchiveBackend,
    pub ring: KeyRing,
    pub level: i32,
    pub interval: Duration,
    pub metrics: ArchiveMetrics,
}

impl Archiver {
    pub fn spawn(self, group: Arc<LogGroup>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // The manifest as last written; a failed round drops it so the next one reloads.
            let mut cache = None;
            loop {
                if !group.is_leader() {
                    // Only the leader ships; the others follow the manifest so that they, too,
                    // purge only what the archive holds.
                    cache = None;
                    match Manifest::load(&self.backend, &self.cluster, group.id().0).await {
                        Ok((m, _)) => {
                            if let Some(last) = m.last_index() {
                                purge(&group, last).await;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(group = %group.id(), error = %e, "manifest not readable")
                        }
                    }
                    tokio::time::sleep(self.interval * 4).await;
                    continue;
                }
                match self.ship_pending(&group, &mut cache).await {
                    Ok((shipped, archived)) => {
                        if shipped > 0 {
                            tracing::info!(group = %group.id(), segments = shipped, "archived");
                        }
                        // only what the archive holds may leave the local log
                        if let Some(last) = archived {
                            purge(&group, last).await;
                        }
                    }
                    Err(e) => {
                        self.metrics.errors.inc();
                        tracing::warn!(group = %group.id(), error = %e, "archive round failed; retrying");
                    }
                }
                tokio::time::sleep(self.interval).await;
            }
        })
    }

    /// Archives every sealed segment past the manifest; returns how many, and the highest
    /// archived index. `cache` carries the manifest and its version between rounds, so an
    /// idle archiver reads nothing from the store; it is left empty after any error.
    pub async fn ship_pending(
        &self,
        group: &LogGroup,
        cache: &mut Option<(Manifest, Option<ObjectVersion>)>,
    ) -> Result<(usize, Option<u64>), ArchiverError> {
        let gid = group.id().0;
        let (mut manifest, mut version) = match cache.take() {
            Some(cached) => cached,
            None => Manifest::load(&self.backend, &self.cluster, gid).await?,
        };
        let wal = group.wal();
        let mut shipped = 0;
        // Only committed entries may be archived (applied implies committed): a leader's
        // uncommitted tail can be replaced after a failover, and the archive must hold the
        // one log every replica agrees on.
        let committed = group.applied_index();
        for seg in wal.sealed_segments() {
            let archived = manifest.last_index();
            if archived.is_some_and(|a| seg.last_index <= a) {
                continue;
            }
            if seg.last_index > committed {
                break;
            }
            let next = archived.map_or(seg.first_index, |a| a + 1);
            if next < seg.first_index {
                return Err(ArchiverError::Gap {
                    first: seg.first_index,
                    archived: next - 1,
                });
            }
            let plain = if next == seg.first_index {
                tokio::fs::read(&seg.path)
                    .await
                    .map_err(|e| ArchiverError::Read {
                        path: seg.path.display().to_string(),
                        message: e.to_string(),
                    })?
            } else {
                // Another replica archived the start of this segment while it led (each
                // replica seals its own boundaries): ship only the rest, as a segment of its own.
                let entries = wal.read_range(next, seg.last_index)?;
                crate::wal::sealed_segment_bytes(gid, &entries)
            };
            let seg = crate::wal::SealedSegment {
                path: seg.path.clone(),
                first_index: next,
                last_index: seg.last_index,
            };
            // Entries before the group's first write (its initial membership) carry no
            // time; the segment's time range starts at its first entry that does.
            let mut first_hlc = 0;
            for i in seg.first_index..=seg.last_index {
                first_hlc = wal.read(i)?.hlc.packed;
                if first_hlc != 0 {
                    break;
                }
            }
            let last_hlc = wal.read(seg.last_index)?.hlc.packed;
            let indexes = IndexRange::new(seg.first_index, seg.last_index)
                .expect("sealed segments are non-empty");
            let meta = SegmentMeta {
                cluster: self.cluster.clone(),
                group: gid,
                indexes,
                first_hlc,
                last_hlc,
                plain_bytes: plain.len() as u64,
                plain_crc32c: crc32c::crc32c(&plain),
            };
            let (ring, level) = (self.ring.clone(), self.level);
            let sealed =
                tokio::task::spawn_blocking(move || georep_archive::seal(&plain, &ring, level))
                    .await
                    .map_err(|e| ArchiverError::Seal(e.to_string()))?
                    .map_err(|e| ArchiverError::Seal(e.to_string()))?;
            let object = ObjectName {
                prefix: String::new(),
                cluster: self.cluster.clone(),
                group: gid,
                kind: ObjectKind::Segment(indexes),
            }
            .to_string();
            let sealed_len = sealed.len() as u64;
            self.backend.put(&object, Bytes::from(sealed)).await?;
            manifest.segments.push(ArchivedSegment {
                meta: meta.clone(),
                object,
                sealed_bytes: sealed_len,
                key_id: self.ring.current().0.to_string(),
                archived_at_ms: SystemClock.now_ms(),
            });
            version = Some(manifest.store(&self.backend, version.as_ref()).await?);
            self.metrics.segments.inc();
            self.metrics.plain_bytes.inc_by(meta.plain_bytes);
            self.metrics.sealed_bytes.inc_by(sealed_len);
            shipped += 1;
        }
        self.update_lag(group, &manifest)?;
        let last = manifest.last_index();
        *cache = Some((manifest, version));
        Ok((shipped, last))
    }

    fn update_lag(&self, group: &LogGroup, manifest: &Manifest) -> Result<(), ArchiverError> {
        let wal = group.wal();
        let durable = wal.durable_index();
        let archived = manifest.last_index().unwrap_or(0);
        let behind = durable.saturating_sub(archived);
        self.metrics.lag_entries.set(behind as i64);
        let seconds = if behind == 0 {
            0.0
        } else {
            let oldest = wal.read(archived + 1)?.hlc.physical_ms();
            SystemClock.now_ms().saturating_sub(oldest) as f64 / 1000.0
        };
        self.metrics.lag_seconds.set(seconds);
        Ok(())
    }
}

/// Purges the group's WAL up to `up_to` (and never past the store's durable checkpoint).
pub async fn purge(group: &Arc<LogGroup>, up_to: u64) {
    let g = group.clone();
    match tokio::task::spawn_blocking(move || g.purge_upto(up_to)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => {
            tracing::debug!(group = %group.id(), segments = n, up_to, "purged WAL segments")
        }
        Ok(Err(e)) => tracing::warn!(group = %group.id(), error = %e, "WAL purge failed"),
        Err(e) => tracing::warn!(group = %group.id(), error = %e, "WAL purge task failed"),
    }
}
