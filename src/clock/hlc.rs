//! Hybrid logical clock (Kulkarni et al.): timestamps that follow causality across nodes
//! and stay within `max_clock_skew_ms` of physical time.
//!
//! Guarantees: every `now()` on one clock is strictly greater than every earlier `now()` or
//! `update()` result, even when the wall clock steps back. `update()` refuses a remote
//! reading more than `max_clock_skew_ms` ahead of our wall clock instead of dragging our
//! clock into the future. State is one atomic word, so readers never block.

use std::sync::atomic::{AtomicU64, Ordering};

use super::physical::{PhysicalClock, WallClock};
use super::timestamp::{LOGICAL_BITS, LOGICAL_MAX, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "peer clock is {ahead_ms} ms ahead of ours (remote {remote}, local wall {local_ms} ms); \
     the limit is max_clock_skew_ms = {max_skew_ms}"
)]
pub struct ClockSkewError {
    pub remote: Timestamp,
    pub local_ms: u64,
    pub ahead_ms: u64,
    pub max_skew_ms: u64,
}

pub struct Hlc<C: PhysicalClock = WallClock> {
    state: AtomicU64,
    node: u32,
    max_skew_ms: u64,
    physical: C,
}

impl Hlc<WallClock> {
    pub fn new(node: u32, max_skew_ms: u64) -> Self {
        Self::with_clock(node, max_skew_ms, WallClock::default())
    }
}

impl<C: PhysicalClock> Hlc<C> {
    pub fn with_clock(node: u32, max_skew_ms: u64, physical: C) -> Self {
        Self {
            state: AtomicU64::new(0),
            node,
            max_skew_ms,
            physical,
        }
    }

    pub fn node(&self) -> u32 {
        self.node
    }

    /// The wall clock under this HLC.
    pub fn physical(&self) -> &C {
        &self.physical
    }

    /// This node's wall-clock time in ms (not advanced by merges).
    pub fn wall_ms(&self) -> u64 {
        self.physical.now_ms()
    }

    pub fn max_skew_ms(&self) -> u64 {
        self.max_skew_ms
    }

    /// A reading for a local event (a write, a message send).
    pub fn now(&self) -> Timestamp {
        let wall = self.physical.now_ms() << LOGICAL_BITS;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let new = if wall > old { wall } else { tick(old) };
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return self.stamp(new),
                Err(current) => old = current,
            }
        }
    }

    /// Merges a reading received from a peer; returns the local reading for the receive event.
    pub fn update(&self, remote: Timestamp) -> Result<Timestamp, ClockSkewError> {
        let local_ms = self.physical.now_ms();
        let remote_ms = remote.physical_ms();
        if remote_ms > local_ms.saturating_add(self.max_skew_ms) {
            return Err(ClockSkewError {
                remote,
                local_ms,
                ahead_ms: remote_ms - local_ms,
                max_skew_ms: self.max_skew_ms,
            });
        }
        let wall = local_ms << LOGICAL_BITS;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let high = old.max(remote.packed);
            let new = if wall > high { wall } else { tick(high) };
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(self.stamp(new)),
                Err(current) => old = current,
            }
        }
    }

    /// Raises the clock to at least `floor` without a skew check: used at start-up with the
    /// highest timestamp found on disk, so a restarted node never reissues old readings.
    pub fn observe_persisted(&self, floor: Timestamp) {
        self.state.fetch_max(floor.packed, Ordering::AcqRel);
    }

    /// The latest reading handed out, without advancing the clock.
    pub fn last(&self) -> Timestamp {
        self.stamp(self.state.load(Ordering::Acquire))
    }

    fn stamp(&self, packed: u64) -> Timestamp {
        Timestamp {
            packed,
            node: self.node,
        }
    }
}

/// The next packed value after `packed`. When the logical counter is exhausted within one
/// millisecond the physical part borrows one millisecond from the future, which keeps the
/// clock strictly monotonic at the cost of running at most that far ahead.
fn tick(packed: u64) -> u64 {
    if packed & LOGICAL_MAX == LOGICAL_MAX {
        ((packed >> LOGICAL_BITS) + 1) << LOGICAL_BITS
    } else {
        packed + 1
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::clock::ManualClock;

    fn manual(ms: u64) -> (Arc<ManualClock>, Hlc<Arc<ManualClock>>) {
        let wall = Arc::new(ManualClock::new(ms));
        (wall.clone(), Hlc::with_clock(7, 500, wall))
    }

    #[test]
    fn follows_wall_clock_when_it_advances() {
        let (wall, hlc) = manual(1_000);
        assert_eq!(hlc.now(), Timestamp::new(1_000, 0, 7));
        assert_eq!(hlc.now(), Timestamp::new(1_000, 1, 7));
        wall.set(1_005);
        assert_eq!(hlc.now(), Timestamp::new(1_005, 0, 7));
    }

    #[test]
    fn stays_monotonic_when_wall_clock_steps_back() {
        let (wall, hlc) = manual(10_000);
        let before = hlc.now();
        wall.set(9_000);
        let after = hlc.now();
        assert!(after > before);
        assert_eq!(after.physical_ms(), 10_000);
    }

    #[test]
    fn logical_overflow_borrows_a_millisecond() {
        let (_wall, hlc) = manual(50);
        hlc.observe_persisted(Timestamp::new(50, u16::MAX, 0));
        let next = hlc.now();
        assert_eq!((next.physical_ms(), next.logical()), (51, 0));
    }

    #[test]
    fn update_moves_past_remote_and_rejects_excess_skew() {
        let (_wall, hlc) = manual(1_000);
        let remote = Timestamp::new(1_300, 4, 9);
        let merged = hlc.update(remote).unwrap();
        assert!(merged > remote);
        assert!(hlc.now() > merged);

        let err = hlc.update(Timestamp::new(1_501, 0, 9)).unwrap_err();
        assert_eq!(err.ahead_ms, 501);
        assert_eq!(err.max_skew_ms, 500);
        // a rejected update leaves the clock where it was
        assert!(hlc.now().physical_ms() < 1_501);
    }

    #[test]
    fn concurrent_readers_never_see_duplicates() {
        let hlc = Arc::new(Hlc::new(1, 500));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let hlc = hlc.clone();
                std::thread::spawn(move || (0..20_000).map(|_| hlc.now()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let mine = h.join().unwrap();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-thread order");
            all.extend(mine);
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    proptest! {
        /// Any interleaving of wall-clock jumps (back and forth), local events and remote
        /// messages yields strictly increasing readings.
        #[test]
        fn monotonic_under_arbitrary_schedules(
            steps in proptest::collection::vec((0u8..3, 0u64..5_000), 1..200)
        ) {
            let (wall, hlc) = manual(100_000);
            let mut last = Timestamp::ZERO;
            for (kind, v) in steps {
                let ts = match kind {
                    0 => { wall.set(100_000 + v - 2_500); hlc.now() }
                    1 => hlc.now(),
                    _ => match hlc.update(Timestamp::new(wall.now_ms() + v / 10, (v % 7) as u16, 3)) {
                        Ok(ts) => ts,
                        Err(_) => continue,
                    },
                };
                prop_assert!(ts > last, "{ts} after {last}");
                last = ts;
            }
        }
    }
}
