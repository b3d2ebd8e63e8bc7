//! The openraft type configuration of every log group, and the application data it carries.

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::store::ApplyOutcome;

/// A replica's Raft node id: a stable number derived from its region name.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Log groups: our requests and responses, the region node as `BasicNode` (its `addr` is
    /// the region name; the transport resolves addresses), snapshots as whole byte strings.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type RaftEntry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Membership = openraft::Membership<NodeId, openraft::BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;

/// One client write as the log carries it: the encoded [`crate::store::Command`], the HLC
/// the leader stamped it with, and the region whose client issued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub hlc: Timestamp,
    pub origin: Arc<str>,
    pub command: Bytes,
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request({} bytes from {})",
            self.command.len(),
            self.origin
        )
    }
}

/// What applying a write did, returned to its proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub index: u64,
    pub hlc: Timestamp,
    pub outcome: ApplyOutcome,
}

/// The Raft node id of a region (the HLC node id, widened).
pub fn node_id(region: &str) -> NodeId {
    u64::from(crate::clock::node_id_for_region(region))
}
