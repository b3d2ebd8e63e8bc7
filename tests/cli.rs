//! The `georep` binary as users meet it: help, exit codes, config errors naming the field,
//! data dirs of another cluster, a corrupted WAL, and the client commands.

mod support;

use std::path::Path;

use bytes::Bytes;
use support::{NodeProcess, free_port, phase, run, topology};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `georep node --region r1` on `data` with the topology at `topology`, run to completion.
fn run_node(topology: &str, data: &Path) -> (i32, String, String) {
    run(&[
        "node",
        "--topology",
        topology,
        "--region",
        "r1",
        "--data-dir",
        data.to_str().unwrap(),
    ])
}

const REGIONS: &str = "[[regions]]\nname = \"a\"\napi = \"127.0.0.1:7301\"\npeer = \"127.0.0.1:7302\"\n\
                       [[regions]]\nname = \"b\"\napi = \"127.0.0.1:7303\"\npeer = \"127.0.0.1:7304\"\n\
                       [[regions]]\nname = \"c\"\napi = \"127.0.0.1:7305\"\npeer = \"127.0.0.1:7306\"\n";

#[test]
fn every_command_has_help() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for cmd in ["demo", "node", "put", "get", "delete", "bench", "certs"] {
        assert!(out.contains(cmd), "{cmd} missing from --help");
        let (code, out, err) = run(&[cmd, "--help"]);
        assert_eq!(code, 0, "{cmd} --help: {err}");
        assert!(out.contains("Usage"), "{cmd}");
    }
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn invalid_configs_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown key",
            format!("cluster = \"x\"\ncolour = \"red\"\n{REGIONS}"),
            "colour",
        ),
        (
            "duplicate region",
            format!(
                "cluster = \"x\"\n{}",
                REGIONS.replace("name = \"b\"", "name = \"a\"")
            ),
            "regions[1].name",
        ),
        (
            "bad address",
            format!(
                "cluster = \"x\"\n{}",
                REGIONS.replace("127.0.0.1:7303", "127.0.0.1:port")
            ),
            "regions[1].api",
        ),
        (
            "sync with min_sync_replicas 0",
            format!(
                "cluster = \"x\"\n{REGIONS}[[collections]]\nname = \"o\"\ntier = \"critical\"\nregions = [\"a\",\"b\",\"c\"]\nack_mode = \"sync\"\nmin_sync_replicas = 0\n"
            ),
            "collections[0].min_sync_replicas",
        ),
        ("not toml", "cluster = \n".to_string(), "TOML parse error"),
        (
            "a multi-master CRDT collection without its kind",
            format!(
                "cluster = \"x\"\n{REGIONS}[[collections]]\nname = \"v\"\ntier = \"multi_master\"\nregions = [\"a\",\"b\"]\nconflict = \"crdt\"\n"
            ),
            "collections[0].crdt",
        ),
        (
            "a multi-master collection read at strong",
            format!(
                "cluster = \"x\"\n{REGIONS}[[collections]]\nname = \"v\"\ntier = \"multi_master\"\nregions = [\"a\",\"b\"]\nconsistency = \"strong\"\n"
            ),
            "collections[0].consistency",
        ),
        (
            "a chain of six filtered replicas",
            format!(
                "cluster = \"x\"\n{REGIONS}{}",
                (1..=6)
                    .map(|i| format!(
                        "[[replicas]]\nname = \"h{i}\"\nsource = \"{}\"\nregion = \"a\"\n",
                        if i == 1 {
                            "o".to_string()
                        } else {
                            format!("h{}", i - 1)
                        }
                    ))
                    .collect::<String>()
            ),
            "replicas[5].source: a chain of replicas longer than 5 hops",
        ),
        (
            "a replica filter that does not parse",
            format!(
                "cluster = \"x\"\n{REGIONS}[[replicas]]\nname = \"r\"\nsource = \"o\"\nregion = \"b\"\nfilter = \"tenant = 'acme'\"\n"
            ),
            "replicas[0].filter",
        ),
    ];
    for (what, text, needle) in cases {
        let path = write(dir.path(), "t.toml", &text);
        let (code, _, err) = run(&[
            "node",
            "--topology",
            &path,
            "--region",
            "a",
            "--data-dir",
            "/nonexistent/never",
        ]);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(
            err.contains(needle),
            "{what}: stderr lacks {needle:?}: {err}"
        );
    }
    let path = write(dir.path(), "t.toml", &format!("cluster = \"x\"\n{REGIONS}"));
    let (code, _, err) = run(&[
        "node",
        "--topology",
        &path,
        "--region",
        "mars",
        "--data-dir",
        "/nonexistent/never",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mars"));
    let (code, _, err) = run(&["node", "--topology", "/no/such/file.toml", "--region", "a"]);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_ownership_and_locking() {
    let dir = tempfile::tempdir().unwrap();
    let (topo, apis) = topology(dir.path(), &["r1"], "");
    let data = dir.path().join("data");
    let mut node = NodeProcess::start(&topo, "r1", &data, apis[0]).await;

    phase("a second node on the same data dir is refused");
    let (code, _, err) = run_node(topo.to_str().unwrap(), &data);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use by another georep process"), "{err}");

    phase("SIGTERM stops cleanly");
    assert!(node.stop().success(), "{}", node.log_text());

    phase("another cluster's topology cannot use this data dir");
    let other = write(
        dir.path(),
        "other.toml",
        &std::fs::read_to_string(&topo)
            .unwrap()
            .replace("cluster = \"test\"", "cluster = \"other\""),
    );
    let (code, _, err) = run_node(&other, &data);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("belongs to cluster \"test\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_wal_is_refused_with_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (topo, apis) = topology(
        dir.path(),
        &["r1"],
        "[node]\nwal_segment_bytes = 1048576\nmax_value_bytes = 4096\n",
    );
    let data = dir.path().join("data");
    let mut node = NodeProcess::start(&topo, "r1", &data, apis[0]).await;
    let client = node.client();
    for i in 0..50 {
        let r = client
            .put("c", &format!("k{i}"), Bytes::from(vec![b'v'; 100]), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    assert!(node.stop().success());

    phase("flip one byte early in the log");
    let wal_dir = data.join("groups/g1/wal");
    let segment = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[200] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();

    let (code, _, err) = run_node(topo.to_str().unwrap(), &data);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("WAL corruption"), "{err}");
    assert!(
        err.contains(&segment.display().to_string()),
        "names the segment: {err}"
    );
    assert!(err.contains("byte offset"), "{err}");

    phase("restoring the byte restores the node and every write");
    bytes[200] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();
    let node = NodeProcess::start(&topo, "r1", &data, apis[0]).await;
    let r = node.client().get("c", "k49", &[]).await.unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (topo, apis) = topology(dir.path(), &["r1"], "");
    let node = NodeProcess::start(&topo, "r1", &dir.path().join("data"), apis[0]).await;
    let ep = format!("http://{}", node.api);

    let (code, out, err) = run(&[
        "put",
        "--endpoint",
        &ep,
        "--content-type",
        "application/json",
        "orders",
        "o-1",
        "{\"qty\":2}",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"version\""), "{out}");
    let token = err
        .lines()
        .find_map(|l| l.strip_prefix("session-token: "))
        .expect("token on stderr")
        .to_string();

    let (code, out, err) = run(&[
        "get",
        "--endpoint",
        &ep,
        "--consistency",
        "session",
        "--session-token",
        &token,
        "orders",
        "o-1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "{\"qty\":2}");
    assert!(err.contains("region: r1"), "{err}");

    let (code, _, err) = run(&[
        "put",
        "--endpoint",
        &ep,
        "--if-match",
        "999",
        "orders",
        "o-1",
        "x",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("412"), "{err}");

    let (code, _, err) = run(&[
        "get",
        "--endpoint",
        &ep,
        "--consistency",
        "sometimes",
        "orders",
        "o-1",
    ]);
    assert_eq!(code, 2, "{err}");

    let (code, _, _) = run(&["delete", "--endpoint", &ep, "orders", "o-1"]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&["get", "--endpoint", &ep, "orders", "o-1"]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");

    let unused = format!("http://127.0.0.1:{}", free_port());
    let (code, _, err) = run(&["get", "--endpoint", &unused, "orders", "o-1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("failed"), "{err}");
}

/// The first command a new user runs must keep working: three regions, the workload at
/// every consistency level, the latency table, a clean stop.
#[test]
fn demo_runs_and_prints_the_latency_table() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let (code, out, err) = run(&[
        "demo",
        "--duration",
        "1",
        "--ops",
        "3",
        "--dir",
        demo_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for needle in [
        "us-east-1",
        "eu-west-1",
        "ap-south-1",
        "strong",
        "bounded_staleness",
        "session",
        "consistent_prefix",
        "eventual",
        "p50 / p99",
        "replicate over QUIC with mutual TLS",
        "orders (critical)",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle:?}:\n{out}");
    }
    assert!(
        out.contains(
            "every strong and session read returned the value its session had just written"
        ),
        "{out}"
    );
    assert!(demo_dir.join("session.key").exists());
    // the demo's API authenticates: it prints the token it made, and its examples send it
    let token = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("export GEOREP_TOKEN="))
        .unwrap_or_else(|| panic!("the demo prints its token:\n{out}"));
    assert!(token.starts_with("grp_") && token.len() > 40, "{token}");
    assert!(out.contains("authorization: Bearer $GEOREP_TOKEN"), "{out}");
    for needle in ["phase 1 of 2", "[1/", "phase 2 of 2", "sessions done in"] {
        assert!(
            out.contains(needle),
            "progress per phase: {needle:?}:\n{out}"
        );
    }
    assert!(
        !err.contains("refused a peer connection"),
        "dial races between starting regions are not reported as refusals:\n{err}"
    );
}

/// README "Using it": the commands exactly as written there, in a fresh directory holding a
/// copy of `regions/`: certificates, the archive key the topology names, three nodes; then
/// every region becomes ready and the CLI writes and reads.
#[test]
fn readme_using_it_commands_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("regions")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/regions/local.toml"),
        root.join("regions/local.toml"),
    )
    .unwrap();
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Using it")
        .nth(1)
        .and_then(|s| s.split("```sh").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README has a Using it block");
    let commands: Vec<Vec<String>> = section
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap()
                .trim()
                .trim_end_matches('&')
                .trim()
        })
        .filter(|l| l.starts_with("georep "))
        .map(|l| l.split_whitespace().skip(1).map(String::from).collect())
        .collect();
    assert!(commands.len() >= 5, "{section}");
    let bin = env!("CARGO_BIN_EXE_georep");
    let mut nodes = Vec::new();
    for args in &commands {
        if args[0] == "node" {
            let log = std::fs::File::create(root.join(format!("node{}.log", nodes.len()))).unwrap();
            nodes.push(
                std::process::Command::new(bin)
                    .args(args)
                    .current_dir(root)
                    .stdout(std::process::Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            );
            continue;
        }
        let out = std::process::Command::new(bin)
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "georep {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(nodes.len(), 3, "three regions: {commands:?}");
    let ready = |port: u16| {
        std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}/readyz"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout) == "200")
            .unwrap_or(false)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while ![7101, 7102, 7103].into_iter().all(ready) {
        for (i, n) in nodes.iter_mut().enumerate() {
            if let Some(status) = n.try_wait().unwrap() {
                let log = std::fs::read_to_string(root.join(format!("node{i}.log"))).unwrap();
                panic!("node {i} exited with {status}:\n{log}");
            }
        }
        assert!(std::time::Instant::now() < deadline, "regions never ready");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let endpoint = "http://127.0.0.1:7102";
    let (code, out, err) = run(&[
        "put",
        "--endpoint",
        endpoint,
        "orders",
        "o-1",
        "{\"qty\":2}",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&[
        "get",
        "--endpoint",
        "http://127.0.0.1:7103",
        "--consistency",
        "strong",
        "orders",
        "o-1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("qty"), "{out}");
    for mut n in nodes {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &n.id().to_string()])
            .status();
        assert!(n.wait().unwrap().success());
    }
}

#[test]
fn certs_init_makes_a_ca_and_region_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let certs_init = |regions: &str| support::run_certs_init(&out, regions, &[]);
    let (code, stdout, err) = certs_init("us-east-1,eu-west-1");
    assert_eq!(code, 0, "{err}");
    for f in [
        "ca.pem",
        "ca.key",
        "us-east-1.pem",
        "us-east-1.key",
        "eu-west-1.pem",
        "eu-west-1.key",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
        assert!(stdout.contains(f), "{stdout}");
    }
    let (code, _, err) = certs_init("us-east-1");
    assert_eq!(code, 1, "refuses to overwrite a CA: {err}");
    let (code, _, err) = certs_init("Bad Region");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--regions"), "{err}");
}

/// `georep archive list` of a group whose archived log holds no timed entry yet (only its
/// initial membership) says so instead of showing 1970 as its time range.
#[test]
fn archive_list_shows_groups_without_entries_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("test/g5");
    std::fs::create_dir_all(&g).unwrap();
    let manifest = serde_json::json!({
        "format": 1, "cluster": "test", "group": 5, "snapshots": [],
        "segments": [{
            "meta": {"cluster": "test", "group": 5, "indexes": {"first": 1, "last": 1},
                     "first_hlc": 0, "last_hlc": 0, "plain_bytes": 100, "plain_crc32c": 0},
            "object": "test/g5/segments/x.seg", "sealed_bytes": 120, "key_id": "k1",
            "archived_at_ms": 0
        }]
    });
    std::fs::write(g.join("manifest.json"), manifest.to_string()).unwrap();
    let url = format!("file://{}", dir.path().display());
    let (code, out, err) = run(&["archive", "list", "--archive", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("group g5") && out.contains("no entries"),
        "{out}"
    );
    assert!(!out.contains("1970"), "{out}");
}
