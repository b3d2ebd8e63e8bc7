//! Replacing a group's Raft instance over the same log and state machine: how a `standard`
//! group's learner becomes its voter, and how a superseded voter starts over as a learner.
//!
//! openraft 0.9 changes membership only through a leader, and a one-voter group has none
//! once its voter is gone. So the learner is promoted offline, after the catalog has fenced
//! the old voter with a new epoch: its Raft instance stops, the log gets a membership entry
//! naming it the sole voter, in a term no earlier epoch can have used (`epoch << 32`), and a
//! new instance starts over the rewritten log and elects itself.
//!
//! The old voter, when it learns of the new epoch, copies the entries its successor never
//! had to `superseded/` (reported in `/v1/cluster` and the log, never merged), empties its
//! state and log, and starts as a blank replica that the new voter refills.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Vote};

use super::fence::Superseded;
use super::types::{self, LogId, Membership, RaftEntry, StorageError};
use super::{GroupError, LogGroup};

/// Present in the group's directory while a start-over is under way: a crash in the middle
/// leaves a store and a log that disagree, so the next open finishes the job.
pub(super) const STARTING_OVER: &str = "starting-over";

/// Present in the directory of a replica a placement change removed: such a replica is
/// never bootstrapped again, even if its copy of the catalog lags after a crash (only the
/// group's leader adds it back).
pub const RETIRED: &str = "retired";

impl LogGroup {
    /// Whether this group fails over by promoting its learner (the `standard` tier).
    pub fn promotes_learner(&self) -> bool {
        self.promotes_learner
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Whether this replica's Raft instance counts it as a voter.
    pub fn raft_voter(&self) -> bool {
        self.raft()
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == self.node)
    }

    /// Whether this replica knows no membership yet: a blank one waiting to be added.
    pub fn raft_blank(&self) -> bool {
        self.raft()
            .metrics()
            .borrow()
            .membership_config
            .nodes()
            .next()
            .is_none()
    }

    /// WAL index of the newest entry this replica holds (or last purged), 0 if none.
    pub fn last_index(&self) -> u64 {
        self.log
            .last_log_id_or_purged()
            .ok()
            .flatten()
            .map_or(0, |l| l.index + 1)
    }

    /// How long since this replica last heard from a leader.
    pub fn leader_silence(&self) -> Duration {
        self.contact.silence()
    }

    /// Silence from the voter after which a learner may ask to be promoted.
    pub fn promote_after(&self) -> Duration {
        self.promote_after
    }

    /// Sets who votes and who learns, as the catalog says (the failover watcher calls this).
    pub fn set_members(&self, voters: Vec<String>, learners: Vec<String>, epoch: u64) {
        let (v, l) = (format!("{voters:?}"), format!("{learners:?}"));
        if self.spec.set_replicas(voters, learners) {
            tracing::info!(group = %self.id, voters = %v, learners = %l, epoch, "members changed");
        }
        self.set_epoch(epoch);
    }

    /// Stops this replica's Raft instance: no entry arrives or leaves until the returned
    /// handle restarts it, as it was or rewritten.
    pub async fn halt_raft(&self) -> Halted<'_> {
        let lock = self.raft.lock().await;
        if let Err(e) = self.raft().shutdown().await {
            tracing::warn!(group = %self.id, error = %e, "raft shutdown");
        }
        Halted {
            group: self,
            _lock: lock,
        }
    }

    async fn restart_raft(&self) -> Result<(), GroupError> {
        self.raft.restart(&self.log).await?;
        self.contact.heard();
        Ok(())
    }
}

/// A group whose Raft instance is stopped (see [`LogGroup::halt_raft`]).
pub struct Halted<'a> {
    group: &'a LogGroup,
    _lock: tokio::sync::MutexGuard<'a, ()>,
}

impl Halted<'_> {
    /// WAL index of the newest entry held; nothing can be appended while halted.
    pub fn last_index(&self) -> u64 {
        self.group.last_index()
    }

    /// Starts Raft again over the unchanged log.
    pub async fn resume(self) -> Result<(), GroupError> {
        self.group.restart_raft().await
    }

    /// Makes this replica the group's sole voter for `epoch` and has it elect itself.
    pub async fn become_sole_voter(self, epoch: u64) -> Result<(), GroupError> {
        let g = self.group;
        let log = g.log.clone();
        let (node, region) = (g.node, g.region.to_string());
        let term = tokio::task::spawn_blocking(move || -> Result<u64, StorageError> {
            let last = log.last_log_id_or_purged()?;
            let vote_term = log.saved_vote()?.map_or(0, |v| v.leader_id.term);
            let last_term = last.map_or(0, |l| l.leader_id.term);
            // Terms of epoch e start at e << 32: the superseded voter, whose terms stay below
            // that, can never have written an entry with the same id as ours.
            let term = (epoch << 32).max(vote_term + 1).max(last_term + 1);
            log.save_vote_offline(&Vote::new(term, node))?;
            let members: BTreeMap<types::NodeId, BasicNode> =
                [(node, BasicNode::new(&region))].into();
            let entry = RaftEntry {
                log_id: LogId::new(
                    CommittedLeaderId::new(term, node),
                    last.map_or(0, |l| l.index + 1),
                ),
                payload: EntryPayload::Membership(Membership::new(
                    vec![BTreeSet::from([node])],
                    members,
                )),
            };
            log.append_offline(&entry)?;
            Ok(term)
        })
        .await?
        .map_err(GroupError::from)?;
        g.reset_sync_state().await;
        g.set_epoch(epoch);
        g.restart_raft().await?;
        tracing::warn!(group = %g.id, epoch, term, "promoted: this replica is now the group's voter");
        if let Err(e) = g.raft().trigger().elect().await {
            tracing::warn!(group = %g.id, error = %e, "could not start an election");
        }
        Ok(())
    }

    /// Copies the entries after `keep_after` (which the new voter never had) aside, empties
    /// this replica's state and log, and starts it as a blank replica.
    pub async fn start_over(
        self,
        keep_after: u64,
        epoch: u64,
    ) -> Result<Option<Superseded>, GroupError> {
        let g = self.group;
        let log = g.log.clone();
        let kept = tokio::task::spawn_blocking(move || {
            log.copy_suffix(keep_after + 1, &format!("superseded/epoch-{epoch}"))
        })
        .await?
        .map_err(GroupError::from)?;
        self.wipe(epoch).await?;
        let superseded = kept.map(|kept| Superseded { epoch, kept });
        match &superseded {
            Some(s) => {
                tracing::error!(
                    group = %g.id,
                    epoch,
                    first = s.kept.first,
                    last = s.kept.last,
                    entries = s.kept.entries,
                    file = %s.kept.file.display(),
                    "superseded: this replica held entries its successor never received; they \
                     were never acknowledged and are kept aside, not merged"
                );
                g.fence
                    .superseded
                    .lock()
                    .expect("superseded")
                    .push(s.clone());
            }
            None => tracing::info!(group = %g.id, epoch, "stepped aside with nothing unreplicated"),
        }
        Ok(superseded)
    }
}

impl Halted<'_> {
    /// Empties this replica's state and log and restarts it blank: the region is no longer
    /// placed to hold the group (its leader removed it), and a later placement adding it
    /// back refills it from scratch.
    pub async fn retire(self) -> Result<(), GroupError> {
        let marker = self.group.dir.join(RETIRED);
        tokio::task::spawn_blocking(move || {
            std::fs::write(&marker, b"")
                .and_then(|_| crate::util::atomic_file::sync_dir(marker.parent().expect("dir")))
                .map_err(|e| GroupError::io(&marker, e))
        })
        .await??;
        let epoch = self.group.epoch();
        self.wipe(epoch).await?;
        tracing::info!(group = %self.group.id, "replica retired: this region no longer holds the group");
        Ok(())
    }

    /// Forgets the state and the log (crash-safe: see [`STARTING_OVER`]) and restarts Raft
    /// over the empty log.
    async fn wipe(&self, epoch: u64) -> Result<(), GroupError> {
        let g = self.group;
        let log = g.log.clone();
        let sm = g.raft.sm().clone();
        let marker = g.dir.join(STARTING_OVER);
        tokio::task::spawn_blocking(move || -> Result<(), GroupError> {
            std::fs::write(&marker, b"")
                .and_then(|_| crate::util::atomic_file::sync_dir(marker.parent().expect("dir")))
                .map_err(|e| GroupError::io(&marker, e))?;
            sm.reset().map_err(GroupError::from)?;
            log.discard_all().map_err(GroupError::from)?;
            std::fs::remove_file(&marker).map_err(|e| GroupError::io(&marker, e))
        })
        .await??;
        g.checkpointed.store(0, Ordering::Release);
        g.reset_sync_state().await;
        g.set_epoch(epoch);
        g.restart_raft().await
    }
}

/// The tails kept aside in earlier runs (`superseded/epoch-<e>/<first>-<last>.wal`), so
/// `/v1/cluster` keeps reporting them after a restart.
pub(super) fn superseded_on_disk(dir: &std::path::Path) -> Vec<Superseded> {
    let mut out = Vec::new();
    let Ok(epochs) = std::fs::read_dir(dir.join("superseded")) else {
        return out;
    };
    for e in epochs.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(epoch) = name.strip_prefix("epoch-").and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(files) = std::fs::read_dir(e.path()) else {
            continue;
        };
        for f in files.flatten() {
            let fname = f.file_name().to_string_lossy().to_string();
            let Some((first, last)) = fname
                .strip_suffix(".wal")
                .and_then(|s| s.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            else {
                continue;
            };
            out.push(Superseded {
                epoch,
                kept: super::log_store::KeptAside {
                    first,
                    last,
                    entries: last.saturating_sub(first) + 1,
                    file: f.path(),
                },
            });
        }
    }
    out.sort_by_key(|s| (s.epoch, s.kept.first));
    out
}

/// Finishes a start-over that a crash interrupted (see [`STARTING_OVER`]): forgets the
/// group's store state, log, vote and purge marker. Runs before the group opens.
pub(super) fn finish_start_over(
    dir: &std::path::Path,
    wal_dir: &std::path::Path,
    store: &crate::store::Store,
    group: u32,
) -> Result<(), GroupError> {
    let marker = dir.join(STARTING_OVER);
    if !marker.exists() {
        return Ok(());
    }
    tracing::warn!(group, "finishing a start-over that was interrupted");
    store.clear_group(group)?;
    let io = |p: &std::path::Path, e: std::io::Error| GroupError::io(p, e);
    match std::fs::remove_dir_all(wal_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(wal_dir, e)),
    }
    for name in [super::log_store::VOTE_FILE, super::log_store::PURGED_FILE] {
        let p = dir.join(name);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&p, e)),
        }
    }
    std::fs::remove_file(&marker).map_err(|e| io(&marker, e))
}
