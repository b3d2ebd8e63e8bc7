//! Every `error.code` the API answers with, in one enum: clients branch on these strings
//! (CONTRACT.md), so they are spelled once, here, and the compiler finds every use.

macro_rules! codes {
    ($($variant:ident => $text:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    ArchiveBacklog => "archive_backlog",
    AuthBackoff => "auth_backoff",
    CatalogUnavailable => "catalog_unavailable",
    ConsistencyUnavailable => "consistency_unavailable",
    Fenced => "fenced",
    Forbidden => "forbidden",
    Internal => "internal",
    InvalidAckPolicy => "invalid_ack_policy",
    InvalidBody => "invalid_body",
    InvalidCollection => "invalid_collection",
    InvalidConsistency => "invalid_consistency",
    InvalidHeader => "invalid_header",
    InvalidJson => "invalid_json",
    InvalidKey => "invalid_key",
    InvalidMaxStaleness => "invalid_max_staleness",
    InvalidPath => "invalid_path",
    InvalidPlacement => "invalid_placement",
    InvalidPrecondition => "invalid_precondition",
    InvalidQuery => "invalid_query",
    InvalidSessionToken => "invalid_session_token",
    KeyTooLarge => "key_too_large",
    MembershipChangeFailed => "membership_change_failed",
    MethodNotAllowed => "method_not_allowed",
    NoQuorum => "no_quorum",
    NotFound => "not_found",
    NotLeader => "not_leader",
    NotPlacedHere => "not_placed_here",
    NotReady => "not_ready",
    PlacementChangeUnsupported => "placement_change_unsupported",
    PlacementConflict => "placement_conflict",
    PreconditionFailed => "precondition_failed",
    ProxyFailed => "proxy_failed",
    ReadOnlyCollection => "read_only_collection",
    RotationUnsupported => "rotation_unsupported",
    SessionKeyNotYetKnown => "session_key_not_yet_known",
    SessionKeysUnavailable => "session_keys_unavailable",
    SessionNotCaughtUp => "session_not_caught_up",
    SlotConflict => "slot_conflict",
    StrongUnsupported => "strong_unsupported",
    CrdtOpsOnly => "crdt_ops_only",
    NotCrdt => "not_crdt",
    InvalidOp => "invalid_op",
    PreconditionUnsupported => "precondition_unsupported",
    SlotExists => "slot_exists",
    InvalidSlot => "invalid_slot",
    InvalidPosition => "invalid_position",
    PositionAhead => "position_ahead",
    SlotLost => "slot_lost",
    SlotPaused => "slot_paused",
    SlotGroupsNotHeld => "slot_groups_not_held",
    ChangesNotHeld => "changes_not_held",
    ShuttingDown => "shutting_down",
    SyncReplicasUnavailable => "sync_replicas_unavailable",
    Unauthenticated => "unauthenticated",
    ValueTooLarge => "value_too_large",
    WriteUnavailable => "write_unavailable",
}

impl ErrorCode {
    /// The code spelled `text`, if it is one.
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }
}
