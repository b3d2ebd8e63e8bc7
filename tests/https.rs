//! HTTPS on the client API (`[api] tls = true`) with real processes: curl and the Rust
//! client verify the node against the cluster CA and talk to it with bearer tokens; a
//! request proxied to another region keeps working; the CLI and `georep bench` take
//! `--cacert`; an untrusted CA, plain HTTP to the HTTPS port, a name the certificate does
//! not carry, and bad HTTPS settings all fail, each with its own error.

mod support;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use georep::client::Client;
use hyper::Method;
use sha2::{Digest, Sha256};
use support::cluster::{Cluster, FAST};
use support::{BIN, NodeProcess, phase, topology};

const WRITER: &str = "writer-token-for-https-tests";

fn auth() -> String {
    let hash: String = Sha256::digest(WRITER.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[[auth.tokens]]\nname = \"app\"\nrole = \"writer\"\nsha256 = \"{hash}\"\n")
}

/// curl's exit code, stdout and stderr.
fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/test installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `georep ARGS` with GEOREP_TOKEN set: exit code, stdout, stderr.
fn georep_with_token(args: &[&str]) -> (i32, String, String) {
    support::run_env(args, &[("GEOREP_TOKEN", WRITER)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_curl_the_rust_client_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{FAST}[api]\ntls = true\n[[collections]]\nname = \"far\"\ntier = \"archival\"\n\
         regions = [\"r1\"]\n{}",
        auth()
    );
    let mut c = Cluster::start(dir.path(), &extra).await;
    c.bearer = Some(WRITER.into());
    c.leader("default", Duration::from_secs(20)).await;
    let ca = c.certs.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let base = format!("https://{}", c.apis[0]);
    let bearer = format!("authorization: Bearer {WRITER}");

    phase("curl --cacert: PUT then GET over HTTPS, with the token");
    let (code, out, err) = curl(&[
        "--cacert",
        ca,
        "-H",
        &bearer,
        "-X",
        "PUT",
        "--data",
        "{\"qty\":2}",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/v1/collections/orders/docs/o-1"),
    ]);
    assert_eq!((code, out.as_str()), (0, "200"), "{err}");
    let (code, out, err) = curl(&[
        "--cacert",
        ca,
        "-H",
        &bearer,
        &format!("{base}/v1/collections/orders/docs/o-1"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "{\"qty\":2}");
    phase("the API certificate carries localhost too; /healthz needs no token");
    let port = c.apis[0].port();
    let (code, out, err) = curl(&["--cacert", ca, &format!("https://localhost:{port}/healthz")]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    phase("without the token: 401 over HTTPS as over HTTP");
    let (code, out, _) = curl(&[
        "--cacert",
        ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/v1/collections/orders/docs/o-1"),
    ]);
    assert_eq!((code, out.as_str()), (0, "401"));

    phase("curl without the CA refuses the certificate (exit 60); plain HTTP gets no answer");
    let (code, _, err) = curl(&[&format!("{base}/healthz")]);
    assert_eq!(code, 60, "{err}");
    let (code, _, err) = curl(&[&format!("http://{}/healthz", c.apis[0])]);
    assert_ne!(code, 0, "plain HTTP to the HTTPS port must fail: {err}");
    // and the node serves on: the refused connections cost it nothing
    let (code, _, err) = curl(&["--cacert", ca, &format!("{base}/healthz")]);
    assert_eq!(code, 0, "{err}");

    phase("the Rust client: a write proxied from r3 to r1 over HTTPS keeps the caller's role");
    let r = c
        .client(2)
        .put("far", "f-1", Bytes::from_static(b"{\"v\":1}"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-georep-proxied-by"), Some("r3"));
    assert_eq!(r.header("x-georep-region"), Some("r1"));
    let r = c
        .client(1)
        .get("orders", "o-1", &[("x-georep-consistency", "strong")])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"{\"qty\":2}");

    phase("a client trusting another CA refuses the node's certificate");
    let other = dir.path().join("other-ca");
    support::certs_init(&other, "x", &[]);
    let stranger = Client::connect(&base, Some(&other.join("ca.pem"))).unwrap();
    let e = stranger
        .request(Method::GET, "/healthz", &[], Bytes::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    phase("the CLI: --cacert, and a clear error without it");
    let (code, out, err) =
        georep_with_token(&["get", "--endpoint", &base, "--cacert", ca, "orders", "o-1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"qty\":2"), "{out}");
    let (code, _, err) = georep_with_token(&["get", "--endpoint", &base, "orders", "o-1"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let (code, out, err) = georep_with_token(&[
        "bench",
        "--endpoint",
        &base,
        "--cacert",
        ca,
        "--op",
        "put",
        "--clients",
        "2",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--keys",
        "20",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("throughput_ops_s"), "{out}");
    assert!(out.contains(" errors=0"), "{out}{err}");
    assert!(
        !out.contains(WRITER) && !err.contains(WRITER),
        "the token is never printed"
    );
    support::lint_metrics(&c.client(0)).await;
    c.kill9(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_certificate_files_and_bad_https_settings() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    support::certs_init(&certs, "r1", &["--api-host", "db.example.test"]);
    let ca = certs.join("ca.pem");
    let ca = ca.to_str().unwrap();

    phase("cert_file/key_file: the region's own certificate, valid for the name r1 only");
    let files = format!(
        "[tls]\ncerts_dir = \"{0}\"\n[api]\ntls = true\ncert_file = \"{0}/r1.pem\"\n\
         key_file = \"{0}/r1.key\"\n",
        certs.display()
    );
    let (topo, apis) = topology(dir.path(), &["r1"], &files);
    // the harness's health check dials 127.0.0.1, which this certificate does not name
    let log = dir.path().join("d1.log");
    let mut node = Command::new(BIN)
        .args(["node", "--topology"])
        .arg(&topo)
        .args(["--region", "r1", "--data-dir"])
        .arg(dir.path().join("d1"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let port = apis[0].port();
    let resolve = format!("r1:{port}:127.0.0.1");
    let by_name = |path: &str| {
        curl(&[
            "--cacert",
            ca,
            "--resolve",
            &resolve,
            &format!("https://r1:{port}{path}"),
        ])
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while by_name("/healthz").0 != 0 {
        assert!(node.try_wait().unwrap().is_none(), "node exited");
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            by_name("/healthz")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, _, err) = curl(&["--cacert", ca, &format!("https://127.0.0.1:{port}/healthz")]);
    assert_eq!(code, 60, "127.0.0.1 is not a name of r1.pem: {err}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(&format!("https://{}", apis[0])), "{text}");
    node.kill().unwrap();
    node.wait().unwrap();

    phase("the default API certificate carries --api-host names");
    let (topo, apis) = topology(
        dir.path(),
        &["r1"],
        &format!(
            "[tls]\ncerts_dir = \"{}\"\n[api]\ntls = true\n",
            certs.display()
        ),
    );
    let _node = NodeProcess::start(&topo, "r1", &dir.path().join("d2"), apis[0]).await;
    let port = apis[0].port();
    let (code, _, err) = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &format!("db.example.test:{port}:127.0.0.1"),
        &format!("https://db.example.test:{port}/healthz"),
    ]);
    assert_eq!(code, 0, "{err}");

    phase("bad settings exit 2 naming the field, before anything listens");
    let cases = [
        ("[api]\ntls = true\n".to_string(), "api.tls"),
        (
            format!(
                "[api]\ntls = true\ncert_file = \"{0}/missing.pem\"\nkey_file = \"{0}/r1.key\"\n",
                certs.display()
            ),
            "api.cert_file",
        ),
        (
            "[api]\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n".into(),
            "api.tls",
        ),
        (
            "[api]\ntls = true\ncert_file = \"a.pem\"\n".into(),
            "api.key_file",
        ),
    ];
    for (i, (extra, field)) in cases.iter().enumerate() {
        let sub = dir.path().join(format!("bad{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (topo, _) = topology(&sub, &["r1"], extra);
        let out = Command::new(BIN)
            .args(["node", "--topology"])
            .arg(&topo)
            .args(["--region", "r1", "--data-dir"])
            .arg(sub.join("data"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(field), "case {i} should name {field}: {err}");
    }
    phase("certs init refuses an --api-host that is no name");
    let (code, _, err) =
        support::run_certs_init(&dir.path().join("c2"), "r1", &["--api-host", "not a host"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--api-host"), "{err}");
}
