//! A multi-master collection's origin logs, as this region holds them.

use std::sync::Arc;

use crate::group::{Groups, LogGroup};
use crate::placement::Resolved;
use crate::session::{GroupPosition, SessionToken};

#[derive(Clone)]
pub struct Origin {
    /// The region whose writes this log carries.
    pub region: String,
    pub group: Arc<LogGroup>,
}

/// Every origin log of one collection, this region's own first.
#[derive(Clone)]
pub struct Origins {
    pub collection: String,
    pub all: Vec<Origin>,
}

#[derive(Debug, thiserror::Error)]
pub enum OriginsError {
    #[error(
        "multi-master collection {collection:?} has no origin log of {region} open here (the \
         node opens every placed one at start)"
    )]
    NotOpen { collection: String, region: String },
}

impl Origins {
    /// The resolved collection's origin logs; None for a single-leader collection.
    pub fn of(groups: &Groups, r: &Resolved, here: &str) -> Result<Option<Origins>, OriginsError> {
        if !r.multi_master() {
            return Ok(None);
        }
        let mut all = Vec::with_capacity(r.origins.len());
        for (region, id) in &r.origins {
            let group = groups.get(*id).ok_or_else(|| OriginsError::NotOpen {
                collection: r.collection.clone(),
                region: region.clone(),
            })?;
            all.push(Origin {
                region: region.clone(),
                group: group.clone(),
            });
        }
        all.sort_by_key(|o| o.region != here);
        Ok(Some(Origins {
            collection: r.collection.clone(),
            all,
        }))
    }

    /// This region's own origin log, when it is one of the placement's.
    pub fn own(&self, here: &str) -> Option<&Origin> {
        self.all.first().filter(|o| o.region == here)
    }

    pub fn group_ids(&self) -> Vec<u32> {
        self.all.iter().map(|o| o.group.id().0).collect()
    }

    /// Records in `token` how far this region had applied each origin log: read before the
    /// heads, so the token never claims more than the read saw.
    pub fn observe(&self, token: &mut SessionToken) {
        for o in &self.all {
            token.observe(GroupPosition {
                group: o.group.id(),
                epoch: o.group.epoch(),
                index: o.group.applied_index(),
            });
        }
    }
}
