//! Test harness: topology files, free ports, and real `georep` processes that can be
//! stopped (SIGTERM) or killed (SIGKILL).
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use georep::client::Client;

pub mod cluster;
pub mod convergence;
pub mod faults;
pub mod history;
pub mod inproc;
pub mod nats;
pub mod tcp_proxy;
pub mod tftpl;
pub mod wan_links;

pub const BIN: &str = env!("CARGO_BIN_EXE_georep");

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The lines of `/metrics` at `client` that start with `name`.
pub async fn metric_lines(client: &Client, name: &str) -> Vec<String> {
    let r = client
        .request(hyper::Method::GET, "/metrics", &[], bytes::Bytes::new())
        .await
        .unwrap();
    String::from_utf8_lossy(&r.body)
        .lines()
        .filter(|l| l.starts_with(name))
        .map(str::to_string)
        .collect()
}

/// A request with a JSON body (none for `null`): the status and the JSON answer (`null` if
/// there is none).
pub async fn call(
    c: &Client,
    method: hyper::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let body = if body.is_null() {
        bytes::Bytes::new()
    } else {
        bytes::Bytes::from(body.to_string())
    };
    let r = c.request(method, path, &[], body).await.unwrap();
    (
        r.status.as_u16(),
        r.json().unwrap_or(serde_json::Value::Null),
    )
}

/// Puts `{"n": i}` as `collection`/`k{i}`; panics unless it is acknowledged.
pub async fn put_n(client: &Client, collection: &str, i: u64) {
    let value = bytes::Bytes::from(format!("{{\"n\":{i}}}"));
    let r = client
        .put(collection, &format!("k{i}"), value, &[])
        .await
        .unwrap();
    assert!(
        r.status.is_success(),
        "{collection}/k{i}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

/// A port the OS just handed out on 127.0.0.1 (released for the node to bind).
/// A SESSION read of `collection`/`key` carrying `token`.
pub async fn session_get(
    client: &Client,
    collection: &str,
    key: &str,
    token: &str,
) -> georep::client::Response {
    client
        .get(
            collection,
            key,
            &[
                ("x-georep-consistency", "session"),
                ("x-georep-session-token", token),
            ],
        )
        .await
        .unwrap()
}

/// Child processes of other programs (etcd, a bench's own georep), killed when dropped.
pub struct Procs(pub Vec<std::process::Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Writes a topology with one region per name (fresh ports) and `extra` appended verbatim.
pub fn topology(dir: &Path, regions: &[&str], extra: &str) -> (PathBuf, Vec<SocketAddr>) {
    let mut text = String::from("cluster = \"test\"\n");
    let mut apis = Vec::new();
    // Hold every probe socket until all ports are chosen, so no two regions get the same one.
    let mut held = Vec::new();
    let mut held_udp = Vec::new();
    let mut port = || {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let p = l.local_addr().expect("bound").port();
        held.push(l);
        p
    };
    // The peer port is QUIC, over UDP: a port free for TCP may be a UDP one in use (another
    // test's relays hold many), so it is chosen among free UDP ports.
    let mut udp_port = || {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
        let p = s.local_addr().expect("bound").port();
        held_udp.push(s);
        p
    };
    for r in regions {
        let api: SocketAddr = format!("127.0.0.1:{}", port()).parse().unwrap();
        text += &format!(
            "[[regions]]\nname = \"{r}\"\napi = \"{api}\"\npeer = \"127.0.0.1:{}\"\n",
            udp_port()
        );
        apis.push(api);
    }
    drop(held);
    drop(held_udp);
    text += extra;
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    (path, apis)
}

pub struct NodeProcess {
    pub child: Child,
    pub api: SocketAddr,
    pub log: PathBuf,
    /// The CA that signed the API certificate, when the topology has `[api] tls = true`.
    pub api_ca: Option<PathBuf>,
}

/// The CA a client of this node verifies HTTPS with: `ca.pem` of the certificates directory
/// (`--certs` among `extra`, else the topology's), when the topology serves HTTPS.
fn api_ca(topology: &Path, extra: &[String]) -> Option<PathBuf> {
    let t = georep::config::Topology::load(topology).ok()?;
    t.api_tls.as_ref()?;
    let certs = extra
        .iter()
        .position(|a| a == "--certs")
        .and_then(|i| extra.get(i + 1))
        .map(PathBuf::from)
        .or(t.certs_dir)?;
    Some(certs.join("ca.pem"))
}

/// A client of the API at `api`: HTTPS verified with `ca` if given, else plain HTTP.
pub fn api_client(api: SocketAddr, ca: Option<&Path>) -> Client {
    let endpoint = match ca {
        Some(_) => format!("https://{api}"),
        None => format!("http://{api}"),
    };
    Client::connect(&endpoint, ca).unwrap()
}

impl NodeProcess {
    /// Starts `georep node` and waits until `/healthz` answers.
    pub async fn start(
        topology: &Path,
        region: &str,
        data_dir: &Path,
        api: SocketAddr,
    ) -> NodeProcess {
        Self::start_with(topology, region, data_dir, api, &[]).await
    }

    /// As [`NodeProcess::start`], with extra `georep node` arguments.
    pub async fn start_with(
        topology: &Path,
        region: &str,
        data_dir: &Path,
        api: SocketAddr,
        extra: &[String],
    ) -> NodeProcess {
        Self::start_env(topology, region, data_dir, api, extra, &[]).await
    }

    /// As [`NodeProcess::start_with`], with environment variables set for the node.
    pub async fn start_env(
        topology: &Path,
        region: &str,
        data_dir: &Path,
        api: SocketAddr,
        extra: &[String],
        env: &[(&str, String)],
    ) -> NodeProcess {
        let log = data_dir.with_extension(format!("log.{}", std::process::id()));
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(BIN)
            .args(["node", "--topology"])
            .arg(topology)
            .args(["--region", region, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("georep starts");
        let api_ca = api_ca(topology, extra);
        let mut node = NodeProcess {
            child,
            api,
            log,
            api_ca,
        };
        node.wait_healthy(Duration::from_secs(20)).await;
        node
    }

    pub fn client(&self) -> Client {
        api_client(self.api, self.api_ca.as_deref()).with_timeout(Duration::from_secs(10))
    }

    async fn wait_healthy(&mut self, within: Duration) {
        let client =
            api_client(self.api, self.api_ca.as_deref()).with_timeout(Duration::from_millis(500));
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "node exited with {status} during start-up:\n{}",
                    self.log_text()
                );
            }
            if let Ok(r) = client
                .request(hyper::Method::GET, "/healthz", &[], Default::default())
                .await
                && r.status.is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node not healthy in time:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `georep ARGS` to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    run_env(args, &[])
}

/// As [`run`], with environment variables set.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("georep runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `georep archive verify --archive URL --key-file KEY`: (exit code, stdout, stderr).
/// `georep certs init --out OUT --regions REGIONS EXTRA...` (the CLI, as operators run
/// it): exit code, stdout, stderr.
pub fn run_certs_init(out: &Path, regions: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "certs",
        "init",
        "--out",
        out.to_str().unwrap(),
        "--regions",
        regions,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// [`run_certs_init`], which must succeed.
pub fn certs_init(out: &Path, regions: &str, extra: &[&str]) {
    let (code, _, err) = run_certs_init(out, regions, extra);
    assert_eq!(code, 0, "certs init: {err}");
}

pub fn archive_verify(url: &str, key: &Path) -> (i32, String, String) {
    run(&[
        "archive",
        "verify",
        "--archive",
        url,
        "--key-file",
        key.to_str().unwrap(),
    ])
}

pub fn phase(name: &str) {
    eprintln!("--- {name}");
}

/// The URL (from `env`) of an object-store emulator that `scripts/test` started. Without
/// one, the test says SKIPPED on stdout (nextest shows these tests' output, see
/// `.config/nextest.toml`) and returns None; in CI, or with `GEOREP_REQUIRE_EMULATORS` set
/// (scripts/test sets it), a missing emulator fails the test instead.
pub fn emulator(env: &str, what: &str) -> Option<String> {
    match std::env::var(env) {
        Ok(url) => Some(url),
        Err(_) => {
            let required = std::env::var("GEOREP_REQUIRE_EMULATORS").is_ok()
                || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !required,
                "{env} is not set: the {what} emulator is required here"
            );
            println!(
                "SKIPPED: {env} is not set, so nothing ran against {what} (scripts/test starts it)"
            );
            None
        }
    }
}

/// Fetches a node's `/metrics` and lints it with [`promtool_check`].
pub async fn lint_metrics(client: &Client) {
    let m = client
        .request(hyper::Method::GET, "/metrics", &[], Default::default())
        .await
        .unwrap();
    promtool_check(&String::from_utf8_lossy(&m.body));
}

/// Runs `promtool check metrics` (Debian's prometheus package; scripts/test installs it)
/// on a `/metrics` text; panics naming every problem it reports. Without promtool the check
/// says SKIPPED, except in CI, where it must be there.
pub fn promtool_check(metrics: &str) {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "promtool is required in CI (scripts/test installs it): {e}"
            );
            println!("SKIPPED: promtool check metrics (promtool not installed: {e})");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}
