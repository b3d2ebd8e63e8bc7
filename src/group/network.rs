//! openraft's network over the QUIC transport: one client per (group, peer), each RPC a
//! request/response on a fresh stream of the shared connection to that peer's region.
//!
//! Transport failures and timeouts are `Unreachable` (openraft retries with backoff);
//! a Raft error from the peer arrives typed as `RemoteError`.

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
use crate::transport::rpc::{CallError, PeerCaller};

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
