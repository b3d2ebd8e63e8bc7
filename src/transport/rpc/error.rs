use serde::{Deserialize, Serialize};

/// Why a peer did not serve a request. It crosses the wire as itself (JSON in the error
/// frame), so the caller can tell a refusal from a malformed message from a peer that is
/// not ready yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RpcError {
    /// The request named a service this peer does not serve (another version).
    #[error("no RPC service {0} here")]
    UnknownService(u8),
    /// The service exists but is still starting (its groups are opening): retry.
    #[error("{what} is still starting")]
    NotReady { what: String },
    #[error("malformed {what}: {reason}")]
    Malformed { what: String, reason: String },
    /// The request is well formed but this peer will not act on it (a claim that is not the
    /// sender's, a superseded voter).
    #[error("refused: {reason}")]
    Refused { reason: String },
    /// The request is for something this region holds no replica of.
    #[error("{what} has no replica in this region")]
    NotHere { what: String },
    /// The sender's clock is too far ahead of this peer's (`peer_clock.rs`).
    #[error("clock skew: {reason}")]
    ClockSkew { reason: String },
    /// Serving the request failed here.
    #[error("{reason}")]
    Failed { reason: String },
}

/// What a service serves from once it exists (its groups, the API): peers that call earlier
/// are told it is `what`, still starting, and retry.
pub fn once_ready<'a, T>(cell: &'a std::sync::OnceLock<T>, what: &str) -> Result<&'a T, RpcError> {
    cell.get().ok_or_else(|| RpcError::NotReady {
        what: what.to_string(),
    })
}

impl RpcError {
    pub fn malformed(what: &str, reason: impl std::fmt::Display) -> RpcError {
        RpcError::Malformed {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The error frame's payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("RPC errors serialize")
    }

    /// An error frame's payload; text from a peer that sends no JSON is kept as it came.
    pub(crate) fn decode(payload: &[u8]) -> RpcError {
        serde_json::from_slice(payload).unwrap_or_else(|_| RpcError::Failed {
            reason: String::from_utf8_lossy(payload).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_and_foreign_text_is_kept() {
        for e in [
            RpcError::UnknownService(9),
            RpcError::NotReady {
                what: "groups".into(),
            },
            RpcError::malformed("vote", "eof"),
            RpcError::Refused {
                reason: "no".into(),
            },
            RpcError::ClockSkew {
                reason: "ahead".into(),
            },
        ] {
            assert_eq!(RpcError::decode(&e.encode()), e);
        }
        assert_eq!(
            RpcError::decode(b"plain words"),
            RpcError::Failed {
                reason: "plain words".into()
            }
        );
    }
}
