//! Claims inside peer messages, bound to the identity that mutual TLS proved.
//!
//! A peer is known by the one region its certificate names (`transport/`). Raft messages
//! also *name* a node: the candidate of a vote, the leader of an append or a snapshot, the
//! origin of a forwarded write. A message whose named node is not the sender's own region is
//! refused before Raft sees it, logged and counted (`georep_peer_claim_mismatches_total`), so
//! a region's key can speak only for that region. Pre-votes name no candidate: the candidate
//! is the sender by construction.

use super::types::{NodeId, node_id};

/// What a message says about who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// A vote request's candidate (None: the vote names nobody, which no candidate sends).
    Candidate(Option<NodeId>),
    /// An append's or snapshot's leader.
    Leader(Option<NodeId>),
    /// A forwarded write's origin region.
    Origin(&'a str),
}

impl Claim<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Claim::Candidate(_) => "vote_candidate",
            Claim::Leader(_) => "leader",
            Claim::Origin(_) => "write_origin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{peer} (by its certificate) sent a message whose {kind} is {claimed}: refused")]
pub struct ClaimMismatch {
    pub peer: String,
    pub kind: &'static str,
    pub claimed: String,
}

/// Accepts `claim` only if it names `peer`, the region the sender's certificate proved.
pub fn check(peer: &str, claim: Claim<'_>) -> Result<(), ClaimMismatch> {
    let ok = match claim {
        Claim::Candidate(n) | Claim::Leader(n) => n == Some(node_id(peer)),
        Claim::Origin(o) => o == peer,
    };
    if ok {
        return Ok(());
    }
    let claimed = match claim {
        Claim::Candidate(Some(n)) | Claim::Leader(Some(n)) => format!("node {n}"),
        Claim::Candidate(None) | Claim::Leader(None) => "nobody".to_string(),
        Claim::Origin(o) => format!("region {o:?}"),
    };
    Err(ClaimMismatch {
        peer: peer.to_string(),
        kind: claim.kind(),
        claimed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_must_name_the_certified_sender() {
        let (a, b) = (Some(node_id("us-east-1")), Some(node_id("eu-west-1")));
        assert!(check("us-east-1", Claim::Candidate(a)).is_ok());
        assert!(check("us-east-1", Claim::Leader(a)).is_ok());
        assert!(check("us-east-1", Claim::Origin("us-east-1")).is_ok());
        let e = check("us-east-1", Claim::Candidate(b)).unwrap_err();
        assert_eq!(e.kind, "vote_candidate");
        assert!(e.to_string().contains("us-east-1"), "{e}");
        assert_eq!(
            check("us-east-1", Claim::Leader(b)).unwrap_err().kind,
            "leader"
        );
        assert_eq!(
            check("us-east-1", Claim::Origin("eu-west-1"))
                .unwrap_err()
                .kind,
            "write_origin"
        );
        assert!(check("us-east-1", Claim::Leader(None)).is_err());
    }
}
