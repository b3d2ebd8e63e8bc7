//! A three-region cluster in this test process: every region a `georep::node::Node` on its
//! own data dir, every peer link through the in-process WAN relays (real QUIC with mutual
//! TLS, as between processes), so a fault scenario needs no process start and runs in
//! seconds. Per-link faults: loss, delay, partition; per-node: stop and restart on the same
//! data dir. The real-process harness (`cluster.rs`) stays for what only the binary proves:
//! SIGKILL, exit codes, flags.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use georep::client::Client;
use georep::config::Topology;
use georep::group::GroupId;
use georep::node::{Node, NodeConfig};
use georep::wan::{Direction, LinkConditions, Mesh};

use super::topology;

pub const REGIONS: [&str; 3] = ["r1", "r2", "r3"];

pub struct InProcCluster {
    pub dir: PathBuf,
    pub topology: Topology,
    pub apis: Vec<SocketAddr>,
    pub certs: PathBuf,
    pub mesh: Mesh,
    pub nodes: Vec<Option<Node>>,
}

impl InProcCluster {
    /// Writes the topology (`extra` appended), makes certificates, starts the relays and
    /// the three nodes.
    pub async fn start(dir: &Path, extra: &str) -> InProcCluster {
        let (path, apis) = topology(dir, &REGIONS, extra);
        let topology = Topology::load(&path).unwrap();
        let certs = dir.join("certs");
        let names: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
        georep::transport::init_certs(&certs, &topology.cluster, &names, &[]).unwrap();
        let mesh = Mesh::start(&topology).await.unwrap();
        let mut c = InProcCluster {
            dir: dir.to_path_buf(),
            topology,
            apis,
            certs,
            mesh,
            nodes: (0..REGIONS.len()).map(|_| None).collect(),
        };
        for i in 0..REGIONS.len() {
            c.restart(i).await;
        }
        c
    }

    /// Starts region `i`'s node (again) on its data dir.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "{} is running", REGIONS[i]);
        let cfg = NodeConfig {
            topology: self.topology.clone(),
            region: REGIONS[i].into(),
            data_dir: self.dir.join(REGIONS[i]),
            api_override: None,
            certs_dir: Some(self.certs.clone()),
            peer_routes: self.mesh.routes_from(REGIONS[i]),
            clock_offset_file: None,
        };
        // the data dir's lock is released when the stopped node's last handle closes
        let deadline = Instant::now() + Duration::from_secs(10);
        let node = loop {
            match Node::start(cfg.clone()).await {
                Ok(n) => break n,
                Err(georep::node::NodeError::DataDir(georep::node::IdentityError::InUse {
                    ..
                })) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("{} does not start: {e}", REGIONS[i]),
            }
        };
        self.nodes[i] = Some(node);
    }

    /// Stops region `i`'s node: it answers nothing from now on.
    pub async fn stop(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.shutdown().await;
        }
    }

    pub fn client(&self, i: usize) -> Client {
        Client::new(&self.apis[i].to_string())
            .unwrap()
            .with_timeout(Duration::from_secs(5))
    }

    pub fn live(&self) -> Vec<usize> {
        (0..REGIONS.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect()
    }

    /// The live region whose replica of `group` leads, waiting up to `within`.
    pub async fn leader(&self, group: GroupId, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for i in self.live() {
                let node = self.nodes[i].as_ref().unwrap();
                if node.groups().get(group).is_some_and(|g| g.is_leader()) {
                    return i;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader of {group} in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Cuts region `i` off from both others (or heals it).
    pub fn isolate(&self, i: usize, on: bool) {
        self.mesh.isolate(REGIONS[i], on);
    }

    /// Sets loss, delay and jitter both ways between regions `a` and `b`; a partition on
    /// that link stays as it is (`isolate`, `heal_all` change it).
    pub fn set_link(&self, a: usize, b: usize, conditions: LinkConditions) {
        self.each_direction(a, b, |r, dir| {
            let partitioned = r.conditions(dir).partitioned;
            r.set(
                dir,
                LinkConditions {
                    partitioned,
                    ..conditions
                },
            );
        });
    }

    /// Every link back to no loss, no delay, no partition.
    pub fn heal_all(&self) {
        for a in 0..REGIONS.len() {
            for b in a + 1..REGIONS.len() {
                self.each_direction(a, b, |r, dir| r.set(dir, LinkConditions::default()));
            }
        }
    }

    fn each_direction(&self, a: usize, b: usize, f: impl Fn(&georep::wan::Relay, Direction)) {
        for (from, to) in [(a, b), (b, a)] {
            if let Some(r) = self.mesh.relay(REGIONS[from], REGIONS[to]) {
                f(r, Direction::Forward);
                f(r, Direction::Backward);
            }
        }
    }

    /// Each live replica's (applied index, store digest) of `group`, once they agree.
    pub async fn converged(&self, group: GroupId, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let states: HashMap<usize, (u64, [u8; 32])> = self
                .live()
                .into_iter()
                .filter_map(|i| {
                    let g = self.nodes[i].as_ref()?.groups().get(group)?.clone();
                    Some((i, (g.applied_index(), g.digest().ok()?)))
                })
                .collect();
            let first = states.values().next().cloned();
            if states.len() == self.live().len()
                && let Some(f) = &first
                && states.values().all(|s| s == f)
            {
                return f.0;
            }
            assert!(
                Instant::now() < deadline,
                "replicas of {group} did not converge: {states:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
