//! A multi-master collection's sync status, as the seed's `SyncStatus` shows a
//! bidirectional pair: per origin how far this region has applied its log and how stale
//! that is, the conflicts of the last hour, and whether the collection is synchronized here
//! (every origin within the collection's staleness bound).

use serde::Serialize;

use super::Origins;
use crate::clock::Timestamp;
use crate::store::StoreError;

const HOUR_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Serialize)]
pub struct OriginStatus {
    pub region: String,
    pub group: String,
    pub applied_index: u64,
    /// How far behind that origin this region is (0 for its own).
    pub staleness_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub collection: String,
    pub rule: &'static str,
    pub origins: Vec<OriginStatus>,
    pub conflicts_last_hour: u64,
    pub conflicts_recorded: u64,
    pub synchronized: bool,
}

/// Whether every origin is within `bound_ms` (a pure decision, tested alone).
pub fn synchronized(origins: &[OriginStatus], bound_ms: u64) -> bool {
    origins.iter().all(|o| o.staleness_ms <= bound_ms)
}

pub fn status(
    origins: &Origins,
    rule: &'static str,
    bound_ms: u64,
    now_ms: u64,
) -> Result<SyncStatus, StoreError> {
    let all: Vec<OriginStatus> = origins
        .all
        .iter()
        .map(|o| OriginStatus {
            region: o.region.clone(),
            group: o.group.id().to_string(),
            applied_index: o.group.applied_index(),
            staleness_ms: o.group.staleness_ms(now_ms),
        })
        .collect();
    let store = origins.all[0].group.store();
    let hour_ago = Timestamp::new(now_ms.saturating_sub(HOUR_MS), 0, 0);
    Ok(SyncStatus {
        collection: origins.collection.clone(),
        rule,
        conflicts_last_hour: store.conflicts_since(&origins.collection, hour_ago)?,
        conflicts_recorded: store.conflicts_recorded(&origins.collection)?,
        synchronized: synchronized(&all, bound_ms),
        origins: all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(staleness_ms: u64) -> OriginStatus {
        OriginStatus {
            region: "r".into(),
            group: "g".into(),
            applied_index: 1,
            staleness_ms,
        }
    }

    #[test]
    fn synchronized_means_every_origin_within_the_bound() {
        assert!(synchronized(&[origin(0), origin(500)], 500));
        assert!(!synchronized(&[origin(0), origin(501)], 500));
        assert!(synchronized(&[], 500));
    }
}
