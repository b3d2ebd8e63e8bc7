//! Opening a replica, as named steps: recover the log and check it against the store, derive
//! the timings from the settings, start Raft over both, assemble the group, then bootstrap
//! it (a never-initialized group's voters), lead at once as a sole voter, and start its
//! background tasks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use openraft::SnapshotPolicy;

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::types::{self, NodeId};
use super::{
    AckMetrics, GroupError, GroupId, GroupOptions, GroupSpec, LogGroup, ack, batcher, contact,
    election, fence, gate, inflight, lease, network, raft_slot, reseat, spec_cache, tasks,
};
use crate::clock::Hlc;
use crate::config::NodeSettings;
use crate::store::Store;
use crate::transport::rpc::PeerCaller;
use crate::wal::{RecoveryReport, Wal, WalMetrics, WalOptions};

/// Margin above the leader lease before a replica stands or grants a pre-vote.
const TICK_MARGIN: Duration = Duration::from_millis(200);

/// Every duration a replica runs by, from the node settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timings {
    /// What openraft is configured with (ms): see [`openraft_election_timeouts`].
    pub openraft_election: (u64, u64),
    /// A voter stands (or a `standard` learner asks for promotion) after a random silence
    /// in `stand_after..=stand_by`: only after openraft's lease, or peers refuse the vote.
    pub stand_after: Duration,
    pub stand_by: Duration,
    /// A voter that heard from a leader within this refuses votes (openraft's lease).
    pub vote_lease: Duration,
    /// Half of the vote lease: the window in which the voters that acknowledged refuse
    /// other candidates, halved for clock drift.
    pub read_lease: Duration,
    /// Silence after which a follower stops forwarding writes (2.5 heartbeats, >= 1.5 s).
    pub silence_limit: Duration,
    /// How long a leader waits for a batch to commit.
    pub commit_timeout: Duration,
    pub election_timeout_max: Duration,
}

impl Timings {
    pub(super) fn new(s: &NodeSettings) -> Timings {
        let (min, max) = openraft_election_timeouts(s);
        let stand_after = Duration::from_millis(s.election_timeout_min_ms)
            .max(Duration::from_millis(max) + TICK_MARGIN);
        Timings {
            openraft_election: (min, max),
            stand_after,
            stand_by: Duration::from_millis(s.election_timeout_max_ms).max(stand_after),
            vote_lease: Duration::from_millis(max),
            read_lease: Duration::from_millis(max / 2),
            silence_limit: Duration::from_millis((s.heartbeat_interval_ms * 5 / 2).max(1500)),
            commit_timeout: Duration::from_millis(s.election_timeout_max_ms * 2),
            election_timeout_max: Duration::from_millis(s.election_timeout_max_ms),
        }
    }
}

/// openraft 0.9's follower, once it has known a leader, stands for election only after the
/// leader lease (its `election_timeout_max`) plus a random `election_timeout_min..max`, so
/// silence of `max + [min, max]`. Our settings name that silence directly: given
/// `[lo, hi]`, openraft gets `max = hi / 2` and `min = lo - hi / 2` (at least one heartbeat),
/// so a follower stands after `[max(lo, hi/2 + heartbeat), hi]` of silence.
fn openraft_election_timeouts(s: &NodeSettings) -> (u64, u64) {
    let max = s.election_timeout_max_ms / 2;
    let min = s
        .election_timeout_min_ms
        .saturating_sub(max)
        .max(s.heartbeat_interval_ms + 1);
    (min, max.max(min + 1))
}

/// Whether the store and the log agree after a restart: the store never applied past the
/// log's end (else acknowledged entries are gone from the WAL), and the log starts no later
/// than the entry after the store's (else entries between them are gone).
fn check_log_against_store(
    group: GroupId,
    applied: u64,
    wal_first: Option<u64>,
    wal_last: u64,
    purged: u64,
) -> Result<(), GroupError> {
    if applied > wal_last.max(purged) {
        return Err(GroupError::WalBehindStore {
            group: group.to_string(),
            applied,
            wal_last,
        });
    }
    match wal_first {
        Some(first) if first > applied + 1 => Err(GroupError::WalAheadOfStore {
            group: group.to_string(),
            applied,
            wal_first: first,
        }),
        _ => Ok(()),
    }
}

/// The recovered log, checked against the store.
struct Recovered {
    log: LogStore,
    report: RecoveryReport,
    applied: u64,
}

/// Finishes an interrupted start-over, opens the WAL (recovering its tail) and checks it
/// against the store.
async fn recover(
    id: GroupId,
    dir: &Path,
    wal: &WalOptions,
    store: &Store,
    clock: &Hlc,
    wal_metrics: Option<WalMetrics>,
) -> Result<Recovered, GroupError> {
    reseat::finish_start_over(dir, &wal.dir, store, id.0)?;
    let wal_opts = wal.clone();
    let (wal, report) =
        tokio::task::spawn_blocking(move || Wal::open(wal_opts, wal_metrics)).await??;
    let applied = store.applied(id.0)?.index;
    let wal_last = wal.last_index().unwrap_or(0);
    let log = LogStore::new(wal, dir.to_path_buf()).map_err(GroupError::Wal)?;
    // a restarted node never stamps below what its log already holds
    clock.observe_persisted(log.last_hlc());
    let purged = log.purged_index()?;
    check_log_against_store(id, applied, log.wal().first_index(), wal_last, purged)?;
    Ok(Recovered {
        log,
        report,
        applied,
    })
}

fn raft_config(id: GroupId, s: &NodeSettings, t: &Timings) -> Result<openraft::Config, GroupError> {
    openraft::Config {
        cluster_name: format!("georep-{id}"),
        heartbeat_interval: s.heartbeat_interval_ms,
        election_timeout_min: t.openraft_election.0,
        election_timeout_max: t.openraft_election.1,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(s.snapshot_every_entries),
        max_in_snapshot_log_to_keep: s.snapshot_keep_entries,
        max_payload_entries: 4096,
        // a reply slower than this is a dead peer, not a slow one
        install_snapshot_timeout: 30_000,
        // elections are ours, with a pre-vote (election.rs)
        enable_elect: false,
        ..Default::default()
    }
    .validate()
    .map_err(|e| GroupError::raft("configuration", e))
}

impl LogGroup {
    /// Opens the group's WAL and state, and starts its Raft replica. Voters of a group that
    /// has never been initialized bootstrap it with the topology's voters.
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        spec: GroupSpec,
        region: Arc<str>,
        clock: Arc<Hlc>,
        store: Arc<Store>,
        options: GroupOptions,
        caller: PeerCaller,
        wal_metrics: Option<WalMetrics>,
        ack_metrics: Option<AckMetrics>,
    ) -> Result<(Arc<LogGroup>, RecoveryReport), GroupError> {
        let id = spec.id;
        let dir = options
            .wal
            .dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let Recovered {
            log,
            report,
            applied,
        } = recover(id, &dir, &options.wal, &store, &clock, wal_metrics).await?;
        let s = &options.settings;
        let t = Timings::new(s);
        let (sm, applied_rx) = StateMachine::new(id.0, store.clone(), clock.clone())?;
        let node = types::node_id(&region);
        let acks = lease::Acks::default();
        let sole_voter = Arc::new(std::sync::atomic::AtomicBool::new(
            spec.voters.len() == 1 && spec.voters[0] == *region,
        ));
        let network = network::Network {
            group: id,
            caller: caller.clone(),
            applied: applied_rx.clone(),
            clock: clock.clone(),
            acks: acks.clone(),
            sole_voter: sole_voter.clone(),
        };
        let raft = raft_slot::RaftSlot::start(
            raft_slot::RaftParts {
                config: Arc::new(raft_config(id, s, &t)?),
                network,
                sm: sm.clone(),
            },
            node,
            &log,
        )
        .await?;
        let regions: HashMap<NodeId, String> = options
            .regions
            .iter()
            .chain(&spec.voters)
            .chain(&spec.learners)
            .map(|r| (types::node_id(r), r.clone()))
            .collect();
        let inflight = Arc::new(inflight::InFlight::default());
        let proposals = batcher::Batcher {
            raft: raft.subscribe(),
            clock: clock.clone(),
            inflight: inflight.clone(),
            region: region.clone(),
            regions: regions.clone(),
            commit_timeout: t.commit_timeout,
            max_bytes: (s.wal_segment_bytes / 4).min(4 << 20) as usize,
        }
        .spawn();
        let group = Arc::new(LogGroup {
            id,
            region,
            node,
            store,
            raft,
            applied: applied_rx,
            checkpointed: AtomicU64::new(applied),
            caller,
            regions,
            contact: contact::LeaderContact::new(t.silence_limit),
            watermarks: Default::default(),
            ack: ack::AckState::new(ack_metrics),
            election_timeout_max: t.election_timeout_max,
            election: election::ElectionState::new(t.vote_lease),
            spec: spec_cache::SpecCache::new(spec.clone(), sm.config_version()),
            proposals,
            write_gate: gate::WriteGate::default(),
            fence: fence::Fence::new(reseat::superseded_on_disk(&dir)),
            dir,
            log,
            promotes_learner: spec.promotes_learner,
            promote_after: t.stand_after,
            changing_members: std::sync::atomic::AtomicBool::new(false),
            lease: lease::LeaderLease::new(acks, t.read_lease),
            clock,
            inflight,
            sole_voter,
            tasks: tasks::GroupTasks::default(),
        });
        group.begin(&spec, options.bootstrap, &t).await?;
        Ok((group, report))
    }

    /// Bootstraps a never-initialized group (its voters), leads at once as a sole voter,
    /// and starts the background tasks.
    async fn begin(
        self: &Arc<Self>,
        spec: &GroupSpec,
        bootstrap: bool,
        t: &Timings,
    ) -> Result<(), GroupError> {
        let voter_here = spec.voters.iter().any(|v| **v == *self.region);
        if bootstrap && voter_here {
            self.bootstrap(spec).await?;
        }
        if spec.voters.len() == 1 && voter_here && self.raft_voter() {
            // The sole voter needs nobody's vote: lead now rather than after an election
            // timeout of silence.
            if let Err(e) = self.raft().trigger().elect().await {
                tracing::warn!(group = %self.id, error = %e, "could not start an election");
            }
        }
        self.spawn_task(super::membership_keeper(Arc::downgrade(self)));
        self.spawn_task(election::driver(
            Arc::downgrade(self),
            t.stand_after,
            t.stand_by,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_follow_the_settings() {
        let s = NodeSettings {
            heartbeat_interval_ms: 200,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            ..NodeSettings::default()
        };
        let t = Timings::new(&s);
        // openraft: max = hi/2, min = lo - hi/2 (at least a heartbeat + 1)
        assert_eq!(t.openraft_election, (201, 1000));
        // stand after openraft's lease plus a margin, never before the configured minimum
        assert_eq!(t.stand_after, Duration::from_millis(1200));
        assert_eq!(t.stand_by, Duration::from_millis(2000));
        assert_eq!(t.vote_lease, Duration::from_millis(1000));
        assert_eq!(
            t.read_lease,
            Duration::from_millis(500),
            "half the vote lease"
        );
        assert_eq!(
            t.silence_limit,
            Duration::from_millis(1500),
            "at least 1.5 s"
        );
        let slow = Timings::new(&NodeSettings {
            heartbeat_interval_ms: 1000,
            election_timeout_min_ms: 6000,
            election_timeout_max_ms: 10000,
            ..NodeSettings::default()
        });
        assert_eq!(slow.silence_limit, Duration::from_millis(2500));
        assert_eq!(slow.stand_after, Duration::from_millis(6000));
        assert!(slow.read_lease < slow.vote_lease);
    }

    #[test]
    fn a_log_that_lost_acknowledged_entries_is_refused_by_name() {
        let g = GroupId(7);
        assert!(check_log_against_store(g, 10, Some(1), 12, 0).is_ok());
        // purged up to the store's checkpoint: fine
        assert!(check_log_against_store(g, 10, Some(11), 10, 10).is_ok());
        assert!(
            check_log_against_store(g, 0, None, 0, 0).is_ok(),
            "a new group"
        );
        assert!(matches!(
            check_log_against_store(g, 10, Some(1), 8, 0),
            Err(GroupError::WalBehindStore {
                applied: 10,
                wal_last: 8,
                ..
            })
        ));
        assert!(matches!(
            check_log_against_store(g, 10, Some(13), 20, 12),
            Err(GroupError::WalAheadOfStore { wal_first: 13, .. })
        ));
    }
}
