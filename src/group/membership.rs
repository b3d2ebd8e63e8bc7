//! Changing who replicates a group while it serves: new replicas join as learners and catch
//! up, then the voters are replaced through openraft's joint consensus (a joint
//! configuration that needs a majority of the old voters *and* of the new, then the new one
//! alone), then replicas no longer placed are removed. Every step commits through the log,
//! so a write acknowledged before, during or after the change survives it.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::{BasicNode, ChangeMembers};

use super::types::{self, NodeId};
use super::{GroupError, LogGroup};

impl LogGroup {
    /// Moves the group to `voters` and `learners` (region names). Runs on the leader and
    /// waits up to `catch_up` for each new replica to receive the log.
    pub async fn change_members(
        &self,
        voters: &[String],
        learners: &[String],
        catch_up: Duration,
    ) -> Result<(), GroupError> {
        if !self.is_leader() {
            return Err(GroupError::NotLeader {
                leader: self.leader(),
            });
        }
        let _changing = Changing::begin(self)?;
        let failed = |step: &str, e: String| GroupError::Membership {
            group: self.id.to_string(),
            reason: format!("{step}: {e}"),
        };
        let present: BTreeSet<NodeId> = self.member_ids();
        for r in voters.iter().chain(learners) {
            let id = types::node_id(r);
            if present.contains(&id) {
                continue;
            }
            tracing::info!(group = %self.id, region = %r, "adding a replica; it catches up as a learner");
            let raft = self.raft();
            let added = raft.add_learner(id, BasicNode::new(r), true);
            match tokio::time::timeout(catch_up, added).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(failed(&format!("adding {r}"), e.to_string())),
                Err(_) => {
                    return Err(failed(
                        &format!("adding {r}"),
                        format!("it did not catch up within {catch_up:?}"),
                    ));
                }
            }
        }
        let voter_ids: BTreeSet<NodeId> = voters.iter().map(|r| types::node_id(r)).collect();
        // retain: a voter becoming a learner keeps its replica; the rest go below
        let raft = self.raft();
        let joint = raft.change_membership(ChangeMembers::ReplaceAllVoters(voter_ids), true);
        tokio::time::timeout(catch_up, joint)
            .await
            .map_err(|_| {
                failed(
                    "replacing the voters",
                    format!("not committed within {catch_up:?}"),
                )
            })?
            .map_err(|e| failed("replacing the voters", e.to_string()))?;
        if self.is_leader() {
            self.remove_unplaced(voters, learners, catch_up).await?;
        } else {
            // This replica was a voter no longer: it stepped down once the new voters
            // committed, and whoever leads now removes what is left (catalog/placement.rs).
            tracing::info!(group = %self.id, "stepped down; the new leader removes the replicas no longer placed");
        }
        self.set_placement(voters.to_vec(), learners.to_vec());
        tracing::info!(group = %self.id, ?voters, ?learners, "membership changed");
        Ok(())
    }

    /// Removes from the membership every replica that is neither in `voters` nor in
    /// `learners` (on the leader; nothing to do is fine).
    pub async fn remove_unplaced(
        &self,
        voters: &[String],
        learners: &[String],
        timeout: Duration,
    ) -> Result<(), GroupError> {
        let keep: BTreeSet<NodeId> = voters
            .iter()
            .chain(learners)
            .map(|r| types::node_id(r))
            .collect();
        let gone: BTreeSet<NodeId> = self.member_ids().difference(&keep).copied().collect();
        if gone.is_empty() {
            return Ok(());
        }
        let raft = self.raft();
        let removal = raft.change_membership(ChangeMembers::RemoveNodes(gone), false);
        let failed = |reason: String| GroupError::Membership {
            group: self.id.to_string(),
            reason: format!("removing replicas: {reason}"),
        };
        tokio::time::timeout(timeout, removal)
            .await
            .map_err(|_| failed(format!("not committed within {timeout:?}")))?
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    /// Whether this leader is changing the membership right now.
    pub fn changing_members(&self) -> bool {
        self.changing_members.load(Ordering::Acquire)
    }

    /// Every replica (voter or learner) in the membership this replica knows.
    pub(super) fn member_ids(&self) -> BTreeSet<NodeId> {
        let m = self.raft().metrics();
        let b = m.borrow();
        b.membership_config.nodes().map(|(id, _)| *id).collect()
    }

    /// Voters and learners as the placement in force says (every replica follows the catalog).
    pub fn set_placement(&self, voters: Vec<String>, learners: Vec<String>) {
        let (v, l) = (format!("{voters:?}"), format!("{learners:?}"));
        if self.spec.set_replicas(voters, learners) {
            tracing::info!(group = %self.id, voters = %v, learners = %l, "placement changed");
        }
    }

    /// Whether this region replicates the group under the placement in force: a region
    /// outside it keeps an idle replica (blank once retired) so it can join later.
    pub fn is_member(&self) -> bool {
        self.spec().has(&self.region)
    }
}

/// Marks a membership change in progress (the learner keeper stands back meanwhile).
struct Changing<'a>(&'a LogGroup);

impl<'a> Changing<'a> {
    fn begin(g: &'a LogGroup) -> Result<Self, GroupError> {
        if g.changing_members.swap(true, Ordering::AcqRel) {
            return Err(GroupError::Membership {
                group: g.id.to_string(),
                reason: "another membership change is under way".into(),
            });
        }
        Ok(Changing(g))
    }
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.changing_members.store(false, Ordering::Release);
    }
}
