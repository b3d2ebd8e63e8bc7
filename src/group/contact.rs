//! When this replica last heard from its leader (AppendEntries, heartbeats included, counted
//! on arrival), and how long a silence means the leader is probably gone: elections,
//! forwarding and staleness all read it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(super) struct LeaderContact {
    last: Mutex<Instant>,
    /// Silence after which a follower stops forwarding writes to its leader.
    silence_limit: Duration,
}

impl LeaderContact {
    pub(super) fn new(silence_limit: Duration) -> LeaderContact {
        LeaderContact {
            last: Mutex::new(Instant::now()),
            silence_limit,
        }
    }

    pub(super) fn heard(&self) {
        *self.last.lock().expect("contact") = Instant::now();
    }

    pub(super) fn silence(&self) -> Duration {
        self.last.lock().expect("contact").elapsed()
    }

    pub(super) fn silence_limit(&self) -> Duration {
        self.silence_limit
    }

    /// The silence, if it is past the limit.
    pub(super) fn too_long(&self) -> Option<Duration> {
        Some(self.silence()).filter(|s| *s > self.silence_limit)
    }
}
