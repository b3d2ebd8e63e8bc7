//! Change data capture end to end (issue 17): three georep regions on loopback, 32 writers
//! putting 256-byte JSON documents through the default group's leader for a fixed time,
//! with 0, 1 and 4 active slots, each drained by a consumer against a follower region
//! (long-poll reads of up to 1,000 events after its own position, `?after=`, and an ack of
//! that position every 100 ms). Reports, per round: writes/s, the cost
//! against 0 slots, events/s the consumers read, and with slots the delivery latency, from a
//! write's acknowledgement to its event reaching a consumer (p50/p99/p99.9; the "commit ->
//! consumer" time, which contains the "commit -> enqueue" step: the change row is written in
//! the write's own apply transaction, see `cargo bench --bench cdc_capture`). Then a catch-up
//! read: a slot created before the writes, read from its start, in events/s and MB/s of
//! NDJSON.
//!
//! `cargo bench --bench cdc_slots`; `GEOREP_BENCH_SECS` per round (default 8).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::cdc::encoding::Format;
use georep::client::Client;
use hyper::Method;
use support::cluster::{Cluster, FAST};

fn pct(v: &[u64], p: f64) -> u64 {
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

async fn create(c: &Client, name: &str) {
    let body = serde_json::json!({"name": name, "collections": ["bench"]}).to_string();
    let r = c
        .request(Method::POST, "/v1/slots", &[], Bytes::from(body))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

/// Reads `slot` after its own position until `stop`, acknowledging that position every
/// 100 ms (a consumer's checkpoint, as Debezium and Kafka consumers commit offsets); notes
/// when each key's event arrived.
async fn consume(
    c: Client,
    slot: String,
    stop: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
    arrived: Option<Arc<Mutex<HashMap<String, Instant>>>>,
) {
    let mut position: Option<String> = None;
    let mut acked_at = Instant::now();
    let mut acked: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let path = match &position {
            Some(p) => format!("/v1/slots/{slot}/changes?max=1000&wait_ms=200&after={p}"),
            None => format!("/v1/slots/{slot}/changes?max=1000&wait_ms=200"),
        };
        let Ok(r) = c.request(Method::GET, &path, &[], Bytes::new()).await else {
            continue;
        };
        let now = Instant::now();
        let Some(frontier) = r.header("georep-slot-position").map(str::to_string) else {
            continue;
        };
        let batch = Format::Json.decode(&r.body).unwrap();
        events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Some(a) = &arrived {
            let mut a = a.lock().unwrap();
            for e in &batch {
                a.entry(e.key.clone()).or_insert(now);
            }
        }
        position = Some(frontier);
        if acked_at.elapsed() >= Duration::from_millis(100) && acked != position {
            let body = serde_json::json!({ "position": position }).to_string();
            let _ = c
                .request(
                    Method::POST,
                    &format!("/v1/slots/{slot}/ack"),
                    &[],
                    Bytes::from(body),
                )
                .await;
            acked_at = Instant::now();
            acked = position.clone();
        }
    }
}

struct Round {
    writes_per_s: f64,
    events_per_s: f64,
    latency_ms: Option<(f64, f64, f64)>,
}

async fn round(
    c: &Cluster,
    leader: usize,
    reader: usize,
    slots: usize,
    tag: &str,
    secs: u64,
) -> Round {
    let names: Vec<String> = (0..slots).map(|i| format!("{tag}-{i}")).collect();
    for n in &names {
        create(&c.client(reader), n).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let consumers: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            tokio::spawn(consume(
                c.client(reader).with_timeout(Duration::from_secs(30)),
                n.clone(),
                stop.clone(),
                events.clone(),
                (i == 0).then(|| arrived.clone()),
            ))
        })
        .collect();
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let end = Instant::now() + Duration::from_secs(secs);
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let (client, acked, tag) = (c.client(leader), acked.clone(), tag.to_string());
            tokio::spawn(async move {
                let value = Bytes::from(format!("{{\"n\":1,\"pad\":\"{}\"}}", "x".repeat(240)));
                let mut i = 0u64;
                while Instant::now() < end {
                    let key = format!("{tag}-{w}-{i}");
                    i += 1;
                    if let Ok(r) = client.put("bench", &key, value.clone(), &[]).await
                        && r.status.is_success()
                    {
                        acked.lock().unwrap().insert(key, Instant::now());
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    for w in writers {
        w.await.unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    // let the consumers catch up before stopping them
    let written = acked.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while slots > 0
        && (events.load(Ordering::Relaxed) as usize) < written * slots
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in consumers {
        t.await.unwrap();
    }
    let latency_ms = (slots > 0).then(|| {
        let (acked, arrived) = (acked.lock().unwrap(), arrived.lock().unwrap());
        let mut us: Vec<u64> = acked
            .iter()
            .filter_map(|(k, at)| {
                arrived
                    .get(k)
                    .map(|got| got.saturating_duration_since(*at).as_micros() as u64)
            })
            .collect();
        us.sort_unstable();
        let ms = |p| pct(&us, p) as f64 / 1000.0;
        (ms(0.5), ms(0.99), ms(0.999))
    });
    Round {
        writes_per_s: written as f64 / took,
        events_per_s: events.load(Ordering::Relaxed) as f64 / drained,
        latency_ms,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs: u64 = std::env::var("GEOREP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start_direct(dir.path(), FAST).await;
    let leader = c.leader("default", Duration::from_secs(30)).await;
    let reader = (leader + 1) % 3;
    // the catch-up slot starts before every write and is read at the end
    create(&c.client(reader), "catchup").await;

    let mut base = None;
    for slots in [0usize, 1, 4] {
        let r = round(&c, leader, reader, slots, &format!("s{slots}"), secs).await;
        let base_w = *base.get_or_insert(r.writes_per_s);
        let cost = (1.0 - r.writes_per_s / base_w) * 100.0;
        match r.latency_ms {
            Some((p50, p99, p999)) => println!(
                "slots={slots}: {:.0} writes/s (cost {cost:.1}% against 0 slots), consumers read {:.0} events/s, \
                 write ack -> event at a consumer p50 {p50:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms",
                r.writes_per_s, r.events_per_s
            ),
            None => println!("slots=0: {:.0} writes/s", r.writes_per_s),
        }
    }

    let client = c.client(reader).with_timeout(Duration::from_secs(60));
    let (mut events, mut bytes) = (0usize, 0usize);
    let started = Instant::now();
    loop {
        let r = client
            .request(
                Method::GET,
                "/v1/slots/catchup/changes?max=10000",
                &[],
                Bytes::new(),
            )
            .await
            .unwrap();
        let frontier = r.header("georep-slot-position").unwrap().to_string();
        let n = r
            .body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        events += n;
        bytes += r.body.len();
        let body = serde_json::json!({ "position": frontier }).to_string();
        client
            .request(
                Method::POST,
                "/v1/slots/catchup/ack",
                &[],
                Bytes::from(body),
            )
            .await
            .unwrap();
        if r.header("georep-slot-more") != Some("true") && n == 0 {
            break;
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "catch-up: {events} events ({:.1} MB NDJSON) in {took:.2} s: {:.0} events/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        events as f64 / took,
        bytes as f64 / 1e6 / took
    );
}
