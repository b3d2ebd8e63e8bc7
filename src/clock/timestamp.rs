//! The HLC timestamp: physical milliseconds, a logical counter, and the issuing node.

use std::fmt;
use std::str::FromStr;

/// Bits of the packed word given to the logical counter.
pub const LOGICAL_BITS: u32 = 16;
pub const LOGICAL_MAX: u64 = (1 << LOGICAL_BITS) - 1;

/// A hybrid logical clock reading. Ordered by (physical, logical, node), so two readings
/// from different nodes never compare equal.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timestamp {
    /// `physical_ms << 16 | logical`: what the clock itself compares and stores atomically.
    pub packed: u64,
    /// Tie-breaker: the node that issued the reading.
    pub node: u32,
}

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp { packed: 0, node: 0 };

    pub fn new(physical_ms: u64, logical: u16, node: u32) -> Self {
        Self {
            packed: (physical_ms << LOGICAL_BITS) | u64::from(logical),
            node,
        }
    }

    /// The first reading after this one, for `node` (the logical counter carries into the
    /// millisecond when full).
    pub fn next_for(self, node: u32) -> Timestamp {
        let packed = if self.packed & LOGICAL_MAX == LOGICAL_MAX {
            ((self.packed >> LOGICAL_BITS) + 1) << LOGICAL_BITS
        } else {
            self.packed + 1
        };
        Timestamp { packed, node }
    }

    pub fn physical_ms(self) -> u64 {
        self.packed >> LOGICAL_BITS
    }

    pub fn logical(self) -> u16 {
        (self.packed & LOGICAL_MAX) as u16
    }
}

/// `physical_ms.logical@node` with the node in hex, e.g. `1764150000123.2@9f3a1c2b`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}@{:08x}",
            self.physical_ms(),
            self.logical(),
            self.node
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid HLC timestamp {0:?}: expected physical_ms.logical@node_hex")]
pub struct ParseTimestampError(pub String);

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTimestampError(s.to_string());
        let (time, node) = s.split_once('@').ok_or_else(err)?;
        let (physical, logical) = time.split_once('.').ok_or_else(err)?;
        let physical: u64 = physical.parse().map_err(|_| err())?;
        if physical >> (64 - LOGICAL_BITS) != 0 {
            return Err(err());
        }
        Ok(Timestamp::new(
            physical,
            logical.parse().map_err(|_| err())?,
            u32::from_str_radix(node, 16).map_err(|_| err())?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        let ts = Timestamp::new(1_764_150_000_123, 7, 0x9f3a_1c2b);
        assert_eq!(ts.to_string(), "1764150000123.7@9f3a1c2b");
        assert_eq!(ts.to_string().parse::<Timestamp>().unwrap(), ts);
        assert!("12.x@1".parse::<Timestamp>().is_err());
        assert!("12@1".parse::<Timestamp>().is_err());
    }

    #[test]
    fn orders_by_physical_then_logical_then_node() {
        let a = Timestamp::new(10, 5, 9);
        assert!(a < Timestamp::new(11, 0, 0));
        assert!(a < Timestamp::new(10, 6, 0));
        assert!(a < Timestamp::new(10, 5, 10));
    }
}
