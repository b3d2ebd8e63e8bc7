//! Node tunables: one table of defaults, in the units the names say.

use serde::Deserialize;

use super::error::{ConfigError, invalid};
use crate::consistency::Consistency;

pub const DEFAULT_MAX_VALUE_BYTES: u64 = 1 << 20;
pub const MAX_KEY_BYTES: usize = 1024;

/// `[node]` in the topology file; every region runs with the same settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSettings {
    /// Largest document value accepted (413 above).
    pub max_value_bytes: u64,
    /// Peers whose HLC is further ahead than this are refused.
    pub max_clock_skew_ms: u64,
    /// Session tokens expire this long after they were issued.
    pub session_token_ttl_ms: u64,
    /// How long a SESSION read waits for this replica to catch up before giving up.
    pub session_wait_ms: u64,
    /// Consistency for requests that do not send `x-georep-consistency`, unless the
    /// collection sets its own.
    pub default_consistency: Consistency,
    /// Staleness bound for BOUNDED_STALENESS requests that send no bound.
    pub default_max_staleness_ms: u64,
    pub wal_segment_bytes: u64,
    pub wal_segment_age_ms: u64,
    /// How often the store makes its applied state durable (bounds replay after a crash).
    pub checkpoint_interval_ms: u64,
    /// Raft: how often a leader heartbeats its followers.
    pub heartbeat_interval_ms: u64,
    /// Raft: a follower that hears no leader for a random time in this range calls an election.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// A group records a snapshot position every this many entries; the log behind it (less
    /// `snapshot_keep_entries`) may then be deleted, and replicas further behind get the
    /// snapshot instead.
    pub snapshot_every_entries: u64,
    pub snapshot_keep_entries: u64,
    /// Change data capture: a group keeps the change rows its slots have not confirmed, but
    /// no more than this many entries behind its applied index; a slot further behind is
    /// marked lost (it delivers nothing more, and says so) rather than hold the disk hostage.
    pub cdc_retain_max_entries: u64,
    /// Change rows no slot needs are kept this long anyway, so a slot being created in
    /// another region finds the changes after its start on every replica.
    pub cdc_retain_grace_ms: u64,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_clock_skew_ms: 500,
            session_token_ttl_ms: 24 * 3600 * 1000,
            session_wait_ms: 1000,
            default_consistency: Consistency::Session,
            default_max_staleness_ms: 5000,
            wal_segment_bytes: crate::wal::DEFAULT_SEGMENT_BYTES,
            wal_segment_age_ms: crate::wal::DEFAULT_SEGMENT_AGE.as_millis() as u64,
            checkpoint_interval_ms: 1000,
            heartbeat_interval_ms: 1000,
            election_timeout_min_ms: 3000,
            election_timeout_max_ms: 6000,
            snapshot_every_entries: 10_000,
            snapshot_keep_entries: 1000,
            cdc_retain_max_entries: 1_000_000,
            cdc_retain_grace_ms: 60_000,
        }
    }
}

impl NodeSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let range = |field: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(invalid(
                    format!("node.{field}"),
                    format!("{v} is outside {lo}..={hi}"),
                ))
            }
        };
        range("max_value_bytes", self.max_value_bytes, 1, 64 << 20)?;
        range("max_clock_skew_ms", self.max_clock_skew_ms, 1, 3_600_000)?;
        range(
            "session_token_ttl_ms",
            self.session_token_ttl_ms,
            1_000,
            30 * 86_400_000,
        )?;
        range("session_wait_ms", self.session_wait_ms, 0, 60_000)?;
        range(
            "default_max_staleness_ms",
            self.default_max_staleness_ms,
            1,
            86_400_000,
        )?;
        range(
            "wal_segment_bytes",
            self.wal_segment_bytes,
            64 << 10,
            1 << 30,
        )?;
        range(
            "wal_segment_age_ms",
            self.wal_segment_age_ms,
            100,
            86_400_000,
        )?;
        range(
            "checkpoint_interval_ms",
            self.checkpoint_interval_ms,
            10,
            600_000,
        )?;
        range(
            "heartbeat_interval_ms",
            self.heartbeat_interval_ms,
            10,
            60_000,
        )?;
        range(
            "election_timeout_min_ms",
            self.election_timeout_min_ms,
            20,
            600_000,
        )?;
        range(
            "election_timeout_max_ms",
            self.election_timeout_max_ms,
            20,
            600_000,
        )?;
        if self.election_timeout_min_ms <= self.heartbeat_interval_ms {
            return Err(invalid(
                "node.election_timeout_min_ms",
                format!(
                    "{} must exceed node.heartbeat_interval_ms ({}), or followers call elections \
                     between heartbeats",
                    self.election_timeout_min_ms, self.heartbeat_interval_ms
                ),
            ));
        }
        if self.election_timeout_max_ms < 2 * self.heartbeat_interval_ms + 4 {
            return Err(invalid(
                "node.election_timeout_max_ms",
                format!(
                    "{} must be at least twice node.heartbeat_interval_ms ({}) plus a little: the \
                     leader's lease is half of it",
                    self.election_timeout_max_ms, self.heartbeat_interval_ms
                ),
            ));
        }
        if self.election_timeout_max_ms <= self.election_timeout_min_ms {
            return Err(invalid(
                "node.election_timeout_max_ms",
                format!(
                    "{} must exceed node.election_timeout_min_ms ({})",
                    self.election_timeout_max_ms, self.election_timeout_min_ms
                ),
            ));
        }
        range(
            "snapshot_every_entries",
            self.snapshot_every_entries,
            10,
            1 << 40,
        )?;
        // at least one entry stays behind a snapshot: a purge never empties a live log
        range(
            "snapshot_keep_entries",
            self.snapshot_keep_entries,
            1,
            1 << 40,
        )?;
        range(
            "cdc_retain_max_entries",
            self.cdc_retain_max_entries,
            100,
            1 << 40,
        )?;
        range(
            "cdc_retain_grace_ms",
            self.cdc_retain_grace_ms,
            0,
            86_400_000,
        )?;
        if self.max_value_bytes + 4096 > self.wal_segment_bytes {
            return Err(invalid(
                "node.wal_segment_bytes",
                format!(
                    "{} cannot hold one largest value (node.max_value_bytes = {})",
                    self.wal_segment_bytes, self.max_value_bytes
                ),
            ));
        }
        Ok(())
    }
}
