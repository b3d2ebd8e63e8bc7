//! A slot's position: for each group the slot follows, the last change consumed there (its
//! log index and place in a batch entry), and, while a slot's initial snapshot is being read,
//! per group the last document the snapshot delivered. Positions of one slot's events are
//! ordered (each event's position is the one before it with one group moved on), and
//! acknowledging a position takes, per group, the later of it and what was confirmed before,
//! so an old or repeated ack never moves a slot back.
//!
//! As text (what clients see, opaque by contract): `group:index:seq` per group, ascending by
//! group, then `sgroup:hexkey` per group whose snapshot is not done (the document key last
//! delivered, empty before the first), joined by `,`; e.g. `1:120:0,2463870820:55:2` or
//! `1:40:4294967295,s1:6f7264657273006b37`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::GroupId;
use crate::store::ChangeId;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    log: BTreeMap<GroupId, ChangeId>,
    /// Groups whose initial snapshot is not done: the last document key it delivered.
    snapshot: BTreeMap<GroupId, Vec<u8>>,
}

/// Why a position's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (a position is what this slot's events or reads returned)")]
pub struct PositionError(String);

impl Position {
    pub fn new() -> Position {
        Position::default()
    }

    pub fn get(&self, group: GroupId) -> Option<ChangeId> {
        self.log.get(&group).copied()
    }

    pub fn set(&mut self, group: GroupId, at: ChangeId) {
        self.log.insert(group, at);
    }

    pub fn groups(&self) -> impl Iterator<Item = (GroupId, ChangeId)> + '_ {
        self.log.iter().map(|(g, c)| (*g, *c))
    }

    /// Starts an initial snapshot of every data group the position follows. Not of the meta
    /// group: its catalog holds no client documents, and its DDL events start at the start.
    pub fn begin_snapshot(&mut self) {
        self.snapshot = self
            .log
            .keys()
            .filter(|g| **g != GroupId::META)
            .map(|g| (*g, Vec::new()))
            .collect();
    }

    /// The first group whose snapshot is still being read, and the last key it delivered.
    pub fn snapshot_pending(&self) -> Option<(GroupId, &[u8])> {
        self.snapshot.iter().next().map(|(g, k)| (*g, k.as_slice()))
    }

    pub fn snapshots_pending(&self) -> usize {
        self.snapshot.len()
    }

    /// The snapshot of `group` delivered up to `key`.
    pub fn set_snapshot(&mut self, group: GroupId, key: Vec<u8>) {
        self.snapshot.insert(group, key);
    }

    /// The snapshot of `group` is done.
    pub fn end_snapshot(&mut self, group: GroupId) {
        self.snapshot.remove(&group);
    }

    /// Per group, the later of the two; groups `self` does not follow are refused (an ack for
    /// another slot's groups). A group `other` names without a snapshot mark has finished
    /// its snapshot (events after a snapshot carry none).
    pub fn advance_to(&mut self, other: &Position) -> Result<bool, PositionError> {
        let mut moved = false;
        for (g, at) in other.groups() {
            let Some(mine) = self.log.get_mut(&g) else {
                return Err(PositionError(format!(
                    "group {g} is not followed by this slot"
                )));
            };
            if at > *mine {
                *mine = at;
                moved = true;
            }
        }
        for g in other.snapshot.keys() {
            if !self.log.contains_key(g) {
                return Err(PositionError(format!(
                    "group {g} is not followed by this slot"
                )));
            }
        }
        let pending: Vec<GroupId> = self.snapshot.keys().copied().collect();
        for g in pending {
            match other.snapshot.get(&g) {
                Some(k) => {
                    let mine = self.snapshot.get_mut(&g).expect("pending");
                    if k > mine {
                        *mine = k.clone();
                        moved = true;
                    }
                }
                None if other.log.contains_key(&g) => {
                    self.snapshot.remove(&g);
                    moved = true;
                }
                None => {}
            }
        }
        Ok(moved)
    }

    /// Whether `self` is at or past `other` in every group `other` names.
    pub fn covers(&self, other: &Position) -> bool {
        other
            .groups()
            .all(|(g, at)| self.get(g).is_some_and(|mine| mine >= at))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { "," };
            first = false;
            f.write_str(s)
        };
        for (g, at) in self.groups() {
            sep(f)?;
            write!(f, "{}:{}:{}", g.0, at.index, at.seq)?;
        }
        for (g, key) in &self.snapshot {
            sep(f)?;
            write!(f, "s{}:{}", g.0, hex(key))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Position {
    type Err = PositionError;

    fn from_str(s: &str) -> Result<Position, PositionError> {
        let mut p = Position::new();
        if s.is_empty() {
            return Err(PositionError("empty".into()));
        }
        for (i, part) in s.split(',').enumerate() {
            let bad = |why: &str| PositionError(format!("part {i} ({part:?}): {why}"));
            if let Some(snap) = part.strip_prefix('s') {
                let (g, key) = snap
                    .split_once(':')
                    .ok_or_else(|| bad("not sgroup:hexkey"))?;
                let g: u32 = g.parse().map_err(|_| bad("the group is not a number"))?;
                let key = unhex(key).ok_or_else(|| bad("the key is not hex"))?;
                if p.snapshot.insert(GroupId(g), key).is_some() {
                    return Err(bad("the group's snapshot is named twice"));
                }
                continue;
            }
            let mut it = part.split(':');
            let (Some(g), Some(index), Some(seq), None) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                return Err(bad("not group:index:seq"));
            };
            let g: u32 = g.parse().map_err(|_| bad("the group is not a number"))?;
            let index: u64 = index
                .parse()
                .map_err(|_| bad("the index is not a number"))?;
            let seq: u32 = seq.parse().map_err(|_| bad("the seq is not a number"))?;
            if p.log.insert(GroupId(g), ChangeId { index, seq }).is_some() {
                return Err(bad("the group is named twice"));
            }
        }
        if let Some(g) = p.snapshot.keys().find(|g| !p.log.contains_key(g)) {
            return Err(PositionError(format!(
                "a snapshot of group {g}, which the position does not follow"
            )));
        }
        Ok(p)
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Position, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(s: &str) -> Position {
        s.parse().unwrap()
    }

    #[test]
    fn text_round_trips_in_group_order() {
        let mut p = Position::new();
        p.set(GroupId(7), ChangeId { index: 3, seq: 1 });
        p.set(GroupId(1), ChangeId::at(120));
        assert_eq!(p.to_string(), "1:120:0,7:3:1");
        assert_eq!(pos("1:120:0,7:3:1"), p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Position>(&json).unwrap(), p);
        p.begin_snapshot();
        p.set_snapshot(GroupId(7), b"c\0k".to_vec());
        assert_eq!(p.to_string(), "1:120:0,7:3:1,s1:,s7:63006b");
        assert_eq!(pos(&p.to_string()), p);
        assert_eq!(p.snapshot_pending(), Some((GroupId(1), &b""[..])));
    }

    #[test]
    fn the_meta_group_takes_no_snapshot() {
        let mut p = Position::new();
        p.set(GroupId::META, ChangeId::at(4));
        p.set(GroupId::DEFAULT_DATA, ChangeId::at(8));
        p.begin_snapshot();
        assert_eq!(p.snapshots_pending(), 1);
        assert_eq!(
            p.snapshot_pending(),
            Some((GroupId::DEFAULT_DATA, &b""[..]))
        );
    }

    #[test]
    fn bad_text_is_refused_naming_the_part() {
        for (s, needle) in [
            ("", "empty"),
            ("1:2", "part 0"),
            ("1:2:3,x:1:0", "part 1"),
            ("1:2:3:4", "not group:index:seq"),
            ("1:2:0,1:3:0", "twice"),
            ("1:-2:0", "index"),
            ("1:2:0,s1:6", "hex"),
            ("1:2:0,s1", "sgroup:hexkey"),
            ("1:2:0,s2:", "does not follow"),
        ] {
            let e = s.parse::<Position>().unwrap_err().to_string();
            assert!(e.contains(needle), "{s:?}: {e}");
        }
    }

    #[test]
    fn an_ack_moves_each_group_forward_only() {
        let mut confirmed = pos("1:10:0,7:5:0");
        assert!(confirmed.advance_to(&pos("1:12:1,7:4:0")).unwrap());
        assert_eq!(confirmed, pos("1:12:1,7:5:0"));
        assert!(!confirmed.advance_to(&pos("1:11:0")).unwrap());
        assert!(confirmed.advance_to(&pos("9:1:0")).is_err());
        assert!(confirmed.covers(&pos("1:12:0")));
        assert!(!confirmed.covers(&pos("7:6:0")));
        assert!(!confirmed.covers(&pos("8:0:0")));
    }

    #[test]
    fn a_snapshot_moves_by_key_and_ends_when_an_ack_carries_no_mark() {
        let mut confirmed = pos("1:10:0,7:5:0,s1:,s7:");
        assert!(
            confirmed
                .advance_to(&pos("1:10:0,7:5:0,s1:0a,s7:"))
                .unwrap()
        );
        assert!(
            !confirmed
                .advance_to(&pos("1:10:0,7:5:0,s1:01,s7:"))
                .unwrap()
        );
        assert_eq!(confirmed.to_string(), "1:10:0,7:5:0,s1:0a,s7:");
        // group 1 done (no mark), group 7 still pending
        assert!(confirmed.advance_to(&pos("1:10:0,7:5:0,s7:ff")).unwrap());
        assert_eq!(confirmed.to_string(), "1:10:0,7:5:0,s7:ff");
        // a position naming only group 1 says nothing of group 7's snapshot
        confirmed.advance_to(&pos("1:11:0")).unwrap();
        assert_eq!(confirmed.snapshots_pending(), 1);
        confirmed.advance_to(&pos("1:11:0,7:6:0")).unwrap();
        assert_eq!(confirmed.snapshots_pending(), 0);
    }
}
