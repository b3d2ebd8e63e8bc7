//! The `standard` tier's failover, run on every replica of such a group.
//!
//! Twice a second each replica reads the group's catalog record and acts on it:
//! - it adopts the record's voter, learners and epoch: whom it accepts entries from, and
//!   whom the leader keeps as learners;
//! - the voter marks its learners in sync again once they catch up (`group/fence.rs`), and
//!   elects itself if it is not leading, after a linearizable read confirms it still is the
//!   voter;
//! - a replica whose Raft still counts it as the voter while the catalog names another
//!   steps aside: it keeps its unreplicated entries aside, starts over blank, and asks to be
//!   listed as a learner again, after which the new voter refills it;
//! - a learner that has heard nothing from the voter for `promote_after` (two seconds more
//!   per learner ahead of it) and whose record says the learners are in sync stops its Raft,
//!   asks the catalog for the next epoch with itself as voter, and once that commits
//!   rewrites its log and leads. If the voter marked the learners out of sync first, the
//!   promotion is refused: promoting would lose acknowledged writes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use prometheus::{IntCounterVec, Opts, Registry};

use super::{Catalog, GroupRecord};
use crate::group::{GroupError, LogGroup};

const TICK: Duration = Duration::from_millis(500);

/// Extra silence a learner waits per learner ahead of it in the record.
const RANK_DELAY: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct FailoverMetrics {
    promotions: IntCounterVec,
    refused: IntCounterVec,
    step_asides: IntCounterVec,
    superseded_entries: IntCounterVec,
}

impl FailoverMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<FailoverMetrics> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), &["group"])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        Ok(FailoverMetrics {
            promotions: counter(
                "georep_promotions_total",
                "standard-tier promotions of this region's learner to voter",
            )?,
            refused: counter(
                "georep_promotions_refused_total",
                "promotions not attempted because the learners were out of sync",
            )?,
            step_asides: counter(
                "georep_step_asides_total",
                "times this region's superseded voter started over as a learner",
            )?,
            superseded_entries: counter(
                "georep_superseded_entries_total",
                "unreplicated entries a superseded voter kept aside",
            )?,
        })
    }
}

/// Runs until the group is dropped.
pub async fn watch(catalog: Arc<Catalog>, group: Weak<LogGroup>, metrics: FailoverMetrics) {
    let mut last_error = String::new();
    let mut refused_logged = false;
    loop {
        tokio::time::sleep(TICK).await;
        let Some(g) = group.upgrade() else { return };
        match step(&catalog, &g, &metrics, &mut refused_logged).await {
            Ok(()) => last_error.clear(),
            Err(e) => {
                let msg = e.to_string();
                if msg != last_error {
                    tracing::warn!(group = %g.id(), error = %msg, "failover watcher");
                    last_error = msg;
                }
            }
        }
    }
}

async fn step(
    catalog: &Catalog,
    g: &LogGroup,
    metrics: &FailoverMetrics,
    refused_logged: &mut bool,
) -> Result<(), GroupError> {
    let id = g.id();
    let label = id.to_string();
    let (record, _) = catalog
        .record(id)
        .map_err(|e| GroupError::Catalog(e.to_string()))?;
    let me = g.region().to_string();
    g.set_members(
        vec![record.voter.clone()],
        record.learners.clone(),
        record.epoch,
    );

    if record.voter == me {
        return serve_as_voter(catalog, g, &record).await;
    }
    if g.raft_voter() {
        // superseded: the catalog names another voter
        let kept = g
            .halt_raft()
            .await
            .start_over(record.promoted_at, record.epoch)
            .await?;
        metrics.step_asides.with_label_values(&[&label]).inc();
        if let Some(s) = kept {
            metrics
                .superseded_entries
                .with_label_values(&[&label])
                .inc_by(s.kept.entries);
        }
    }
    act_as_learner(catalog, g, &record, metrics, refused_logged).await
}

/// The catalog names this replica as voter: finish an interrupted promotion, keep the
/// learners' sync state, and stand if nobody leads.
async fn serve_as_voter(
    catalog: &Catalog,
    g: &LogGroup,
    record: &GroupRecord,
) -> Result<(), GroupError> {
    let id = g.id();
    match voter_step(
        g.raft_voter(),
        g.in_leader_state(),
        g.leader_silence(),
        g.promote_after(),
    ) {
        // promoted, but stopped before the log was rewritten: finish
        VoterStep::FinishPromotion => g.halt_raft().await.become_sole_voter(record.epoch).await,
        VoterStep::Serve { confirm_and_elect } => {
            g.note_catalog_in_sync(record.in_sync).await;
            g.restore_in_sync().await?;
            if !confirm_and_elect {
                return Ok(());
            }
            let (fresh, _) = catalog
                .record_fresh(id)
                .await
                .map_err(|e| GroupError::Catalog(e.to_string()))?;
            if fresh.voter == g.region() {
                tracing::info!(group = %id, epoch = fresh.epoch, "the catalog's voter is not leading; electing itself");
                if let Err(e) = g.raft().trigger().elect().await {
                    tracing::warn!(group = %id, error = %e, "could not start an election");
                }
            }
            Ok(())
        }
    }
}

/// The catalog names another voter: be listed as a learner, wait, or promote.
async fn act_as_learner(
    catalog: &Catalog,
    g: &LogGroup,
    record: &GroupRecord,
    metrics: &FailoverMetrics,
    refused_logged: &mut bool,
) -> Result<(), GroupError> {
    let (id, label, me) = (g.id(), g.id().to_string(), g.region().to_string());
    let step = learner_step(&Learner {
        rank: record.learners.iter().position(|l| *l == me),
        blank: g.raft_blank(),
        leading: g.in_leader_state(),
        silence: g.leader_silence(),
        promote_after: g.promote_after(),
        in_sync: record.in_sync,
    });
    match step {
        LearnerStep::Relist => {
            // stepped aside (now, or before a crash): ask to learn from the new voter
            catalog
                .update(id, |r| {
                    Ok((r.voter != me && !r.learners.contains(&me)).then(|| {
                        let mut next = r.clone();
                        next.learners.push(me.clone());
                        next
                    }))
                })
                .await?;
            tracing::info!(group = %id, voter = %record.voter, "listed as a learner again");
            Ok(())
        }
        LearnerStep::Wait => {
            *refused_logged = false;
            Ok(())
        }
        LearnerStep::RefusePromotion => {
            metrics.refused.with_label_values(&[&label]).inc();
            if !*refused_logged {
                tracing::error!(
                    group = %id,
                    voter = %record.voter,
                    silent_ms = g.leader_silence().as_millis() as u64,
                    "the voter is silent but its learners are out of sync (it acknowledged writes \
                     they may lack): not promoting; the group takes no writes until the voter returns"
                );
                *refused_logged = true;
            }
            Ok(())
        }
        LearnerStep::Promote => promote(catalog, g, &me, metrics).await,
    }
}

/// What the catalog's voter does on a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VoterStep {
    /// The record names this replica but its Raft is not the voter yet: a promotion was
    /// interrupted after the catalog committed it.
    FinishPromotion,
    /// Keep the learners' sync state; `confirm_and_elect` when it is not leading and has
    /// been silent past `promote_after` (it re-reads the record through the meta group's
    /// leader before standing, so a stale record never makes two voters stand).
    Serve { confirm_and_elect: bool },
}

fn voter_step(
    raft_voter: bool,
    leading: bool,
    silence: Duration,
    promote_after: Duration,
) -> VoterStep {
    if !raft_voter {
        return VoterStep::FinishPromotion;
    }
    VoterStep::Serve {
        confirm_and_elect: !leading && silence > promote_after,
    }
}

/// What a replica the record does not name as voter knows on a tick.
struct Learner {
    /// Its place among the record's learners; None if it is not listed.
    rank: Option<usize>,
    /// Its Raft has started over and holds nothing yet.
    blank: bool,
    leading: bool,
    /// Since it last heard from the voter.
    silence: Duration,
    promote_after: Duration,
    /// The record's word that the learners hold every acknowledged write.
    in_sync: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LearnerStep {
    /// Not listed (it stepped aside): ask to be listed as a learner again.
    Relist,
    Wait,
    /// The voter is silent long enough, but the learners may lack acknowledged writes.
    RefusePromotion,
    Promote,
}

/// The first-ranked learner stands after `promote_after` of silence, each later one
/// [`RANK_DELAY`] after the one before it, so they do not race each other.
fn learner_step(l: &Learner) -> LearnerStep {
    let Some(rank) = l.rank else {
        return LearnerStep::Relist;
    };
    let wait = l.promote_after + RANK_DELAY * rank as u32;
    if l.blank || l.leading || l.silence <= wait {
        LearnerStep::Wait
    } else if !l.in_sync {
        LearnerStep::RefusePromotion
    } else {
        LearnerStep::Promote
    }
}

async fn promote(
    catalog: &Catalog,
    g: &LogGroup,
    me: &str,
    metrics: &FailoverMetrics,
) -> Result<(), GroupError> {
    let id = g.id();
    let silent_ms = g.leader_silence().as_millis() as u64;
    // Only with a reachable meta group (else halting Raft for a write bound to fail would
    // just stall this replica), and against the newest record.
    let (record, version) = catalog
        .record_fresh(id)
        .await
        .map_err(|e| GroupError::Catalog(e.to_string()))?;
    if record.voter == me || !record.in_sync {
        return Ok(());
    }
    let record = &record;
    // Stop taking entries first, so what the record says this replica holds stays true.
    let halted = g.halt_raft().await;
    let next = GroupRecord {
        epoch: record.epoch + 1,
        voter: me.to_string(),
        learners: record
            .learners
            .iter()
            .filter(|l| *l != me)
            .cloned()
            .collect(),
        // nobody else holds this replica's future writes yet
        in_sync: false,
        promoted_at: halted.last_index(),
        previous: Some(record.voter.clone()),
    };
    match catalog.replace(id, version, &next).await {
        Ok(_) => {
            tracing::warn!(
                group = %id,
                epoch = next.epoch,
                previous = %record.voter,
                promoted_at = next.promoted_at,
                silent_ms,
                "promoting this replica: the voter went silent"
            );
            g.set_members(vec![me.to_string()], next.learners.clone(), next.epoch);
            halted.become_sole_voter(next.epoch).await?;
            metrics
                .promotions
                .with_label_values(&[&id.to_string()])
                .inc();
            Ok(())
        }
        Err(e) => {
            halted.resume().await?;
            Err(GroupError::Catalog(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(3);

    fn learner(rank: Option<usize>, silence_s: u64, in_sync: bool) -> Learner {
        Learner {
            rank,
            blank: false,
            leading: false,
            silence: Duration::from_secs(silence_s),
            promote_after: AFTER,
            in_sync,
        }
    }

    #[test]
    fn the_voter_finishes_an_interrupted_promotion_and_stands_only_when_silent() {
        let s = |secs| Duration::from_secs(secs);
        assert_eq!(
            voter_step(false, false, s(0), AFTER),
            VoterStep::FinishPromotion
        );
        assert_eq!(
            voter_step(true, true, s(10), AFTER),
            VoterStep::Serve {
                confirm_and_elect: false
            },
            "leading"
        );
        assert_eq!(
            voter_step(true, false, s(2), AFTER),
            VoterStep::Serve {
                confirm_and_elect: false
            },
            "not silent long enough"
        );
        assert_eq!(
            voter_step(true, false, s(4), AFTER),
            VoterStep::Serve {
                confirm_and_elect: true
            }
        );
    }

    #[test]
    fn learners_promote_in_rank_order_and_never_out_of_sync() {
        assert_eq!(learner_step(&learner(None, 60, true)), LearnerStep::Relist);
        assert_eq!(
            learner_step(&learner(Some(0), 3, true)),
            LearnerStep::Wait,
            "at the limit"
        );
        assert_eq!(
            learner_step(&learner(Some(0), 4, true)),
            LearnerStep::Promote
        );
        // the second learner waits RANK_DELAY more
        assert_eq!(learner_step(&learner(Some(1), 4, true)), LearnerStep::Wait);
        assert_eq!(
            learner_step(&learner(Some(1), 6, true)),
            LearnerStep::Promote
        );
        // out of sync: refused, however long the silence
        assert_eq!(
            learner_step(&learner(Some(0), 600, false)),
            LearnerStep::RefusePromotion
        );
        // a blank replica (it just started over) or one that leads never promotes
        let mut l = learner(Some(0), 60, true);
        l.blank = true;
        assert_eq!(learner_step(&l), LearnerStep::Wait);
        let mut l = learner(Some(0), 60, true);
        l.leading = true;
        assert_eq!(learner_step(&l), LearnerStep::Wait);
    }
}
