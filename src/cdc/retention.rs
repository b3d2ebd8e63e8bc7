//! How long change rows are kept. A group keeps every row a slot following it has not
//! confirmed, and rows no slot needs for a grace period (a slot being created in another
//! region starts on every replica). Never more than `cdc_retain_max_entries` behind the
//! applied index: a slot further behind is marked lost (in the meta group, before anything
//! it needs is purged) and delivers nothing more, rather than holding the disk hostage or
//! skipping silently. Each replica purges its own rows; a reader asking a replica for rows
//! it no longer holds is told so (`reader.rs`).

use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::reader::WHOLE_ENTRY;
use super::slots::SlotStore;
use crate::clock::Hlc;
use crate::config::NodeSettings;
use crate::group::{Groups, LogGroup};
use crate::store::ChangeId;

/// How often each replica looks at its change rows.
const EVERY: Duration = Duration::from_secs(1);
/// Rows looked at (and so purged) per group per round at most: small transactions.
const CHUNK: usize = 20_000;

/// A slot's claim on one group's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub slot: String,
    pub confirmed: ChangeId,
}

/// What one round does to one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Purge rows at or below this index (nothing if at or below the floor).
    pub purge_through: u64,
    /// Slots to mark lost first.
    pub lose: Vec<String>,
}

/// The last index whose rows `need` does not still want.
fn done_through(c: ChangeId) -> u64 {
    if c.seq == WHOLE_ENTRY {
        c.index
    } else {
        c.index.saturating_sub(1)
    }
}

/// Decides a round for one group: `applied` is its applied index, `past_grace` the last
/// index whose rows are all older than the grace period, `needs` the live slots following
/// it, `cap` the most entries kept behind `applied`.
pub fn plan(applied: u64, past_grace: u64, needs: &[Need], cap: u64) -> Plan {
    let needed = needs
        .iter()
        .map(|n| done_through(n.confirmed))
        .min()
        .unwrap_or(applied);
    let mut through = needed.min(past_grace);
    let cap_through = applied.saturating_sub(cap);
    let mut lose = Vec::new();
    if needed < cap_through {
        lose = needs
            .iter()
            .filter(|n| done_through(n.confirmed) < cap_through)
            .map(|n| n.slot.clone())
            .collect();
        through = through.max(cap_through);
    }
    Plan {
        purge_through: through,
        lose,
    }
}

#[derive(Clone)]
pub struct RetentionMetrics {
    held: IntGaugeVec,
    purged: IntCounterVec,
    lost: IntGaugeVec,
}

impl RetentionMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<RetentionMetrics> {
        let held = IntGaugeVec::new(
            Opts::new(
                "georep_cdc_changes_held",
                "Change rows this replica holds for change data capture, by group",
            ),
            &["group"],
        )?;
        let purged = IntCounterVec::new(
            Opts::new(
                "georep_cdc_changes_purged_total",
                "Change rows purged because no slot needed them (or the retention cap was reached)",
            ),
            &["group"],
        )?;
        let lost = IntGaugeVec::new(
            Opts::new(
                "georep_cdc_slot_lost",
                "1 for a slot that fell further behind than node.cdc_retain_max_entries and was \
                 marked lost (it delivers nothing more)",
            ),
            &["slot"],
        )?;
        registry.register(Box::new(held.clone()))?;
        registry.register(Box::new(purged.clone()))?;
        registry.register(Box::new(lost.clone()))?;
        Ok(RetentionMetrics { held, purged, lost })
    }
}

/// Runs the rounds until the node stops.
pub async fn run(
    slots: SlotStore,
    groups: Arc<Groups>,
    clock: Arc<Hlc>,
    settings: NodeSettings,
    metrics: RetentionMetrics,
) {
    loop {
        tokio::time::sleep(EVERY).await;
        let live = match slots.local() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "change retention: slots unreadable; purging nothing");
                continue;
            }
        };
        for (record, cursor) in &live {
            if cursor.lost.is_some() {
                metrics.lost.with_label_values(&[&record.spec.name]).set(1);
            }
        }
        let cutoff = clock.wall_ms().saturating_sub(settings.cdc_retain_grace_ms);
        // the meta group too: its catalog rows are the DDL events
        for g in groups.iter().filter(|g| g.is_member()) {
            let needs: Vec<Need> = live
                .iter()
                .filter(|(_, c)| c.lost.is_none())
                .filter_map(|(r, c)| {
                    c.confirmed.get(g.id()).map(|confirmed| Need {
                        slot: r.spec.name.clone(),
                        confirmed,
                    })
                })
                .collect();
            if let Err(e) = round(&slots, g, &needs, cutoff, &settings, &metrics).await {
                tracing::warn!(group = %g.id(), error = %e, "change retention round failed");
            }
        }
    }
}

async fn round(
    slots: &SlotStore,
    g: &LogGroup,
    needs: &[Need],
    cutoff_ms: u64,
    settings: &NodeSettings,
    metrics: &RetentionMetrics,
) -> Result<(), super::SlotStoreError> {
    let (id, store) = (g.id(), g.store());
    let label = id.to_string();
    let floor = store.changes_floor(id.0)?;
    let applied = store.applied(id.0)?.index;
    let page = store.changes_after(id.0, super::reader::start_at(floor), CHUNK, usize::MAX)?;
    let past_grace = past_grace(&page.rows, page.more, floor, cutoff_ms);
    let plan = plan(applied, past_grace, needs, settings.cdc_retain_max_entries);
    for slot in &plan.lose {
        tracing::error!(%slot, group = %id, cap = settings.cdc_retain_max_entries,
            "slot fell behind the change retention cap; marking it lost");
        slots
            .mark_lost(
                slot,
                &format!(
                    "it fell more than node.cdc_retain_max_entries ({}) entries behind group {id}",
                    settings.cdc_retain_max_entries
                ),
            )
            .await?;
        metrics.lost.with_label_values(&[slot]).set(1);
    }
    if plan.purge_through > floor {
        let gone = store.purge_changes(id.0, plan.purge_through)?;
        metrics.purged.with_label_values(&[&label]).inc_by(gone);
    }
    let (_, held) = store.changes_held(id.0)?;
    metrics.held.with_label_values(&[&label]).set(held as i64);
    Ok(())
}

/// The last index whose rows (of those scanned from the floor on) are all older than
/// `cutoff_ms`: the scan's rows are in log order and rows of one entry share its HLC.
fn past_grace(rows: &[crate::store::ChangeRow], more: bool, floor: u64, cutoff_ms: u64) -> u64 {
    match rows.iter().find(|r| r.hlc.physical_ms() >= cutoff_ms) {
        Some(young) => young.id.index.saturating_sub(1).max(floor),
        // every row scanned is old; the next page may hold more of the last entry's rows
        None => match rows.last() {
            Some(last) if more => last.id.index.saturating_sub(1).max(floor),
            Some(last) => last.id.index,
            None => floor,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(slot: &str, index: u64, seq: u32) -> Need {
        Need {
            slot: slot.into(),
            confirmed: ChangeId { index, seq },
        }
    }

    #[test]
    fn rows_go_once_every_slot_confirmed_them_and_the_grace_passed() {
        // no slot: everything past the grace
        assert_eq!(plan(100, 60, &[], 1000).purge_through, 60);
        // the slowest slot holds rows back; a part-read entry is kept whole
        let needs = [need("a", 50, WHOLE_ENTRY), need("b", 40, 2)];
        assert_eq!(
            plan(100, 90, &needs, 1000),
            Plan {
                purge_through: 39,
                lose: vec![]
            }
        );
        // the grace holds back rows slots have confirmed
        assert_eq!(plan(100, 10, &needs, 1000).purge_through, 10);
    }

    #[test]
    fn a_slot_past_the_cap_is_lost_and_no_longer_holds_rows() {
        let needs = [
            need("slow", 10, WHOLE_ENTRY),
            need("fast", 950, WHOLE_ENTRY),
        ];
        let p = plan(1000, 990, &needs, 100);
        assert_eq!(p.lose, vec!["slow".to_string()]);
        assert_eq!(p.purge_through, 900);
        // exactly at the cap: kept
        let p = plan(1000, 990, &[need("edge", 900, WHOLE_ENTRY)], 100);
        assert!(p.lose.is_empty());
        assert_eq!(p.purge_through, 900);
    }

    #[test]
    fn the_grace_stops_at_the_first_young_row() {
        use crate::clock::Timestamp;
        use crate::store::{ChangeOp, ChangeRow};
        let row = |index: u64, ms: u64| ChangeRow {
            id: ChangeId::at(index),
            op: ChangeOp::Insert,
            hlc: Timestamp::new(ms, 0, 1),
            origin: "r1".into(),
            collection: "c".into(),
            key: "k".into(),
            before: None,
            after: None,
        };
        let rows = [row(5, 100), row(6, 100), row(8, 300)];
        assert_eq!(past_grace(&rows, false, 4, 200), 7);
        assert_eq!(past_grace(&rows, false, 4, 400), 8);
        assert_eq!(past_grace(&rows, true, 4, 400), 7);
        assert_eq!(past_grace(&[], false, 4, 400), 4);
        assert_eq!(past_grace(&rows, false, 4, 50), 4);
    }
}
