//! What request handlers share: the node's identity, its groups, keys and metrics.

use std::sync::Arc;

use crate::clock::{PhysicalClock, SystemClock};
use crate::config::{NodeSettings, Placement, Topology};
use crate::consistency::Consistency;
use std::collections::HashMap;

use super::error::ApiError;
use crate::group::{GroupId, Groups, LogGroup};
use crate::metrics::Metrics;
use crate::session::SessionKeys;

pub struct ApiContext {
    pub region: Arc<str>,
    pub topology: Topology,
    pub groups: Arc<Groups>,
    /// Placed collections and their groups; the rest live in the default group.
    pub placed: HashMap<String, GroupId>,
    /// The session-token keys: in a multi-region topology the meta group's, which rotate.
    pub keys: Arc<std::sync::RwLock<SessionKeys>>,
    pub metrics: Metrics,
    /// The meta group's catalog (epochs and voters of the `standard` groups); None in a
    /// single-region topology.
    pub catalog: Option<Arc<crate::catalog::Catalog>>,
    /// Reaches other regions (requests for collections held elsewhere, see `proxy.rs`).
    pub caller: crate::group::PeerCaller,
}

impl ApiContext {
    pub fn settings(&self) -> &NodeSettings {
        &self.topology.node
    }

    /// The session-token keys in force (a cheap copy: a few 32-byte keys).
    pub fn session_keys(&self) -> SessionKeys {
        self.keys.read().expect("session keys").clone()
    }

    pub fn now_ms(&self) -> u64 {
        SystemClock.now_ms()
    }

    /// The replica of `collection`'s group in this region.
    pub fn group_for(&self, collection: &str) -> Result<&Arc<LogGroup>, ApiError> {
        let id = self
            .placed
            .get(collection)
            .copied()
            .unwrap_or(GroupId::DEFAULT_DATA);
        self.groups
            .get(id)
            .filter(|g| id == GroupId::DEFAULT_DATA || self.holds(collection, g))
            .ok_or_else(|| ApiError::Misdirected {
                message: format!(
                    "collection {collection:?} is not replicated to region {}; send its requests to {}",
                    self.region,
                    self.placement(collection)
                        .map(|p| p.regions.join(", "))
                        .unwrap_or_default()
                ),
            })
    }

    /// Whether this region serves `collection` itself: the placement in force names it (a
    /// changed placement is followed from the catalog at once, before this replica's own
    /// view catches up, so that regions agree on who serves what).
    pub fn holds(&self, collection: &str, group: &LogGroup) -> bool {
        match self.placement(collection) {
            Some(p) => crate::group::spec::placement_spec(&p).has(&self.region),
            None => group.is_member(),
        }
    }

    /// The placement in force: the catalog's, once changed at run time, else the topology's.
    pub fn placement(&self, collection: &str) -> Option<Placement> {
        let changed = self
            .catalog
            .as_ref()
            .and_then(|c| c.placement(collection).ok().flatten())
            .map(|(r, _)| r.placement);
        changed.or_else(|| self.topology.collection(collection).cloned())
    }

    /// The consistency and staleness bound a collection uses when a request names none.
    pub fn collection_defaults(&self, collection: &str) -> (Consistency, u64) {
        match self.placement(collection) {
            Some(p) => (p.consistency, p.max_staleness_ms),
            None => (
                self.settings().default_consistency,
                self.settings().default_max_staleness_ms,
            ),
        }
    }
}
