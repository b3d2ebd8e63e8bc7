//! openraft entries to WAL entries and back.
//!
//! The WAL payload is a [`Command`]: a normal entry carries its client's command, a blank
//! entry (a new leader's first) is `Noop`, and a membership change is `Membership` with the
//! membership as JSON. Term and index are the WAL entry's own fields (with
//! `single-term-leader`, a committed leader id is just the term). openraft counts from 0 (its
//! first entry is the initial membership) and the WAL from 1, so WAL index = Raft index + 1;
//! versions, session tokens and the archive all use WAL indexes. A blank or membership
//! entry has no client HLC; it takes the previous entry's, so HLCs never decrease along the
//! log and point-in-time restore can binary-search them. A client entry's HLC is above the
//! previous entry's: a stamp at or below it (a leader whose clock had not caught up with
//! the log it leads; seen once across a failover to regions whose clocks ran behind) is
//! raised to the next reading after it, so no two client entries share an HLC.

use openraft::{CommittedLeaderId, EntryPayload};

use super::types::{LogId, Membership, RaftEntry, Request};
use crate::clock::Timestamp;
use crate::store::{Command, CommandKind, kind_of};
use crate::util::codec::DecodeError;
use crate::wal::Entry;

/// Converts `e` for the WAL; `floor` is the previous entry's HLC (HLCs never go back, and
/// a client entry's is above it). Every replica computes the same from the same log.
pub fn to_wal(e: &RaftEntry, floor: Timestamp) -> Entry {
    let index = e.log_id.index + 1;
    let term = e.log_id.leader_id.term;
    match &e.payload {
        EntryPayload::Normal(r) => Entry {
            index,
            term,
            hlc: if r.hlc.packed > floor.packed {
                r.hlc
            } else {
                floor.next_for(r.hlc.node)
            },
            origin: r.origin.clone(),
            payload: r.command.clone(),
        },
        EntryPayload::Blank => Entry {
            index,
            term,
            hlc: floor,
            origin: "".into(),
            payload: Command::Noop.encode(),
        },
        EntryPayload::Membership(m) => Entry {
            index,
            term,
            hlc: floor,
            origin: "".into(),
            payload: Command::Membership(
                serde_json::to_vec(m).expect("membership serializes").into(),
            )
            .encode(),
        },
    }
}

/// Converts a WAL entry back into the openraft entry it was made from.
pub fn from_wal(e: &Entry) -> Result<RaftEntry, DecodeError> {
    let log_id = raft_log_id(e.term, e.index);
    let payload = match kind_of(&e.payload)? {
        CommandKind::Noop => EntryPayload::Blank,
        CommandKind::Membership(body) => {
            let m: Membership = serde_json::from_slice(body).map_err(|_| DecodeError::Invalid {
                offset: 1,
                what: "membership JSON",
            })?;
            EntryPayload::Membership(m)
        }
        CommandKind::Write => EntryPayload::Normal(Request {
            hlc: e.hlc,
            origin: e.origin.clone(),
            command: e.payload.clone(),
        }),
    };
    Ok(RaftEntry { log_id, payload })
}

pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

/// The Raft log id of the WAL entry at `wal_index` (>= 1).
pub fn raft_log_id(term: u64, wal_index: u64) -> LogId {
    log_id(term, wal_index.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use bytes::Bytes;

    use super::*;
    use crate::store::Precondition;

    #[test]
    fn entries_round_trip_and_hlc_never_decreases() {
        let put = Command::Put {
            collection: "c".into(),
            key: "k".into(),
            value: Bytes::from_static(b"v"),
            content_type: None,
            precondition: Precondition::None,
        };
        let floor = Timestamp::new(1000, 3, 7);
        let normal = RaftEntry {
            log_id: log_id(2, 5),
            payload: EntryPayload::Normal(Request {
                hlc: Timestamp::new(900, 0, 1),
                origin: "eu".into(),
                command: put.encode(),
            }),
        };
        let w = to_wal(&normal, floor);
        assert_eq!(
            (w.index, w.term, w.hlc),
            (6, 2, Timestamp::new(1000, 4, 1)),
            "an older HLC is raised above the floor"
        );
        // an equal reading of another node too: client entries never share an HLC
        let mut same = normal.clone();
        if let EntryPayload::Normal(r) = &mut same.payload {
            r.hlc = Timestamp::new(1000, 3, 9);
        }
        assert_eq!(to_wal(&same, floor).hlc, Timestamp::new(1000, 4, 9));
        let full = Timestamp::new(1000, u16::MAX, 7);
        assert_eq!(to_wal(&same, full).hlc, Timestamp::new(1001, 0, 9));
        // a later reading stays as it is
        if let EntryPayload::Normal(r) = &mut same.payload {
            r.hlc = Timestamp::new(1200, 0, 1);
        }
        assert_eq!(to_wal(&same, floor).hlc, Timestamp::new(1200, 0, 1));
        let back = from_wal(&w).unwrap();
        assert_eq!(back.log_id, normal.log_id);
        let blank = RaftEntry {
            log_id: log_id(3, 6),
            payload: EntryPayload::Blank,
        };
        assert_eq!(from_wal(&to_wal(&blank, floor)).unwrap(), blank);
        let m = Membership::new(vec![BTreeSet::from([1, 2, 3])], None);
        let member = RaftEntry {
            log_id: log_id(3, 7),
            payload: EntryPayload::Membership(m),
        };
        let w = to_wal(&member, floor);
        assert_eq!(w.hlc, floor);
        assert_eq!(from_wal(&w).unwrap(), member);
    }
}
