//! Retention and the cold tier: the leader's housekeeping on its group's archive.
//!
//! Retention keeps every instant of the last `retention_days` restorable and deletes what no
//! such restore needs (see `Manifest::retain_from`). The manifest is stored first and the
//! objects deleted after, so a crash in between leaves unreferenced objects, never a
//! manifest naming deleted ones; such leftovers older than everything kept are swept on the
//! next pass that moves the retention point.

use std::sync::Arc;

use georep_archive::{BackendError, Manifest, ObjectKind, ObjectName, S3ColdTier};

use super::{Archiver, ArchiverError, Cached};
use crate::clock::{PhysicalClock, SystemClock};
use crate::group::LogGroup;

/// Cold-tier copies per pass, so one pass never holds the archiver for long.
const COLD_PER_PASS: usize = 64;

impl Archiver {
    /// Returns how many objects were deleted.
    pub async fn apply_retention(
        &self,
        group: &Arc<LogGroup>,
        cache: &mut Cached,
    ) -> Result<usize, ArchiverError> {
        let (mut manifest, version) = match cache.take() {
            Some(c) => c,
            None => Manifest::load(&self.backend, &self.cluster, group.id().0).await?,
        };
        let keep_from = SystemClock
            .now_ms()
            .saturating_sub(self.retention.as_millis() as u64);
        let dropped = manifest.retain_from(keep_from);
        if dropped.is_empty() {
            *cache = Some((manifest, version));
            return Ok(0);
        }
        let stored = manifest.store(&self.backend, version.as_ref()).await?;
        let mut deleted = 0;
        for object in dropped.iter().chain(&self.leftovers(&manifest).await?) {
            match self.backend.delete(object).await {
                Ok(()) | Err(BackendError::NotFound { .. }) => deleted += 1,
                Err(e) => {
                    tracing::warn!(%object, error = %e, "retention could not delete; the next pass retries")
                }
            }
        }
        *cache = Some((manifest, Some(stored)));
        self.metrics.deleted_objects.inc_by(deleted as u64);
        tracing::info!(group = %group.id(), deleted, "retention removed objects no restore point needs");
        Ok(deleted)
    }

    /// Objects of this group older than everything the manifest keeps: left by a crash
    /// between a retention pass's manifest update and its deletes.
    async fn leftovers(&self, manifest: &Manifest) -> Result<Vec<String>, ArchiverError> {
        let first_segment = manifest.segments.first().map(|s| s.meta.indexes.first);
        let first_snapshot = manifest.snapshots.first().map(|s| s.index);
        let dir = format!("{}/g{}/", manifest.cluster, manifest.group);
        let mut out = Vec::new();
        for info in self.backend.list(&dir).await? {
            let Ok(name) = info.name.parse::<ObjectName>() else {
                continue;
            };
            let stale = match name.kind {
                ObjectKind::Segment(r) => first_segment.is_some_and(|f| r.last < f),
                ObjectKind::Snapshot(i) => first_snapshot.is_some_and(|f| i < f),
            };
            if stale {
                out.push(info.name);
            }
        }
        Ok(out)
    }

    /// Moves objects archived more than `after_days` ago into the cold storage class and
    /// records it in the manifest. Returns how many moved.
    pub async fn move_to_cold(
        &self,
        tier: &S3ColdTier,
        after_days: f64,
        cache: &mut Cached,
    ) -> Result<usize, ArchiverError> {
        let Some((mut manifest, version)) = cache.take() else {
            return Ok(0);
        };
        let before = SystemClock
            .now_ms()
            .saturating_sub((after_days * 86_400_000.0) as u64);
        let class = tier.storage_class().to_string();
        let mut due: Vec<(&mut Option<String>, String)> = manifest
            .segments
            .iter_mut()
            .map(|s| (s.archived_at_ms, &mut s.storage_class, s.object.clone()))
            .chain(
                manifest
                    .snapshots
                    .iter_mut()
                    .map(|s| (s.archived_at_ms, &mut s.storage_class, s.object.clone())),
            )
            .filter(|(at, current, _)| *at <= before && current.as_deref() != Some(&class))
            .map(|(_, current, object)| (current, object))
            .take(COLD_PER_PASS)
            .collect();
        let mut moved = 0;
        let mut failure = None;
        for (current, object) in due.iter_mut() {
            match tier.transition(object).await {
                Ok(()) => {
                    **current = Some(class.clone());
                    moved += 1;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(due);
        let version = if moved > 0 {
            Some(manifest.store(&self.backend, version.as_ref()).await?)
        } else {
            version
        };
        *cache = Some((manifest, version));
        self.metrics.cold_transitions.inc_by(moved as u64);
        if moved > 0 {
            tracing::info!(moved, %class, "moved archived objects to the cold tier");
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(moved),
        }
    }
}
