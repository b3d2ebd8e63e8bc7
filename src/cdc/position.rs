//! A slot's position: for each group the slot follows, the last change consumed there (its
//! log index and place in a batch entry). Positions of one slot's events are ordered (each
//! event's position is the one before it with one group moved on), and acknowledging a
//! position takes, per group, the later of it and what was confirmed before, so an old or
//! repeated ack never moves a slot back.
//!
//! As text (what clients see, opaque by contract): `group:index:seq` per group, ascending by
//! group, joined by `,`; e.g. `1:120:0,2463870820:55:2`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::GroupId;
use crate::store::ChangeId;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position(BTreeMap<GroupId, ChangeId>);

/// Why a position's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (a position is what this slot's events or reads returned)")]
pub struct PositionError(String);

impl Position {
    pub fn new() -> Position {
        Position::default()
    }

    pub fn get(&self, group: GroupId) -> Option<ChangeId> {
        self.0.get(&group).copied()
    }

    pub fn set(&mut self, group: GroupId, at: ChangeId) {
        self.0.insert(group, at);
    }

    pub fn groups(&self) -> impl Iterator<Item = (GroupId, ChangeId)> + '_ {
        self.0.iter().map(|(g, c)| (*g, *c))
    }

    /// Per group, the later of the two; groups `self` does not follow are refused (an ack for
    /// another slot's groups).
    pub fn advance_to(&mut self, other: &Position) -> Result<bool, PositionError> {
        let mut moved = false;
        for (g, at) in other.groups() {
            let Some(mine) = self.0.get_mut(&g) else {
                return Err(PositionError(format!(
                    "group {g} is not followed by this slot"
                )));
            };
            if at > *mine {
                *mine = at;
                moved = true;
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

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (g, at)) in self.groups().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}:{}", g.0, at.index, at.seq)?;
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
            if p.0.insert(GroupId(g), ChangeId { index, seq }).is_some() {
                return Err(bad("the group is named twice"));
            }
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
}
