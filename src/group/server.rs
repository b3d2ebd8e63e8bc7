//! The receiving side of group RPCs: decode, hand to the addressed group's Raft, encode the
//! answer. A forwarded write or read-index is served only by the leader (no forwarding
//! chains): anyone else answers `NotLeader` with its hint.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use std::time::Duration;

use bytes::Bytes;

use super::peer_claims::{self, Claim};
use super::rpc::{self, Kind};
use super::{Committed, GroupError, GroupId, LogGroup};
use crate::transport::rpc::{RpcError, once_ready};
use crate::transport::{Handler, Inbound};

/// The groups this node replicates, by id.
#[derive(Default)]
pub struct Groups {
    by_id: HashMap<GroupId, Arc<LogGroup>>,
}

impl Groups {
    pub fn new(groups: Vec<Arc<LogGroup>>) -> Groups {
        Groups {
            by_id: groups.into_iter().map(|g| (g.id(), g)).collect(),
        }
    }

    pub fn get(&self, id: GroupId) -> Option<&Arc<LogGroup>> {
        self.by_id.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<LogGroup>> {
        let mut v: Vec<&Arc<LogGroup>> = self.by_id.values().collect();
        v.sort_by_key(|g| g.id());
        v.into_iter()
    }
}

/// A transport handler that serves RPCs for the groups set into `table` once they are open
/// (peers that call earlier are told the group is not ready, and retry). Claims that do not
/// name the certified sender are counted in `mismatches` (labels: peer, kind).
pub fn handler(
    table: Arc<OnceLock<Arc<Groups>>>,
    mismatches: prometheus::IntCounterVec,
) -> Handler {
    Arc::new(move |from: Inbound, request: Bytes| {
        let (table, mismatches) = (table.clone(), mismatches.clone());
        Box::pin(async move {
            let groups = once_ready(&table, "this region's log groups")?.clone();
            serve(&groups, &from, &request, &mismatches).await
        })
    })
}

/// Refuses (logs, counts) a message whose claim is not its sender's own region.
fn bound(
    peer: &str,
    claim: Claim<'_>,
    mismatches: &prometheus::IntCounterVec,
) -> Result<(), RpcError> {
    peer_claims::check(peer, claim).map_err(|e| {
        mismatches.with_label_values(&[peer, e.kind]).inc();
        tracing::warn!(%peer, kind = e.kind, claimed = %e.claimed, "{e}");
        RpcError::Refused {
            reason: e.to_string(),
        }
    })
}

async fn serve(
    groups: &Groups,
    from: &Inbound,
    request: &[u8],
    mismatches: &prometheus::IntCounterVec,
) -> Result<Bytes, RpcError> {
    let peer = from.peer.as_str();
    let (kind, id, body) = rpc::split(request)?;
    let group = groups.get(id).ok_or_else(|| RpcError::NotHere {
        what: format!("log group {id}"),
    })?;
    if group.promotes_learner()
        && matches!(kind, Kind::Append | Kind::Vote | Kind::Snapshot)
        && !group.spec().voters.iter().any(|v| v == peer)
    {
        // The catalog names another voter for this epoch: a superseded voter (or one that
        // does not know it is) must not lead this replica, whatever its term.
        return Err(RpcError::Refused {
            reason: format!(
                "{peer} is not the voter of group {id} at epoch {}",
                group.epoch()
            ),
        });
    }
    let check = |claim: Claim<'_>| bound(peer, claim, mismatches);
    match kind {
        Kind::Append => append(group, from, body, check).await,
        Kind::Vote => {
            let req: openraft::raft::VoteRequest<super::types::NodeId> =
                rpc::json(body, "vote request")?;
            check(Claim::Candidate(req.vote.leader_id().voted_for))?;
            Ok(rpc::encode_json_response(&group.raft().vote(req).await))
        }
        Kind::Snapshot => {
            let req = rpc::decode_snapshot(body)?;
            check(Claim::Leader(req.vote.leader_id().voted_for))?;
            let raft = group.raft();
            if req.vote.leader_id().term >= raft.metrics().borrow().current_term {
                group.heard_from_leader();
            }
            Ok(rpc::encode_json_response(&raft.install_snapshot(req).await))
        }
        Kind::Propose => {
            let (origin, command) = rpc::decode_propose(body)?;
            check(Claim::Origin(&origin))?;
            tracing::trace!(group = %id, from = peer, %origin, "forwarded write");
            let r: Result<Committed, GroupError> = if group.is_leader() {
                group.write_here(&origin, command).await
            } else {
                Err(GroupError::NotLeader {
                    leader: group.leader(),
                })
            };
            Ok(rpc::encode_json_response(&r))
        }
        Kind::ReadIndex => {
            let r: Result<u64, GroupError> = group.read_index_here().await;
            Ok(rpc::encode_json_response(&r))
        }
        Kind::PreVote => {
            let last = rpc::json(body, "pre-vote")?;
            Ok(rpc::encode_json_response(&group.grants_pre_vote(last)))
        }
    }
}

/// AppendEntries: the leader's claim checked, contact counted on arrival, and the leader's
/// watermark noted once the entries are taken.
async fn append(
    group: &LogGroup,
    from: &Inbound,
    body: &[u8],
    check: impl Fn(Claim<'_>) -> Result<(), RpcError>,
) -> Result<Bytes, RpcError> {
    let (req, watermark) = rpc::decode_append(body)?;
    check(Claim::Leader(req.vote.leader_id().voted_for))?;
    let raft = group.raft();
    // A leader of the current term or later is alive: count the contact when its message
    // arrives, never when a slow flush of it completes (that would stamp a dead leader as
    // alive seconds after it died, and delay the election).
    if req.vote.leader_id().term >= raft.metrics().borrow().current_term {
        group.heard_from_leader();
    }
    let r = raft.append_entries(req).await;
    // after the entries are taken, so the mark is compared with what they cover
    if let (Ok(resp), Some(mark)) = (&r, watermark)
        && resp.is_success()
    {
        // in flight at most: the sender's delay since taking the mark (both on its clock),
        // plus the link's round trip
        let sender_delay = Duration::from_millis(from.sent_hlc_ms.saturating_sub(mark.at_ms));
        group.note_watermark(mark, from.received, from.rtt + sender_delay);
    }
    Ok(rpc::encode_json_response(&r))
}
