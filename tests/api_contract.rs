//! The HTTP contract (CONTRACT.md) against a real node on 127.0.0.1: statuses, headers,
//! JSON errors, preconditions, limits, tokens, listing, metrics. The node runs in-process so
//! the test can sign its own tokens with the node's key (to make an expired one).

mod support;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use georep::client::{Client, Response};
use georep::config::Topology;
use georep::node::{Node, NodeConfig, session_key};
use georep::session::{GroupPosition, SessionKeys, SessionToken};
use hyper::Method;

struct Fixture {
    node: Option<Node>,
    client: Client,
    keys: SessionKeys,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = session_key::generate();
    let key_path = dir.path().join("session.key");
    session_key::write_new(&key_path, &key).unwrap();
    let text = format!(
        "cluster = \"t\"\n[node]\nmax_value_bytes = 4096\nsession_wait_ms = 200\n\
         [session]\nkey_file = \"{}\"\n\
         [[regions]]\nname = \"r1\"\napi = \"127.0.0.1:0\"\npeer = \"127.0.0.1:0\"\n\
         [[collections]]\nname = \"orders\"\ntier = \"archival\"\nregions = [\"r1\"]\nconsistency = \"strong\"\n",
        key_path.display()
    );
    let topology = Topology::parse(&text, Path::new("t.toml"), dir.path()).unwrap();
    let node = Node::start(NodeConfig {
        topology,
        region: "r1".into(),
        data_dir: dir.path().join("r1"),
        api_override: None,
        certs_dir: None,
        peer_routes: Default::default(),
        clock_offset_file: None,
    })
    .await
    .unwrap();
    let client = Client::new(&node.api_addr().to_string()).unwrap();
    Fixture {
        node: Some(node),
        client,
        keys: SessionKeys::new(1, key),
        _dir: dir,
    }
}

fn json(r: &Response) -> serde_json::Value {
    r.json().unwrap_or_else(|| panic!("not JSON: {:?}", r.body))
}

fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(
        r.status.as_u16(),
        status,
        "body: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        r.error_code().as_deref(),
        Some(code),
        "body: {:?}",
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_lifecycle_versions_and_headers() {
    let f = fixture().await;
    let c = &f.client;
    let r = c
        .put(
            "orders",
            "o-1",
            Bytes::from_static(b"{\"qty\":2}"),
            &[("content-type", "application/json")],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let body = json(&r);
    let v1 = body["version"].as_u64().unwrap();
    assert_eq!(body["index"].as_u64(), Some(v1));
    assert_eq!(
        body["group"],
        georep::placement::group_id_for("orders").to_string(),
        "a placed collection has its own group"
    );
    assert_eq!(body["leader"], "r1");
    assert_eq!(r.header("x-georep-leader"), Some("r1"));
    assert!(body["hlc"].as_str().unwrap().contains('@'));
    assert_eq!(r.header("x-georep-region"), Some("r1"));
    assert_eq!(r.header("x-georep-version"), Some(v1.to_string().as_str()));
    let token = r.header("x-georep-session-token").unwrap().to_string();

    let r = c
        .get("orders", "o-1", &[("x-georep-session-token", &token)])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, Bytes::from_static(b"{\"qty\":2}"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-georep-staleness-ms"), Some("0"));
    assert_eq!(r.header("x-georep-version"), Some(v1.to_string().as_str()));
    assert!(r.header("x-georep-session-token").is_some());

    // conditional writes: If-Match (compare-and-set) and If-None-Match: *
    let r = c
        .put(
            "orders",
            "o-1",
            Bytes::from_static(b"x"),
            &[("if-match", "999")],
        )
        .await
        .unwrap();
    assert_error(&r, 412, "precondition_failed");
    assert_eq!(r.header("x-georep-version"), Some(v1.to_string().as_str()));
    let r = c
        .put(
            "orders",
            "o-1",
            Bytes::from_static(b"y"),
            &[("if-match", &format!("\"{v1}\""))],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let v2: u64 = r.header("x-georep-version").unwrap().parse().unwrap();
    assert!(v2 > v1);
    let r = c
        .put(
            "orders",
            "o-1",
            Bytes::from_static(b"z"),
            &[("if-none-match", "*")],
        )
        .await
        .unwrap();
    assert_error(&r, 412, "precondition_failed");
    let r = c
        .put(
            "orders",
            "fresh",
            Bytes::from_static(b"z"),
            &[("if-none-match", "*")],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // delete with a stale If-Match, then for real, then again
    let r = c
        .delete("orders", "o-1", &[("if-match", &v1.to_string())])
        .await
        .unwrap();
    assert_error(&r, 412, "precondition_failed");
    let r = c.delete("orders", "o-1", &[]).await.unwrap();
    assert_eq!(r.status, 200);
    assert_error(
        &c.get("orders", "o-1", &[]).await.unwrap(),
        404,
        "not_found",
    );
    assert_error(
        &c.delete("orders", "o-1", &[]).await.unwrap(),
        404,
        "not_found",
    );

    // keys are any UTF-8 (percent-encoded in the path), including '/'
    let r = c
        .put("orders", "a/b ü", Bytes::from_static(b"1"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        c.get("orders", "a/b ü", &[]).await.unwrap().body,
        Bytes::from_static(b"1")
    );
    f.node.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_4xx_errors() {
    let f = fixture().await;
    let c = &f.client;
    let raw = |m: Method, p: &str, h: Vec<(&'static str, String)>, b: &'static [u8]| {
        let c = c.clone();
        let p = p.to_string();
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.request(m, &p, &h, Bytes::from_static(b)).await.unwrap()
        }
    };
    for level in [
        "STRONG",
        "Bounded_Staleness",
        "session",
        "consistent_prefix",
        "eventual",
    ] {
        let r = c
            .get("orders", "none", &[("x-georep-consistency", level)])
            .await
            .unwrap();
        assert_error(&r, 404, "not_found");
    }
    assert_error(
        &c.get("orders", "k", &[("x-georep-consistency", "linearizable")])
            .await
            .unwrap(),
        400,
        "invalid_consistency",
    );
    assert_error(
        &c.put("orders", "k", Bytes::new(), &[("x-georep-consistency", "")])
            .await
            .unwrap(),
        400,
        "invalid_consistency",
    );
    assert_error(
        &c.get(
            "orders",
            "k",
            &[
                ("x-georep-consistency", "bounded_staleness"),
                ("x-georep-max-staleness-ms", "soon"),
            ],
        )
        .await
        .unwrap(),
        400,
        "invalid_max_staleness",
    );
    assert_error(
        &c.put(
            "orders",
            "k",
            Bytes::from_static(b"{\"a\":"),
            &[("content-type", "application/json")],
        )
        .await
        .unwrap(),
        400,
        "invalid_json",
    );
    assert_error(
        &c.put("orders", "k", Bytes::from(vec![b'x'; 4097]), &[])
            .await
            .unwrap(),
        413,
        "value_too_large",
    );
    assert_eq!(
        c.put("orders", "k", Bytes::from(vec![b'x'; 4096]), &[])
            .await
            .unwrap()
            .status,
        200
    );
    assert_error(
        &c.put("orders", &"k".repeat(1025), Bytes::new(), &[])
            .await
            .unwrap(),
        413,
        "key_too_large",
    );
    assert_error(
        &c.put("orders", "a\u{1}b", Bytes::new(), &[]).await.unwrap(),
        400,
        "invalid_key",
    );
    assert_error(
        &raw(
            Method::GET,
            "/v1/collections/orders/docs/%FF%FE",
            vec![],
            b"",
        )
        .await,
        400,
        "invalid_path",
    );
    assert_error(
        &c.get("Orders!", "k", &[]).await.unwrap(),
        400,
        "invalid_collection",
    );
    assert_error(
        &c.put("orders", "k", Bytes::new(), &[("if-match", "latest")])
            .await
            .unwrap(),
        400,
        "invalid_precondition",
    );
    assert_error(
        &raw(
            Method::GET,
            "/v1/collections/orders/docs?limit=0",
            vec![],
            b"",
        )
        .await,
        400,
        "invalid_query",
    );
    assert_error(
        &raw(
            Method::GET,
            "/v1/collections/orders/docs?limit=x",
            vec![],
            b"",
        )
        .await,
        400,
        "invalid_query",
    );
    assert_error(
        &raw(
            Method::GET,
            "/v1/collections/orders/docs?color=red",
            vec![],
            b"",
        )
        .await,
        400,
        "invalid_query",
    );
    assert_error(
        &raw(Method::POST, "/v1/collections/orders/docs/k", vec![], b"").await,
        405,
        "method_not_allowed",
    );
    assert_error(
        &raw(Method::GET, "/v2/anything", vec![], b"").await,
        404,
        "not_found",
    );
    f.node.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_tokens_forged_truncated_expired_and_ahead() {
    let f = fixture().await;
    let c = &f.client;
    let r = c
        .put("orders", "k", Bytes::from_static(b"1"), &[])
        .await
        .unwrap();
    let token = r.header("x-georep-session-token").unwrap().to_string();
    let ok = c
        .get("orders", "k", &[("x-georep-session-token", &token)])
        .await
        .unwrap();
    assert_eq!(ok.status, 200);

    let truncated = &token[..token.len() - 3];
    let r = c
        .get("orders", "k", &[("x-georep-session-token", truncated)])
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_session_token");

    let mut forged: Vec<char> = token.chars().collect();
    forged[6] = if forged[6] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let r = c
        .get("orders", "k", &[("x-georep-session-token", &forged)])
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_session_token");

    let foreign = SessionToken::default().encode(&SessionKeys::new(1, [9; 32]), support::now_ms());
    let r = c
        .put(
            "orders",
            "k",
            Bytes::new(),
            &[("x-georep-session-token", &foreign)],
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_session_token");

    let expired = SessionToken::default().encode(&f.keys, support::now_ms() - 25 * 3600 * 1000);
    let r = c
        .get("orders", "k", &[("x-georep-session-token", &expired)])
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_session_token");
    assert!(
        json(&r)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // A token that has seen more of the group than this replica: SESSION waits, then 503.
    let mut ahead = SessionToken::default();
    ahead.observe(GroupPosition {
        group: georep::placement::group_id_for("orders"),
        epoch: 1,
        index: 1_000_000,
    });
    let ahead = ahead.encode(&f.keys, support::now_ms());
    let started = std::time::Instant::now();
    let r = c
        .get(
            "orders",
            "k",
            &[
                ("x-georep-session-token", &ahead),
                ("x-georep-consistency", "session"),
            ],
        )
        .await
        .unwrap();
    assert_error(&r, 503, "session_not_caught_up");
    assert!(r.header("retry-after").is_some());
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "waited for catch-up first"
    );
    // EVENTUAL does not need the session's position (a strong read first makes sure "k" is applied)
    let strong = c
        .get("orders", "k", &[("x-georep-consistency", "strong")])
        .await
        .unwrap();
    assert_eq!(strong.status, 200);
    let r = c
        .get(
            "orders",
            "k",
            &[
                ("x-georep-session-token", &ahead),
                ("x-georep-consistency", "eventual"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    f.node.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_cluster_health_and_metrics() {
    let f = fixture().await;
    let c = &f.client;
    for k in ["b2", "a", "b1", "b10", "c"] {
        c.put("orders", k, Bytes::from_static(b"v"), &[])
            .await
            .unwrap();
    }
    let list = |q: &str| {
        let c = c.clone();
        let q = q.to_string();
        async move {
            c.request(
                Method::GET,
                &format!("/v1/collections/orders/docs{q}"),
                &[],
                Bytes::new(),
            )
            .await
            .unwrap()
        }
    };
    let r = list("?prefix=b&limit=2").await;
    assert_eq!(r.status, 200);
    let body = json(&r);
    let keys: Vec<&str> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["b1", "b10"]);
    assert_eq!(body["next_start_after"], "b10");
    let body = json(&list("?prefix=b&limit=2&start_after=b10").await);
    assert_eq!(body["keys"][0]["key"], "b2");
    assert!(body["next_start_after"].is_null());
    assert_eq!(json(&list("").await)["keys"].as_array().unwrap().len(), 5);

    let r = c
        .request(Method::GET, "/v1/cluster", &[], Bytes::new())
        .await
        .unwrap();
    let body = json(&r);
    assert_eq!(body["cluster"], "t");
    assert_eq!(body["regions"].as_array().unwrap().len(), 1);
    let groups = body["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "the default group and orders': {groups:?}");
    for g in groups {
        assert_eq!(g["leader"], "r1");
        assert_eq!(g["voters"], serde_json::json!(["r1"]));
    }
    assert!(
        groups
            .iter()
            .map(|g| g["applied_index"].as_u64().unwrap())
            .max()
            .unwrap()
            >= 5
    );

    assert_eq!(
        c.request(Method::GET, "/healthz", &[], Bytes::new())
            .await
            .unwrap()
            .status,
        200
    );
    let m = c
        .request(Method::GET, "/metrics", &[], Bytes::new())
        .await
        .unwrap();
    let text = String::from_utf8(m.body.to_vec()).unwrap();
    for metric in [
        "georep_requests_total{consistency=\"default\",op=\"put\",status=\"200\",region=\"r1\"} 5",
        "georep_request_duration_seconds_bucket",
        "georep_wal_fsync_seconds_bucket",
        "georep_wal_batch_entries_bucket",
        "georep_wal_bytes_written_total",
        "georep_write_bytes_total{collection=\"orders\",region=\"r1\"} 5",
    ] {
        assert!(text.contains(metric), "missing {metric} in:\n{text}");
    }
    f.node.unwrap().shutdown().await;
}

/// Random garbage in every request field never yields a 5xx, a non-JSON error or a dead node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_request_input_never_breaks_the_node() {
    let f = fixture().await;
    let mut rng = 0x2545_F491_4F6C_DD1Du64; // pinned seed: failures replay exactly
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let pick = |n: u64, r: u64| (r % n) as usize;
    let header_values = [
        "",
        " ",
        "strong",
        "STRONG ",
        "x",
        "0",
        "-1",
        "99999999999999999999999",
        "*",
        "\"1\"",
        "Ω",
        "bounded_staleness",
    ];
    for i in 0..400 {
        let mut bytes = Vec::new();
        for _ in 0..pick(40, next()) {
            bytes.push((next() & 0xff) as u8);
        }
        let key: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let collection = ["orders", "c", "Bad", "x.y", "%00", "-a"][pick(6, next())];
        let path = match pick(4, next()) {
            0 => format!("/v1/collections/{collection}/docs/{key}"),
            1 => format!(
                "/v1/collections/{collection}/docs?prefix={key}&limit={}",
                next() % 2000
            ),
            2 => format!("/v1/collections/{collection}/docs/{key}/extra"),
            _ => format!("/v1/{key}"),
        };
        let method = [
            hyper::Method::GET,
            hyper::Method::PUT,
            hyper::Method::DELETE,
            hyper::Method::POST,
        ][pick(4, next())]
        .clone();
        let token: String = (0..pick(60, next()))
            .map(|_| (b'A' + (next() % 26) as u8) as char)
            .collect();
        let mut headers: Vec<(&str, String)> = vec![
            (
                "x-georep-consistency",
                header_values[pick(header_values.len() as u64, next())].to_string(),
            ),
            ("x-georep-session-token", token),
        ];
        if next() % 2 == 0 {
            headers.push((
                "if-match",
                header_values[pick(header_values.len() as u64, next())].to_string(),
            ));
        }
        if next() % 3 == 0 {
            headers.push((
                "x-georep-max-staleness-ms",
                header_values[pick(header_values.len() as u64, next())].to_string(),
            ));
        }
        if next() % 2 == 0 {
            headers.push(("content-type", "application/json".into()));
        }
        let h: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(_, v)| v.is_ascii())
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let body = Bytes::from(bytes.clone());
        let r = f
            .client
            .request(method.clone(), &path, &h, body)
            .await
            .unwrap();
        assert!(
            r.status.as_u16() < 500,
            "request {i} {method} {path} {h:?} -> {} {:?}",
            r.status,
            r.body
        );
        if r.status.is_client_error() {
            assert!(
                r.error_code().is_some(),
                "request {i}: error body not JSON: {:?}",
                r.body
            );
        }
    }
    let r = f.client.get("orders", "still-alive", &[]).await.unwrap();
    assert_eq!(r.status, 404);
    f.node.unwrap().shutdown().await;
}
