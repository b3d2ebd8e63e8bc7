//! Archive master keys. New objects are sealed under the current key; every object names
//! the key id it was sealed with, so objects stay readable after rotation as long as the
//! old key remains in the ring.
//!
//! Key file format: one key per line, `<id> <64 hex characters>`, `#` comments allowed; the
//! last key is current (rotate by appending a line). A file holding a single bare 64-hex key
//! is the ring `{"default": key}`. Key material never appears in `Debug` output or errors.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("key file line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("key file holds no key")]
    Empty,
}

#[derive(Clone)]
pub struct KeyRing {
    /// `(id, key)`; the last entry is current.
    keys: Vec<(String, [u8; 32])>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("KeyRing")
            .field("key_ids", &ids)
            .field("current", &self.current().0)
            .finish()
    }
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

impl KeyRing {
    pub fn single(id: &str, key: [u8; 32]) -> Self {
        Self {
            keys: vec![(id.to_string(), key)],
        }
    }

    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        let mut keys: Vec<(String, [u8; 32])> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: &str| KeyringError::Line {
                line: i + 1,
                reason: reason.to_string(),
            };
            let (id, hex) = match line.split_once(char::is_whitespace) {
                Some((id, hex)) => (id.to_string(), hex.trim()),
                None => ("default".to_string(), line),
            };
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            {
                return Err(bad(
                    "key ids are 1-64 characters of a-z, A-Z, 0-9, '-', '_', '.'",
                ));
            }
            let key = parse_hex(hex)
                .ok_or_else(|| bad("the key must be 64 hex characters (32 bytes)"))?;
            if keys.iter().any(|(k, _)| *k == id) {
                return Err(bad(&format!("key id {id:?} appears twice")));
            }
            keys.push((id, key));
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self { keys })
    }

    /// Adds `key` as the new current key (rotation).
    pub fn rotate(&mut self, id: &str, key: [u8; 32]) {
        self.keys.retain(|(k, _)| k != id);
        self.keys.push((id.to_string(), key));
    }

    pub fn current(&self) -> (&str, &[u8; 32]) {
        let (id, key) = self.keys.last().expect("a keyring is never empty");
        (id, key)
    }

    pub fn get(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rotates_and_hides_keys() {
        let hex = "ab".repeat(32);
        let ring = KeyRing::parse(&hex).unwrap();
        assert_eq!(ring.current().0, "default");
        let ring = KeyRing::parse(&format!("# keys\nk1 {hex}\nk2 {}\n", "cd".repeat(32))).unwrap();
        assert_eq!(ring.current().0, "k2");
        assert_eq!(ring.get("k1"), Some(&[0xab; 32]));
        let dbg = format!("{ring:?}");
        assert!(
            dbg.contains("k1") && !dbg.contains("abab") && !dbg.contains("171"),
            "{dbg}"
        );
        assert!(matches!(
            KeyRing::parse("k1 zz"),
            Err(KeyringError::Line { line: 1, .. })
        ));
        assert!(matches!(
            KeyRing::parse(&format!("k1 {hex}\nk1 {hex}")),
            Err(KeyringError::Line { line: 2, .. })
        ));
        assert!(matches!(
            KeyRing::parse("# nothing\n"),
            Err(KeyringError::Empty)
        ));
    }
}
