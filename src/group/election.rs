//! Elections, driven by us rather than by openraft's timer, with a pre-vote.
//!
//! openraft 0.9 has no pre-vote. After a leader dies, the follower whose timer fires first
//! stands even when its log is behind the other survivor's; it loses, but its higher term
//! resets the race, and failover took two or three election timeouts (12-19 s) in about one
//! round in four. So openraft's own election timer is off (`enable_elect = false`) and each
//! voter runs this driver instead: after a random silence from its leader (uniform in
//! `election_timeout_min_ms..=max_ms`), it first asks the other voters whether they would
//! vote for it. A voter says yes only if it has not heard from a leader for longer than
//! openraft's leader lease and the candidate's log is at least as up to date as its own.
//! Only with a majority of yeses does the candidate call a real election, so a stale
//! candidate never disturbs the term and the up-to-date survivor wins the first round.
//!
//! Two guards keep candidates from unseating each other: a leader refuses pre-votes as soon
//! as it is in the leader state (before openraft reports it as the current leader), and a
//! replica that said yes to another candidate holds back from standing itself for one
//! minimum timeout; otherwise the second candidate's higher term would depose the first.
//! A leader's AppendEntries counts as contact when it arrives, not after its entries are
//! flushed, so a slow fsync never looks like a dead leader.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::types::LogId;
use super::{LogGroup, rpc};

/// What the pre-vote needs to remember.
pub(super) struct ElectionState {
    /// openraft's leader lease: a replica that heard from a leader more recently refuses
    /// votes.
    pub(super) vote_lease: Duration,
    /// When this replica last said yes to another candidate's pre-vote.
    pub(super) granted_at: std::sync::Mutex<Option<Instant>>,
}

impl ElectionState {
    pub(super) fn new(vote_lease: Duration) -> ElectionState {
        ElectionState {
            vote_lease,
            granted_at: std::sync::Mutex::new(None),
        }
    }
}

/// How often the driver looks at the group.
const TICK: Duration = Duration::from_millis(100);

impl LogGroup {
    /// Whether this replica would vote for a candidate whose log ends at `candidate_last`.
    pub(crate) fn grants_pre_vote(&self, candidate_last: Option<LogId>) -> bool {
        let silent = self.contact.silence();
        let mine = self.log.last_log_id_or_purged().unwrap_or(None);
        let grant = grant_pre_vote(
            self.in_leader_state(),
            silent,
            self.election.vote_lease,
            candidate_last,
            mine,
        );
        if grant {
            *self.election.granted_at.lock().expect("pre-vote") = Some(Instant::now());
        }
        grant
    }

    /// Whether this replica said yes to another candidate within `window`: that candidate is
    /// standing, so this one holds back.
    fn granted_recently(&self, window: Duration) -> bool {
        self.election
            .granted_at
            .lock()
            .expect("pre-vote")
            .is_some_and(|t| t.elapsed() < window)
    }

    pub(crate) fn in_leader_state(&self) -> bool {
        self.raft().metrics().borrow().state == openraft::ServerState::Leader
    }

    /// Whether this replica is a voter and the leader it knows is not (it was removed).
    fn leader_removed(&self) -> bool {
        let m = self.raft().metrics();
        let b = m.borrow();
        let membership = b.membership_config.membership();
        let is_voter = |id: u64| membership.voter_ids().any(|v| v == id);
        is_voter(self.node) && b.current_leader.is_some_and(|l| !is_voter(l))
    }

    /// Asks every other voter for a pre-vote; true if a majority (counting this replica) says yes.
    async fn pre_vote(&self) -> bool {
        let metrics = self.raft().metrics().borrow().clone();
        let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
        if !voters.contains(&self.node) {
            return false;
        }
        let last = self.log.last_log_id_or_purged().unwrap_or(None);
        let request = rpc::encode_pre_vote(self.id, last);
        let mut asks = tokio::task::JoinSet::new();
        for region in voters
            .iter()
            .filter(|&&v| v != self.node)
            .filter_map(|v| self.regions.get(v))
        {
            let (caller, region, request) = (self.caller.clone(), region.clone(), request.clone());
            let timeout = self.election.vote_lease;
            asks.spawn(async move {
                caller
                    .call::<bool>(&region, &request, timeout)
                    .await
                    .unwrap_or(false)
            });
        }
        // Decide as soon as the answers so far settle it: a dead voter's answer would only
        // arrive as a timeout (the lease, 3 s by default), which is exactly when the
        // survivors need to stand.
        let (mut yes, mut no) = (1, 0);
        while let Some(granted) = asks.join_next().await {
            if granted.unwrap_or(false) {
                yes += 1;
            } else {
                no += 1;
            }
            if let Some(won) = tally(yes, no, voters.len()) {
                return won;
            }
        }
        tally(yes, no, voters.len()).unwrap_or(false)
    }
}

/// Whether a voter says yes to a pre-vote. A replica in the leader state refuses even
/// before its first entry commits (when openraft does not report it as the current leader
/// yet): it is alive, so nobody needs to stand. One that heard from a leader within the
/// vote lease refuses too (openraft would refuse the real vote). Otherwise the candidate's
/// log must be at least as up to date as this one's.
pub(super) fn grant_pre_vote(
    in_leader_state: bool,
    silent: Duration,
    vote_lease: Duration,
    candidate_last: Option<LogId>,
    mine: Option<LogId>,
) -> bool {
    !in_leader_state && silent > vote_lease && candidate_last >= mine
}

/// The pre-vote's outcome once `yes` (counting the candidate) and `no` answers of `voters`
/// settle it; None while both are still possible.
pub(super) fn tally(yes: usize, no: usize, voters: usize) -> Option<bool> {
    if yes * 2 > voters {
        Some(true)
    } else if no * 2 >= voters || yes + no >= voters {
        Some(false)
    } else {
        None
    }
}

/// Runs until the group is dropped: stands for election after a random silence, if a
/// pre-vote majority agrees.
pub(super) async fn driver(group: Weak<LogGroup>, min: Duration, max: Duration) {
    let draw = || {
        let span = max.saturating_sub(min).as_millis() as u64;
        let mut r = [0u8; 8];
        let _ = getrandom::fill(&mut r);
        min + Duration::from_millis(u64::from_le_bytes(r) % (span + 1))
    };
    let mut wait = draw();
    let mut last_attempt = Instant::now();
    loop {
        tokio::time::sleep(TICK).await;
        let Some(g) = group.upgrade() else { return };
        if g.promotes_learner() {
            // one voter, placed by the catalog: standing alone could unseat its successor
            // (see catalog/failover.rs)
            return;
        }
        if g.in_leader_state() {
            last_attempt = Instant::now();
            continue;
        }
        let silent = g.contact.silence();
        // A leader that a membership change removed steps down once the change commits and
        // falls silent: its successor need not wait out a whole election timeout, only a
        // moment of silence (standing earlier would cut off the writes it is finishing).
        let removed = g.leader_removed() && silent >= g.contact.silence_limit() / 5;
        if silent.min(last_attempt.elapsed()) < wait && !removed {
            continue;
        }
        last_attempt = Instant::now();
        wait = draw();
        if g.granted_recently(min) {
            continue;
        }
        if g.pre_vote().await {
            tracing::info!(group = %g.id, silent_ms = silent.as_millis() as u64, "pre-vote won; standing for election");
            if let Err(e) = g.raft().trigger().elect().await {
                tracing::warn!(group = %g.id, error = %e, "could not start an election");
            }
        } else {
            tracing::debug!(group = %g.id, "pre-vote lost; waiting");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::entry_codec::log_id;

    #[test]
    fn a_pre_vote_is_granted_only_to_an_up_to_date_candidate_after_the_lease() {
        let lease = Duration::from_secs(3);
        let long = Duration::from_secs(4);
        let (old, new) = (Some(log_id(2, 10)), Some(log_id(3, 11)));
        assert!(grant_pre_vote(false, long, lease, new, old));
        assert!(grant_pre_vote(false, long, lease, old, old), "equal logs");
        assert!(
            grant_pre_vote(false, long, lease, old, None),
            "an empty voter"
        );
        assert!(
            !grant_pre_vote(false, long, lease, old, new),
            "candidate behind"
        );
        assert!(
            !grant_pre_vote(false, long, lease, None, old),
            "empty candidate"
        );
        // a later term beats a longer log of an older term
        assert!(grant_pre_vote(
            false,
            long,
            lease,
            Some(log_id(3, 5)),
            Some(log_id(2, 9))
        ));
        assert!(
            !grant_pre_vote(false, lease, lease, new, old),
            "within the lease"
        );
        assert!(
            !grant_pre_vote(true, long, lease, new, old),
            "a leader refuses"
        );
    }

    #[test]
    fn the_tally_stops_as_soon_as_it_is_settled() {
        // three voters: the candidate plus one yes wins, two noes lose
        assert_eq!(tally(1, 0, 3), None);
        assert_eq!(tally(2, 0, 3), Some(true));
        assert_eq!(tally(1, 1, 3), None, "the third voter decides");
        assert_eq!(tally(1, 2, 3), Some(false));
        // five voters
        assert_eq!(tally(2, 2, 5), None);
        assert_eq!(tally(3, 1, 5), Some(true));
        assert_eq!(tally(2, 3, 5), Some(false));
        // even counts: half is not a majority
        assert_eq!(tally(2, 0, 4), None);
        assert_eq!(tally(2, 2, 4), Some(false));
        assert_eq!(tally(1, 0, 1), Some(true), "a sole voter");
    }
}
