//! What a write to a multi-master collection proposes to this region's origin log.

use bytes::Bytes;

use super::Origins;
use crate::merge::VersionVector;
use crate::store::Command;

/// The version to propose: the value (None: a delete) and what this region has applied of
/// every other origin log. The origin's own position is added by the store at apply
/// (`store/merge_apply.rs`), so it is the entry's index on every replica.
pub fn command(
    origins: &Origins,
    here: &str,
    key: &str,
    value: Option<Bytes>,
    content_type: Option<String>,
) -> Command {
    let mut seen = VersionVector::new();
    for o in origins.all.iter().filter(|o| o.region != here) {
        seen.raise(&o.region, o.group.applied_index());
    }
    Command::Merge {
        collection: origins.collection.clone(),
        key: key.to_string(),
        value,
        content_type,
        seen,
    }
}
