//! What request handlers share: the node's identity, its groups, keys and metrics.

use std::sync::Arc;

use crate::clock::{PhysicalClock, SystemClock};
use crate::config::{NodeSettings, Topology};
use crate::consistency::Consistency;
use crate::group::LogGroup;
use crate::metrics::Metrics;
use crate::session::SessionKeys;

pub struct ApiContext {
    pub region: Arc<str>,
    pub topology: Topology,
    pub group: Arc<LogGroup>,
    pub keys: SessionKeys,
    pub metrics: Metrics,
}

impl ApiContext {
    pub fn settings(&self) -> &NodeSettings {
        &self.topology.node
    }

    pub fn now_ms(&self) -> u64 {
        SystemClock.now_ms()
    }

    /// The consistency and staleness bound a collection uses when a request names none.
    pub fn collection_defaults(&self, collection: &str) -> (Consistency, u64) {
        match self.topology.collection(collection) {
            Some(p) => (p.consistency, p.max_staleness_ms),
            None => (
                self.settings().default_consistency,
                self.settings().default_max_staleness_ms,
            ),
        }
    }
}
