//! The emulated WAN the cross-region benches run over (`benches/wan.rs`,
//! `benches/multi_master.rs`): RTTs r1-r2 60 ms, r1-r3 90 ms, r2-r3 120 ms, and their
//! latency arithmetic.

use std::time::Duration;

use super::cluster::REGIONS;

/// (region index, region index, RTT ms).
pub const LINKS: [(usize, usize, u64); 3] = [(0, 1, 60), (0, 2, 90), (1, 2, 120)];

/// The configured RTT between two regions (0 for a region and itself).
pub fn rtt(a: usize, b: usize) -> u64 {
    LINKS
        .iter()
        .find(|(x, y, _)| (*x == a && *y == b) || (*x == b && *y == a))
        .map_or(0, |l| l.2)
}

/// `[[links]]` entries for the topology.
pub fn links_toml() -> String {
    LINKS
        .iter()
        .map(|(a, b, rtt)| {
            format!(
                "[[links]]\nbetween = [\"{}\", \"{}\"]\nrtt_ms = {rtt}\n",
                REGIONS[*a], REGIONS[*b]
            )
        })
        .collect()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p` quantile (0..1) of `v` in ms; sorts `v`.
pub fn quantile(v: &mut [Duration], p: f64) -> f64 {
    v.sort_unstable();
    ms(v[((v.len() as f64 * p) as usize).min(v.len() - 1)])
}
