//! A three-region cluster of real `georep node` processes on 127.0.0.1, with dev
//! certificates for mutual TLS. Every peer link goes through an in-process WAN relay (so
//! tests can delay and partition it), or, for throughput benches, directly
//! ([`Cluster::start_direct`]). Tests and benches share this kit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;
use georep::config::Topology;
use georep::wan::Mesh;

use super::{NodeProcess, phase, topology};

pub const REGIONS: [&str; 3] = ["r1", "r2", "r3"];

pub struct Cluster {
    pub dir: PathBuf,
    pub topology_path: PathBuf,
    pub topology: Topology,
    pub apis: Vec<SocketAddr>,
    pub certs: PathBuf,
    pub mesh: Mesh,
    pub nodes: Vec<Option<NodeProcess>>,
    /// Sent by [`Cluster::client`] when the topology has `[auth]`.
    pub bearer: Option<String>,
    /// Whether nodes reach each other through `mesh` (else directly: the relays idle).
    pub relayed: bool,
}

/// Fast Raft timings for tests that are not about the defaults.
pub const FAST: &str = "[node]\nheartbeat_interval_ms = 200\nelection_timeout_min_ms = 1000\n\
                        election_timeout_max_ms = 2000\n";

impl Cluster {
    /// Writes the topology (`extra` appended: `[node]` settings, links, collections), makes
    /// certificates, starts the relays and every node, and waits until every region is ready
    /// (`/readyz`), as a client should before sending traffic.
    pub async fn start(dir: &Path, extra: &str) -> Cluster {
        let c = Self::start_unready(dir, extra).await;
        c.wait_ready(Duration::from_secs(30)).await;
        c
    }

    /// Waits until `/readyz` is 200 in every live region.
    pub async fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        for i in self.live() {
            loop {
                let r = self
                    .client(i)
                    .request(hyper::Method::GET, "/readyz", &[], Bytes::new())
                    .await;
                match r {
                    Ok(r) if r.status == 200 => break,
                    r => assert!(
                        Instant::now() < deadline,
                        "{} not ready in {within:?}: {:?}",
                        REGIONS[i],
                        r.map(|r| String::from_utf8_lossy(&r.body).to_string())
                    ),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// As [`Cluster::start`], with the regions dialling each other directly: no relay hop
    /// on the data path, as the throughput benches want it (no fault can be injected).
    pub async fn start_direct(dir: &Path, extra: &str) -> Cluster {
        let c = Self::create(dir, extra, false).await;
        c.wait_ready(Duration::from_secs(30)).await;
        c
    }

    /// As [`Cluster::start`], without waiting for readiness: traffic may start at once.
    pub async fn start_unready(dir: &Path, extra: &str) -> Cluster {
        Self::create(dir, extra, true).await
    }

    async fn create(dir: &Path, extra: &str, relayed: bool) -> Cluster {
        let (topology_path, apis) = topology(dir, &REGIONS, extra);
        let topology = Topology::load(&topology_path).unwrap();
        let certs = dir.join("certs");
        super::certs_init(&certs, &REGIONS.join(","), &[]);
        let mesh = Mesh::start(&topology).await.unwrap();
        let mut c = Cluster {
            dir: dir.to_path_buf(),
            topology_path,
            topology,
            apis,
            certs,
            mesh,
            nodes: Vec::new(),
            bearer: None,
            relayed,
        };
        for i in 0..REGIONS.len() {
            let n = c.spawn(i, None).await;
            c.nodes.push(Some(n));
        }
        c
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join(REGIONS[i])
    }

    /// Starts region `i`'s node (optionally with certificates from `certs`).
    pub async fn spawn(&self, i: usize, certs: Option<&Path>) -> NodeProcess {
        let region = REGIONS[i];
        let mut extra = vec![
            "--certs".to_string(),
            certs.unwrap_or(&self.certs).display().to_string(),
        ];
        for (to, addr) in self
            .mesh
            .routes_from(region)
            .into_iter()
            .filter(|_| self.relayed)
        {
            extra.push("--peer-route".into());
            extra.push(format!("{to}={addr}"));
        }
        // every node's wall clock can be skewed while it runs (set_clock_offset)
        let clock = self.clock_file(i);
        if !clock.exists() {
            std::fs::write(&clock, "0").unwrap();
        }
        extra.push("--clock-offset-file".into());
        extra.push(clock.display().to_string());
        NodeProcess::start_with(
            &self.topology_path,
            region,
            &self.data_dir(i),
            self.apis[i],
            &extra,
        )
        .await
    }

    fn clock_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("clock-{}.offset", REGIONS[i]))
    }

    /// Skews region `i`'s wall clock by `ms` (the node re-reads it every 100 ms).
    pub fn set_clock_offset(&self, i: usize, ms: i64) {
        let path = self.clock_file(i);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, ms.to_string()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    pub async fn restart(&mut self, i: usize) {
        let n = self.spawn(i, None).await;
        self.nodes[i] = Some(n);
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut n) = self.nodes[i].take() {
            n.kill9();
        }
    }

    pub fn client(&self, i: usize) -> Client {
        let ca = self
            .topology
            .api_tls
            .as_ref()
            .map(|_| self.certs.join("ca.pem"));
        let c =
            super::api_client(self.apis[i], ca.as_deref()).with_timeout(Duration::from_secs(10));
        match &self.bearer {
            Some(t) => c.with_bearer(t),
            None => c,
        }
    }

    pub fn live(&self) -> Vec<usize> {
        (0..REGIONS.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect()
    }

    /// `/v1/cluster` from node `i`, the group named `name`.
    pub async fn group_status(&self, i: usize, name: &str) -> Option<serde_json::Value> {
        let r = self
            .client(i)
            .request(hyper::Method::GET, "/v1/cluster", &[], Bytes::new())
            .await
            .ok()?;
        let v = r.json()?;
        v["groups"]
            .as_array()?
            .iter()
            .find(|g| g["name"] == name)
            .cloned()
    }

    /// The region index that leads `name` with a majority's agreement (a restarted old
    /// leader may briefly call itself leader of a stale term), waiting up to `within`.
    pub async fn leader(&self, name: &str, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let mut views = Vec::new();
            for i in self.live() {
                if let Some(g) = self.group_status(i, name).await {
                    views.push((i, g));
                }
            }
            for (i, g) in &views {
                if g["state"] != "leader" {
                    continue;
                }
                let agree = views
                    .iter()
                    .filter(|(_, v)| v["leader"] == REGIONS[*i] && v["term"] == g["term"])
                    .count();
                if agree * 2 > REGIONS.len() {
                    return *i;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader for {name} in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// From `/v1/admin/digest`: (region index, applied index, digest) of every live replica the placement in force
    /// has hold `name`.
    pub async fn digests(&self, name: &str) -> Vec<(usize, u64, String)> {
        let mut out = Vec::new();
        for i in self.live() {
            let r = self
                .client(i)
                .request(hyper::Method::GET, "/v1/admin/digest", &[], Bytes::new())
                .await
                .unwrap();
            let v = r.json().unwrap();
            let g = v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["name"] == name)
                .unwrap()
                .clone();
            if g["member"] == false {
                // an idle slot: the placement in force does not have this region hold it
                continue;
            }
            out.push((
                i,
                g["applied_index"].as_u64().unwrap(),
                g["digest"].as_str().unwrap().to_string(),
            ));
        }
        out
    }

    /// `GET /v1/admin/collections` at node `i`: the placement of `name` in force there.
    pub async fn placement(&self, i: usize, name: &str) -> Option<serde_json::Value> {
        let v = self
            .client(i)
            .request(
                hyper::Method::GET,
                "/v1/admin/collections",
                &[],
                Bytes::new(),
            )
            .await
            .ok()?
            .json()?;
        v["collections"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
    }

    /// The sum of every sample of metric family `name` on node `i` (all label sets).
    pub async fn metric(&self, i: usize, name: &str) -> f64 {
        super::metric_lines(&self.client(i), name)
            .await
            .iter()
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until every live replica of `name` has applied the same index with the same
    /// digest; returns that index.
    pub async fn converged(&self, name: &str, within: Duration) -> u64 {
        phase(&format!("wait until every replica of {name} is identical"));
        let deadline = Instant::now() + within;
        loop {
            let d = self.digests(name).await;
            let same = d.windows(2).all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2);
            if same {
                return d[0].1;
            }
            assert!(
                Instant::now() < deadline,
                "replicas did not converge: {d:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Cluster {
    /// `host:port` of the region leading `name` (benches send their writes there).
    pub async fn leader_endpoint(&self, name: &str) -> String {
        let i = self.leader(name, Duration::from_secs(30)).await;
        self.apis[i].to_string()
    }

    /// `host:port` of every region's API.
    pub fn endpoints(&self) -> Vec<String> {
        self.apis.iter().map(ToString::to_string).collect()
    }
}

impl Drop for Cluster {
    /// On a failing test, the tail of every node's log: what the cluster saw.
    fn drop(&mut self) {
        // GEOREP_KEEP_LOGS=DIR keeps every node's whole log, for studying a run
        if let Ok(dir) = std::env::var("GEOREP_KEEP_LOGS") {
            for (i, n) in self.nodes.iter().enumerate() {
                if let Some(n) = n {
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::copy(&n.log, format!("{dir}/{}.log", REGIONS[i]));
                }
            }
        }
        if !std::thread::panicking() {
            return;
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(n) = n {
                let text = n.log_text();
                let tail: Vec<&str> = text.lines().rev().take(60).collect();
                eprintln!("=== {} log (last 60 lines)", REGIONS[i]);
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}
