//! The archive's hold on writes: when a group's unarchived WAL passes the configured cap
//! (the object store has been unreachable for a while), its leader refuses new writes with a
//! clear error rather than dropping archive data or filling the disk. The archiver sets it
//! each round; the write path reads it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::GroupError;

#[derive(Debug, Default)]
pub struct WriteGate {
    /// Unarchived bytes while over the cap; 0 while writes are open.
    over_cap: AtomicU64,
    cap: AtomicU64,
}

impl WriteGate {
    /// Records the unarchived backlog; returns whether writes are now refused.
    pub fn update(&self, unarchived_bytes: u64, cap_bytes: u64) -> bool {
        let over = unarchived_bytes > cap_bytes;
        self.cap.store(cap_bytes, Ordering::Relaxed);
        self.over_cap
            .store(if over { unarchived_bytes } else { 0 }, Ordering::Relaxed);
        over
    }

    pub fn check(&self, group: &str) -> Result<(), GroupError> {
        match self.over_cap.load(Ordering::Relaxed) {
            0 => Ok(()),
            unarchived_bytes => Err(GroupError::ArchiveBacklog {
                group: group.to_string(),
                unarchived_bytes,
                cap_bytes: self.cap.load(Ordering::Relaxed),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_while_over_the_cap() {
        let g = WriteGate::default();
        assert!(g.check("g1").is_ok());
        assert!(!g.update(100, 100));
        assert!(g.check("g1").is_ok());
        assert!(g.update(101, 100));
        assert_eq!(
            g.check("g1"),
            Err(GroupError::ArchiveBacklog {
                group: "g1".into(),
                unarchived_bytes: 101,
                cap_bytes: 100
            })
        );
        assert!(!g.update(10, 100));
        assert!(g.check("g1").is_ok());
    }
}
