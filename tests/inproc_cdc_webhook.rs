//! The HTTP webhook sink (issue 17), in one process (`support::inproc`) against a real
//! HTTP receiver on loopback that refuses the first batches with 503: the sink retries with
//! backoff and never skips, each batch carries the slot and its position in headers and is
//! signed with the sink's secret (checked here with HMAC-SHA256 computed independently),
//! and every change arrives (at least once, in order per key).

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use georep::cdc::encoding::Format;
use georep::group::GroupId;
use hyper::Method;
use serde_json::json;
use support::cluster::FAST;
use support::inproc::InProcCluster;
use support::{call, phase};

#[derive(Default)]
struct Receiver {
    /// Requests answered 503 so far, and how many to refuse.
    refused: usize,
    refuse_first: usize,
    /// Accepted batches: (georep-slot, georep-slot-position, body).
    accepted: Vec<(String, String, Bytes)>,
    /// georep-signature of each accepted batch.
    signatures: Vec<String>,
}

const SECRET: &str = "0123456789abcdef0123456789abcdef-webhook";

/// HMAC-SHA256 over "<t>." ++ body, as the receiver computes it, in hex.
fn expected_mac(secret: &[u8], t: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    m.update(t.as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sink_retries_refused_batches_and_delivers_every_change() {
    let state = Arc::new(Mutex::new(Receiver {
        refuse_first: 3,
        ..Receiver::default()
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = {
        let state = state.clone();
        axum::Router::new().route(
            "/hook/in",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let mut s = state.lock().unwrap();
                    if s.refused < s.refuse_first {
                        s.refused += 1;
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
                    let signature = h("georep-signature");
                    s.accepted
                        .push((h("georep-slot"), h("georep-slot-position"), body));
                    s.signatures.push(signature);
                    StatusCode::NO_CONTENT
                }
            }),
        )
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let sinks = format!(
        "[[sinks]]\nslot = \"s\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook/in\"\n\
         secret_file = {:?}\n",
        secret_file.display().to_string()
    );
    let c = InProcCluster::start(dir.path(), &format!("{FAST}{sinks}")).await;
    c.leader(GroupId::DEFAULT_DATA, Duration::from_secs(20))
        .await;
    let (s, v) = call(
        &c.client(0),
        Method::POST,
        "/v1/slots",
        json!({"name": "s", "collections": ["c"]}),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    phase("200 writes; the receiver refuses the first three batches");
    for i in 0..200 {
        support::put_n(&c.client(i % 3), "c", i as u64).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let keys = loop {
        let keys: BTreeSet<String> = {
            let s = state.lock().unwrap();
            s.accepted
                .iter()
                .flat_map(|(_, _, body)| Format::Json.decode(body).unwrap())
                .map(|e| e.key)
                .collect()
        };
        if keys.len() == 200 {
            break keys;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 200 keys arrived",
            keys.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(keys, (0..200).map(|i| format!("k{i}")).collect());
    let s = state.lock().unwrap();
    assert_eq!(
        s.refused, 3,
        "the refused batches were retried, not skipped"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for ((_, _, body), signature) in s.accepted.iter().zip(&s.signatures) {
        let (t, mac) = signature
            .strip_prefix("t=")
            .and_then(|r| r.split_once(",v1="))
            .unwrap_or_else(|| panic!("{signature}"));
        let t_ms: u64 = t.parse().unwrap();
        assert!(now.abs_diff(t_ms) < 60_000, "signed now: {t_ms} vs {now}");
        assert_eq!(
            mac,
            expected_mac(SECRET.as_bytes(), t, body),
            "the body's MAC"
        );
        assert_ne!(
            mac,
            expected_mac(b"another secret, another sender...", t, body)
        );
        georep::cdc::sink::signature::verify(SECRET.as_bytes(), signature, body, now, 60_000)
            .unwrap();
    }
    for (slot, position, body) in &s.accepted {
        assert_eq!(slot, "s");
        let events = Format::Json.decode(body).unwrap();
        // the header is the batch's frontier: at or past its last event
        let frontier: georep::cdc::Position = position.parse().unwrap();
        assert!(
            frontier.covers(&events.last().unwrap().position),
            "{position}"
        );
    }
    let errors = support::metric_lines(
        &c.client(c.leader(GroupId::META, Duration::from_secs(5)).await),
        "georep_cdc_sink_errors_total",
    )
    .await;
    assert!(
        errors.iter().any(|l| !l.ends_with(" 0")),
        "the refusals are counted: {errors:?}"
    );
}
