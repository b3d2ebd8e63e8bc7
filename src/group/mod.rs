//! A log group: one replicated, ordered log (openraft over our WAL) and the state machine
//! applied from it (the store).
//!
//! ```text
//!  propose ──▶ leader? ──no──▶ forward over QUIC to the leader's region ─┐
//!                │yes                                                     │
//!                ▼                                                        ▼
//!        openraft client_write ──▶ WAL group commit (leader) ──▶ AppendEntries to replicas
//!                │                                                        │
//!      commit (majority of voters durable) ◀──── replicas' WAL durable ◀──┘
//!                ▼
//!        apply to the store ──▶ ack policy (SYNC / SEMI_SYNC / ASYNC) ──▶ reply
//! ```
//! A write is acknowledged only once committed by Raft and applied on the leader, and then
//! only once as many replicas as its ack policy names hold it durably. Linearizable reads go
//! through [`LogGroup::read_barrier`] (ReadIndex: the leader confirms its leadership with a
//! quorum, and the local replica waits until it has applied that far).

mod ack;
mod batcher;
mod contact;
mod coverage;
mod election;
mod entry_codec;
mod error;
mod fence;
mod gate;
mod inflight;
mod lease;
mod log_store;
mod membership;
pub mod peer_claims;
pub use log_store::record_log_start;
mod network;
mod open;
mod raft_slot;
mod read_replica;
mod reseat;
pub mod rpc;
mod server;
pub mod spec;
mod spec_cache;
mod staleness;
mod state_machine;
mod status;
mod tasks;
mod types;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use openraft::error::RaftError;
use openraft::{BasicNode, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use crate::ids::GroupId;
pub use ack::AckMetrics;
pub use error::GroupError;
pub use fence::{BoxFuture, Superseded, SyncRecorder};
pub use reseat::Halted;
pub use server::{Groups, handler};
pub use spec::{AckPolicy, GroupSpec};
pub use status::{GroupStatus, ReplicaStatus};
pub use types::node_id;

use crate::clock::{Hlc, Timestamp};
use crate::config::NodeSettings;
use crate::store::{
    ACK_POLICY_KEY, ApplyOutcome, Command, Document, EncodedCommand, GROUP_COLLECTION, Store,
    StoreError,
};
use crate::transport::rpc::{CallError, PeerCaller};
use crate::wal::{Wal, WalOptions};
use log_store::LogStore;
use types::{NodeId, Raft};

/// The result of a committed, applied write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub index: u64,
    pub hlc: Timestamp,
    pub outcome: ApplyOutcome,
    /// The region that led the group when the write committed.
    pub leader: String,
}

pub struct GroupOptions {
    pub wal: WalOptions,
    pub settings: NodeSettings,
    /// Every region of the topology: any of them may join the group later.
    pub regions: Vec<String>,
    /// Initialize a never-initialized group with the spec's voters. False once the catalog
    /// holds a placement for the group: its replicas are then added by the leader, and a
    /// blank replica initializing itself could found a second group.
    pub bootstrap: bool,
}

pub struct LogGroup {
    /// Voters, learners and the ack policy in force (spec_cache.rs).
    spec: spec_cache::SpecCache,
    id: GroupId,
    region: Arc<str>,
    node: NodeId,
    store: Arc<Store>,
    /// The Raft instance, replaced by a promotion or a step-aside (raft_slot.rs).
    raft: raft_slot::RaftSlot,
    log: LogStore,
    applied: watch::Receiver<(u64, Timestamp)>,
    /// Highest index the store holds durably (its last checkpoint).
    checkpointed: AtomicU64,
    caller: PeerCaller,
    regions: HashMap<NodeId, String>,
    /// When this replica last heard from its leader (contact.rs).
    contact: contact::LeaderContact,
    /// The leader's recent commit watermarks, oldest first (see `rpc::Watermark`).
    watermarks: staleness::Watermarks,
    /// SEMI_SYNC's degraded state and the ack metrics (ack.rs).
    ack: ack::AckState,
    election_timeout_max: Duration,
    /// The pre-vote's state (election.rs).
    election: election::ElectionState,
    /// Writes this replica commits as leader, gathered into log entries.
    proposals: tokio::sync::mpsc::UnboundedSender<batcher::Proposal>,
    /// Closed by the archiver while too much WAL waits for the archive.
    write_gate: gate::WriteGate,
    /// The group's directory (vote, purge marker, kept-aside entries; the WAL beneath).
    dir: PathBuf,
    promotes_learner: bool,
    /// Silence from the voter after which a `standard` group's learner asks for promotion.
    promote_after: Duration,
    fence: fence::Fence,
    /// Set while this leader changes the membership (membership.rs).
    changing_members: std::sync::atomic::AtomicBool,
    /// The leader lease for STRONG reads (lease.rs).
    lease: lease::LeaderLease,
    /// Whether this replica is the only voter (network.rs waits for its commit).
    sole_voter: Arc<std::sync::atomic::AtomicBool>,
    clock: Arc<Hlc>,
    /// Stamps handed to writes that are not in the log yet (coverage.rs).
    inflight: Arc<inflight::InFlight>,
    /// Everything that runs in the background for this replica (tasks.rs).
    tasks: tasks::GroupTasks,
}

impl LogGroup {
    /// Initializes a never-initialized group with its voters (every voter does this with the
    /// same set, which openraft accepts once and refuses harmlessly afterwards).
    async fn bootstrap(&self, spec: &GroupSpec) -> Result<(), GroupError> {
        let initialized = self
            .raft()
            .is_initialized()
            .await
            .map_err(|e| GroupError::raft("is_initialized", e))?;
        if initialized {
            return Ok(());
        }
        let members: BTreeMap<NodeId, BasicNode> = spec
            .voters
            .iter()
            .map(|r| (types::node_id(r), BasicNode::new(r)))
            .collect();
        match self.raft().initialize(members).await {
            Ok(()) => {
                tracing::info!(group = %self.id, voters = ?spec.voters, "group initialized");
                Ok(())
            }
            Err(RaftError::APIError(e)) => {
                tracing::debug!(group = %self.id, reason = %e, "group already initialized");
                Ok(())
            }
            Err(e) => Err(GroupError::raft("initialize", e)),
        }
    }

    pub fn id(&self) -> GroupId {
        self.id
    }

    /// The group's placement, with the ack policy last set through its log (if any) in
    /// place of the topology's.
    pub fn spec(&self) -> GroupSpec {
        self.spec.current(&self.store)
    }

    /// Sets how writes are acknowledged, for every replica and across restarts and
    /// failovers: the policy is written through the group's log. Effective for writes after
    /// it commits.
    pub async fn set_ack_policy(&self, ack: AckPolicy) -> Result<Committed, GroupError> {
        let value = serde_json::to_vec(&ack).expect("ack policy serializes");
        self.propose(Command::Put {
            collection: GROUP_COLLECTION.into(),
            key: ACK_POLICY_KEY.into(),
            value: value.into(),
            content_type: Some("application/json".into()),
            precondition: crate::store::Precondition::None,
        })
        .await
    }

    /// The current Raft instance (a cheap handle; a promotion may replace it).
    pub fn raft(&self) -> Raft {
        self.raft.get()
    }

    /// The region this replica believes leads the group, if any.
    pub fn leader(&self) -> Option<String> {
        let m = self.raft().metrics();
        let leader = m.borrow().current_leader;
        leader.and_then(|id| self.regions.get(&id).cloned())
    }

    pub fn is_leader(&self) -> bool {
        let m = self.raft().metrics();
        let b = m.borrow();
        b.state == ServerState::Leader && b.current_leader == Some(self.node)
    }

    /// Waits up to the longest election timeout for a leader to be known.
    async fn wait_leader(&self) -> Result<String, GroupError> {
        let deadline = Instant::now() + self.election_timeout_max * 2;
        let mut rx = self.raft().metrics();
        loop {
            if let Some(l) = self.leader() {
                return Ok(l);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
                return Err(GroupError::NoLeader {
                    group: self.id.to_string(),
                });
            }
        }
    }

    /// Appends `command`, on this replica if it leads, else on the leader's region.
    pub async fn propose(&self, command: Command) -> Result<Committed, GroupError> {
        self.propose_encoded(self.region.to_string(), command.encoded())
            .await
    }

    pub(crate) async fn propose_encoded(
        &self,
        origin: String,
        command: EncodedCommand,
    ) -> Result<Committed, GroupError> {
        // A replica the placement removed hears from no leader any more: the leader it
        // remembers (often itself, having just stepped down) is stale. The placed voters know.
        if !self.is_member() {
            return self.propose_through_placed(&origin, command).await;
        }
        // Leadership may move between looking it up and arriving: a leader that refuses
        // (NotLeader) has not taken the write, so that alone is retried.
        for _ in 0..3 {
            let leader = self.wait_leader().await?;
            if leader == *self.region && self.is_leader() {
                match self.write_here(&origin, command.clone()).await {
                    Err(GroupError::NotLeader { .. }) => continue,
                    r => return r,
                }
            }
            // A leader silent for several heartbeats is probably dead: a forward would only
            // wait for the transport's idle timeout. Answer now; the client retries and
            // finds the next leader as soon as one is elected.
            if let Some(silent) = self.contact.too_long() {
                return Err(GroupError::Forward {
                    leader: leader.clone(),
                    reason: format!("no word from it for {} ms", silent.as_millis()),
                });
            }
            let request = rpc::encode_propose(self.id, &origin, command.bytes());
            // Give up as soon as this replica sees another leader: a dead leader's
            // connection would otherwise hold the client until the transport times out.
            let old = self.raft().metrics().borrow().current_leader;
            let mut metrics = self.raft().metrics();
            let moved = async move {
                let _ = metrics
                    .wait_for(|m| m.current_leader.is_some() && m.current_leader != old)
                    .await;
            };
            let call = self
                .caller
                .call(&leader, &request, self.election_timeout_max * 3);
            let went_silent = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if let Some(silent) = self.contact.too_long() {
                        return silent;
                    }
                }
            };
            let r: Result<Result<Committed, GroupError>, _> = tokio::select! {
                r = call => r,
                () = moved => Err(CallError::LeaderChanged { region: leader.clone() }),
                silent = went_silent => Err(CallError::LeaderSilent {
                    region: leader.clone(),
                    silent_ms: silent.as_millis() as u64,
                }),
            };
            match r {
                Ok(Err(GroupError::NotLeader { .. })) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Ok(r) => return r,
                // The write may or may not have reached the leader: retrying could apply
                // it twice, so the client decides.
                Err(e) => {
                    return Err(GroupError::Forward {
                        leader: leader.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Err(GroupError::NoLeader {
            group: self.id.to_string(),
        })
    }

    /// Sends a write from a replica outside the placement to the placed voters, following
    /// their leader hints. Only a refusal (NotLeader: the write was not taken) moves on to
    /// another region; any other failure is the caller's to decide, as for a forward.
    async fn propose_through_placed(
        &self,
        origin: &str,
        command: EncodedCommand,
    ) -> Result<Committed, GroupError> {
        let request = rpc::encode_propose(self.id, origin, command.bytes());
        let mut candidates: std::collections::VecDeque<String> =
            self.spec().voters.into_iter().collect();
        let mut tried = 0;
        while let Some(region) = candidates.pop_front() {
            tried += 1;
            if tried > 6 || region == *self.region {
                continue;
            }
            let r: Result<Result<Committed, GroupError>, CallError> = self
                .caller
                .call(&region, &request, self.election_timeout_max * 3)
                .await;
            match r {
                Ok(Err(GroupError::NotLeader { leader })) => {
                    if let Some(l) = leader.filter(|l| *l != region) {
                        candidates.push_front(l);
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        candidates.push_back(region);
                    }
                }
                Ok(r) => return r,
                Err(e) => {
                    return Err(GroupError::Forward {
                        leader: region,
                        reason: e.to_string(),
                    });
                }
            }
        }
        Err(GroupError::NoLeader {
            group: self.id.to_string(),
        })
    }

    /// Leader side of a write: commit through Raft (batched with concurrent writes), then
    /// wait as the ack policy says.
    pub(crate) async fn write_here(
        &self,
        origin: &str,
        command: EncodedCommand,
    ) -> Result<Committed, GroupError> {
        self.write_gate.check(&self.id.to_string())?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.proposals
            .send(batcher::Proposal {
                origin: origin.to_string(),
                command,
                reply: tx,
            })
            .map_err(|_| GroupError::Closed)?;
        let (index, hlc, outcome) = rx.await.map_err(|_| GroupError::Closed)??;
        self.await_ack_policy(index).await?;
        Ok(Committed {
            index,
            hlc,
            outcome,
            leader: self.region.to_string(),
        })
    }

    /// The index a linearizable read must see: the leader confirms it still leads (a
    /// heartbeat round to a quorum) and reports its commit index.
    pub(crate) async fn read_index_here(&self) -> Result<u64, GroupError> {
        if let Some(index) = self.lease_read_index() {
            return Ok(index);
        }
        match self.raft().get_read_log_id().await {
            // Raft index i is WAL index i + 1
            Ok((read, _applied)) => Ok(read.map_or(0, |l| l.index + 1)),
            Err(e) => Err(GroupError::NotLeader {
                leader: e
                    .forward_to_leader::<BasicNode>()
                    .and_then(|f| f.leader_id)
                    .and_then(|id| self.regions.get(&id).cloned()),
            }),
        }
    }

    /// As [`LogGroup::read_barrier`], retried for up to `within` in attempts of `attempt`:
    /// long enough to ride out an election when the leader just died (a dead leader costs
    /// one attempt, not the whole budget).
    pub async fn catch_up(&self, within: Duration, attempt: Duration) -> Result<(), GroupError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.read_barrier(attempt).await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Returns once this replica has applied everything committed before the call
    /// (ReadIndex, through the leader when this replica does not lead).
    pub async fn read_barrier(&self, timeout: Duration) -> Result<(), GroupError> {
        let deadline = Instant::now() + timeout;
        let index = tokio::time::timeout(timeout, async {
            loop {
                let leader = self.wait_leader().await?;
                let r = if leader == *self.region {
                    self.read_index_here().await
                } else {
                    let req = rpc::encode_read_index(self.id);
                    match self
                        .caller
                        .call::<Result<u64, GroupError>>(&leader, &req, timeout)
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => Err(GroupError::Forward {
                            leader,
                            reason: e.to_string(),
                        }),
                    }
                };
                match r {
                    Err(GroupError::NotLeader { .. }) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    r => return r,
                }
            }
        })
        .await
        .map_err(|_| GroupError::NoLeader {
            group: self.id.to_string(),
        })??;
        let left = deadline.saturating_duration_since(Instant::now());
        if self.wait_applied(index, left).await {
            Ok(())
        } else {
            Err(GroupError::NoLeader {
                group: self.id.to_string(),
            })
        }
    }

    pub fn get(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        self.store.get(self.id.0, collection, key)
    }

    pub fn list(
        &self,
        collection: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.store
            .list(self.id.0, collection, prefix, start_after, limit)
    }

    pub fn applied_index(&self) -> u64 {
        self.applied.borrow().0
    }

    /// The store this replica applies to (change data capture reads its change rows).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Highest index durable in this replica's WAL.
    pub fn durable_index(&self) -> u64 {
        self.log.wal().durable_index()
    }

    /// Records a watermark from the leader (every AppendEntries carries one), which arrived
    /// at `arrived` after at most `transit` on its way.
    pub(crate) fn note_watermark(&self, mark: rpc::Watermark, arrived: Instant, transit: Duration) {
        self.watermarks
            .note(mark, transit, self.applied_index(), arrived);
    }

    /// How stale this replica is, in ms: the time since the newest leader watermark whose
    /// index it has applied (DESIGN.md's definition), measured on this node's monotonic
    /// clock (`staleness.rs`), so a follower's wall-clock skew cannot shrink it. The leader
    /// is never stale beyond its own apply lag. Without a watermark yet, the estimate is the
    /// apply lag or the time since the leader was last heard from, whichever is larger, so a
    /// cut-off replica never claims to be fresh.
    pub fn staleness_ms(&self, now_ms: u64) -> u64 {
        if !self.is_leader()
            && let Some(ms) = self.watermarks.staleness_ms(self.applied_index(), now_ms)
        {
            return ms;
        }
        self.estimated_staleness_ms(now_ms)
    }

    fn estimated_staleness_ms(&self, now_ms: u64) -> u64 {
        let (applied, applied_hlc) = *self.applied.borrow();
        let log_last = self
            .raft()
            .metrics()
            .borrow()
            .last_log_index
            .map_or(0, |i| i + 1);
        let apply_lag = if applied >= log_last {
            0
        } else {
            now_ms.saturating_sub(applied_hlc.physical_ms())
        };
        if self.is_leader() {
            apply_lag
        } else {
            let silent = self.contact.silence().as_millis() as u64;
            apply_lag.max(silent)
        }
    }

    pub(crate) fn heard_from_leader(&self) {
        self.contact.heard();
    }

    /// Peers can reach this replica from now on (the node serves group RPCs once every group
    /// is open): the leader's silence counts from here. Counted from the group's opening, it
    /// would include the time the node spent opening its other groups, when no leader could
    /// reach it, and a restarted region would refuse to forward its first writes ("no word
    /// from the leader") or stand for election for no reason.
    pub fn reachable_from_now(&self) {
        self.contact.heard();
    }

    /// Waits until the applied index reaches `index`; false on timeout.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.clone();
        tokio::time::timeout(timeout, rx.wait_for(|&(a, _)| a >= index))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Records that the store is durable up to `index` (the node's checkpointer calls this).
    pub fn set_checkpointed(&self, index: u64) {
        self.checkpointed.fetch_max(index, Ordering::AcqRel);
    }

    /// Deletes sealed WAL segments at or below `up_to`, the store's last durable checkpoint,
    /// and what Raft no longer needs (its snapshot position less the entries it keeps for
    /// lagging replicas). Callers pass the archived index when an archive is configured:
    /// nothing unarchived is ever purged. Blocking. Returns segments removed.
    pub fn purge_upto(&self, up_to: u64) -> Result<usize, GroupError> {
        let raft_purged = self
            .raft()
            .metrics()
            .borrow()
            .purged
            .map_or(0, |l| l.index + 1);
        let limit = up_to
            .min(self.checkpointed.load(Ordering::Acquire))
            .min(raft_purged);
        if limit == 0 {
            return Ok(0);
        }
        Ok(self.log.purge_physical(limit)?)
    }

    pub fn digest(&self) -> Result<[u8; 32], StoreError> {
        self.store.digest(self.id.0)
    }

    /// Records the archive backlog; while it is over `cap_bytes` this replica refuses
    /// writes as leader. Returns whether it now refuses.
    pub fn set_archive_backlog(&self, unarchived_bytes: u64, cap_bytes: u64) -> bool {
        self.write_gate.update(unarchived_bytes, cap_bytes)
    }

    /// The group's state as one byte string (see `store::snapshot`), with what it covers.
    /// Blocking: reads every document.
    pub fn export_state(&self) -> Result<(crate::store::SnapshotHead, Vec<u8>), StoreError> {
        self.store.export_snapshot(self.id.0)
    }

    pub fn wal(&self) -> &Wal {
        self.log.wal()
    }

    /// Whether the replica in `root` was removed by a placement change (see
    /// [`reseat::RETIRED`]).
    pub fn retired_in(root: &Path, id: GroupId) -> bool {
        Self::data_dir_of(root, id).join(reseat::RETIRED).exists()
    }

    pub fn data_dir_of(root: &Path, id: GroupId) -> PathBuf {
        root.join("groups").join(id.to_string())
    }

    /// Runs `task` for this replica until the group shuts down.
    pub fn spawn_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Stops this replica's background tasks (shutdown does this first).
    pub fn stop_tasks(&self) {
        self.tasks.stop();
    }

    pub async fn shutdown(&self) {
        self.tasks.stop();
        if let Err(e) = self.raft().shutdown().await {
            tracing::warn!(group = %self.id, error = %e, "raft shutdown");
        }
    }
}

/// Keeps the configured learners in the membership: whichever replica leads adds any that
/// are missing (a new group, or a learner region added to the topology).
pub(super) async fn membership_keeper(group: std::sync::Weak<LogGroup>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(g) = group.upgrade() else { return };
        let sole = {
            let m = g.raft().metrics();
            let b = m.borrow();
            let mut voters = b.membership_config.membership().voter_ids();
            voters.next() == Some(g.node) && voters.next().is_none()
        };
        g.sole_voter.store(sole, Ordering::Release);
        if !g.is_leader() || g.changing_members.load(Ordering::Acquire) {
            continue;
        }
        let present = g.member_ids();
        let learners = g.spec().learners;
        for l in learners {
            let id = types::node_id(&l);
            if present.contains(&id) {
                continue;
            }
            match g.raft().add_learner(id, BasicNode::new(&l), false).await {
                Ok(_) => tracing::info!(group = %g.id, learner = %l, "learner added"),
                Err(e) => {
                    tracing::warn!(group = %g.id, learner = %l, error = %e, "adding learner failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
