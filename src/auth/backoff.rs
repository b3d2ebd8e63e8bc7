//! Backing off clients that keep failing to authenticate, per client address: after
//! [`FREE_FAILURES`] failures in a row, every request from that address is answered 429
//! (with Retry-After) for 1 s, doubling with each further failure up to 60 s, without the
//! credentials even being checked. A success clears the address. Bounded memory: at most
//! [`MAX_ADDRESSES`] addresses are tracked; idle ones are forgotten after 10 minutes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 5;
const FIRST_BLOCK: Duration = Duration::from_secs(1);
const MAX_BLOCK: Duration = Duration::from_secs(60);
const FORGET_AFTER: Duration = Duration::from_secs(600);
pub const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct State {
    failures: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Default)]
pub struct Backoff {
    by_addr: Mutex<HashMap<IpAddr, State>>,
    /// How many addresses the map holds, readable without the lock: while no client has
    /// failed, a request's check and success take no lock at all.
    tracked: AtomicUsize,
}

impl Backoff {
    /// `Err(retry_after)` while `addr` is blocked.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let map = self.by_addr.lock().expect("backoff");
        match map.get(&addr).and_then(|s| s.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns the block it starts, if any.
    pub fn failed(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        let mut map = self.by_addr.lock().expect("backoff");
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&addr) {
            map.retain(|_, s| now.saturating_duration_since(s.last) < FORGET_AFTER);
            if map.len() >= MAX_ADDRESSES {
                return None;
            }
        }
        map.entry(addr).or_insert(State {
            failures: 0,
            last: now,
            blocked_until: None,
        });
        // stored under the lock, after the insert: a check that reads it non-zero then locks
        self.tracked.store(map.len(), Ordering::Release);
        let s = map.get_mut(&addr).expect("just inserted");
        if now.saturating_duration_since(s.last) >= FORGET_AFTER {
            s.failures = 0;
        }
        s.failures += 1;
        s.last = now;
        let over = s.failures.checked_sub(FREE_FAILURES)?;
        let block = FIRST_BLOCK.saturating_mul(1 << over.min(16)).min(MAX_BLOCK);
        s.blocked_until = Some(now + block);
        Some(block)
    }

    pub fn succeeded(&self, addr: IpAddr) {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut map = self.by_addr.lock().expect("backoff");
        map.remove(&addr);
        self.tracked.store(map.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_free_failures_doubling_and_a_success_clears() {
        let b = Backoff::default();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            assert_eq!(b.failed(ip, t0), None);
        }
        assert!(b.check(ip, t0).is_ok());
        assert_eq!(b.failed(ip, t0), Some(Duration::from_secs(1)));
        assert!(b.check(ip, t0).is_err());
        assert!(b.check(other, t0).is_ok(), "per address");
        assert!(
            b.check(ip, t0 + Duration::from_secs(1)).is_ok(),
            "the block ends"
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.failed(ip, t1), Some(Duration::from_secs(2)));
        for _ in 0..20 {
            b.failed(ip, t1);
        }
        assert_eq!(b.check(ip, t1), Err(Duration::from_secs(60)), "capped");
        b.succeeded(ip);
        assert!(b.check(ip, t1).is_ok());
    }
}
