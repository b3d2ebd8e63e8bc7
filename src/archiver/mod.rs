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
//!
//! The leader also archives a base snapshot of the group's state every
//! `snapshot_interval_s` (so a restore need not replay from the log's start), applies
//! retention (drops what no restore point within `retention_days` needs), moves old objects
//! to a cold S3 storage class, and closes the group to writes when more unarchived WAL than
//! `wal_cap_mib` piles up (the object store is down): archive data is never dropped.

mod backlog;
mod coverage;
mod maintenance;
mod metrics;
mod snapshot;

pub use metrics::{ArchiveMetricFamilies, ArchiveMetrics};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep_archive::{
    ArchiveBackend, ArchivedSegment, IndexRange, KeyRing, Manifest, ObjectKind, ObjectName,
    ObjectVersion, SegmentMeta,
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
    #[error("exporting the group's state: {0}")]
    Export(String),
    #[error(transparent)]
    Cold(#[from] georep_archive::ColdError),
    #[error("proving coverage: {0}")]
    Coverage(String),
}

/// The manifest as this archiver last wrote it, and the version to update it against.
type Cached = Option<(Manifest, Option<ObjectVersion>)>;

pub struct Archiver {
    pub cluster: String,
    pub backend: ArchiveBackend,
    pub ring: KeyRing,
    pub level: i32,
    pub interval: Duration,
    pub metrics: ArchiveMetrics,
    pub snapshot_interval: Duration,
    pub retention: Duration,
    pub wal_cap_bytes: u64,
    pub cold: Option<crate::config::ColdTier>,
}

/// What the leader's rounds carry from one to the next.
struct Rounds {
    cache: Cached,
    next_maintenance: Instant,
    next_coverage: Instant,
}

impl Archiver {
    /// Runs until the node stops and drops the task: the backlog watcher beside the rounds
    /// (leader: ship; others: follow the manifest).
    pub async fn run(self, group: Arc<LogGroup>) {
        // Highest index known to be archived. Until the manifest is read, what the WAL has
        // purged is a lower bound (only archived entries are ever purged).
        let archived = Arc::new(AtomicU64::new(
            group.wal().first_index().unwrap_or(1).saturating_sub(1),
        ));
        let watcher = backlog::Watcher {
            group: group.clone(),
            archived: archived.clone(),
            cap_bytes: self.wal_cap_bytes,
            metrics: self.metrics.clone(),
        }
        .run(self.interval);
        let cold = self.cold_tier().await;
        let main = async {
            let mut rounds = Rounds {
                cache: None,
                next_maintenance: Instant::now(),
                next_coverage: Instant::now(),
            };
            loop {
                if group.is_leader() {
                    self.lead_round(&group, &archived, &mut rounds, cold.as_ref())
                        .await;
                    tokio::time::sleep(self.interval).await;
                } else {
                    rounds.cache = None;
                    self.follow_round(&group, &archived).await;
                    tokio::time::sleep(self.interval * 4).await;
                }
            }
        };
        tokio::join!(watcher, main);
    }

    async fn cold_tier(&self) -> Option<(georep_archive::S3ColdTier, f64)> {
        let c = self.cold.as_ref()?;
        match georep_archive::S3ColdTier::from_url(self.backend.url(), &c.storage_class).await {
            Ok(t) => Some((t, c.after_days)),
            Err(e) => {
                tracing::error!(error = %e, "cold tier disabled");
                None
            }
        }
    }

    /// Only the leader ships; the others follow the manifest so that they, too, purge only
    /// what the archive holds.
    async fn follow_round(&self, group: &Arc<LogGroup>, archived: &AtomicU64) {
        match Manifest::load(&self.backend, &self.cluster, group.id().0).await {
            Ok((m, _)) => {
                if let Some(last) = m.last_index() {
                    archived.store(last, Ordering::Relaxed);
                    purge(group, last).await;
                }
            }
            Err(e) => tracing::debug!(group = %group.id(), error = %e, "manifest not readable"),
        }
    }

    /// One leader round: ship sealed segments, then coverage and maintenance when due.
    async fn lead_round(
        &self,
        group: &Arc<LogGroup>,
        archived: &AtomicU64,
        r: &mut Rounds,
        cold: Option<&(georep_archive::S3ColdTier, f64)>,
    ) {
        let mut shipped_now = false;
        match self.ship_pending(group, &mut r.cache).await {
            Ok((shipped, last)) => {
                shipped_now = shipped > 0;
                if shipped > 0 {
                    tracing::info!(group = %group.id(), segments = shipped, "archived");
                }
                // only what the archive holds may leave the local log
                if let Some(last) = last {
                    archived.store(last, Ordering::Relaxed);
                    purge(group, last).await;
                }
            }
            Err(e) => self.round_failed(group, "segments", &e),
        }
        if r.cache.is_some() && (shipped_now || Instant::now() >= r.next_coverage) {
            r.next_coverage = Instant::now() + coverage::COVERAGE_EVERY;
            if let Err(e) = self.record_coverage(group, &mut r.cache).await {
                self.round_failed(group, "coverage", &e);
            }
        }
        if r.cache.is_some() && Instant::now() >= r.next_maintenance {
            r.next_maintenance = Instant::now() + self.snapshot_interval.min(MAINTENANCE);
            if let Err(e) = self.ship_snapshot_if_due(group, &mut r.cache).await {
                self.round_failed(group, "base snapshot", &e);
            }
            if let Err(e) = self.apply_retention(group, &mut r.cache).await {
                self.round_failed(group, "retention", &e);
            }
            if let Some((tier, after_days)) = cold
                && let Err(e) = self.move_to_cold(tier, *after_days, &mut r.cache).await
            {
                self.round_failed(group, "cold tier", &e);
            }
        }
    }

    fn round_failed(&self, group: &LogGroup, what: &str, e: &ArchiverError) {
        self.metrics.errors.inc();
        tracing::warn!(group = %group.id(), error = %e, "archive {what} round failed; retrying");
    }

    /// Compresses and encrypts `plain` off the async runtime (it is CPU-bound).
    async fn seal(&self, plain: Vec<u8>) -> Result<Vec<u8>, ArchiverError> {
        let (ring, level) = (self.ring.clone(), self.level);
        tokio::task::spawn_blocking(move || georep_archive::seal(&plain, &ring, level))
            .await
            .map_err(|e| ArchiverError::Seal(e.to_string()))?
            .map_err(|e| ArchiverError::Seal(e.to_string()))
    }

    /// Archives every sealed segment past the manifest; returns how many, and the highest
    /// archived index. `cache` carries the manifest and its version between rounds, so an
    /// idle archiver reads nothing from the store; it is left empty after any error.
    pub async fn ship_pending(
        &self,
        group: &LogGroup,
        cache: &mut Cached,
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
        // one log every replica agrees on. A `standard` voter also holds back what its
        // learner lacks, which a promotion would supersede.
        let committed = group.archivable_index();
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
            let sealed = self.seal(plain).await?;
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
                storage_class: None,
            });
            version = Some(manifest.store(&self.backend, version.as_ref()).await?);
            self.metrics.segments.inc();
            self.metrics.plain_bytes.inc_by(meta.plain_bytes);
            self.metrics.sealed_bytes.inc_by(sealed_len);
            shipped += 1;
        }
        let last = manifest.last_index();
        *cache = Some((manifest, version));
        Ok((shipped, last))
    }
}

/// How often, at most, the leader checks for a due snapshot, retention and cold-tier moves.
const MAINTENANCE: Duration = Duration::from_secs(60);

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
