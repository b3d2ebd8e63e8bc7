//! The consistency levels a request may ask for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    Strong,
    BoundedStaleness,
    Session,
    ConsistentPrefix,
    Eventual,
}

impl Consistency {
    pub const ALL: [Consistency; 5] = [
        Consistency::Strong,
        Consistency::BoundedStaleness,
        Consistency::Session,
        Consistency::ConsistentPrefix,
        Consistency::Eventual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Strong => "strong",
            Consistency::BoundedStaleness => "bounded_staleness",
            Consistency::Session => "session",
            Consistency::ConsistentPrefix => "consistent_prefix",
            Consistency::Eventual => "eventual",
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown consistency level {0:?}: expected one of strong, bounded_staleness, session, consistent_prefix, eventual"
)]
pub struct UnknownConsistency(pub String);

impl FromStr for Consistency {
    type Err = UnknownConsistency;

    /// Case-insensitive; `-` is accepted for `_` (`bounded-staleness`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Consistency::ALL
            .into_iter()
            .find(|c| c.as_str() == norm)
            .ok_or_else(|| UnknownConsistency(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_rejects_others() {
        assert_eq!("STRONG".parse::<Consistency>(), Ok(Consistency::Strong));
        assert_eq!(
            "Bounded-Staleness".parse::<Consistency>(),
            Ok(Consistency::BoundedStaleness)
        );
        for c in Consistency::ALL {
            assert_eq!(c.as_str().parse::<Consistency>(), Ok(c));
        }
        assert!("linearizable".parse::<Consistency>().is_err());
        assert!("".parse::<Consistency>().is_err());
    }
}
