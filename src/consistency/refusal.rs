//! Why a read was not admitted here, by meaning. Each refusal knows its HTTP status, its
//! stable error code, whether the client may retry and whether another replica of the group
//! might serve the read (the API forwards on that, never on message text).

use std::fmt;

use crate::ids::GroupId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRefusal {
    /// BOUNDED_STALENESS: this replica is past the bound and could not catch up (its
    /// ReadIndex round failed), so it cannot promise the bound.
    StalenessExceeded {
        bound_ms: u64,
        actual_ms: u64,
        reason: String,
    },
    /// SESSION: the token has seen an index this replica did not apply within the wait.
    SessionNotCaughtUp {
        group: GroupId,
        applied: u64,
        needed: u64,
        waited_ms: u64,
    },
    /// SESSION: the token comes from a newer epoch of the group than this replica knows.
    SessionFromNewerEpoch {
        group: GroupId,
        token_epoch: u64,
        local_epoch: u64,
    },
    /// STRONG: no leader confirmed the commit index (ReadIndex) within the wait.
    NoLeader {
        group: GroupId,
        waited_ms: u64,
        reason: String,
    },
}

impl ReadRefusal {
    /// The stable `error.code` clients branch on (CONTRACT.md).
    pub fn code(&self) -> &'static str {
        match self {
            ReadRefusal::SessionNotCaughtUp { .. } => "session_not_caught_up",
            ReadRefusal::StalenessExceeded { .. }
            | ReadRefusal::SessionFromNewerEpoch { .. }
            | ReadRefusal::NoLeader { .. } => "consistency_unavailable",
        }
    }

    /// Every read refusal is 503: the level cannot be met *now*.
    pub fn status(&self) -> u16 {
        503
    }

    /// Whether retrying the same request later may succeed (all of them: replicas catch
    /// up, leaders get elected), and after how long.
    pub fn retry_after_s(&self) -> u32 {
        1
    }

    /// Whether another replica of the group might serve the read at the same level: a
    /// fresher one, one that has applied the session's index, or one that reaches a leader.
    pub fn forwardable(&self) -> bool {
        match self {
            ReadRefusal::StalenessExceeded { .. }
            | ReadRefusal::SessionNotCaughtUp { .. }
            | ReadRefusal::SessionFromNewerEpoch { .. } => true,
            // a ReadIndex works from any replica: if this one reached no leader, another
            // replica's view of the same group is worth asking
            ReadRefusal::NoLeader { .. } => true,
        }
    }
}

impl fmt::Display for ReadRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadRefusal::StalenessExceeded {
                bound_ms,
                actual_ms,
                reason,
            } => write!(
                f,
                "this replica is {actual_ms} ms stale, over the {bound_ms} ms bound, and could \
                 not catch up: {reason}"
            ),
            ReadRefusal::SessionNotCaughtUp {
                group,
                applied,
                needed,
                waited_ms,
            } => write!(
                f,
                "this replica has applied {applied} of group {group} but the session has seen \
                 index {needed}; it did not catch up within {waited_ms} ms"
            ),
            ReadRefusal::SessionFromNewerEpoch {
                group,
                token_epoch,
                local_epoch,
            } => write!(
                f,
                "the session has seen epoch {token_epoch} of group {group} but this replica is \
                 at epoch {local_epoch}"
            ),
            ReadRefusal::NoLeader {
                group,
                waited_ms,
                reason,
            } => write!(
                f,
                "cannot confirm every committed write of group {group} within {waited_ms} ms: \
                 {reason}"
            ),
        }
    }
}

impl std::error::Error for ReadRefusal {}
