//! A relay for every ordered pair of regions, so every byte between two nodes on this machine
//! crosses an emulated WAN link: region A reaches B through relay (A→B), B reaches A through
//! relay (B→A), each with the pair's `rtt_ms` from the topology split into one-way delays.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::{LinkConditions, Relay};
use crate::config::Topology;

pub struct Mesh {
    /// (from, to) -> relay that `from` dials to reach `to`.
    relays: HashMap<(String, String), Relay>,
}

impl Mesh {
    /// Starts the relays on 127.0.0.1 (OS-chosen ports). Pairs without a `[[links]]` entry
    /// get no added delay.
    pub async fn start(topology: &Topology) -> std::io::Result<Mesh> {
        let mut relays = HashMap::new();
        for a in &topology.regions {
            for b in &topology.regions {
                if a.name == b.name {
                    continue;
                }
                let link = topology.links.iter().find(|l| {
                    (l.between[0] == a.name && l.between[1] == b.name)
                        || (l.between[0] == b.name && l.between[1] == a.name)
                });
                let c = link.map_or(LinkConditions::from_rtt(0, 0, 0.0), |l| {
                    LinkConditions::from_rtt(l.rtt_ms, l.jitter_ms, l.loss_pct)
                });
                let relay =
                    Relay::start("127.0.0.1:0".parse().expect("addr"), b.peer, c, c).await?;
                relays.insert((a.name.clone(), b.name.clone()), relay);
            }
        }
        Ok(Mesh { relays })
    }

    /// Where `from` must send to reach each other region.
    pub fn routes_from(&self, from: &str) -> HashMap<String, SocketAddr> {
        self.relays
            .iter()
            .filter(|((f, _), _)| f == from)
            .map(|((_, t), r)| (t.clone(), r.addr()))
            .collect()
    }

    pub fn relay(&self, from: &str, to: &str) -> Option<&Relay> {
        self.relays.get(&(from.to_string(), to.to_string()))
    }

    /// Cuts (or heals) every link between `region` and the others, both ways.
    pub fn isolate(&self, region: &str, on: bool) {
        for ((f, t), r) in &self.relays {
            if f == region || t == region {
                r.partition(on);
            }
        }
    }
}
