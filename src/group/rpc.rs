//! Messages between replicas of log groups: the transport's `Service::Group`.
//!
//! Every request is `[service u8][kind u8][group u32][body]` (the dispatch table strips the
//! service byte before `server.rs` sees it). AppendEntries carries its entries as WAL
//! records (the same bytes the follower's WAL will hold, CRC included) after a small JSON
//! head; snapshot chunks carry raw bytes after a JSON head; everything else is JSON. The
//! transport compresses large frames. Responses are JSON `Result`s, so a remote Raft error
//! arrives typed.

use bytes::Bytes;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{SnapshotMeta, Vote};
use serde::{Deserialize, Serialize};

use super::GroupId;
use super::entry_codec::{from_wal, to_wal};
use super::types::{LogId, NodeId, TypeConfig};
use crate::clock::Timestamp;
use crate::store::EncodedCommand;
use crate::transport::rpc::{RpcError, Service, request};
pub use crate::transport::rpc::{json, json_head, put_json_head};
use crate::util::codec::Reader;
use crate::wal::Entry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Append = 1,
    Vote = 2,
    Snapshot = 3,
    /// A write sent to this replica because it leads the group.
    Propose = 4,
    /// "What must I have applied to read linearizably?" (ReadIndex through the leader).
    ReadIndex = 5,
    /// "Would you vote for me?", asked before an election (see `election.rs`).
    PreVote = 6,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Append,
            2 => Kind::Vote,
            3 => Kind::Snapshot,
            4 => Kind::Propose,
            5 => Kind::ReadIndex,
            6 => Kind::PreVote,
            _ => return None,
        })
    }
}

pub fn header(kind: Kind, group: GroupId, body_hint: usize) -> Vec<u8> {
    let mut out = request(Service::Group, 5 + body_hint);
    out.push(kind as u8);
    out.extend_from_slice(&group.0.to_le_bytes());
    out
}

/// A group request as the dispatch table hands it over (without its service byte).
pub fn split(request: &[u8]) -> Result<(Kind, GroupId, &[u8]), RpcError> {
    if request.len() < 5 {
        return Err(RpcError::malformed(
            "group request",
            "shorter than its head",
        ));
    }
    let kind = Kind::from_u8(request[0]).ok_or_else(|| {
        RpcError::malformed("group request", format!("unknown kind {}", request[0]))
    })?;
    let group = GroupId(u32::from_le_bytes(
        request[1..5].try_into().expect("4 bytes"),
    ));
    Ok((kind, group, &request[5..]))
}

#[derive(Serialize, Deserialize)]
struct AppendHead {
    vote: Vote<NodeId>,
    prev_log_id: Option<LogId>,
    leader_commit: Option<LogId>,
    /// Absent from peers that do not send it yet.
    #[serde(default)]
    watermark: Option<Watermark>,
}

/// The leader's commit watermark, on every AppendEntries (heartbeats included): at HLC time
/// `at_ms` on the leader, everything up to WAL index `index` was committed and applied there.
/// A replica that has applied `index` is at most `now - at_ms` stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub index: u64,
    pub at_ms: u64,
    /// The same instant on the receiving follower's wall clock, as early as the leader can
    /// prove it (`transport/peer_clock.rs`: from the follower's last answer); absent until
    /// the leader has measured that follower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_follower_ms: Option<u64>,
}

pub fn encode_append(
    group: GroupId,
    rpc: &AppendEntriesRequest<TypeConfig>,
    watermark: Option<Watermark>,
) -> Vec<u8> {
    let hint: usize = rpc
        .entries
        .iter()
        .map(|e| match &e.payload {
            openraft::EntryPayload::Normal(r) => r.command.len() + 64,
            _ => 128,
        })
        .sum();
    let mut out = header(Kind::Append, group, hint + 128);
    put_json_head(
        &mut out,
        &AppendHead {
            vote: rpc.vote,
            prev_log_id: rpc.prev_log_id,
            leader_commit: rpc.leader_commit,
            watermark,
        },
    );
    // The HLC travels as stamped in the leader's log (blank entries get the floor there).
    for e in &rpc.entries {
        to_wal(e, Timestamp::ZERO).encode_record(&mut out);
    }
    out
}

pub fn decode_append(
    body: &[u8],
) -> Result<(AppendEntriesRequest<TypeConfig>, Option<Watermark>), RpcError> {
    let (head, mut rest): (AppendHead, _) = json_head(body, "append head")?;
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let (e, n): (Entry, usize) = crate::wal::decode_record(rest)
            .map_err(|e| RpcError::malformed("append entries", e))?;
        entries.push(from_wal(&e).map_err(|e| RpcError::malformed("append entries", e))?);
        rest = &rest[n..];
    }
    Ok((
        AppendEntriesRequest {
            vote: head.vote,
            prev_log_id: head.prev_log_id,
            leader_commit: head.leader_commit,
            entries,
        },
        head.watermark,
    ))
}

pub fn encode_vote(group: GroupId, rpc: &VoteRequest<NodeId>) -> Vec<u8> {
    let mut out = header(Kind::Vote, group, 128);
    out.extend_from_slice(&serde_json::to_vec(rpc).expect("vote serializes"));
    out
}

#[derive(Serialize, Deserialize)]
struct SnapshotHead {
    vote: Vote<NodeId>,
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    offset: u64,
    done: bool,
}

pub fn encode_snapshot(group: GroupId, rpc: &InstallSnapshotRequest<TypeConfig>) -> Vec<u8> {
    let mut out = header(Kind::Snapshot, group, rpc.data.len() + 256);
    put_json_head(
        &mut out,
        &SnapshotHead {
            vote: rpc.vote,
            meta: rpc.meta.clone(),
            offset: rpc.offset,
            done: rpc.done,
        },
    );
    out.extend_from_slice(&rpc.data);
    out
}

pub fn decode_snapshot(body: &[u8]) -> Result<InstallSnapshotRequest<TypeConfig>, RpcError> {
    let (head, data): (SnapshotHead, _) = json_head(body, "snapshot head")?;
    Ok(InstallSnapshotRequest {
        vote: head.vote,
        meta: head.meta,
        offset: head.offset,
        data: data.to_vec(),
        done: head.done,
    })
}

/// A forwarded write: the origin region, then the encoded command.
pub fn encode_propose(group: GroupId, origin: &str, command: &[u8]) -> Vec<u8> {
    let mut out = header(Kind::Propose, group, command.len() + 64);
    crate::util::codec::put_short_bytes(&mut out, origin.as_bytes());
    out.extend_from_slice(command);
    out
}

pub fn decode_propose(body: &[u8]) -> Result<(String, EncodedCommand), RpcError> {
    let mut r = Reader::new(body);
    let origin = r
        .short_str()
        .map_err(|e| RpcError::malformed("forwarded write", e))?
        .to_string();
    Ok((
        origin,
        EncodedCommand::from_bytes(Bytes::copy_from_slice(r.rest())),
    ))
}

pub fn encode_read_index(group: GroupId) -> Vec<u8> {
    header(Kind::ReadIndex, group, 0)
}

/// A pre-vote carries the candidate's last log id (JSON).
pub fn encode_pre_vote(group: GroupId, last_log: Option<LogId>) -> Vec<u8> {
    let mut out = header(Kind::PreVote, group, 64);
    out.extend_from_slice(&serde_json::to_vec(&last_log).expect("log ids serialize"));
    out
}

pub fn encode_json_response<T: Serialize>(r: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(r).expect("responses serialize"))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::group::entry_codec::log_id;
    use crate::group::types::{RaftEntry, Request};
    use crate::store::{Command, Precondition};

    #[test]
    fn append_round_trips_and_damage_is_refused() {
        let cmd = Command::Put {
            collection: "c".into(),
            key: "k".into(),
            value: Bytes::from_static(b"value"),
            content_type: None,
            precondition: Precondition::None,
        };
        let rpc = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 7),
            prev_log_id: Some(log_id(2, 9)),
            leader_commit: Some(LogId::new(CommittedLeaderId::new(2, 0), 8)),
            entries: vec![
                RaftEntry {
                    log_id: log_id(3, 10),
                    payload: EntryPayload::Blank,
                },
                RaftEntry {
                    log_id: log_id(3, 11),
                    payload: EntryPayload::Normal(Request {
                        hlc: Timestamp::new(5, 1, 7),
                        origin: "eu".into(),
                        command: cmd.encode(),
                    }),
                },
            ],
        };
        let mark = Watermark {
            index: 11,
            at_ms: 1_764_000_000_000,
            at_follower_ms: Some(1_764_000_000_300),
        };
        let bytes = encode_append(GroupId(4), &rpc, Some(mark));
        assert_eq!(bytes[0], Service::Group as u8);
        let (kind, group, body) = split(&bytes[1..]).unwrap();
        assert_eq!((kind, group), (Kind::Append, GroupId(4)));
        let (back, back_mark) = decode_append(body).unwrap();
        assert_eq!(back_mark, Some(mark));
        assert_eq!(back.vote, rpc.vote);
        assert_eq!(back.prev_log_id, rpc.prev_log_id);
        assert_eq!(back.entries, rpc.entries);

        let mut damaged = bytes.clone();
        let last = damaged.len() - 2;
        damaged[last] ^= 0x40;
        assert!(decode_append(split(&damaged[1..]).unwrap().2).is_err());
        assert!(split(&[9, 0, 0, 0, 0]).is_err());
        assert!(split(&[1, 0]).is_err());
    }
}
