//! Base snapshots: the group's whole state as of its applied index, sealed like a segment and
//! stored under `snapshots/<index>.snap`. A restore starts from the newest one at or before
//! its target and replays only the segments after it; retention may then delete the
//! segments before it.

use std::sync::Arc;

use bytes::Bytes;
use georep_archive::{ArchivedSnapshot, Manifest, ObjectKind, ObjectName};

use super::{Archiver, ArchiverError, Cached};
use crate::clock::{PhysicalClock, SystemClock};
use crate::group::LogGroup;

impl Archiver {
    /// Archives a snapshot if the newest one is older than the snapshot interval and the
    /// group has applied entries since. Returns whether one was stored.
    pub async fn ship_snapshot_if_due(
        &self,
        group: &Arc<LogGroup>,
        cache: &mut Cached,
    ) -> Result<bool, ArchiverError> {
        let (mut manifest, version) = match cache.take() {
            Some(c) => c,
            None => Manifest::load(&self.backend, &self.cluster, group.id().0).await?,
        };
        let now = SystemClock.now_ms();
        // An interval after the last snapshot, or after archiving began.
        let since = manifest
            .snapshots
            .last()
            .map(|s| (s.archived_at_ms, s.index))
            .or_else(|| manifest.segments.first().map(|s| (s.archived_at_ms, 0)));
        let due = since.is_some_and(|(at, index)| {
            now.saturating_sub(at) >= self.snapshot_interval.as_millis() as u64
                && group.applied_index() > index
        });
        if !due {
            *cache = Some((manifest, version));
            return Ok(false);
        }
        let g = group.clone();
        let (head, plain) = tokio::task::spawn_blocking(move || g.export_state())
            .await
            .map_err(|e| ArchiverError::Export(e.to_string()))?
            .map_err(|e| ArchiverError::Export(e.to_string()))?;
        let index = head.applied.index;
        // A `standard` voter's state may run ahead of its learner: ship it only once the
        // learner holds all of it (else a promotion could supersede part of it).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while index > group.archivable_index() {
            if std::time::Instant::now() > deadline {
                *cache = Some((manifest, version));
                return Ok(false);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // A state with no timed entry yet (only the initial membership) restores nothing
        // that the log's first segment does not.
        if head.applied.hlc.packed == 0
            || manifest.snapshots.last().is_some_and(|s| s.index >= index)
        {
            *cache = Some((manifest, version));
            return Ok(false);
        }
        let plain_bytes = plain.len() as u64;
        let plain_crc32c = crc32c::crc32c(&plain);
        let sealed = self.seal(plain).await?;
        let object = ObjectName {
            prefix: String::new(),
            cluster: self.cluster.clone(),
            group: group.id().0,
            kind: ObjectKind::Snapshot(index),
        }
        .to_string();
        let sealed_bytes = sealed.len() as u64;
        self.backend.put(&object, Bytes::from(sealed)).await?;
        manifest.snapshots.push(ArchivedSnapshot {
            index,
            hlc: head.applied.hlc.packed,
            object: object.clone(),
            plain_bytes,
            plain_crc32c,
            sealed_bytes,
            key_id: self.ring.current().0.to_string(),
            archived_at_ms: now,
            storage_class: None,
        });
        let stored = manifest.store(&self.backend, version.as_ref()).await?;
        *cache = Some((manifest, Some(stored)));
        self.metrics.snapshots.inc();
        self.metrics.plain_bytes.inc_by(plain_bytes);
        self.metrics.sealed_bytes.inc_by(sealed_bytes);
        tracing::info!(group = %group.id(), index, bytes = plain_bytes, %object, "archived base snapshot");
        Ok(true)
    }
}
