//! What request handlers share: the node's identity, its groups, keys and metrics.

use std::sync::Arc;

use crate::config::{NodeSettings, Placement, Topology};

use super::error::{ApiError, ErrorCode};
use crate::group::{Groups, LogGroup};
use crate::metrics::Metrics;
use crate::placement::Resolved;
use crate::session::SessionKeys;

/// How long a document request waits for the cluster's session keys at start-up.
const CLUSTER_KEYS_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub struct ApiContext {
    pub region: Arc<str>,
    pub topology: Topology,
    pub groups: Arc<Groups>,
    /// Who serves each collection (`placement/resolve.rs`).
    pub placements: crate::placement::Resolver,
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
    /// Change-data-capture slots (`cdc/slots.rs`).
    pub slots: crate::cdc::SlotStore,
    /// The peer transport, None with a single region: its measured peer clocks.
    pub transport: Option<Arc<crate::transport::Transport>>,
    /// One CRDT operation at a time per document (`multimaster/key_locks.rs`).
    pub key_locks: crate::multimaster::KeyLocks,
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

    /// Who serves `collection`: resolved once per request (`api/scope.rs` carries it).
    pub fn resolve(&self, collection: &str) -> Resolved {
        self.placements.resolve(collection)
    }

    /// The placement in force (see [`crate::placement::Resolver::in_force`]).
    pub fn placement(&self, collection: &str) -> Option<Placement> {
        self.placements.in_force(collection)
    }

    /// The replica of the resolved collection's group in this region; 421 if this region
    /// holds none.
    pub fn group_for(&self, r: &Resolved) -> Result<&Arc<LogGroup>, ApiError> {
        self.groups
            .get(r.group)
            .filter(|_| r.here)
            .ok_or_else(|| ApiError::Misdirected {
                message: format!(
                    "collection {:?} is not replicated to region {}; send its requests to {}",
                    r.collection,
                    self.region,
                    r.placement
                        .as_ref()
                        .map(|p| p.regions.join(", "))
                        .unwrap_or_default()
                ),
            })
    }
}
