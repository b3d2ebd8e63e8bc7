//! openraft's network over the QUIC transport: one client per (group, peer), each RPC a
//! request/response on a fresh stream of the shared connection to that peer's region.
//!
//! Transport failures and timeouts are `Unreachable` (openraft retries with backoff);
//! a Raft error from the peer arrives typed as `RemoteError`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;

use super::GroupId;
use super::rpc;
use super::types::{NodeId, TypeConfig};
use crate::transport::{Transport, TransportError};

/// Where each region's replicas are reached (the topology's peer address, or a relay in
/// front of it when the WAN is emulated).
#[derive(Debug, Clone, Default)]
pub struct PeerBook {
    by_region: HashMap<String, SocketAddr>,
}

impl PeerBook {
    pub fn new(by_region: HashMap<String, SocketAddr>) -> Self {
        PeerBook { by_region }
    }

    pub fn addr(&self, region: &str) -> Option<SocketAddr> {
        self.by_region.get(region).copied()
    }
}

/// Calls a peer region; shared by Raft replication, forwarded writes and read-index.
#[derive(Clone)]
pub struct PeerCaller {
    /// None in a single-region topology: there is no peer to call.
    pub transport: Option<Arc<Transport>>,
    pub peers: Arc<PeerBook>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("region {0} is not in the topology")]
    UnknownRegion(String),
    #[error("a single-region node has no peer transport (asked to reach {0})")]
    NoTransport(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("no answer from {region} within {timeout:?}")]
    Timeout { region: String, timeout: Duration },
    #[error("{region} stopped leading while the request was in flight")]
    LeaderChanged { region: String },
    #[error(
        "{region} has sent nothing for {silent_ms} ms (it is probably down; an election follows)"
    )]
    LeaderSilent { region: String, silent_ms: u64 },
    #[error("undecodable answer from {region}: {reason}")]
    BadAnswer { region: String, reason: String },
}

impl PeerCaller {
    /// Sends `request` to `region` and returns its answer as it came.
    pub async fn call_raw(
        &self,
        region: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<bytes::Bytes, CallError> {
        let addr = self
            .peers
            .addr(region)
            .ok_or_else(|| CallError::UnknownRegion(region.to_string()))?;
        let transport = self
            .transport
            .as_ref()
            .ok_or_else(|| CallError::NoTransport(region.to_string()))?;
        Ok(
            tokio::time::timeout(timeout, transport.call(region, addr, request))
                .await
                .map_err(|_| CallError::Timeout {
                    region: region.to_string(),
                    timeout,
                })??,
        )
    }

    /// Sends `request` to `region` and decodes its JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        region: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<T, CallError> {
        let answer = self.call_raw(region, request, timeout).await?;
        serde_json::from_slice(&answer).map_err(|e| CallError::BadAnswer {
            region: region.to_string(),
            reason: e.to_string(),
        })
    }
}

/// How long an append from a sole voter waits for the entries' local commit.
const SOLE_VOTER_COMMIT_WAIT: Duration = Duration::from_millis(20);

#[derive(Clone)]
pub struct Network {
    pub group: GroupId,
    pub caller: PeerCaller,
    /// What this replica has applied, and its clock: the watermark it sends as leader.
    pub applied: tokio::sync::watch::Receiver<(u64, crate::clock::Timestamp)>,
    pub clock: Arc<crate::clock::Hlc>,
    /// Accepted appends, by send time: the leader lease (`lease.rs`).
    pub acks: super::lease::Acks,
    /// Set while this replica is its group's only voter: it commits on its own fsync, so an
    /// append may wait for that and tell learners the entries are committed at once.
    pub sole_voter: Arc<std::sync::atomic::AtomicBool>,
}

pub struct PeerClient {
    group: GroupId,
    target: NodeId,
    region: String,
    caller: PeerCaller,
    applied: tokio::sync::watch::Receiver<(u64, crate::clock::Timestamp)>,
    clock: Arc<crate::clock::Hlc>,
    acks: super::lease::Acks,
    sole_voter: Arc<std::sync::atomic::AtomicBool>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            group: self.group,
            target,
            region: node.addr.clone(),
            caller: self.caller.clone(),
            applied: self.applied.clone(),
            clock: self.clock.clone(),
            acks: self.acks.clone(),
            sole_voter: self.sole_voter.clone(),
        }
    }
}

impl PeerClient {
    async fn send<T: DeserializeOwned, E: std::error::Error + DeserializeOwned>(
        &self,
        request: Vec<u8>,
        option: &RPCOption,
    ) -> Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        let answer: Result<T, RaftError<NodeId, E>> = self
            .caller
            .call(&self.region, &request, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::BadAnswer { .. } => RPCError::Network(NetworkError::new(&e)),
                _ => RPCError::Unreachable(Unreachable::new(&e)),
            })?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let mut rpc = rpc;
        if let Some(last) = rpc.entries.last() {
            // Raft index i is WAL index i + 1
            let want = last.log_id.index + 1;
            if self.sole_voter.load(std::sync::atomic::Ordering::Acquire) {
                // a sole voter commits on its own fsync, a millisecond away: wait for it,
                // so the learner applies these entries on arrival, not a message later
                let mut applied = self.applied.clone();
                let _ = tokio::time::timeout(
                    SOLE_VOTER_COMMIT_WAIT,
                    applied.wait_for(|(a, _)| *a >= want),
                )
                .await;
            }
            // what this leader applied is committed: say so in this message already
            let applied = self.applied.borrow().0;
            if let Some(e) = rpc.entries.iter().rev().find(|e| e.log_id.index < applied)
                && rpc.leader_commit.is_none_or(|c| c.index < e.log_id.index)
            {
                rpc.leader_commit = Some(e.log_id);
            }
        }
        let index = self.applied.borrow().0;
        // the instant on the follower's own clock too, so it can age the mark without
        // trusting how far apart the two wall clocks are (staleness.rs)
        let at_follower_ms = self.caller.transport.as_ref().and_then(|t| {
            t.clocks()
                .on_peer_clock_no_later_than(&self.region, self.clock.wall_ms())
        });
        let watermark = rpc::Watermark {
            index,
            at_ms: self.clock.now().physical_ms(),
            at_follower_ms,
        };
        let sent = std::time::Instant::now();
        let answer = self
            .send(
                rpc::encode_append(self.group, &rpc, Some(watermark)),
                &option,
            )
            .await;
        if let Ok(AppendEntriesResponse::Success | AppendEntriesResponse::PartialSuccess(_)) =
            &answer
        {
            self.acks.accepted(self.target, sent);
        }
        answer
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(rpc::encode_snapshot(self.group, &rpc), &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.send(rpc::encode_vote(self.group, &rpc), &option).await
    }
}
