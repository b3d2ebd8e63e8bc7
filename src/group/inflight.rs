//! Stamps handed to writes not yet in the log: what archive coverage must wait for.
//!
//! The batcher stamps each entry with the HLC, then hands it to Raft; the entry reaches the
//! log a moment later. The archiver claims "every entry stamped at or before C is archived"
//! (`coverage.rs`), so it must know the stamps still on their way. Stamping and registering
//! happen under one lock, and so does the archiver's reading of "now" and of the oldest
//! stamp in flight: a stamp is either already registered, or taken after that reading.
//! A write whose commit failed (timed out: it may still commit) keeps its stamp until a
//! later write succeeds, which Raft orders after it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::clock::{Hlc, Timestamp};

#[derive(Default)]
pub struct InFlight {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    open: BTreeMap<Timestamp, u32>,
    failed: Vec<Timestamp>,
}

impl InFlight {
    /// A new stamp for an entry about to be proposed.
    pub fn stamp(&self, clock: &Hlc) -> Timestamp {
        let mut s = self.state.lock().expect("in flight");
        let ts = clock.now();
        *s.open.entry(ts).or_default() += 1;
        ts
    }

    /// The entry stamped `ts` committed (`ok`), or its outcome is unknown.
    pub fn done(&self, ts: Timestamp, ok: bool) {
        let mut s = self.state.lock().expect("in flight");
        if let Some(n) = s.open.get_mut(&ts) {
            *n -= 1;
            if *n == 0 {
                s.open.remove(&ts);
            }
        }
        if ok {
            s.failed.retain(|f| *f > ts);
        } else {
            s.failed.push(ts);
        }
    }

    /// A fresh HLC reading and the oldest stamp still on its way to the log, read together.
    pub fn now_and_oldest(&self, clock: &Hlc) -> (Timestamp, Option<Timestamp>) {
        let s = self.state.lock().expect("in flight");
        let now = clock.now();
        let oldest = s.open.keys().next().copied().into_iter();
        (now, oldest.chain(s.failed.iter().copied()).min())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_failed_stamps_hold_the_oldest_back() {
        let clock = Hlc::new(1, 500);
        let f = InFlight::default();
        let a = f.stamp(&clock);
        let b = f.stamp(&clock);
        let (now, oldest) = f.now_and_oldest(&clock);
        assert_eq!(oldest, Some(a));
        assert!(now > b);
        f.done(a, false); // timed out: may still commit
        assert_eq!(f.now_and_oldest(&clock).1, Some(a));
        f.done(b, true); // a later write committed: Raft ordered it after a
        assert_eq!(f.now_and_oldest(&clock).1, None);
    }
}
