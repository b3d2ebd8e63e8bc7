//! Session tokens: what a client carries so any region can honour read-your-writes and
//! monotonic reads for it.
//!
//! Wire form (then base64url without padding):
//! ```text
//! u8 version (1) | u8 key id | varint issued_at_ms | varint n |
//! n × (varint group, varint epoch, varint index) | 16-byte truncated HMAC-SHA256 tag
//! ```
//! A token from one group and a write in one group is about 40 characters. The tag covers
//! every byte before it, so a forged, edited or truncated token is rejected; the key id
//! lets keys rotate while tokens signed with the previous key stay valid until they expire.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::GroupId;
use crate::util::codec::{Reader, put_varint};

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Decoding refuses more groups than this (a token is attacker-controlled input).
pub const MAX_GROUPS: usize = 256;
const MAX_TOKEN_CHARS: usize = 8192;

/// How far a session has seen one log group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupPosition {
    pub group: GroupId,
    pub epoch: u64,
    pub index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionToken {
    pub issued_at_ms: u64,
    /// Sorted by group, at most one position per group.
    pub positions: Vec<GroupPosition>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("session token is malformed: {0}")]
    Malformed(&'static str),
    #[error("session token signature does not verify (forged, altered or from another cluster)")]
    BadSignature,
    #[error("session token was signed with unknown key id {0}")]
    UnknownKey(u8),
    #[error("session token expired {expired_ms} ms ago (tokens live {ttl_ms} ms)")]
    Expired { expired_ms: u64, ttl_ms: u64 },
}

/// The HMAC keys of the cluster: one current key that signs, older ones that still verify.
#[derive(Clone)]
pub struct SessionKeys {
    current: (u8, [u8; 32]),
    previous: Vec<(u8, [u8; 32])>,
    /// Newer keys arrive through the meta group (multi-region): a token signed with one
    /// this region has not learned yet is not necessarily forged.
    rotating: bool,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print key material
        f.debug_struct("SessionKeys")
            .field("current_id", &self.current.0)
            .field("previous", &self.previous.len())
            .finish()
    }
}

impl SessionKeys {
    pub fn new(id: u8, key: [u8; 32]) -> Self {
        Self {
            current: (id, key),
            previous: Vec::new(),
            rotating: false,
        }
    }

    /// A ring that signs with `current` and also verifies with `previous`.
    pub fn with_previous(current: (u8, [u8; 32]), previous: Vec<(u8, [u8; 32])>) -> Self {
        Self {
            current,
            previous,
            rotating: true,
        }
    }

    /// Marks keys that newer ones will replace through the meta group.
    pub fn rotating(mut self) -> Self {
        self.rotating = true;
        self
    }

    /// Whether `id` could be a key made after this ring's (by up to three rotations),
    /// which this region will learn shortly.
    pub fn may_learn(&self, id: u8) -> bool {
        // ids run 1..=255 and wrap to 1
        let steps = (u16::from(id) + 255 - u16::from(self.current.0)) % 255;
        self.rotating && id != 0 && (1..=3).contains(&steps)
    }

    /// The id of the key that signs.
    pub fn current_id(&self) -> u8 {
        self.current.0
    }

    /// Every key id that verifies, the signing one first.
    pub fn ids(&self) -> Vec<u8> {
        std::iter::once(self.current.0)
            .chain(self.previous.iter().map(|(i, _)| *i))
            .collect()
    }

    /// Signs with `key` from now on; the old current key keeps verifying.
    pub fn rotate(&mut self, id: u8, key: [u8; 32]) {
        let old = std::mem::replace(&mut self.current, (id, key));
        self.previous.retain(|(i, _)| *i != id && *i != old.0);
        self.previous.push(old);
    }

    fn key(&self, id: u8) -> Option<&[u8; 32]> {
        if self.current.0 == id {
            return Some(&self.current.1);
        }
        self.previous.iter().find(|(i, _)| *i == id).map(|(_, k)| k)
    }

    fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length")
    }
}

impl SessionToken {
    /// The position for `group`, if the session has seen it.
    pub fn position(&self, group: GroupId) -> Option<GroupPosition> {
        self.positions
            .binary_search_by_key(&group, |p| p.group)
            .ok()
            .map(|i| self.positions[i])
    }

    /// Records that the session has seen `pos` (keeps the later of old and new).
    pub fn observe(&mut self, pos: GroupPosition) {
        match self.positions.binary_search_by_key(&pos.group, |p| p.group) {
            Ok(i) => {
                let cur = &mut self.positions[i];
                if (pos.epoch, pos.index) > (cur.epoch, cur.index) {
                    *cur = pos;
                }
            }
            Err(i) => self.positions.insert(i, pos),
        }
    }

    /// Merges another token of the same session (say, from a parallel request).
    pub fn merge(&mut self, other: &SessionToken) {
        for p in &other.positions {
            self.observe(*p);
        }
        self.issued_at_ms = self.issued_at_ms.max(other.issued_at_ms);
    }

    pub fn encode(&self, keys: &SessionKeys, now_ms: u64) -> String {
        let mut out = Vec::with_capacity(8 + self.positions.len() * 12 + TAG_LEN);
        out.push(VERSION);
        out.push(keys.current.0);
        put_varint(&mut out, now_ms);
        put_varint(&mut out, self.positions.len() as u64);
        for p in &self.positions {
            put_varint(&mut out, u64::from(p.group.0));
            put_varint(&mut out, p.epoch);
            put_varint(&mut out, p.index);
        }
        let mut mac = SessionKeys::mac(&keys.current.1);
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Verifies and decodes a token; `ttl_ms` of 0 disables expiry.
    pub fn decode(
        text: &str,
        keys: &SessionKeys,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<SessionToken, TokenError> {
        if text.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed("too long"));
        }
        let raw = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| TokenError::Malformed("not base64url"))?;
        if raw.len() < 2 + TAG_LEN {
            return Err(TokenError::Malformed("too short"));
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_LEN);
        if body[0] != VERSION {
            return Err(TokenError::Malformed("unknown token version"));
        }
        let key = keys.key(body[1]).ok_or(TokenError::UnknownKey(body[1]))?;
        let mut mac = SessionKeys::mac(key);
        mac.update(body);
        mac.verify_truncated_left(tag)
            .map_err(|_| TokenError::BadSignature)?;

        // Authentic from here on; structure errors would mean a bug on our side.
        let mut r = Reader::new(&body[2..]);
        let bad = |_| TokenError::Malformed("bad structure");
        let issued_at_ms = r.varint().map_err(bad)?;
        let n = r.varint().map_err(bad)? as usize;
        if n > MAX_GROUPS {
            return Err(TokenError::Malformed("too many groups"));
        }
        let mut token = SessionToken {
            issued_at_ms,
            positions: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let group = u32::try_from(r.varint().map_err(bad)?)
                .map_err(|_| TokenError::Malformed("group id out of range"))?;
            let epoch = r.varint().map_err(bad)?;
            let index = r.varint().map_err(bad)?;
            token.observe(GroupPosition {
                group: GroupId(group),
                epoch,
                index,
            });
        }
        r.expect_end("trailing").map_err(bad)?;
        if ttl_ms > 0 {
            let expires = issued_at_ms.saturating_add(ttl_ms);
            if now_ms > expires {
                return Err(TokenError::Expired {
                    expired_ms: now_ms - expires,
                    ttl_ms,
                });
            }
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(1, [7u8; 32])
    }

    fn token() -> SessionToken {
        let mut t = SessionToken::default();
        t.observe(GroupPosition {
            group: GroupId(3),
            epoch: 2,
            index: 900,
        });
        t.observe(GroupPosition {
            group: GroupId(1),
            epoch: 1,
            index: 41,
        });
        t
    }

    #[test]
    fn round_trips_and_is_compact() {
        let text = token().encode(&keys(), 1_000_000);
        assert!(text.len() < 60, "{} chars: {text}", text.len());
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let back = SessionToken::decode(&text, &keys(), 1_000_500, 60_000).unwrap();
        assert_eq!(back.positions, token().positions);
        assert_eq!(back.issued_at_ms, 1_000_000);
    }

    #[test]
    fn rejects_expired_forged_truncated_and_foreign_tokens() {
        let text = token().encode(&keys(), 1_000_000);
        assert_eq!(
            SessionToken::decode(&text, &keys(), 1_070_001, 60_000),
            Err(TokenError::Expired {
                expired_ms: 10_001,
                ttl_ms: 60_000
            })
        );
        let other = SessionKeys::new(1, [8u8; 32]);
        assert_eq!(
            SessionToken::decode(&text, &other, 1_000_000, 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            SessionToken::decode(&text, &SessionKeys::new(2, [7u8; 32]), 1_000_000, 0),
            Err(TokenError::UnknownKey(1))
        );
        for cut in 0..text.len() {
            assert!(SessionToken::decode(&text[..cut], &keys(), 1_000_000, 0).is_err());
        }
        assert!(SessionToken::decode("not a token!", &keys(), 0, 0).is_err());
        assert!(SessionToken::decode(&"A".repeat(10_000), &keys(), 0, 0).is_err());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let mut k = keys();
        let old = token().encode(&k, 5);
        k.rotate(2, [9u8; 32]);
        assert!(SessionToken::decode(&old, &k, 5, 0).is_ok());
        let new = token().encode(&k, 5);
        assert!(SessionToken::decode(&new, &keys(), 5, 0).is_err());
        assert!(format!("{k:?}").contains("current_id: 2"));
    }

    #[test]
    fn merge_keeps_the_later_position_per_group() {
        let mut a = token();
        let mut b = SessionToken::default();
        b.observe(GroupPosition {
            group: GroupId(1),
            epoch: 1,
            index: 99,
        });
        b.observe(GroupPosition {
            group: GroupId(3),
            epoch: 1,
            index: 5_000,
        });
        a.merge(&b);
        assert_eq!(a.position(GroupId(1)).unwrap().index, 99);
        // a higher epoch wins over a higher index from an older epoch
        assert_eq!(a.position(GroupId(3)).unwrap().index, 900);
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_rejected(pos in 0usize..64, delta in 1u8..=255) {
            let keys = keys();
            let text = token().encode(&keys, 77);
            let mut raw = URL_SAFE_NO_PAD.decode(&text).unwrap();
            let p = pos % raw.len();
            raw[p] = raw[p].wrapping_add(delta);
            let forged = URL_SAFE_NO_PAD.encode(&raw);
            prop_assert!(SessionToken::decode(&forged, &keys, 77, 0).is_err());
        }
    }

    #[test]
    fn only_a_rotating_ring_expects_newer_keys() {
        let fixed = SessionKeys::new(4, [1; 32]);
        assert!(!fixed.may_learn(5));
        let ring = SessionKeys::with_previous((4, [1; 32]), vec![(3, [2; 32])]);
        assert!(ring.may_learn(5) && ring.may_learn(7));
        assert!(!ring.may_learn(8) && !ring.may_learn(4) && !ring.may_learn(3));
        // ids wrap from 255 to 1
        let ring = SessionKeys::with_previous((255, [1; 32]), Vec::new());
        assert!(ring.may_learn(1) && ring.may_learn(3) && !ring.may_learn(4));
    }
}
