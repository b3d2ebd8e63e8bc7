//! How stale a follower is, from the leader's commit watermarks.
//!
//! DESIGN.md: staleness = the time since the leader's commit watermark that this replica has
//! applied. A watermark says "at leader time `at_ms`, everything to `index` was committed".
//! Comparing `at_ms` with this node's wall clock would mix two clocks: a follower whose clock
//! runs 300 ms behind would report 300 ms too little. So the age of a watermark is measured
//! on this node alone: the monotonic time since it arrived, plus the time it can have spent
//! in flight, bounded by the link's smoothed round trip. Neither depends on how the two wall
//! clocks differ; the estimate errs high by about half a round trip, never low.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rpc::Watermark;

/// A watermark as it arrived.
#[derive(Debug, Clone, Copy)]
struct Received {
    mark: Watermark,
    at: Instant,
    /// Bound on its time in flight: the link's round trip when it arrived.
    transit: Duration,
}

/// The newest watermarks a follower received, oldest first.
#[derive(Debug, Default)]
pub struct Watermarks {
    marks: Mutex<VecDeque<Received>>,
}

/// At most this many marks are kept (ones ahead of what the replica applied).
const KEEP: usize = 64;

impl Watermarks {
    /// Records a mark that arrived now over a link with round trip `transit`; `applied` is
    /// what this replica has applied (marks it already covers are folded away).
    pub fn note(&self, mark: Watermark, transit: Duration, applied: u64) {
        self.note_at(mark, transit, applied, Instant::now());
    }

    fn note_at(&self, mark: Watermark, transit: Duration, applied: u64, at: Instant) {
        let mut marks = self.marks.lock().expect("watermarks");
        // keep the newest mark already covered, and those still ahead of this replica
        while marks.len() >= 2 && marks[1].mark.index <= applied {
            marks.pop_front();
        }
        if marks.len() >= KEEP {
            marks.pop_front();
        }
        marks.push_back(Received { mark, at, transit });
    }

    /// Staleness in ms of a replica that has applied `applied`, by the newest mark it covers;
    /// None before it covers any.
    pub fn staleness_ms(&self, applied: u64) -> Option<u64> {
        self.staleness_at(applied, Instant::now())
    }

    fn staleness_at(&self, applied: u64, now: Instant) -> Option<u64> {
        let marks = self.marks.lock().expect("watermarks");
        let r = marks.iter().rev().find(|r| r.mark.index <= applied)?;
        Some((now.saturating_duration_since(r.at) + r.transit).as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(index: u64, at_ms: u64) -> Watermark {
        Watermark { index, at_ms }
    }

    #[test]
    fn age_is_local_time_since_arrival_plus_transit_whatever_the_clocks() {
        let w = Watermarks::default();
        let t0 = Instant::now();
        let rtt = Duration::from_millis(80);
        // the leader's clock is far off ours: at_ms plays no part
        w.note_at(mark(10, 5), rtt, 0, t0);
        w.note_at(
            mark(20, u64::MAX / 2),
            rtt,
            10,
            t0 + Duration::from_millis(100),
        );
        assert_eq!(w.staleness_at(5, t0 + Duration::from_secs(1)), None);
        // applied 10: the mark that arrived at t0 covers it
        assert_eq!(w.staleness_at(10, t0 + Duration::from_secs(1)), Some(1_080));
        // applied 20: the newer mark
        assert_eq!(w.staleness_at(25, t0 + Duration::from_secs(1)), Some(980));
    }

    #[test]
    fn covered_marks_are_folded_and_the_list_is_bounded() {
        let w = Watermarks::default();
        let t0 = Instant::now();
        for i in 0..200 {
            w.note_at(mark(i, i), Duration::ZERO, 0, t0);
        }
        assert!(w.marks.lock().unwrap().len() <= KEEP);
        w.note_at(mark(500, 0), Duration::ZERO, 300, t0);
        assert!(w.marks.lock().unwrap().len() <= 2);
        assert_eq!(w.staleness_at(400, t0), Some(0));
    }
}
