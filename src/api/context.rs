//! What request handlers share: the node's identity, its groups, keys and metrics.

use std::sync::Arc;

use crate::config::{NodeSettings, Placement, Topology};
use crate::consistency::Consistency;
use std::collections::HashMap;

use super::error::{ApiError, ErrorCode};
use crate::group::{GroupId, Groups, LogGroup};
use crate::metrics::Metrics;
use crate::session::SessionKeys;

/// How long a document request waits for the cluster's session keys at start-up.
const CLUSTER_KEYS_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

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
    pub caller: crate::transport::rpc::PeerCaller,
    /// The node's clock (its wall clock may carry a test offset).
    pub clock: Arc<crate::clock::Hlc>,
    /// Who may call the API (`[auth]`).
    pub auth: crate::auth::Authenticator,
    /// The peer transport, None with a single region: its measured peer clocks.
    pub transport: Option<Arc<crate::transport::Transport>>,
}

impl ApiContext {
    pub fn settings(&self) -> &NodeSettings {
        &self.topology.node
    }

    /// The session-token keys in force (a cheap copy: a few 32-byte keys).
    pub fn session_keys(&self) -> SessionKeys {
        self.keys.read().expect("session keys").clone()
    }

    /// Whether tokens signed here verify in every region: with several regions and no key
    /// file, a region starts with a key of its own (id 0) that no other region knows, and
    /// must not sign with it; the meta group's keys (ids 1-255) replace it within a second.
    pub fn cluster_keys_known(&self) -> bool {
        self.keys.read().expect("session keys").current_id() != 0
    }

    /// Waits (bounded) until [`Self::cluster_keys_known`]; 503 if they do not arrive. Called
    /// before a document operation does anything, so a refused request changed nothing.
    pub async fn await_cluster_keys(&self) -> Result<(), ApiError> {
        let deadline = tokio::time::Instant::now() + CLUSTER_KEYS_WAIT;
        while !self.cluster_keys_known() {
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::Unavailable {
                    code: ErrorCode::SessionKeysUnavailable,
                    message: "this region has not learned the cluster's session-token keys \
                              from the meta group yet (it needs a meta-group leader); see \
                              GET /readyz"
                        .into(),
                    retry_after_s: 1,
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// This node's wall clock, ms.
    pub fn now_ms(&self) -> u64 {
        self.clock.wall_ms()
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
