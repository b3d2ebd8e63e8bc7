//! Collection patterns: globs over collection names (`*` any run of characters, `?` one
//! character; everything else literal), as a slot's `collections` (include) and `exclude`.
//!
//! Compiled once, at slot creation: exact names go into a hash set, `prefix*` patterns (the
//! common `tenant-*` shape) into a list checked by `starts_with`, other globs into a
//! backtracking-free matcher. A collection's verdict is then cached, so the check per write is
//! one hash lookup after the first write to a collection, whatever the number of patterns.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

/// Why a pattern was refused; `field` names it as the request does (`collections[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PatternError {
    pub field: String,
    pub reason: String,
}

/// One compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    Exact(String),
    Prefix(String),
    /// Literal pieces between `*`s, `?` kept as a one-character wildcard in them.
    General {
        pieces: Vec<String>,
        anchored_start: bool,
        anchored_end: bool,
    },
}

impl Glob {
    fn compile(pattern: &str, field: &str) -> Result<Glob, PatternError> {
        let bad = |reason: String| PatternError {
            field: field.to_string(),
            reason,
        };
        if pattern.is_empty() {
            return Err(bad("a pattern may not be empty".into()));
        }
        if pattern.len() > 63 {
            return Err(bad(format!(
                "{pattern:?} is longer than a collection name can be (63)"
            )));
        }
        if let Some((i, c)) = pattern
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.*?".contains(*c)))
        {
            return Err(bad(format!(
                "{pattern:?} has {c:?} at byte {i}: patterns use a-z, 0-9, '_', '-', '.', and \
                 the wildcards '*' (any run) and '?' (one character)"
            )));
        }
        let stars = pattern.matches('*').count();
        let has_q = pattern.contains('?');
        Ok(match (stars, has_q) {
            (0, false) => Glob::Exact(pattern.to_string()),
            (1, false) if pattern.ends_with('*') => {
                Glob::Prefix(pattern.trim_end_matches('*').to_string())
            }
            _ => Glob::General {
                pieces: pattern
                    .split('*')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect(),
                anchored_start: !pattern.starts_with('*'),
                anchored_end: !pattern.ends_with('*'),
            },
        })
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Glob::Exact(e) => e == name,
            Glob::Prefix(p) => name.starts_with(p.as_str()),
            Glob::General {
                pieces,
                anchored_start,
                anchored_end,
            } => general_match(name.as_bytes(), pieces, *anchored_start, *anchored_end),
        }
    }
}

/// Whether `piece` (with `?` as a one-byte wildcard) matches `s` at its start.
fn piece_at(s: &[u8], piece: &[u8]) -> bool {
    s.len() >= piece.len() && piece.iter().zip(s).all(|(p, c)| *p == b'?' || p == c)
}

/// Greedy-leftmost matching of the pieces between stars: correct for globs, because a star
/// absorbs whatever lies between two pieces, so the leftmost place for each piece is never
/// worse than a later one. Linear in the name for each piece.
fn general_match(name: &[u8], pieces: &[String], start: bool, end: bool) -> bool {
    let mut rest = name;
    for (i, piece) in pieces.iter().enumerate() {
        let p = piece.as_bytes();
        let last = i + 1 == pieces.len();
        if i == 0 && start {
            if !piece_at(rest, p) {
                return false;
            }
            if last && end {
                return rest.len() == p.len();
            }
            rest = &rest[p.len()..];
            continue;
        }
        if last && end {
            // the last piece must sit at the very end
            return rest.len() >= p.len() && piece_at(&rest[rest.len() - p.len()..], p);
        }
        match (0..=rest.len().saturating_sub(p.len())).find(|&at| piece_at(&rest[at..], p)) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    // no pieces: the pattern was all stars (matches anything); else the tail is absorbed by
    // a trailing star, or must be empty
    pieces.is_empty() || !end || rest.is_empty()
}

/// A slot's include and exclude patterns. A collection is followed if some include pattern
/// matches it and no exclude pattern does; an empty include list follows every collection.
pub struct PatternSet {
    include: Compiled,
    exclude: Compiled,
    include_all: bool,
    verdicts: RwLock<HashMap<String, bool>>,
}

#[derive(Default)]
struct Compiled {
    exact: HashSet<String>,
    prefixes: Vec<String>,
    general: Vec<Glob>,
}

impl Compiled {
    fn build(patterns: &[String], field: &str) -> Result<Compiled, PatternError> {
        let mut c = Compiled::default();
        for (i, p) in patterns.iter().enumerate() {
            match Glob::compile(p, &format!("{field}[{i}]"))? {
                Glob::Exact(e) => {
                    c.exact.insert(e);
                }
                Glob::Prefix(p) => c.prefixes.push(p),
                g => c.general.push(g),
            }
        }
        Ok(c)
    }

    fn matches(&self, name: &str) -> bool {
        self.exact.contains(name)
            || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
            || self.general.iter().any(|g| g.matches(name))
    }
}

impl std::fmt::Debug for PatternSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |c: &Compiled| c.exact.len() + c.prefixes.len() + c.general.len();
        f.debug_struct("PatternSet")
            .field("include", &n(&self.include))
            .field("exclude", &n(&self.exclude))
            .field("include_all", &self.include_all)
            .finish()
    }
}

/// Verdicts cached per collection, up to this many names (then evaluated without caching).
const CACHE_CAP: usize = 100_000;

impl PatternSet {
    pub fn compile(include: &[String], exclude: &[String]) -> Result<PatternSet, PatternError> {
        Ok(PatternSet {
            include: Compiled::build(include, "collections")?,
            exclude: Compiled::build(exclude, "exclude")?,
            include_all: include.is_empty(),
            verdicts: RwLock::new(HashMap::new()),
        })
    }

    /// Whether the slot follows `collection`.
    pub fn matches(&self, collection: &str) -> bool {
        if let Some(v) = self.verdicts.read().expect("verdicts").get(collection) {
            return *v;
        }
        let v = (self.include_all || self.include.matches(collection))
            && !self.exclude.matches(collection);
        let mut cache = self.verdicts.write().expect("verdicts");
        if cache.len() < CACHE_CAP {
            cache.insert(collection.to_string(), v);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(include: &[&str], exclude: &[&str]) -> PatternSet {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        PatternSet::compile(&s(include), &s(exclude)).unwrap()
    }

    #[test]
    fn globs_match_as_written() {
        let cases: &[(&str, &str, bool)] = &[
            ("orders", "orders", true),
            ("orders", "orders2", false),
            ("tenant-*", "tenant-acme", true),
            ("tenant-*", "tenant-", true),
            ("tenant-*", "tenants", false),
            ("*-eu", "orders-eu", true),
            ("*-eu", "orders-eu-2", false),
            ("*", "anything", true),
            ("**", "x", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("a*b*c", "acb", false),
            ("a*bc", "abcbc", true),
            ("*ab*", "xxabyy", true),
            ("o?ders", "orders", true),
            ("o?ders", "oders", false),
            ("t?-*", "tx-1", true),
            ("*.v?", "orders.v2", true),
            ("*.v?", "orders.v", false),
        ];
        for (pattern, name, want) in cases {
            let g = Glob::compile(pattern, "p").unwrap();
            assert_eq!(g.matches(name), *want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn include_exclude_and_the_default() {
        let s = set(&["orders", "tenant-*"], &["tenant-test*"]);
        assert!(s.matches("orders"));
        assert!(s.matches("tenant-acme"));
        assert!(!s.matches("tenant-test-1"), "excluded");
        assert!(!s.matches("users"));
        // the verdict is cached and stays right
        assert!(!s.matches("tenant-test-1"));
        assert!(s.matches("tenant-acme"));
        let all = set(&[], &["audit*"]);
        assert!(all.matches("users"));
        assert!(!all.matches("audit-log"));
    }

    #[test]
    fn bad_patterns_are_refused_naming_the_field() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let e = PatternSet::compile(&s(&["ok", "Orders"]), &[])
            .err()
            .unwrap();
        assert_eq!(e.field, "collections[1]");
        assert!(e.reason.contains("'O' at byte 0"), "{e}");
        let e = PatternSet::compile(&[], &s(&[""])).err().unwrap();
        assert_eq!(e.field, "exclude[0]");
        let e = PatternSet::compile(&s(&["a/b"]), &[]).err().unwrap();
        assert!(e.to_string().starts_with("collections[0]: "), "{e}");
        assert!(PatternSet::compile(&s(&[&"a".repeat(64)]), &[]).is_err());
    }
}
