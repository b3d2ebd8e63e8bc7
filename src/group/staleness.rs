//! How stale a follower is, from the leader's commit watermarks.
//!
//! DESIGN.md: staleness = the time since the leader's commit watermark that this replica has
//! applied. A watermark says "at leader time `at_ms`, everything to `index` was committed".
//! Comparing `at_ms` with this node's wall clock would mix two clocks: a follower whose clock
//! runs 300 ms behind would report 300 ms too little. So the age of a watermark is measured
//! two ways, and the larger counts:
//! - on the follower's own wall clock, from `at_follower_ms`: the leader translates the
//!   mark's instant into this follower's clock as early as the follower's last answer proves
//!   (its stamp minus the leader's arrival time bounds how far ahead the follower's clock is).
//!   This holds however late the frame arrives (QUIC retransmits frames sent during a
//!   partition seconds later);
//! - on the follower's monotonic clock since the frame arrived (not since it was handled:
//!   handling waits for the WAL), plus its time on the way: the sender's delay between taking
//!   the mark and sending it and the link's smoothed round trip. This needs no measurement.
//! Neither subtracts one wall clock from another unmeasured; the result errs high by about
//! half a round trip.

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

impl Received {
    fn age_ms(&self, now: Instant, now_ms: u64) -> u64 {
        let by_arrival = (now.saturating_duration_since(self.at) + self.transit).as_millis() as u64;
        let by_clock = self
            .mark
            .at_follower_ms
            .map_or(0, |at| now_ms.saturating_sub(at));
        by_arrival.max(by_clock)
    }
}

/// The newest watermarks a follower received, oldest first.
#[derive(Debug, Default)]
pub struct Watermarks {
    marks: Mutex<VecDeque<Received>>,
}

/// At most this many marks are kept (ones ahead of what the replica applied).
const KEEP: usize = 64;

impl Watermarks {
    /// Records a mark that arrived at `at` after at most `transit` on its way; `applied` is
    /// what this replica has applied (marks it already covers are folded away).
    pub fn note(&self, mark: Watermark, transit: Duration, applied: u64, at: Instant) {
        self.note_at(mark, transit, applied, at);
    }

    fn note_at(&self, mark: Watermark, transit: Duration, applied: u64, at: Instant) {
        let mut marks = self.marks.lock().expect("watermarks");
        // keep the newest mark already covered, and those still ahead of this replica
        while marks.len() >= 2 && marks[1].mark.index <= applied {
            marks.pop_front();
        }
        if marks.len() >= KEEP {
            // never the front: it is the newest mark this replica covers, the one its
            // staleness is measured from; losing it would leave no honest measure while the
            // replica lags. Dropping a mark ahead only makes a later estimate older (safe).
            marks.remove(1);
        }
        marks.push_back(Received { mark, at, transit });
    }

    /// Staleness in ms of a replica that has applied `applied`, by the newest mark it covers,
    /// at this node's wall-clock time `now_ms`; None before it covers any.
    pub fn staleness_ms(&self, applied: u64, now_ms: u64) -> Option<u64> {
        self.staleness_at(applied, Instant::now(), now_ms)
    }

    fn staleness_at(&self, applied: u64, now: Instant, now_ms: u64) -> Option<u64> {
        let marks = self.marks.lock().expect("watermarks");
        let r = marks.iter().rev().find(|r| r.mark.index <= applied)?;
        Some(r.age_ms(now, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(index: u64, at_ms: u64) -> Watermark {
        Watermark {
            index,
            at_ms,
            at_follower_ms: None,
        }
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
        assert_eq!(w.staleness_at(5, t0 + Duration::from_secs(1), 0), None);
        // applied 10: the mark that arrived at t0 covers it
        assert_eq!(
            w.staleness_at(10, t0 + Duration::from_secs(1), 0),
            Some(1_080)
        );
        // applied 20: the newer mark
        assert_eq!(
            w.staleness_at(25, t0 + Duration::from_secs(1), 0),
            Some(980)
        );
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
        assert_eq!(w.staleness_at(400, t0, 0), Some(0));
    }

    #[test]
    fn a_lagging_replica_keeps_the_mark_it_covers_however_many_arrive_ahead() {
        let w = Watermarks::default();
        let t0 = Instant::now();
        w.note_at(mark(10, 0), Duration::ZERO, 10, t0);
        // the replica stays at 10 while a thousand marks ahead of it arrive
        for i in 0..1_000u64 {
            let at = t0 + Duration::from_millis(i);
            w.note_at(mark(11 + i, 0), Duration::ZERO, 10, at);
        }
        assert!(w.marks.lock().unwrap().len() <= KEEP);
        let now = t0 + Duration::from_secs(2);
        assert_eq!(
            w.staleness_at(10, now, 0),
            Some(2_000),
            "measured from the covered mark"
        );
    }

    #[test]
    fn a_mark_delivered_late_is_aged_by_the_followers_clock() {
        let w = Watermarks::default();
        let t0 = Instant::now();
        // taken at 10_000 on the follower's clock, delivered (retransmitted) only at 11_000
        let late = Watermark {
            index: 5,
            at_ms: 123,
            at_follower_ms: Some(10_000),
        };
        w.note_at(late, Duration::from_millis(10), 5, t0);
        assert_eq!(w.staleness_at(5, t0, 11_000), Some(1_000));
        // the arrival-based age wins once it is the larger
        assert_eq!(
            w.staleness_at(5, t0 + Duration::from_secs(5), 11_000),
            Some(5_010)
        );
    }
}
