//! Reading a slot: the change rows of each group it follows, after its position, filtered,
//! merged across groups in HLC order (within a group, log order, so per key the order of
//! the writes), cut at the batch size. Nothing here moves the slot: a read returns the same
//! events until they are acknowledged (at-least-once).
//!
//! The batch's frontier is how far the read looked: past the rows the filter dropped and,
//! once a group's rows are all read, up to what the group had applied, so acknowledging it
//! lets a consumer of a narrow slot move on (and the group purge) without an event to ack.

use std::collections::HashMap;

use super::event::{Event, selects, selects_doc};
use super::position::Position;
use super::slot::SlotFilter;
use crate::ids::GroupId;
use crate::store::{ChangeId, ChangeRow, Document, Store, StoreError};

/// The seq of a slot position that has consumed every change of its entry.
pub const WHOLE_ENTRY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Events returned at most.
    pub max_events: usize,
    /// Change rows looked at per group at most (a narrow filter over a long backlog answers
    /// in bounded time; the frontier says how far it got).
    pub max_scan: usize,
    /// Bytes of change rows looked at per group at most.
    pub max_bytes: usize,
}

impl ReadLimits {
    pub fn events(max_events: usize) -> ReadLimits {
        ReadLimits {
            max_events,
            max_scan: 10_000,
            max_bytes: 8 << 20,
        }
    }
}

#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Each event's documents as the store holds them (bytes and content type, before any
    /// projection), in the order of `events`: what a filtered replica copies.
    pub images: Vec<Images>,
    /// Acknowledging it confirms every event of the batch and every change the filter dropped
    /// up to where the read stopped.
    pub frontier: Position,
    /// Whether more changes were left unread (the limits cut the read).
    pub more: bool,
}

/// The documents before and after one change (a snapshot event has only `after`).
#[derive(Debug, Clone, Default)]
pub struct Images {
    pub before: Option<Document>,
    pub after: Option<Document>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("group {group} is not held in this region; read the slot from a region that holds it")]
    NotHeld { group: GroupId },
    /// The rows after the slot's position are not held by this replica: purged (the slot
    /// was lost to the retention cap), or the replica was filled from a snapshot after them.
    #[error(
        "changes of group {group} after index {from} are not held in this region (it holds those after {floor})"
    )]
    NotHeldHere {
        group: GroupId,
        from: u64,
        floor: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A slot's start in a group whose applied index is `applied`: every change so far consumed.
pub fn start_at(applied: u64) -> ChangeId {
    ChangeId {
        index: applied,
        seq: WHOLE_ENTRY,
    }
}

/// Whether a replica whose rows at or below `floor` are gone holds every row after `from`.
pub fn holds_after(floor: u64, from: ChangeId) -> bool {
    from.index > floor || (from.index == floor && from.seq == WHOLE_ENTRY) || floor == 0
}

struct Scanned {
    group: GroupId,
    selected: Vec<ChangeRow>,
    /// Where this group's scan stopped.
    to: ChangeId,
    more: bool,
}

fn scan(
    store: &Store,
    group: GroupId,
    from: ChangeId,
    filter: &SlotFilter,
    limits: &ReadLimits,
) -> Result<Scanned, ReadError> {
    let floor = store.changes_floor(group.0)?;
    if !holds_after(floor, from) {
        return Err(ReadError::NotHeldHere {
            group,
            from: from.index,
            floor,
        });
    }
    // Applied is read before the rows: a row exists for every write applied by then, so a
    // scan that finds no more rows has seen all of them.
    let applied = store.applied(group.0)?.index;
    let page = store.changes_after(group.0, from, limits.max_scan, limits.max_bytes)?;
    let mut to = page.rows.last().map_or(from, |r| r.id);
    if !page.more && applied >= to.index {
        to = start_at(applied);
    }
    let selected = page
        .rows
        .into_iter()
        .filter(|r| selects(filter, r))
        .collect();
    Ok(Scanned {
        group,
        selected,
        to,
        more: page.more,
    })
}

/// The next batch of `from`'s groups, each read from `stores`.
pub fn read(
    stores: &HashMap<GroupId, &Store>,
    filter: &SlotFilter,
    from: &Position,
    limits: ReadLimits,
) -> Result<Batch, ReadError> {
    if from.snapshot_pending().is_some() {
        return snapshot_batch(stores, filter, from, limits);
    }
    let mut scans = Vec::new();
    for (group, at) in from.groups() {
        let store = stores.get(&group).ok_or(ReadError::NotHeld { group })?;
        scans.push(scan(store, group, at, filter, &limits)?);
    }
    Ok(merge(scans, from, filter, limits.max_events))
}

/// The initial snapshot's next page: documents of the first group whose snapshot is not
/// done, at or below the slot's start there, filtered, in key order. A document written
/// after the start is not in it: its change rows, read once every snapshot is done, carry it
/// (the first one's `before` is how it stood at the start), so no key is delivered older
/// after newer. The log stays at the start until then.
fn snapshot_batch(
    stores: &HashMap<GroupId, &Store>,
    filter: &SlotFilter,
    from: &Position,
    limits: ReadLimits,
) -> Result<Batch, ReadError> {
    let (group, after) = from.snapshot_pending().expect("the caller checked");
    let store = stores.get(&group).ok_or(ReadError::NotHeld { group })?;
    let start = from.get(group).unwrap_or_default();
    let page = store.docs_page(group.0, after, start.index, limits.max_scan)?;
    let mut position = from.clone();
    let mut events = Vec::new();
    let mut images = Vec::new();
    let mut cut = false;
    for d in &page.docs {
        if !selects_doc(filter, &d.collection, &d.doc) {
            continue;
        }
        if events.len() >= limits.max_events {
            cut = true;
            break;
        }
        position.set_snapshot(group, d.raw_key.clone());
        events.push(Event::from_doc(
            d,
            group,
            position.clone(),
            filter.projection.as_ref(),
        ));
        images.push(Images {
            before: None,
            after: Some(d.doc.clone()),
        });
    }
    let mut frontier = position;
    if !cut {
        match (page.done, page.last) {
            (true, _) => frontier.end_snapshot(group),
            (false, Some(last)) => frontier.set_snapshot(group, last),
            (false, None) => {}
        }
    }
    // more follows: the rest of the snapshot, or the log after it
    Ok(Batch {
        events,
        images,
        frontier,
        more: true,
    })
}

/// Orders the selected rows of every group by HLC (ties by group, then log order) and takes
/// the first `max_events`.
fn merge(scans: Vec<Scanned>, from: &Position, filter: &SlotFilter, max_events: usize) -> Batch {
    let mut all: Vec<(GroupId, ChangeRow)> = Vec::new();
    let mut more = false;
    for s in &scans {
        more |= s.more;
        all.extend(s.selected.iter().cloned().map(|r| (s.group, r)));
    }
    all.sort_by(|(ga, a), (gb, b)| (a.hlc, *ga, a.id).cmp(&(b.hlc, *gb, b.id)));
    let cut = all.len() > max_events;
    more |= cut;
    all.truncate(max_events);
    let mut position = from.clone();
    let mut taken: HashMap<GroupId, usize> = HashMap::new();
    let events = all
        .iter()
        .map(|(g, row)| {
            position.set(*g, row.id);
            *taken.entry(*g).or_default() += 1;
            Event::from_row(row, *g, position.clone(), filter.projection.as_ref())
        })
        .collect();
    // the rows are done with: their documents move into the images, uncopied
    let images = all
        .into_iter()
        .map(|(_, row)| Images {
            before: row.before,
            after: row.after,
        })
        .collect();
    // A group whose selected rows were all taken is read up to where its scan stopped; one
    // cut short, up to its last event.
    let mut frontier = position;
    for s in &scans {
        if taken.get(&s.group).copied().unwrap_or(0) == s.selected.len() {
            frontier.set(s.group, s.to);
        }
    }
    Batch {
        events,
        images,
        frontier,
        more,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::cdc::{Op, SlotSpec};
    use crate::clock::Timestamp;
    use crate::store::{Command, Precondition};
    use crate::wal::Entry;

    fn put(index: u64, hlc: u64, collection: &str, key: &str, value: &str) -> Entry {
        Entry {
            index,
            term: 1,
            hlc: Timestamp::new(hlc, 0, 1),
            origin: Arc::from("r1"),
            payload: Command::Put {
                collection: collection.into(),
                key: key.into(),
                value: Bytes::from(value.to_string()),
                content_type: None,
                precondition: Precondition::None,
            }
            .encode(),
        }
    }

    fn filter(json: serde_json::Value) -> SlotFilter {
        serde_json::from_value::<SlotSpec>(json)
            .unwrap()
            .compile()
            .unwrap()
    }

    fn apply(store: &Store, group: u32, entries: &[Entry]) {
        let refs: Vec<&Entry> = entries.iter().collect();
        store.apply_batch(group, &refs, false).unwrap();
    }

    #[test]
    fn reads_merge_groups_by_hlc_and_stop_where_the_batch_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let (a, b) = (GroupId(1), GroupId(5));
        apply(
            &store,
            1,
            &[
                put(1, 10, "orders", "o1", "1"),
                put(2, 30, "users", "u1", "1"),
                put(3, 50, "orders", "o1", "2"),
            ],
        );
        apply(
            &store,
            5,
            &[
                put(1, 20, "orders", "o2", "1"),
                put(2, 40, "orders", "o2", "2"),
            ],
        );
        let stores = HashMap::from([(a, &store), (b, &store)]);
        let f = filter(serde_json::json!({"name": "s", "collections": ["orders"]}));
        let mut from = Position::new();
        from.set(a, start_at(0));
        from.set(b, start_at(0));

        let batch = read(&stores, &f, &from, ReadLimits::events(3)).unwrap();
        let got: Vec<_> = batch
            .events
            .iter()
            .map(|e| (e.source.group, e.key.as_str(), e.op))
            .collect();
        assert_eq!(
            got,
            [
                (1, "o1", Op::Insert),
                (5, "o2", Op::Insert),
                (5, "o2", Op::Update)
            ]
        );
        assert!(batch.more);
        // each event's position moves its own group only
        assert_eq!(batch.events[0].position.to_string(), "1:1:0,5:0:4294967295");
        assert_eq!(batch.events[2].position.to_string(), "1:1:0,5:2:0");
        // group 5 was read to the end (its applied index), group 1 only to its last event
        assert_eq!(batch.frontier.to_string(), "1:1:0,5:2:4294967295");

        // the same read again gives the same events (nothing moved); from the frontier on,
        // the rest, past the users row the filter drops
        let again = read(&stores, &f, &from, ReadLimits::events(3)).unwrap();
        assert_eq!(again.events, batch.events);
        let rest = read(&stores, &f, &batch.frontier, ReadLimits::events(10)).unwrap();
        assert_eq!(rest.events.len(), 1);
        assert_eq!(
            rest.events[0].before.as_ref().unwrap(),
            &serde_json::json!(1)
        );
        assert!(!rest.more);
        assert_eq!(rest.frontier.to_string(), "1:3:4294967295,5:2:4294967295");
        let empty = read(&stores, &f, &rest.frontier, ReadLimits::events(10)).unwrap();
        assert!(empty.events.is_empty());
        assert_eq!(empty.frontier, rest.frontier);
    }

    #[test]
    fn a_scan_limit_moves_the_frontier_past_dropped_rows_only_as_far_as_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let entries: Vec<Entry> = (1..=50)
            .map(|i| put(i, i, if i == 50 { "orders" } else { "users" }, "k", "1"))
            .collect();
        apply(&store, 1, &entries);
        let stores = HashMap::from([(GroupId(1), &store)]);
        let f = filter(serde_json::json!({"name": "s", "collections": ["orders"]}));
        let mut from = Position::new();
        from.set(GroupId(1), start_at(0));
        let limits = ReadLimits {
            max_scan: 20,
            ..ReadLimits::events(10)
        };
        let first = read(&stores, &f, &from, limits).unwrap();
        assert!(first.events.is_empty() && first.more);
        assert_eq!(first.frontier.to_string(), "1:20:0");
        let second = read(&stores, &f, &first.frontier, limits).unwrap();
        let third = read(&stores, &f, &second.frontier, limits).unwrap();
        assert_eq!(third.events.len(), 1);
        assert_eq!(third.events[0].source.index, 50);
    }

    #[test]
    fn an_initial_snapshot_comes_first_and_leaves_later_writes_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let g = GroupId(1);
        let entries: Vec<Entry> = (1..=5)
            .map(|i| put(i, i, "orders", &format!("k{i}"), &i.to_string()))
            .collect();
        apply(&store, 1, &entries);
        // the slot starts at 5, then k2 is overwritten and k9 written
        let mut from = Position::new();
        from.set(g, start_at(5));
        from.begin_snapshot();
        apply(
            &store,
            1,
            &[
                put(6, 6, "orders", "k2", "20"),
                put(7, 7, "orders", "k9", "9"),
            ],
        );
        let stores = HashMap::from([(g, &store)]);
        let f = filter(serde_json::json!({"name": "s"}));
        let limits = ReadLimits {
            max_scan: 2,
            ..ReadLimits::events(10)
        };
        let mut seen = Vec::new();
        let mut at = from;
        for _ in 0..10 {
            let b = read(&stores, &f, &at, limits).unwrap();
            seen.extend(
                b.events
                    .iter()
                    .map(|e| (e.op, e.key.clone(), e.after.clone())),
            );
            at = b.frontier;
            if !b.more {
                break;
            }
        }
        let v = |n: u64| Some(serde_json::json!(n));
        assert_eq!(
            seen,
            vec![
                (Op::Snapshot, "k1".to_string(), v(1)),
                (Op::Snapshot, "k3".to_string(), v(3)),
                (Op::Snapshot, "k4".to_string(), v(4)),
                (Op::Snapshot, "k5".to_string(), v(5)),
                (Op::Update, "k2".to_string(), v(20)),
                (Op::Insert, "k9".to_string(), v(9)),
            ]
        );
        assert_eq!(at.snapshots_pending(), 0);
    }

    #[test]
    fn rows_a_replica_no_longer_holds_are_an_error_not_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        apply(
            &store,
            1,
            &[put(1, 1, "orders", "a", "1"), put(2, 2, "orders", "b", "1")],
        );
        store.purge_changes(1, 1).unwrap();
        let f = filter(serde_json::json!({"name": "s"}));
        let stores = HashMap::from([(GroupId(1), &store)]);
        let mut from = Position::new();
        from.set(GroupId(1), start_at(0));
        let e = read(&stores, &f, &from, ReadLimits::events(10)).unwrap_err();
        assert!(matches!(e, ReadError::NotHeldHere { floor: 1, .. }), "{e}");
        from.set(GroupId(1), start_at(1));
        assert_eq!(
            read(&stores, &f, &from, ReadLimits::events(10))
                .unwrap()
                .events
                .len(),
            1
        );
        from.set(GroupId(9), start_at(0));
        assert!(matches!(
            read(&stores, &f, &from, ReadLimits::events(10)),
            Err(ReadError::NotHeld { .. })
        ));
        assert!(holds_after(0, ChangeId::default()));
        assert!(!holds_after(5, ChangeId { index: 5, seq: 0 }));
        assert!(holds_after(5, start_at(5)));
    }
}
