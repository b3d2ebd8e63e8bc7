//! Sources of physical time. The HLC reads wall time through [`PhysicalClock`] so tests can
//! step it backwards and forwards at will.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait PhysicalClock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch. May go backwards (NTP steps); the HLC copes.
    fn now_ms(&self) -> u64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl PhysicalClock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A node's wall clock: system time plus an offset, zero unless a fault test sets one
/// (`georep node --clock-offset-file`). Everything on a node that reads wall time for the
/// HLC, staleness or token times reads it here, so a skewed node is skewed throughout.
#[derive(Debug, Default, Clone)]
pub struct WallClock {
    offset_ms: Arc<AtomicI64>,
}

impl WallClock {
    /// The offset this clock adds to system time, in ms; shared, so a follower task can
    /// change it while the node runs.
    pub fn offset(&self) -> &Arc<AtomicI64> {
        &self.offset_ms
    }
}

impl PhysicalClock for WallClock {
    fn now_ms(&self) -> u64 {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        SystemClock.now_ms().saturating_add_signed(offset)
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(ms: u64) -> Self {
        Self(AtomicU64::new(ms))
    }

    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl PhysicalClock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<T: PhysicalClock> PhysicalClock for std::sync::Arc<T> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}
