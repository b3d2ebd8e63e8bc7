//! Change data capture end to end, with real processes in three regions through the WAN
//! relays (issue 17): 10,000 inserts, updates and deletes over four collections in two
//! groups, written through every region; slots filtered by collection pattern and op type,
//! and by a row predicate, deliver exactly the matching changes, in each key's write order,
//! with insert and update told apart and the before images. Then a consumer that read
//! without acknowledging, a pause with writes behind it, and the serving node killed: the
//! consumer resumes in another region from the confirmed position with no gap, duplicates
//! only after its last ack.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::cdc::encoding::Format;
use georep::client::Client;
use hyper::Method;
use serde_json::{Value, json};
use support::cluster::{Cluster, FAST};
use support::{call, phase};

const ORDERS: &str = "[[collections]]\nname = \"orders\"\ntier = \"critical\"\n\
                      regions = [\"r1\", \"r2\", \"r3\"]\n";
const COLLECTIONS: [&str; 4] = ["orders", "tenant-acme", "tenant-zeta", "users"];

/// One read in the slot's format: its events (decoded as the format says, then shown as
/// JSON) and the batch's frontier.
async fn read_as(
    c: &Client,
    slot: &str,
    max: usize,
    wait_ms: u64,
    format: Format,
) -> (Vec<Value>, String) {
    let r = c
        .request(
            Method::GET,
            &format!("/v1/slots/{slot}/changes?max={max}&wait_ms={wait_ms}"),
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some(format.content_type()));
    let frontier = r.header("georep-slot-position").unwrap().to_string();
    let events = format
        .decode(&r.body)
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    (events, frontier)
}

/// One read of a JSON slot: the events and the batch's frontier.
async fn read(c: &Client, slot: &str, max: usize, wait_ms: u64) -> (Vec<Value>, String) {
    read_as(c, slot, max, wait_ms, Format::Json).await
}

/// Asserts that the request is refused with `status` and `code`.
async fn refused(c: &Client, method: Method, path: &str, body: Value, status: u16, code: &str) {
    let (s, v) = call(c, method, path, body).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (status, Some(code)),
        "{path}: {v}"
    );
}

async fn ack(c: &Client, slot: &str, position: &str) {
    let (s, v) = call(
        c,
        Method::POST,
        &format!("/v1/slots/{slot}/ack"),
        json!({ "position": position }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

/// Reads and acknowledges until `want` events arrived, then once more to see nothing else.
async fn drain(c: &Client, slot: &str, want: usize) -> Vec<Value> {
    drain_as(c, slot, want, Format::Json).await
}

async fn drain_as(c: &Client, slot: &str, want: usize, format: Format) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = Vec::new();
    loop {
        let (events, frontier) = read_as(c, slot, 1000, 1000, format).await;
        ack(c, slot, &frontier).await;
        let done = events.is_empty() && out.len() >= want;
        out.extend(events);
        if done {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{slot}: {} of {want} events",
            out.len()
        );
    }
}

/// What the model says one acknowledged write did.
#[derive(Debug, Clone, PartialEq)]
struct Change {
    op: &'static str,
    collection: &'static str,
    key: String,
    before_n: Option<u64>,
    after_n: Option<u64>,
    tenant: &'static str,
}

fn tenant_of(collection: &str, key: &str) -> &'static str {
    match collection {
        "tenant-acme" => "acme",
        "tenant-zeta" => "zeta",
        _ if key.len() % 2 == 0 => "acme",
        _ => "zeta",
    }
}

/// `writers` tasks, each alone on its keys, each through its own region, `per_writer` writes:
/// every key's changes in the order they were acknowledged.
async fn workload(c: &Cluster, writers: usize, per_writer: usize) -> Vec<Change> {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (client, out) = (c.client(w % 3), out.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (w as u64 + 1);
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut held: HashMap<(usize, usize), u64> = HashMap::new();
            for i in 0..per_writer {
                let (ci, kj) = ((next() % 4) as usize, (next() % 6) as usize);
                let collection = COLLECTIONS[ci];
                let key = format!("w{w}-k{kj}");
                let tenant = tenant_of(collection, &key);
                let before = held.get(&(ci, kj)).copied();
                let n = (w * per_writer + i) as u64;
                let delete = before.is_some() && next() % 10 < 3;
                let r = if delete {
                    client.delete(collection, &key, &[]).await.unwrap()
                } else {
                    let v = json!({"tenant": tenant, "n": n}).to_string();
                    client
                        .put(collection, &key, Bytes::from(v), &[])
                        .await
                        .unwrap()
                };
                assert!(
                    r.status.is_success(),
                    "{collection}/{key}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                let change = Change {
                    op: match (delete, before) {
                        (true, _) => "delete",
                        (false, None) => "insert",
                        (false, Some(_)) => "update",
                    },
                    collection,
                    key,
                    before_n: before,
                    after_n: (!delete).then_some(n),
                    tenant,
                };
                if delete {
                    held.remove(&(ci, kj));
                } else {
                    held.insert((ci, kj), n);
                }
                out.lock().unwrap().push(change);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(out).unwrap().into_inner().unwrap()
}

fn observed(e: &Value) -> Change {
    let n = |v: &Value| v.get("n").and_then(Value::as_u64);
    let collection = COLLECTIONS
        .iter()
        .find(|c| **c == e["collection"])
        .unwrap_or_else(|| panic!("unexpected collection in {e}"));
    let doc = if e["op"] == "delete" {
        &e["before"]
    } else {
        &e["after"]
    };
    Change {
        op: match e["op"].as_str().unwrap() {
            "insert" => "insert",
            "update" => "update",
            "delete" => "delete",
            other => panic!("op {other}"),
        },
        collection,
        key: e["key"].as_str().unwrap().to_string(),
        before_n: n(&e["before"]),
        after_n: n(&e["after"]),
        tenant: if doc["tenant"] == "acme" {
            "acme"
        } else {
            "zeta"
        },
    }
}

/// Per key, the changes in order.
fn by_key(changes: impl IntoIterator<Item = Change>) -> BTreeMap<(String, String), Vec<Change>> {
    let mut m: BTreeMap<(String, String), Vec<Change>> = BTreeMap::new();
    for c in changes {
        m.entry((c.collection.to_string(), c.key.clone()))
            .or_default()
            .push(c);
    }
    m
}

async fn create(c: &Client, spec: Value) {
    let (s, v) = call(c, Method::POST, "/v1/slots", spec).await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_changes_reach_filtered_slots_exactly_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), &format!("{FAST}{ORDERS}")).await;
    c.leader("orders", Duration::from_secs(30)).await;

    phase("three slots, created in r1 before any write");
    create(&c.client(0), json!({"name": "all"})).await;
    create(
        &c.client(0),
        json!({"name": "narrow", "collections": ["orders", "tenant-*"],
               "exclude": ["tenant-zeta"], "ops": ["insert", "delete"]}),
    )
    .await;
    create(
        &c.client(0),
        json!({"name": "acme", "filter": "tenant == 'acme' and n >= 0"}),
    )
    .await;
    for format in ["protobuf", "avro"] {
        create(
            &c.client(0),
            json!({"name": format!("all-{format}"), "format": format}),
        )
        .await;
    }
    let (s, v) = call(&c.client(1), Method::GET, "/v1/slots/all", Value::Null).await;
    assert_eq!(s, 200, "{v}");
    let start = v["position"].as_str().unwrap().to_string();
    assert_eq!(
        start.split(',').count(),
        3,
        "the meta group (DDL events), the default group and orders': {v}"
    );

    phase("10,000 writes through every region, 16 writers");
    let started = Instant::now();
    let model = workload(&c, 16, 625).await;
    assert_eq!(model.len(), 10_000);
    println!("10,000 writes in {:?}", started.elapsed());
    let (s, v) = call(&c.client(1), Method::GET, "/v1/slots/all", Value::Null).await;
    assert_eq!(s, 200);
    assert!(v["backlog_changes"].as_u64().unwrap() > 0, "{v}");
    assert!(v["lag_entries"].as_u64().unwrap() > 0, "{v}");

    for (slot, region, keep) in [
        (
            "all",
            1,
            Box::new(|_: &Change| true) as Box<dyn Fn(&Change) -> bool>,
        ),
        (
            "narrow",
            2,
            Box::new(|c: &Change| {
                (c.collection == "orders" || c.collection == "tenant-acme") && c.op != "update"
            }),
        ),
        ("acme", 0, Box::new(|c: &Change| c.tenant == "acme")),
    ] {
        phase(&format!("slot {slot}, read from r{}", region + 1));
        let want = by_key(model.iter().filter(|c| keep(c)).cloned());
        let count: usize = want.values().map(Vec::len).sum();
        let started = Instant::now();
        let events = drain(&c.client(region), slot, count).await;
        println!("{slot}: {} events in {:?}", events.len(), started.elapsed());
        assert_eq!(events.len(), count, "{slot}: every matching change, once");
        let got = by_key(events.iter().map(observed));
        for (k, changes) in &want {
            assert_eq!(got.get(k), Some(changes), "{slot}: {k:?}");
        }
        assert_eq!(got.len(), want.len(), "{slot}: no other keys");
        // every event names where it happened
        let e = &events[0];
        assert!(e["source"]["region"].as_str().unwrap().starts_with('r'));
        assert!(e["source"]["hlc"].as_str().unwrap().contains('@'));
    }
    let (s, v) = call(&c.client(0), Method::GET, "/v1/slots/all", Value::Null).await;
    assert_eq!(s, 200);
    assert_eq!(v["backlog_changes"], 0, "{v}");

    phase("the same changes through the Protobuf and Avro slots decode to the same events");
    let json_events = drain(&c.client(1), "all", 0).await; // acknowledged: nothing left
    assert!(json_events.is_empty());
    let strip = |mut e: Value| {
        e.as_object_mut().unwrap().remove("position");
        e
    };
    let mut reference: Option<Vec<Value>> = None;
    for (slot, format) in [
        ("all-protobuf", Format::Protobuf),
        ("all-avro", Format::Avro),
    ] {
        let events: Vec<Value> = drain_as(&c.client(2), slot, 10_000, format)
            .await
            .into_iter()
            .map(strip)
            .collect();
        assert_eq!(events.len(), 10_000, "{slot}");
        match &reference {
            None => reference = Some(events),
            Some(r) => assert!(r == &events, "{slot} differs from all-protobuf"),
        }
    }
    let r = reference.unwrap();
    assert_eq!(
        by_key(r.iter().map(observed)),
        by_key(model.iter().cloned()),
        "what the binary formats carried is what was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_resumes_in_another_region_with_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), &format!("{FAST}{ORDERS}")).await;
    c.leader("orders", Duration::from_secs(30)).await;
    create(
        &c.client(0),
        json!({"name": "s", "collections": ["orders"]}),
    )
    .await;
    let write = |c: &Client, from: u64, to: u64| {
        let c = c.clone();
        async move {
            for i in from..to {
                support::put_n(&c, "orders", i).await;
            }
        }
    };
    write(&c.client(1), 0, 300).await;

    phase("a slot with an initial snapshot, then k0..k49 overwritten");
    create(
        &c.client(1),
        json!({"name": "snap", "collections": ["orders"], "initial_snapshot": true}),
    )
    .await;
    for i in 0..50u64 {
        let r = c
            .client(2)
            .put(
                "orders",
                &format!("k{i}"),
                Bytes::from(json!({"n": 1000 + i}).to_string()),
                &[],
            )
            .await
            .unwrap();
        assert!(r.status.is_success());
    }

    phase("bad reads and acks are refused, naming the field");
    for (path, code) in [
        ("/v1/slots/s/changes?max=0", "invalid_query"),
        ("/v1/slots/s/changes?wait_ms=999999", "invalid_query"),
        ("/v1/slots/s/changes?colour=1", "invalid_query"),
    ] {
        let (s, v) = call(&c.client(0), Method::GET, path, Value::Null).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{path}: {v}"
        );
    }
    let (_, frontier) = read(&c.client(0), "s", 1, 0).await;
    let group = frontier.split(':').next().unwrap().to_string();
    for (body, code) in [
        (json!({"position": "nonsense"}), "invalid_position"),
        (json!({"position": "424242:1:0"}), "invalid_position"),
        (
            json!({"position": format!("{group}:999999999:0")}),
            "position_ahead",
        ),
        (json!({"pos": "x"}), "invalid_body"),
    ] {
        let (s, v) = call(&c.client(0), Method::POST, "/v1/slots/s/ack", body.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {v}"
        );
    }
    let (s, v) = call(
        &c.client(0),
        Method::GET,
        "/v1/slots/nope/changes",
        Value::Null,
    )
    .await;
    assert_eq!(s, 404, "{v}");

    phase("read 100 in r1, ack the 50th; a read without ack returns the same from the 51st");
    let (first, _) = read(&c.client(0), "s", 100, 0).await;
    assert_eq!(first.len(), 100);
    let n = |e: &Value| e["after"]["n"].as_u64().unwrap();
    assert_eq!(
        (0..100).map(|i| n(&first[i])).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    ack(&c.client(0), "s", first[49]["position"].as_str().unwrap()).await;
    let (again, _) = read(&c.client(0), "s", 10, 0).await;
    assert_eq!(n(&again[0]), 50, "resumes after the last ack");
    // a consumer that keeps its own position reads on after it, without acknowledging
    let r = c
        .client(1)
        .request(
            Method::GET,
            &format!(
                "/v1/slots/s/changes?max=5&after={}",
                first[99]["position"].as_str().unwrap()
            ),
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let after = Format::Json.decode(&r.body).unwrap();
    assert_eq!(after[0].after.as_ref().unwrap()["n"], 100);
    refused(
        &c.client(1),
        Method::GET,
        "/v1/slots/s/changes?after=x",
        Value::Null,
        400,
        "invalid_position",
    )
    .await;
    // an older ack does not move the slot back
    ack(&c.client(0), "s", first[10]["position"].as_str().unwrap()).await;
    let (again, _) = read(&c.client(2), "s", 1, 0).await;
    assert_eq!(n(&again[0]), 50);

    phase("paused: reads refused, writes go on, nothing lost");
    let (s, v) = call(&c.client(1), Method::POST, "/v1/slots/s/pause", Value::Null).await;
    assert_eq!(s, 200, "{v}");
    refused(
        &c.client(0),
        Method::GET,
        "/v1/slots/s/changes",
        Value::Null,
        409,
        "slot_paused",
    )
    .await;
    write(&c.client(2), 300, 500).await;
    let (s, v) = call(&c.client(0), Method::GET, "/v1/slots/s", Value::Null).await;
    assert_eq!(s, 200);
    assert_eq!(v["paused"], true);
    assert!(
        v["backlog_changes"].as_u64().unwrap() >= 450,
        "the paused backlog shows: {v}"
    );
    assert!(v["backlog_bytes"].as_u64().unwrap() > 0, "{v}");
    let (s, _) = call(
        &c.client(1),
        Method::POST,
        "/v1/slots/s/resume",
        Value::Null,
    )
    .await;
    assert_eq!(s, 200);

    phase("the serving node r1 killed; the consumer moves to r3 and reads on from its ack");
    c.kill9(0);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < 500 {
        let r = c
            .client(2)
            .request(
                Method::GET,
                "/v1/slots/s/changes?max=200&wait_ms=500",
                &[],
                Bytes::new(),
            )
            .await;
        // a read may meet the meta group electing a new leader: 503, retry
        match r {
            Ok(r) if r.status == 200 => {
                let events: Vec<Value> = r
                    .body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice(l).unwrap())
                    .collect();
                let last = events
                    .last()
                    .map(|e| e["position"].as_str().unwrap().to_string());
                got.extend(events);
                if let Some(p) = last {
                    let (s, v) = call(
                        &c.client(2),
                        Method::POST,
                        "/v1/slots/s/ack",
                        json!({ "position": p }),
                    )
                    .await;
                    assert_eq!(s, 200, "{v}");
                }
            }
            Ok(r) => assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body)),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "{} of 500", got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ns: Vec<u64> = got.iter().map(n).collect();
    assert_eq!(
        ns,
        (50..300)
            .chain(1000..1050)
            .chain(300..500)
            .collect::<Vec<_>>(),
        "no gap, no duplicate after the ack (k0..k49 were overwritten with 1000+)"
    );

    phase("a stream (chunked NDJSON) carries the writes made while it is open");
    // orders is critical: its writes wait for every voter, r1 too
    c.restart(0).await;
    c.leader("orders", Duration::from_secs(30)).await;
    let stream = {
        let client = c.client(2);
        tokio::spawn(async move {
            client
                .request(
                    Method::GET,
                    "/v1/slots/s/stream?duration_ms=4000",
                    &[],
                    Bytes::new(),
                )
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    write(&c.client(1), 500, 520).await;
    let r = stream.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let streamed: Vec<u64> = Format::Json
        .decode(&r.body)
        .unwrap()
        .iter()
        .map(|e| e.after.as_ref().unwrap()["n"].as_u64().unwrap())
        .collect();
    assert_eq!(streamed, (500..520).collect::<Vec<_>>());
    refused(
        &c.client(2),
        Method::GET,
        "/v1/slots/s/stream?duration_ms=99999999",
        Value::Null,
        400,
        "invalid_query",
    )
    .await;

    phase("the snapshot slot: the documents as they stood at its start, then the log");
    let (s, v) = call(&c.client(1), Method::GET, "/v1/slots/snap", Value::Null).await;
    assert_eq!(s, 200);
    assert_eq!(v["snapshot_pending_groups"], 2, "{v}");
    let events = drain(&c.client(1), "snap", 520).await;
    let mut last_n: std::collections::HashMap<String, u64> = Default::default();
    let mut snapshot = 0;
    for e in &events {
        let key = e["key"].as_str().unwrap().to_string();
        let n = e["after"]["n"].as_u64().unwrap();
        if e["op"] == "snapshot" {
            snapshot += 1;
            assert!(
                !last_n.contains_key(&key),
                "{key} snapshotted twice or after its log"
            );
            let i: u64 = key[1..].parse().unwrap();
            assert!(
                (50..300).contains(&i),
                "{key}: changed after the start, not in it"
            );
            assert_eq!(n, i);
        } else if let Some(prev) = last_n.get(&key) {
            assert!(n > *prev, "{key}: {n} delivered after {prev}");
        }
        last_n.insert(key, n);
    }
    assert_eq!(snapshot, 250, "k50..k299 as they stood");
    for i in 0..50u64 {
        assert_eq!(last_n[&format!("k{i}")], 1000 + i);
    }
    assert_eq!(
        last_n.len(),
        520,
        "every key: snapshot, overwrites, later writes"
    );
}
