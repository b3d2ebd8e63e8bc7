//! Clocks across the wire: every frame carries its sender's HLC and wall clock
//! ([`Stamp`]), and this is where a node merges them and judges the peer.
//!
//! Guarantees:
//! - every message received from a peer, request or answer, of every kind (appends, votes,
//!   pre-votes, forwarded writes, read-index, proxies, snapshots) is merged into the local
//!   HLC before it is handled, so a node's HLC is never behind any reading it has received,
//!   and entries a new leader stamps come after everything its predecessor sent it;
//! - a message whose HLC is more than `max_clock_skew_ms` ahead of the local wall clock is
//!   refused before it is handled (a request answers with an error frame, an answer fails the
//!   call), logged and counted in `georep_clock_skew_refusals_total{peer}`: such a peer can
//!   neither lead, vote nor drag this node's clock into the future;
//! - each peer's wall-clock offset is measured from request/answer pairs, NTP-style
//!   (`offset = remote - (sent + received) / 2`, uncertain by half the round trip), and
//!   shown in `/v1/cluster` and `georep_peer_clock_offset_seconds{peer}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::frame::Stamp;
use super::metrics::TransportMetrics;
use crate::clock::{ClockSkewError, Hlc, Timestamp, node_id_for_region};

/// What is known of one peer's clock.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PeerClock {
    /// Peer wall clock minus ours, ms (positive: the peer is ahead).
    pub offset_ms: i64,
    /// Round trip of the exchange that measured it; the offset is known to within half.
    pub rtt_ms: u64,
    /// Messages refused from this peer because its clock was too far ahead.
    pub refusals: u64,
    /// From the last answer: the peer's wall clock is at least this many ms ahead of ours
    /// (its stamp minus our arrival time; transit is never negative). Negative: behind.
    #[serde(skip)]
    ahead_at_least_ms: i64,
    #[serde(skip)]
    measured: Option<Instant>,
    #[serde(skip)]
    logged: Option<Instant>,
}

impl PeerClock {
    fn new() -> PeerClock {
        PeerClock {
            offset_ms: 0,
            rtt_ms: 0,
            refusals: 0,
            ahead_at_least_ms: 0,
            measured: None,
            logged: None,
        }
    }

    /// How long ago the offset was measured, if ever.
    pub fn age(&self) -> Option<Duration> {
        self.measured.map(|m| m.elapsed())
    }
}

/// NTP's estimate from one exchange: the peer read `remote_ms` at the midpoint of our
/// `[sent_ms, received_ms]`. Returns (offset, round trip).
pub fn estimate_offset(sent_ms: u64, remote_ms: u64, received_ms: u64) -> (i64, u64) {
    let rtt = received_ms.saturating_sub(sent_ms);
    let mid = sent_ms as i128 + rtt as i128 / 2;
    ((remote_ms as i128 - mid) as i64, rtt)
}

/// A skew refusal is logged once per peer per this interval (then counted silently).
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct PeerClocks {
    hlc: Arc<Hlc>,
    peers: Mutex<HashMap<String, PeerClock>>,
    metrics: Option<TransportMetrics>,
}

impl PeerClocks {
    pub fn new(hlc: Arc<Hlc>, metrics: Option<TransportMetrics>) -> PeerClocks {
        PeerClocks {
            hlc,
            peers: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    pub fn hlc(&self) -> &Arc<Hlc> {
        &self.hlc
    }

    /// The stamp for a frame about to be sent.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            hlc: self.hlc.now().packed,
            wall_ms: self.hlc.wall_ms(),
        }
    }

    pub fn wall_ms(&self) -> u64 {
        self.hlc.wall_ms()
    }

    /// A request arrived from `peer`: merge its clock, or refuse it.
    pub fn on_request(&self, peer: &str, stamp: Stamp) -> Result<Timestamp, ClockSkewError> {
        self.merge(peer, stamp)
    }

    /// An answer to a request sent at our wall time `sent_ms` arrived: measure the offset,
    /// then merge its clock or refuse it.
    pub fn on_answer(
        &self,
        peer: &str,
        stamp: Stamp,
        sent_ms: u64,
    ) -> Result<Timestamp, ClockSkewError> {
        let received_ms = self.hlc.wall_ms();
        let (offset, rtt) = estimate_offset(sent_ms, stamp.wall_ms, received_ms);
        {
            let mut peers = self.peers.lock().expect("peer clocks");
            let p = peers.entry(peer.to_string()).or_insert_with(PeerClock::new);
            p.offset_ms = offset;
            p.rtt_ms = rtt;
            p.ahead_at_least_ms = stamp.wall_ms as i64 - received_ms as i64;
            p.measured = Some(Instant::now());
        }
        if let Some(m) = &self.metrics {
            m.clock_offset_seconds
                .with_label_values(&[peer])
                .set(offset as f64 / 1000.0);
        }
        self.merge(peer, stamp)
    }

    fn merge(&self, peer: &str, stamp: Stamp) -> Result<Timestamp, ClockSkewError> {
        let remote = Timestamp {
            packed: stamp.hlc,
            node: node_id_for_region(peer),
        };
        self.hlc
            .update(remote)
            .inspect_err(|e| self.refused(peer, e))
    }

    fn refused(&self, peer: &str, e: &ClockSkewError) {
        if let Some(m) = &self.metrics {
            m.clock_skew_refusals.with_label_values(&[peer]).inc();
        }
        let mut peers = self.peers.lock().expect("peer clocks");
        let p = peers.entry(peer.to_string()).or_insert_with(PeerClock::new);
        p.refusals += 1;
        if p.logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            p.logged = Some(Instant::now());
            tracing::warn!(
                %peer,
                ahead_ms = e.ahead_ms,
                max_clock_skew_ms = e.max_skew_ms,
                refused_so_far = p.refusals,
                "refusing messages from {peer}: its clock is {} ms ahead of ours (limit \
                 node.max_clock_skew_ms = {}); fix its time sync (NTP/chrony)",
                e.ahead_ms,
                e.max_skew_ms
            );
        }
    }

    /// `our_ms` (a reading of our wall clock) on `peer`'s wall clock, as early as its last
    /// answer proves: never later than the true reading there. None without an answer in
    /// the last 10 s (a clock may have stepped since).
    pub fn on_peer_clock_no_later_than(&self, peer: &str, our_ms: u64) -> Option<u64> {
        let peers = self.peers.lock().expect("peer clocks");
        let p = peers.get(peer)?;
        p.measured
            .filter(|m| m.elapsed() < Duration::from_secs(10))?;
        Some(our_ms.saturating_add_signed(p.ahead_at_least_ms))
    }

    /// Every peer whose clock was measured or refused, by region.
    pub fn snapshot(&self) -> Vec<(String, PeerClock)> {
        let mut v: Vec<(String, PeerClock)> = self
            .peers
            .lock()
            .expect("peer clocks")
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_taken_at_the_midpoint_of_the_exchange() {
        // sent at 1000, answered at 1100 by a peer reading 1350: the peer is 300 ahead
        assert_eq!(estimate_offset(1_000, 1_350, 1_100), (300, 100));
        assert_eq!(estimate_offset(1_000, 750, 1_100), (-300, 100));
        // a receive time before the send time (our clock stepped back) is not a panic
        assert_eq!(estimate_offset(1_000, 1_000, 900).1, 0);
    }

    /// The skew rule itself is `Hlc::update`'s (tested with a manual clock in clock/hlc.rs);
    /// here: the bookkeeping around it, on a node's real clock type.
    fn clocks() -> PeerClocks {
        PeerClocks::new(Arc::new(Hlc::new(1, 500)), None)
    }

    #[test]
    fn a_peer_too_far_ahead_is_refused_and_counted_and_the_clock_stays() {
        let clocks = clocks();
        let now = clocks.wall_ms();
        let before = clocks.hlc().last();
        let ahead = Stamp {
            hlc: Timestamp::new(now + 2_000, 0, 0).packed,
            wall_ms: now + 2_000,
        };
        assert!(clocks.on_request("b", ahead).is_err());
        assert!(clocks.on_request("b", ahead).is_err());
        assert!(clocks.hlc().last().physical_ms() < now + 1_000);
        assert!(clocks.hlc().last() >= before);
        let snap = clocks.snapshot();
        assert_eq!(snap[0].0, "b");
        assert_eq!(snap[0].1.refusals, 2);
    }

    #[test]
    fn a_peer_within_the_bound_is_merged() {
        let clocks = clocks();
        let now = clocks.wall_ms();
        let ahead = Stamp {
            hlc: Timestamp::new(now + 300, 5, 0).packed,
            wall_ms: now + 300,
        };
        let merged = clocks.on_answer("c", ahead, now).unwrap();
        assert!(merged.packed > ahead.hlc, "merged past the peer's reading");
        assert!(clocks.hlc().now().packed > ahead.hlc);
        let snap = clocks.snapshot();
        assert!((250..=350).contains(&snap[0].1.offset_ms), "{:?}", snap[0]);
        assert_eq!(snap[0].1.refusals, 0);
        // the peer stamped now + 300 and we received it at `now` or later: its clock is at
        // least ~300 ahead, so our `now` is no later than now + 300 there
        let there = clocks.on_peer_clock_no_later_than("c", now).unwrap();
        assert!(
            there <= now + 300 && there + 100 >= now + 300,
            "{there} vs {now}"
        );
        assert_eq!(clocks.on_peer_clock_no_later_than("nobody", now), None);
    }
}
