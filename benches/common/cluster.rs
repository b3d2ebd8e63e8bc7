//! Shared by the end-to-end benches: free ports, child processes killed on drop, and a
//! three-region georep cluster on loopback (release binary, dev certificates).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_georep");

pub fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Dev certificates for regions r0..r2 in `dir/certs`.
pub fn certs_init(dir: &Path) {
    let ok = Command::new(BIN)
        .args(["certs", "init", "--out"])
        .arg(dir.join("certs"))
        .args(["--regions", "r0,r1,r2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Starts three regions r0..r2; `collections` is appended to the topology.
pub fn start_georep(dir: &Path, collections: &str) -> (Procs, Vec<String>) {
    let apis: Vec<u16> = (0..3).map(|_| port()).collect();
    let mut text = String::from(
        "cluster = \"bench\"\n[node]\nheartbeat_interval_ms = 200\nelection_timeout_min_ms = 1000\n\
         election_timeout_max_ms = 2000\n[tls]\ncerts_dir = \"certs\"\n",
    );
    for i in 0..3 {
        text += &format!(
            "[[regions]]\nname = \"r{i}\"\napi = \"127.0.0.1:{}\"\npeer = \"127.0.0.1:{}\"\n",
            apis[i],
            port()
        );
    }
    text += collections;
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, text).unwrap();
    certs_init(dir);
    let procs = (0..3)
        .map(|i| {
            Command::new(BIN)
                .args(["node", "--topology"])
                .arg(&topo)
                .args(["--region", &format!("r{i}"), "--data-dir"])
                .arg(dir.join(format!("r{i}")))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    (
        Procs(procs),
        apis.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
    )
}

/// The region leading `collection`'s group.
pub async fn georep_leader(endpoints: &[String], collection: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for e in endpoints {
            let c = Client::new(e).unwrap().with_timeout(Duration::from_secs(2));
            if let Ok(r) = c
                .request(hyper::Method::GET, "/v1/cluster", &[], Bytes::new())
                .await
                && let Some(v) = r.json()
                && v["groups"].as_array().is_some_and(|gs| {
                    gs.iter()
                        .any(|g| g["name"] == collection && g["state"] == "leader")
                })
            {
                return e.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "georep elected no leader for {collection}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
