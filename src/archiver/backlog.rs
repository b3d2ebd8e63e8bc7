//! Archive lag and the WAL cap, measured every tick from the highest archived index, so
//! they keep moving while upload rounds are stuck in retries.
//!
//! While the object store is unreachable, sealed segments cannot leave the
//! disk (they are not archived yet), so the leader's WAL grows. This watcher measures the
//! unarchived bytes every tick, independently of upload rounds that may be stuck in
//! retries, warns as the backlog nears `wal_cap_mib`, and closes the group to writes past it
//! (503 `archive_backlog`). Nothing is dropped: once uploads resume and the backlog falls
//! under the cap, writes reopen by themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ArchiveMetrics;
use crate::clock::{PhysicalClock, SystemClock};
use crate::group::LogGroup;

pub struct Watcher {
    pub group: Arc<LogGroup>,
    pub archived: Arc<AtomicU64>,
    pub cap_bytes: u64,
    pub metrics: ArchiveMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Normal,
    Warning,
    Refusing,
}

impl Watcher {
    /// Entries and seconds (the RPO) between the archive and this replica's durable log.
    fn update_lag(&self) {
        let wal = self.group.wal();
        let archived = self.archived.load(Ordering::Relaxed);
        self.metrics.archived_index.set(archived as i64);
        let behind = wal.durable_index().saturating_sub(archived);
        self.metrics.lag_entries.set(behind as i64);
        let seconds = match behind {
            0 => 0.0,
            _ => wal.read(archived + 1).map_or(0.0, |e| {
                SystemClock.now_ms().saturating_sub(e.hlc.physical_ms()) as f64 / 1000.0
            }),
        };
        self.metrics.lag_seconds.set(seconds);
    }

    pub async fn run(self, every: Duration) {
        let mut level = Level::Normal;
        loop {
            // Followers take no writes; their WAL is purged as the manifest advances.
            let bytes = if self.group.is_leader() {
                let archived = self.archived.load(Ordering::Relaxed);
                self.group.wal().bytes_after(archived)
            } else {
                0
            };
            self.update_lag();
            let refusing = self.group.set_archive_backlog(bytes, self.cap_bytes);
            self.metrics.backlog_bytes.set(bytes as i64);
            self.metrics.writes_refused.set(i64::from(refusing));
            let now = if refusing {
                Level::Refusing
            } else if bytes > self.cap_bytes / 10 * 8 {
                Level::Warning
            } else {
                Level::Normal
            };
            if now != level {
                let group = self.group.id();
                match now {
                    Level::Refusing => tracing::error!(
                        %group, unarchived_bytes = bytes, cap_bytes = self.cap_bytes,
                        "archive backlog over wal_cap_mib: refusing writes until the archive catches up"
                    ),
                    Level::Warning => tracing::warn!(
                        %group, unarchived_bytes = bytes, cap_bytes = self.cap_bytes,
                        "archive backlog above 80% of wal_cap_mib; is the object store reachable?"
                    ),
                    Level::Normal => tracing::info!(
                        %group, unarchived_bytes = bytes, "archive backlog back under the cap; writes accepted"
                    ),
                }
                level = now;
            }
            tokio::time::sleep(every).await;
        }
    }
}
