//! The NATS JetStream sink (issue 17) against a real `nats-server -js`, with real georep
//! processes in three regions: two slots pushed by `[[sinks]]` (JSON and Protobuf), writes
//! before, during a NATS outage, and after the region running the sinks is killed. Every
//! change reaches its stream once per `Nats-Msg-Id` (the event's position), none is missing,
//! and the Protobuf messages decode with the published schema's types. The server requires
//! a token, which the sinks present from their `token_file`.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::cdc::encoding::Format;
use hyper::Method;
use serde_json::json;
use support::cluster::{Cluster, FAST};
use support::nats::NatsServer;
use support::phase;

async fn write(c: &Cluster, from: usize, to: usize) {
    for i in from..to {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let live = c.live();
            let r = c
                .client(live[i % live.len()])
                .put(
                    "c",
                    &format!("k{i}"),
                    Bytes::from(json!({"n": i}).to_string()),
                    &[],
                )
                .await;
            match r {
                Ok(r) if r.status.is_success() => break,
                // a 503 while a new leader is elected: the write was not taken, retry
                Ok(r) if r.status == 503 => {}
                Ok(r) => panic!("k{i}: {} {}", r.status, String::from_utf8_lossy(&r.body)),
                Err(_) => {}
            }
            assert!(Instant::now() < deadline, "k{i} never written");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every message in `stream`, as (Nats-Msg-Id, payload).
async fn messages(nats: &NatsServer, stream: &str) -> Vec<(String, Bytes)> {
    let js = async_nats::jetstream::new(nats.connect().await.unwrap());
    let mut s = js.get_stream(stream).await.unwrap();
    let last = s.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let m = s.get_raw_message(seq).await.unwrap();
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_string())
            .expect("every message carries its position");
        out.push((id, m.payload));
    }
    out
}

async fn wait_for(nats: &NatsServer, stream: &str, n: usize) -> Vec<(String, Bytes)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(client) = nats.connect().await {
            let js = async_nats::jetstream::new(client);
            if let Ok(mut s) = js.get_stream(stream).await
                && let Ok(info) = s.info().await
                && info.state.messages as usize >= n
            {
                return messages(nats, stream).await;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{stream} never held {n} messages"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Which region runs the sinks (its `georep_cdc_sink_running` is 1).
async fn runner(c: &Cluster) -> Option<usize> {
    for i in c.live() {
        let lines = support::metric_lines(&c.client(i), "georep_cdc_sink_running").await;
        if lines.iter().any(|l| l.ends_with(" 1")) {
            return Some(i);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_jetstream_once_across_outages_and_a_killed_runner() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = NatsServer::start(dir.path());
    assert!(
        async_nats::connect(nats.url()).await.is_err(),
        "the server refuses a client without its token"
    );
    std::fs::write(dir.path().join("nats.token"), format!("{}\n", nats.token)).unwrap();
    let sinks = format!(
        "[[sinks]]\nslot = \"s\"\nkind = \"nats\"\nurl = \"{url}\"\nsubject = \"georep.s\"\n\
         token_file = \"nats.token\"\n\
         [[sinks]]\nslot = \"p\"\nkind = \"nats\"\nurl = \"{url}\"\nsubject = \"georep.p\"\n\
         token_file = \"nats.token\"\n",
        url = nats.url()
    );
    let mut c = Cluster::start(dir.path(), &format!("{FAST}{sinks}")).await;
    c.leader("default", Duration::from_secs(30)).await;
    for body in [
        json!({"name": "s", "collections": ["c"]}),
        json!({"name": "p", "collections": ["c"], "ops": ["insert"], "format": "protobuf"}),
    ] {
        let r = c
            .client(1)
            .request(
                Method::POST,
                "/v1/slots",
                &[],
                Bytes::from(body.to_string()),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }

    phase("300 writes reach both streams");
    write(&c, 0, 300).await;
    wait_for(&nats, "georep-s", 300).await;

    phase("NATS down for 300 writes, then back on the same store");
    nats.stop();
    write(&c, 300, 600).await;
    nats.restart();
    wait_for(&nats, "georep-s", 600).await;

    phase("the region running the sinks killed; another takes over from the confirmed position");
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some(i) = runner(&c).await {
            break i;
        }
        assert!(Instant::now() < deadline, "no region runs the sinks");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    c.kill9(first);
    write(&c, 600, 900).await;
    let got = wait_for(&nats, "georep-s", 900).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while runner(&c).await.is_none_or(|i| i == first) {
        assert!(
            Instant::now() < deadline,
            "no other region took the sinks over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // every Nats-Msg-Id once (the stream dropped what was sent again), every key inserted once
    let ids: HashSet<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), got.len(), "a Nats-Msg-Id stored twice");
    let mut inserted = BTreeSet::new();
    for (id, payload) in &got {
        let e = Format::Json.decode_one(payload).unwrap();
        assert_eq!(
            &e.position.to_string(),
            id,
            "the message id is the event's position"
        );
        if e.op == georep::cdc::Op::Insert {
            assert!(inserted.insert(e.key.clone()), "{} inserted twice", e.key);
        }
    }
    assert_eq!(
        inserted,
        (0..900).map(|i| format!("k{i}")).collect::<BTreeSet<_>>()
    );

    phase("the Protobuf slot's stream: the same inserts, decoded with the published types");
    let protobuf = wait_for(&nats, "georep-p", 900).await;
    let keys: BTreeSet<String> = protobuf
        .iter()
        .map(|(_, p)| Format::Protobuf.decode_one(p).unwrap().key)
        .collect();
    assert_eq!(keys, inserted);
    assert_eq!(protobuf.len(), 900, "inserts only, each once");
    c.restart(first).await;
}
