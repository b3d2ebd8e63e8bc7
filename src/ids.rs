//! Identifiers every floor names: a leaf, so config, consistency and session tokens can
//! address a log group without depending on the group machinery.

use std::fmt;

/// A log group, addressed by a small number so session tokens stay compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub u32);

impl GroupId {
    /// The catalog group whose voters are all regions.
    pub const META: GroupId = GroupId(0);
    /// The data group that holds collections until placement assigns others.
    pub const DEFAULT_DATA: GroupId = GroupId(1);
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}
