//! Leader leases: a leader that a majority of its voters acknowledged recently serves
//! linearizable reads without a round trip.
//!
//! Every AppendEntries (heartbeats included) that a voter accepts proves that, when it was
//! *sent*, that voter followed this leader; the voter then refuses any other candidate's
//! vote for openraft's leader lease (`election_timeout_max`) after it *received* it, which
//! is later. So while a majority of every voter configuration accepted something this
//! leader sent less than `lease` ago, with `lease` well inside that window, no other leader
//! can exist and this leader's log holds every committed write. The lease counts send
//! times on this node's monotonic clock only; clock offsets between regions do not matter,
//! only rate drift, which the margin (half the window) absorbs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::ServerState;

use super::LogGroup;
use super::types::NodeId;

/// When each peer last accepted an AppendEntries from this node, by its send time.
#[derive(Clone, Default)]
pub struct Acks(Arc<Mutex<HashMap<NodeId, Instant>>>);

impl Acks {
    /// `peer` accepted a request this node sent at `sent`.
    pub fn accepted(&self, peer: NodeId, sent: Instant) {
        let mut m = self.0.lock().expect("acks");
        let e = m.entry(peer).or_insert(sent);
        if *e < sent {
            *e = sent;
        }
    }

    /// Whether every configuration in `joint` has a majority (counting `me`) that accepted
    /// a request sent within `lease`.
    pub fn held(&self, me: NodeId, joint: &[Vec<NodeId>], lease: Duration) -> bool {
        let m = self.0.lock().expect("acks");
        let fresh = |n: &NodeId| *n == me || m.get(n).is_some_and(|t| t.elapsed() < lease);
        !joint.is_empty()
            && joint
                .iter()
                .all(|voters| voters.iter().filter(|n| fresh(n)).count() * 2 > voters.len())
    }
}

/// The lease a leader holds while a majority of every configuration accepted its appends
/// recently.
pub(super) struct LeaderLease {
    pub(super) acks: Acks,
    pub(super) duration: Duration,
}

impl LeaderLease {
    pub(super) fn new(acks: Acks, duration: Duration) -> LeaderLease {
        LeaderLease { acks, duration }
    }
}

impl LogGroup {
    /// Under a valid leader lease (lease.rs): the index to apply up to before a linearizable
    /// read. Everything in this leader's log, so every committed write is included (some
    /// entries may still be committing: the read waits for them). None without a lease,
    /// and for a `standard` group, whose voter the catalog fences instead.
    pub(super) fn lease_read_index(&self) -> Option<u64> {
        if self.promotes_learner {
            return None;
        }
        let m = self.raft().metrics();
        let b = m.borrow();
        if b.state != ServerState::Leader || b.current_leader != Some(self.node) {
            return None;
        }
        let joint: Vec<Vec<NodeId>> = b
            .membership_config
            .membership()
            .get_joint_config()
            .iter()
            .map(|c| c.iter().copied().collect())
            .collect();
        if !self.lease.acks.held(self.node, &joint, self.lease.duration) {
            return None;
        }
        Some(b.last_log_index.map_or(0, |i| i + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_needs_a_fresh_majority_of_every_configuration() {
        let acks = Acks::default();
        let lease = Duration::from_millis(200);
        let cfg = vec![vec![1, 2, 3]];
        assert!(!acks.held(1, &cfg, lease), "no acks yet");
        acks.accepted(2, Instant::now());
        assert!(acks.held(1, &cfg, lease));
        // joint: the new configuration {3, 4, 5} has no fresh majority
        assert!(!acks.held(1, &[vec![1, 2, 3], vec![3, 4, 5]], lease));
        acks.accepted(4, Instant::now());
        acks.accepted(3, Instant::now());
        assert!(acks.held(1, &[vec![1, 2, 3], vec![3, 4, 5]], lease));
        // an old ack does not renew it
        let acks = Acks::default();
        acks.accepted(2, Instant::now() - Duration::from_millis(300));
        assert!(!acks.held(1, &cfg, lease));
    }
}
