use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use prometheus::Registry;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::*;

fn regions() -> Vec<String> {
    ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
}

/// Identities for `names` under one fresh CA, written and loaded through the real files.
fn identities(cluster: &str, names: &[&str]) -> (tempfile::TempDir, Vec<NodeIdentity>) {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    init_certs(dir.path(), cluster, &names, &[]).unwrap();
    let ids = names
        .iter()
        .map(|n| load_identity(dir.path(), n).unwrap())
        .collect();
    (dir, ids)
}

/// A node's clock, `offset_ms` off true time.
fn clocks(region: &str, offset_ms: i64, metrics: &TransportMetrics) -> Arc<PeerClocks> {
    let hlc = Arc::new(crate::clock::Hlc::new(
        crate::clock::node_id_for_region(region),
        500,
    ));
    hlc.physical()
        .offset()
        .store(offset_ms, std::sync::atomic::Ordering::Relaxed);
    Arc::new(PeerClocks::new(hlc, Some(metrics.clone())))
}

/// An echo node: answers `<its region>:<caller region>:<request>`; "fail" gets an error.
fn node(id: &NodeIdentity, metrics: &TransportMetrics) -> (Arc<Transport>, SocketAddr) {
    node_at(id, metrics, 0)
}

fn node_at(
    id: &NodeIdentity,
    metrics: &TransportMetrics,
    offset_ms: i64,
) -> (Arc<Transport>, SocketAddr) {
    let me = id.region.clone();
    let handler: Handler = Arc::new(move |from: Inbound, req: Bytes| {
        let from = from.peer;
        let me = me.clone();
        Box::pin(async move {
            if req.as_ref() == b"fail" {
                return Err(rpc::RpcError::Refused {
                    reason: "asked to fail".into(),
                });
            }
            let mut out = format!("{me}:{from}:").into_bytes();
            out.extend_from_slice(&req);
            Ok(Bytes::from(out))
        })
    });
    let t = Transport::bind(
        "127.0.0.1:0".parse().unwrap(),
        id,
        regions(),
        metrics.clone(),
        clocks(&id.region, offset_ms, metrics),
        handler,
    )
    .unwrap();
    let addr = t.local_addr().unwrap();
    (t, addr)
}

fn metrics() -> (Registry, TransportMetrics) {
    let r = Registry::new();
    let m = TransportMetrics::register(&r).unwrap();
    (r, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_call_each_other_and_see_verified_regions() {
    let (_dir, ids) = identities("t", &["a", "b"]);
    let (ma, mb) = (metrics().1, metrics().1);
    let (ta, addr_a) = node(&ids[0], &ma);
    let (tb, addr_b) = node(&ids[1], &mb);
    assert_eq!(
        ta.call("b", addr_b, b"ping").await.unwrap(),
        Bytes::from_static(b"b:a:ping")
    );
    assert_eq!(
        tb.call("a", addr_a, b"pong").await.unwrap(),
        Bytes::from_static(b"a:b:pong")
    );
    // the connection is reused, and handler errors come back as Remote errors
    assert_eq!(
        ta.call("b", addr_b, b"again").await.unwrap(),
        Bytes::from_static(b"b:a:again")
    );
    match ta.call("b", addr_b, b"fail").await {
        Err(TransportError::Remote { peer, error }) => {
            assert_eq!(peer, "b");
            assert_eq!(
                error,
                rpc::RpcError::Refused {
                    reason: "asked to fail".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }
    // many concurrent RPCs on one connection
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let ta = ta.clone();
            tokio::spawn(async move { ta.call("b", addr_b, format!("{i}").as_bytes()).await })
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        assert_eq!(c.await.unwrap().unwrap(), Bytes::from(format!("b:a:{i}")));
    }
    assert!(ma.rtt_seconds.with_label_values(&["b"]).get() > 0.0);
    ta.close();
    tb.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_are_compressed_on_the_wire() {
    let (_dir, ids) = identities("t", &["a", "b"]);
    let (ma, mb) = (metrics().1, metrics().1);
    let (ta, _) = node(&ids[0], &ma);
    let (_tb, addr_b) = node(&ids[1], &mb);
    let batch: Vec<u8> = br#"{"index":1,"term":3,"op":"put","key":"orders/o-1"}"#
        .iter()
        .cycle()
        .take(4 << 20)
        .copied()
        .collect();
    let resp = ta.call("b", addr_b, &batch).await.unwrap();
    assert_eq!(&resp[..6], b"b:a:{\"");
    assert_eq!(resp.len(), batch.len() + 4);
    let plain = ma.bytes_out.with_label_values(&["b", "plain"]).get();
    let wire = ma.bytes_out.with_label_values(&["b", "wire"]).get();
    assert_eq!(plain, batch.len() as u64);
    assert!(wire * 10 < plain, "{wire} wire bytes for {plain} plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_cannot_join() {
    let (_d1, ids) = identities("t", &["a", "b"]);
    let (_d2, foreign) = identities("other", &["c"]);
    let (mb_reg, mb) = metrics();
    let (_tb, addr_b) = node(&ids[1], &mb);
    let (tc, addr_c) = node(&foreign[0], &metrics().1);

    // the intruder dialling in fails the handshake (b does not trust its CA)...
    let err = tc.call("b", addr_b, b"let me in").await.unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err}");
    // ...and b dialling the intruder fails too (its server certificate is untrusted)
    let (ta, _) = node(&ids[0], &metrics().1);
    assert!(matches!(
        ta.call("c", addr_c, b"hello?").await,
        Err(TransportError::Connect { .. })
    ));

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        mb.refused.with_label_values(&["tls"]).get() >= 1,
        "refusal counted"
    );
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&mb_reg.gather())
        .unwrap();
    assert!(
        text.contains("georep_peer_connections_refused_total{reason=\"tls\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_for_other_regions_are_refused() {
    // same CA, but "x" is not a region of this topology
    let (_dir, ids) = identities("t", &["a", "b", "x"]);
    let mb = metrics().1;
    let (_tb, addr_b) = node(&ids[1], &mb);
    let (tx, _) = node(&ids[2], &metrics().1);
    let err = tx.call("b", addr_b, b"hi").await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Rpc { .. } | TransportError::Connect { .. }
        ),
        "{err}"
    );
    assert_eq!(mb.refused.with_label_values(&["unknown_region"]).get(), 1);

    // dialling "c" at b's address: b's certificate is not valid for "c", so the client refuses
    let (ta, _) = node(&ids[0], &metrics().1);
    let err = ta.call("c", addr_b, b"hi").await.unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn certs_init_writes_files_and_refuses_to_overwrite_a_ca() {
    let dir = tempfile::tempdir().unwrap();
    let written = init_certs(dir.path(), "t", &regions(), &[]).unwrap();
    assert_eq!(written.len(), 2 + 4 * 3);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("a.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(init_certs(dir.path(), "t", &regions(), &[]).is_err());
    let id = load_identity(dir.path(), "b").unwrap();
    assert_eq!(regions_of(&id.chain[0], &regions()), ["b"]);
    assert!(matches!(
        load_identity(dir.path(), "zz"),
        Err(TransportError::Certs { .. })
    ));
    // the API certificate: the region's name and loopback, and no peer identity of another region
    let api = CertificateDer::from_pem_file(dir.path().join("b.api.pem")).unwrap();
    assert_eq!(regions_of(&api, &regions()), ["b"]);
    let ee = webpki::EndEntityCert::try_from(&api).unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let name = rustls_pki_types::ServerName::try_from(host).unwrap();
        assert!(ee.verify_is_valid_for_subject_name(&name).is_ok(), "{host}");
    }
}

/// QUIC through the WAN relay: the emulated RTT shows in QUIC's own estimate, a partition
/// stalls calls, and healing lets the same connection carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_through_the_wan_relay_sees_delay_and_partitions() {
    use std::time::{Duration, Instant};

    use crate::wan::{LinkConditions, Relay};

    let (_dir, ids) = identities("t", &["a", "b"]);
    let ma = metrics().1;
    let (ta, _) = node(&ids[0], &ma);
    let (_tb, addr_b) = node(&ids[1], &metrics().1);
    let link = LinkConditions::from_rtt(60, 0, 0.0);
    let relay = Relay::start("127.0.0.1:0".parse().unwrap(), addr_b, link, link)
        .await
        .unwrap();

    ta.call("b", relay.addr(), b"warm").await.unwrap();
    let started = Instant::now();
    ta.call("b", relay.addr(), b"timed").await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(60),
        "one RPC is at least one RTT: {took:?}"
    );
    assert!(ma.rtt_seconds.with_label_values(&["b"]).get() >= 0.055);

    relay.partition(true);
    let stalled = tokio::time::timeout(
        Duration::from_millis(500),
        ta.call("b", relay.addr(), b"cut"),
    )
    .await;
    assert!(stalled.is_err(), "no answer across a partition");
    relay.partition(false);
    let resp = tokio::time::timeout(
        Duration::from_secs(5),
        ta.call("b", relay.addr(), b"healed"),
    )
    .await;
    assert_eq!(
        resp.expect("answers after healing").unwrap(),
        Bytes::from_static(b"b:a:healed")
    );
}

/// A peer that is down is redialled with growing, jittered pauses; calls in between fail
/// fast, and the first success resets the backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peers_are_redialled_with_backoff() {
    use std::time::{Duration, Instant};

    let (_dir, ids) = identities("t", &["a", "b"]);
    let (ta, _) = node(&ids[0], &metrics().1);
    // b is not running yet: its port is taken by a plain UDP socket that never answers
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr_b = silent.local_addr().unwrap();
    drop(silent);

    let first = tokio::time::timeout(Duration::from_secs(15), ta.call("b", addr_b, b"x"))
        .await
        .expect("dial gives up");
    assert!(
        matches!(first, Err(TransportError::Connect { .. })),
        "{first:?}"
    );
    let started = Instant::now();
    let fast = ta.call("b", addr_b, b"x").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(20),
        "fails fast while backing off"
    );
    assert!(fast.to_string().contains("next attempt in"), "{fast}");

    // b comes up on that address; after the backoff the call goes through and resets it
    let mb = metrics().1;
    let handler: Handler = Arc::new(|from: Inbound, req: Bytes| {
        let from = from.peer;
        Box::pin(async move {
            Ok(Bytes::from(
                [b"b:".as_ref(), from.as_bytes(), b":".as_ref(), &req].concat(),
            ))
        })
    });
    let cb = clocks("b", 0, &mb);
    let _tb = Transport::bind(addr_b, &ids[1], regions(), mb, cb, handler).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        ta.call("b", addr_b, b"up").await.unwrap(),
        Bytes::from_static(b"b:a:up")
    );
    // the backoff was reset: the connection is live and calls answer at once
    let started = Instant::now();
    assert_eq!(
        ta.call("b", addr_b, b"again").await.unwrap(),
        Bytes::from_static(b"b:a:again")
    );
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn backoff_grows_with_jitter_and_caps() {
    use super::endpoint::backoff_after as b;
    for failures in 0..20 {
        let d = b(failures);
        let full = std::time::Duration::from_millis(100)
            .saturating_mul(1 << failures.min(16))
            .min(std::time::Duration::from_secs(5));
        assert!(
            d >= full / 2 && d <= full,
            "{failures}: {d:?} outside [{:?}, {full:?}]",
            full / 2
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_clock_is_too_far_ahead_is_refused_both_ways_and_counted() {
    let (_dir, ids) = identities("t", &["a", "b", "c"]);
    let (ra, ma) = metrics();
    let (rb, mb) = metrics();
    let (_rc, mc) = metrics();
    let (ta, addr_a) = node_at(&ids[0], &ma, 0);
    let (tb, addr_b) = node_at(&ids[1], &mb, 2_000); // b runs 2 s ahead
    let (tc, addr_c) = node_at(&ids[2], &mc, 300); // c runs 300 ms ahead: within 500
    let a_wall = ta.clocks().wall_ms();

    // b's requests carry a clock 2 s ahead: a refuses them before handling
    let err = tb.call("a", addr_a, b"hi").await.unwrap_err();
    assert!(
        matches!(
            &err,
            TransportError::Remote {
                error: rpc::RpcError::ClockSkew { .. },
                ..
            }
        ),
        "{err}"
    );
    // a's request reaches b, but b's answer is stamped 2 s ahead: a refuses the answer
    let err = ta.call("b", addr_b, b"hi").await.unwrap_err();
    assert!(matches!(err, TransportError::ClockSkew { .. }), "{err}");
    assert!(
        ta.clocks().hlc().last().physical_ms() < a_wall + 1_000,
        "a's clock was not dragged forward"
    );
    let refused = |r: &Registry| {
        r.gather()
            .iter()
            .find(|f| f.name() == "georep_clock_skew_refusals_total")
            .map(|f| {
                f.get_metric()
                    .iter()
                    .map(|m| m.get_counter().get_value())
                    .sum::<f64>()
            })
            .unwrap_or(0.0)
    };
    assert_eq!(refused(&ra), 2.0);
    assert_eq!(
        refused(&rb),
        0.0,
        "b sees the others behind, which is no refusal"
    );
    let b_seen = ta.clocks().snapshot();
    let (_, b_clock) = b_seen.iter().find(|(p, _)| p == "b").unwrap();
    assert!((1_800..=2_200).contains(&b_clock.offset_ms), "{b_clock:?}");

    // c, 300 ms ahead, is served; a merges its clock and measures the offset
    assert_eq!(&ta.call("c", addr_c, b"x").await.unwrap()[..], b"c:a:x");
    assert_eq!(&tc.call("a", addr_a, b"y").await.unwrap()[..], b"a:c:y");
    let c_seen = ta.clocks().snapshot();
    let (_, c_clock) = c_seen.iter().find(|(p, _)| p == "c").unwrap();
    assert!((200..=400).contains(&c_clock.offset_ms), "{c_clock:?}");
    assert!(ta.clocks().hlc().now().physical_ms() >= tc.clocks().wall_ms() - 100);
}
