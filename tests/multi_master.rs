//! Multi-master collections with real processes (issue 16): three regions through the WAN
//! relays (60/90/120 ms RTT), a `tier = "multi_master"` collection written in every region.
//!
//! - The API: a write is answered by the region that received it, with the version vector
//!   it was given; STRONG reads and preconditions are refused naming the reason; a session
//!   token from a write in one region gives read-your-writes in another; the feed of a
//!   single-leader collection is refused.
//! - Convergence: a writer in every region on a handful of shared keys (puts and deletes),
//!   r3 partitioned from both others for 10 s, then r2 killed and restarted. After the
//!   faults heal and every region has applied every origin log, the convergence checker
//!   (`support/convergence.rs`) finds every region in the same state, that state the
//!   deterministic merge of every acknowledged write, and every write that lost to a
//!   concurrent one in the conflict feed of every region.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;
use georep::clock::Timestamp;
use georep::merge::{Stamp, VersionVector, Versioned};
use support::cluster::{Cluster, FAST, REGIONS};
use support::convergence::{
    AckedWrite, FeedEntry, SetOp, States, check_counters, check_lww, check_sets,
};
use support::phase;

const KEYS: usize = 6;

fn topology() -> String {
    let mut s = format!(
        "{FAST}wal_segment_bytes = 4194304\nmax_value_bytes = 65536\n[[collections]]\nname = \"carts\"\ntier = \"multi_master\"\n\
         regions = [\"r1\", \"r2\", \"r3\"]\n\
         [[collections]]\nname = \"views\"\ntier = \"multi_master\"\n\
         regions = [\"r1\", \"r2\", \"r3\"]\nconflict = \"crdt\"\ncrdt = \"pn_counter\"\n\
         [[collections]]\nname = \"tags\"\ntier = \"multi_master\"\n\
         regions = [\"r1\", \"r2\", \"r3\"]\nconflict = \"crdt\"\ncrdt = \"or_set\"\n\
         [[collections]]\nname = \"orders\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n"
    );
    for (a, b, rtt) in [("r1", "r2", 60), ("r1", "r3", 90), ("r2", "r3", 120)] {
        s += &format!("[[links]]\nbetween = [\"{a}\", \"{b}\"]\nrtt_ms = {rtt}\n");
    }
    s
}

/// `region=n,...` as the write answered it.
fn parse_vv(text: &str) -> VersionVector {
    let mut vv = VersionVector::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (r, n) = part.split_once('=').expect("region=n");
        vv.raise(r, n.parse().expect("a count"));
    }
    vv
}

/// The version an acknowledged write made, from its answer.
fn acked_write(key: &str, value: Option<String>, r: &georep::client::Response) -> AckedWrite {
    let body = r.json().expect("a JSON answer");
    let hlc: Timestamp = body["hlc"].as_str().unwrap().parse().unwrap();
    AckedWrite {
        key: key.to_string(),
        version: Versioned {
            stamp: Stamp {
                hlc,
                region: r.header("x-georep-region").unwrap().to_string(),
            },
            vv: parse_vv(r.header("x-georep-version-vector").expect("a vector")),
            value,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_local_strong_is_refused_and_sessions_follow_their_writes() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), &topology()).await;
    let (r1, r3) = (c.client(0), c.client(2));

    phase("a write in r1 is r1's, with its vector");
    let w = r1
        .put(
            "carts",
            "c-1",
            Bytes::from_static(b"{\"items\":1}"),
            &[("content-type", "application/json")],
        )
        .await
        .unwrap();
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    assert_eq!(w.header("x-georep-region"), Some("r1"));
    let vv = parse_vv(w.header("x-georep-version-vector").unwrap());
    assert!(vv.get("r1") > 0, "{vv:?}");
    let token = w.header("x-georep-session-token").unwrap().to_string();

    phase("read-your-writes in r3 through the token");
    let r = support::session_get(&r3, "carts", "c-1", &token).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(&r.body[..], b"{\"items\":1}");
    assert_eq!(r.header("x-georep-origin"), Some("r1"));
    assert_eq!(r.header("content-type"), Some("application/json"));

    phase("STRONG and preconditions are refused");
    let strong = r3
        .get("carts", "c-1", &[("x-georep-consistency", "strong")])
        .await
        .unwrap();
    assert_eq!(strong.status, 400);
    assert_eq!(strong.error_code().as_deref(), Some("strong_unsupported"));
    let cas = r3
        .put(
            "carts",
            "c-1",
            Bytes::from_static(b"x"),
            &[("if-match", "1")],
        )
        .await
        .unwrap();
    assert_eq!(cas.status, 400);
    assert_eq!(
        cas.error_code().as_deref(),
        Some("precondition_unsupported")
    );

    phase("a delete of a document never seen is a 404, of a seen one a tombstone");
    let missing = r3.delete("carts", "nobody", &[]).await.unwrap();
    assert_eq!(missing.status, 404);
    let del = r3
        .delete(
            "carts",
            "c-1",
            &[
                ("x-georep-consistency", "session"),
                ("x-georep-session-token", &token),
            ],
        )
        .await
        .unwrap();
    assert_eq!(del.status, 200, "{}", String::from_utf8_lossy(&del.body));
    let seen = parse_vv(del.header("x-georep-version-vector").unwrap());
    assert!(
        seen.dominates(&vv),
        "the delete saw the write: {seen:?} vs {vv:?}"
    );
    let tok = del.header("x-georep-session-token").unwrap().to_string();
    let gone = support::session_get(&r1, "carts", "c-1", &tok).await;
    assert_eq!(gone.status, 404, "the delete reached r1");

    phase("the feed: empty here, refused for a single-leader collection, bad ids named");
    let feed = get_json(&r1, "/v1/collections/carts/conflicts").await;
    assert_eq!(feed["conflicts"], serde_json::json!([]));
    let single = get_path(&r1, "/v1/collections/orders/conflicts").await;
    assert_eq!(single.status, 400);
    let bad = get_path(&r1, "/v1/collections/carts/conflicts?start_after=x").await;
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("start_after"));

    phase("CRDT documents change through ops, checked against their kind");
    let inc = op(
        &r1,
        "views",
        "v-1",
        serde_json::json!({"op": "increment", "by": 5}),
    )
    .await;
    assert_eq!(inc.status, 200, "{}", String::from_utf8_lossy(&inc.body));
    assert_eq!(
        inc.json().unwrap()["result"],
        serde_json::json!({"value": 5})
    );
    let tok = inc.header("x-georep-session-token").unwrap().to_string();
    let dec = op(
        &r3,
        "views",
        "v-1",
        serde_json::json!({"op": "decrement", "by": 2}),
    )
    .await;
    assert_eq!(dec.status, 200);
    let read = support::session_get(&r3, "views", "v-1", &tok).await;
    assert_eq!(
        read.json().unwrap(),
        serde_json::json!({"value": 3}),
        "r1's +5 and r3's -2"
    );
    let wrong = op(
        &r1,
        "views",
        "v-1",
        serde_json::json!({"op": "add", "elements": [1]}),
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.error_code().as_deref(), Some("invalid_op"));
    assert!(String::from_utf8_lossy(&wrong.body).contains("pn_counter"));
    let bad_by = op(
        &r1,
        "views",
        "v-1",
        serde_json::json!({"op": "increment", "by": -1}),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&bad_by.body).contains("by"),
        "the field is named"
    );
    let put = r1
        .put("views", "v-1", Bytes::from_static(b"7"), &[])
        .await
        .unwrap();
    assert_eq!(put.error_code().as_deref(), Some("crdt_ops_only"));
    let not_crdt = op(&r1, "carts", "c-1", serde_json::json!({"op": "increment"})).await;
    assert_eq!(not_crdt.error_code().as_deref(), Some("not_crdt"));
    let add = op(
        &r2_client(&c),
        "tags",
        "t",
        serde_json::json!({"op": "add", "elements": ["a", {"b": 1}]}),
    )
    .await;
    assert_eq!(add.status, 200);
    assert_eq!(
        add.json().unwrap()["result"],
        serde_json::json!({"elements": ["a", {"b": 1}]})
    );
    // a remove in another region carrying the token observes that add: it is gone
    let tok = add.header("x-georep-session-token").unwrap().to_string();
    let rm = r3
        .request(
            hyper::Method::POST,
            "/v1/collections/tags/docs/t/ops",
            &[
                ("content-type", "application/json"),
                ("x-georep-session-token", &tok),
            ],
            Bytes::from(serde_json::json!({"op": "remove", "elements": ["a"]}).to_string()),
        )
        .await
        .unwrap();
    assert_eq!(rm.status, 200, "{}", String::from_utf8_lossy(&rm.body));
    assert_eq!(
        rm.json().unwrap()["result"],
        serde_json::json!({"elements": [{"b": 1}]})
    );

    phase("online, a multi-master collection's defaults change; its tier and regions do not");
    let place = |body: serde_json::Value| {
        let r1 = r1.clone();
        async move {
            r1.request(
                hyper::Method::PUT,
                "/v1/admin/collections/carts",
                &[],
                Bytes::from(body.to_string()),
            )
            .await
            .unwrap()
        }
    };
    let changed = place(
        serde_json::json!({"tier": "multi_master", "regions": ["r3", "r2", "r1"],
        "consistency": "eventual", "max_staleness_ms": 1500}),
    )
    .await;
    assert_eq!(
        changed.status,
        200,
        "{}",
        String::from_utf8_lossy(&changed.body)
    );
    let placed = &changed.json().unwrap()["placement"];
    assert_eq!(placed["consistency"], "eventual");
    assert_eq!(placed["regions"], serde_json::json!(["r1", "r2", "r3"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = get_json(&r3, "/v1/admin/collections").await;
        let carts = listed["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "carts")
            .cloned()
            .unwrap();
        if carts["consistency"] == "eventual" {
            assert_eq!(carts["max_staleness_ms"], 1500);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "r3 never saw the change: {carts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (body, code) in [
        (
            serde_json::json!({"tier": "critical", "regions": ["r1", "r2", "r3"]}),
            "placement_change_unsupported",
        ),
        (
            serde_json::json!({"tier": "multi_master", "regions": ["r1", "r2"]}),
            "placement_change_unsupported",
        ),
        (
            serde_json::json!({"tier": "multi_master", "regions": ["r1", "r2", "r3"],
                "consistency": "strong"}),
            "invalid_placement",
        ),
    ] {
        let r = place(body.clone()).await;
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.error_code().as_deref(), Some(code), "{body}");
    }

    phase("sync status in /v1/cluster");
    let cluster = get_json(&r3, "/v1/cluster").await;
    let mm = &cluster["multi_master"][0];
    assert_eq!(mm["collection"], "carts");
    assert_eq!(mm["rule"], "lww");
    assert_eq!(mm["origins"].as_array().unwrap().len(), 3);
    assert_eq!(mm["origins"][0]["region"], "r3", "its own origin first");
}

fn r2_client(c: &Cluster) -> Client {
    c.client(1)
}

async fn get_path(client: &Client, path: &str) -> georep::client::Response {
    client
        .request(hyper::Method::GET, path, &[], Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn get_json(client: &Client, path: &str) -> serde_json::Value {
    let r = get_path(client, path).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json().unwrap()
}

/// What the writers had acknowledged.
#[derive(Default)]
struct Acked {
    lww: Vec<AckedWrite>,
    counters: Vec<(String, i64)>,
    sets: Vec<SetOp>,
}

async fn op(
    client: &Client,
    collection: &str,
    key: &str,
    body: serde_json::Value,
) -> georep::client::Response {
    client
        .request(
            hyper::Method::POST,
            &format!("/v1/collections/{collection}/docs/{key}/ops"),
            &[("content-type", "application/json")],
            Bytes::from(body.to_string()),
        )
        .await
        .unwrap_or_else(|e| panic!("{collection}/{key}: {e}"))
}

/// One region's writer until `stop`: puts and deletes on the LWW collection's shared keys,
/// increments and decrements of shared counters, adds and removes on shared sets (of its
/// own elements, so each element's last operation is defined). It pauses while `paused`
/// (the region about to be killed: a write in flight to a killed process has no known
/// outcome, and the checker needs every version that exists). Every write is answered 200
/// (or 404 for a delete of nothing): a local write needs no other region, so anything else
/// fails the test.
async fn writer(
    region: usize,
    client: Client,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
) -> usize {
    let name = REGIONS[region];
    let mut n = 0u64;
    let mut x: u64 = 0x9e37_79b9 + region as u64;
    let mut mine: Vec<(String, String)> = Vec::new();
    let ok = |r: &georep::client::Response, what: &str| {
        assert_eq!(
            r.status,
            200,
            "{name} {what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    };
    while !stop.load(Ordering::Relaxed) {
        if paused.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        n += 1;
        match n % 3 {
            0 => {
                let key = format!("k{}", x % KEYS as u64);
                let (r, value) = if x.is_multiple_of(8) {
                    (client.delete("carts", &key, &[]).await, None)
                } else {
                    let value = format!("{name}-{n}");
                    let r = client
                        .put("carts", &key, Bytes::from(value.clone()), &[])
                        .await;
                    (r, Some(value))
                };
                let r = r.unwrap_or_else(|e| panic!("{name} {key}: {e}"));
                if r.status == 404 && value.is_none() {
                    continue;
                }
                ok(&r, &key);
                acked.lock().unwrap().lww.push(acked_write(&key, value, &r));
            }
            1 => {
                let key = format!("c{}", x % 3);
                let by = (x % 5 + 1) as i64;
                let (name_op, signed) = if x & 8 == 0 {
                    ("increment", by)
                } else {
                    ("decrement", -by)
                };
                let r = op(
                    &client,
                    "views",
                    &key,
                    serde_json::json!({"op": name_op, "by": by}),
                )
                .await;
                ok(&r, &key);
                acked.lock().unwrap().counters.push((key, signed));
            }
            _ => {
                let key = format!("s{}", x % 2);
                let remove = x.is_multiple_of(3) && mine.iter().any(|(k, _)| *k == key);
                let (element, add) = if remove {
                    let at = mine.iter().position(|(k, _)| *k == key).unwrap();
                    (mine.remove(at).1, false)
                } else {
                    (format!("{name}-{n}"), true)
                };
                let (verb, elements) = (if add { "add" } else { "remove" }, [&element]);
                let r = op(
                    &client,
                    "tags",
                    &key,
                    serde_json::json!({"op": verb, "elements": elements}),
                )
                .await;
                ok(&r, &key);
                if add {
                    mine.push((key.clone(), element.clone()));
                }
                acked.lock().unwrap().sets.push(SetOp { key, element, add });
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    n as usize
}

/// Waits until every live region has applied every origin log as far as its origin has.
async fn caught_up(c: &Cluster, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let mut applied: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        for i in 0..REGIONS.len() {
            if let Ok(r) = c
                .client(i)
                .request(hyper::Method::GET, "/v1/cluster", &[], Bytes::new())
                .await
                && let Some(v) = r.json()
            {
                for mm in v["multi_master"].as_array().into_iter().flatten() {
                    let collection = mm["collection"].as_str().unwrap().to_string();
                    for o in mm["origins"].as_array().into_iter().flatten() {
                        applied.insert(
                            (
                                collection.clone(),
                                REGIONS[i].to_string(),
                                o["region"].as_str().unwrap().to_string(),
                            ),
                            o["applied_index"].as_u64().unwrap(),
                        );
                    }
                }
            }
        }
        let done = ["carts", "views", "tags"].iter().all(|c| {
            REGIONS.iter().all(|origin| {
                let at = |r: &str| applied.get(&(c.to_string(), r.to_string(), origin.to_string()));
                let own = at(origin);
                own.is_some() && REGIONS.iter().all(|r| at(r) == own)
            })
        });
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "regions did not catch up: {applied:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn states(c: &Cluster) -> States {
    let mut out = States::new();
    for (i, region) in REGIONS.iter().enumerate() {
        let mut held = BTreeMap::new();
        for k in 0..KEYS {
            let key = format!("k{k}");
            let r = c
                .client(i)
                .get("carts", &key, &[("x-georep-consistency", "eventual")])
                .await
                .unwrap();
            match r.status.as_u16() {
                200 => {
                    held.insert(key, String::from_utf8(r.body.to_vec()).unwrap());
                }
                404 => {}
                s => panic!("{region} {key}: {s} {}", String::from_utf8_lossy(&r.body)),
            }
        }
        out.insert(region.to_string(), held);
    }
    out
}

/// A CRDT document's value (`{}` when no region has written it).
async fn crdt_value(client: &Client, collection: &str, key: &str) -> serde_json::Value {
    let r = client
        .get(collection, key, &[("x-georep-consistency", "eventual")])
        .await
        .unwrap();
    match r.status.as_u16() {
        200 => r.json().unwrap(),
        404 => serde_json::json!({}),
        s => panic!(
            "{collection}/{key}: {s} {}",
            String::from_utf8_lossy(&r.body)
        ),
    }
}

fn stamp(v: &serde_json::Value) -> Stamp {
    Stamp {
        hlc: v["hlc"].as_str().unwrap().parse().unwrap(),
        region: v["region"].as_str().unwrap().to_string(),
    }
}

/// Every conflict region `i` recorded, following `next_start_after`.
async fn feed(c: &Cluster, i: usize) -> Vec<FeedEntry> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/v1/collections/carts/conflicts?limit=1000{after}");
        let page = get_json(&c.client(i), &path).await;
        for e in page["conflicts"].as_array().unwrap() {
            assert_eq!(e["rule"], "lww");
            out.push(FeedEntry {
                key: e["key"].as_str().unwrap().to_string(),
                winner: stamp(&e["winner"]),
                losers: e["losers"].as_array().unwrap().iter().map(stamp).collect(),
            });
        }
        match page["next_start_after"].as_str() {
            Some(next) => after = format!("&start_after={next}"),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_region_converges_on_the_merge_through_a_partition_and_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), &topology()).await;
    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let pauses: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    phase("a writer in every region: 6 shared LWW keys, 3 PN-counters, 2 OR-sets");
    let tasks: Vec<_> = (0..REGIONS.len())
        .map(|i| {
            tokio::spawn(writer(
                i,
                c.client(i),
                acked.clone(),
                stop.clone(),
                pauses[i].clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;

    phase("r3 cut off from both others for 10 s (it keeps accepting writes)");
    let from_r3 = || {
        let a = acked.lock().unwrap();
        a.lww
            .iter()
            .filter(|w| w.version.stamp.region == "r3")
            .count()
    };
    let before = from_r3();
    c.mesh.isolate("r3", true);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = from_r3();
    c.mesh.isolate("r3", false);
    assert!(
        during > before + 20,
        "r3 acknowledged writes while cut off: {before} -> {during}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    phase("kill -9 r2; kill -9 r1 and restart it while r2 is down; restart r2");
    pauses[1].store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.kill9(1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // r1 restarts while r2 is down: it hears nothing from r2's origin logs and must still
    // become ready and write (its readiness does not wait for other regions' origin logs)
    pauses[0].store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.kill9(0);
    c.restart(0).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get_path(&c.client(0), "/readyz").await;
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "r1 not ready with r2 down: {}",
            String::from_utf8_lossy(&r.body)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pauses[0].store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.restart(1).await;
    c.wait_ready(Duration::from_secs(30)).await;
    pauses[1].store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        assert!(t.await.unwrap() > 0, "every writer wrote");
    }

    phase("every region applies every origin log");
    caught_up(&c, Duration::from_secs(60)).await;
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let writes = acked.lww;
    let states = states(&c).await;
    let mut total_conflicts = 0;
    for i in 0..REGIONS.len() {
        let feed = feed(&c, i).await;
        total_conflicts += feed.len();
        let violations = check_lww(&writes, &states, &feed);
        assert!(
            violations.is_empty(),
            "{} ({} writes, {} conflicts in its feed): {violations:#?}",
            REGIONS[i],
            writes.len(),
            feed.len()
        );
    }
    eprintln!(
        "{} acknowledged writes, {total_conflicts} conflicts in the three feeds, final state {states:?}",
        writes.len()
    );
    assert!(
        total_conflicts > 0,
        "concurrent writers on 6 keys through a partition conflict"
    );

    phase("counters exact and sets as last written in every region");
    let mut counters = BTreeMap::new();
    let mut sets = BTreeMap::new();
    for (i, region) in REGIONS.iter().enumerate() {
        let mut values = BTreeMap::new();
        for k in 0..3 {
            let key = format!("c{k}");
            let v = crdt_value(&c.client(i), "views", &key).await;
            values.insert(key, i128::from(v["value"].as_i64().unwrap_or(0)));
        }
        counters.insert(region.to_string(), values);
        let mut held = BTreeMap::new();
        for k in 0..2 {
            let key = format!("s{k}");
            let v = crdt_value(&c.client(i), "tags", &key).await;
            let elements = v["elements"]
                .as_array()
                .map(|a| a.iter().map(|e| e.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            held.insert(key, elements);
        }
        sets.insert(region.to_string(), held);
    }
    let off = check_counters(&acked.counters, &counters);
    assert!(
        off.is_empty(),
        "{} counter ops: {off:#?}",
        acked.counters.len()
    );
    let off = check_sets(&acked.sets, &sets);
    assert!(off.is_empty(), "{} set ops: {off:#?}", acked.sets.len());
    eprintln!(
        "{} counter ops, {} set ops; counters {counters:?}",
        acked.counters.len(),
        acked.sets.len()
    );
    let crdt_feed = get_json(&c.client(0), "/v1/collections/views/conflicts").await;
    assert_eq!(
        crdt_feed["conflicts"],
        serde_json::json!([]),
        "a CRDT merge loses nothing"
    );

    phase("sync status: synchronized, conflicts counted");
    let cluster = get_json(&c.client(0), "/v1/cluster").await;
    let mm = &cluster["multi_master"][0];
    assert!(mm["conflicts_recorded"].as_u64().unwrap() > 0, "{mm}");
    assert!(mm["conflicts_last_hour"].as_u64().unwrap() > 0, "{mm}");
    let metrics = support::metric_lines(&c.client(0), "georep_conflicts").await;
    assert!(
        metrics.iter().any(|l| l.contains("collection=\"carts\"")),
        "{metrics:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_read_merges_regions_and_repairs_the_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), &topology()).await;
    let (r1, r2, r3) = (c.client(0), c.client(1), c.client(2));
    let cut = |on: bool| {
        for (a, b) in [("r1", "r3"), ("r3", "r1")] {
            c.mesh.relay(a, b).unwrap().partition(on);
        }
    };

    phase("r1 and r3 cannot reach each other; r2 reaches both");
    cut(true);
    let w = r1
        .put("carts", "q-1", Bytes::from_static(b"fresh"), &[])
        .await
        .unwrap();
    assert_eq!(w.status, 200);
    let token = w.header("x-georep-session-token").unwrap().to_string();
    // r2 has it once its session read returns; r3 cannot have it
    let seen = support::session_get(&r2, "carts", "q-1", &token).await;
    assert_eq!(seen.status, 200, "{}", String::from_utf8_lossy(&seen.body));
    let stale = r3
        .get("carts", "q-1", &[("x-georep-consistency", "eventual")])
        .await
        .unwrap();
    assert_eq!(stale.status, 404, "r3 is cut off from r1's log");
    // a delete carrying the token waits for what the session saw: not a false 404
    let del = r3
        .delete("carts", "q-1", &[("x-georep-session-token", &token)])
        .await
        .unwrap();
    assert_eq!(del.status, 503, "{}", String::from_utf8_lossy(&del.body));
    assert_eq!(del.error_code().as_deref(), Some("session_not_caught_up"));

    phase("a quorum read at r3 of all three regions answers the merge and repairs r3");
    let q = get_path(&r3, "/v1/collections/carts/docs/q-1?quorum=2").await;
    assert_eq!(q.status, 200, "{}", String::from_utf8_lossy(&q.body));
    assert_eq!(&q.body[..], b"fresh");
    assert_eq!(q.header("x-georep-origin"), Some("r1"));
    assert_eq!(
        q.header("x-georep-divergent"),
        Some("r3"),
        "r3 was behind r2"
    );
    let local = r3
        .get("carts", "q-1", &[("x-georep-consistency", "eventual")])
        .await
        .unwrap();
    assert_eq!(
        local.status, 200,
        "repaired: r3 serves it locally though still cut off"
    );
    assert_eq!(&local.body[..], b"fresh");
    let again = get_path(&r3, "/v1/collections/carts/docs/q-1?quorum=2").await;
    assert_eq!(
        again.header("x-georep-divergent"),
        Some(""),
        "nothing left to repair"
    );
    let metric = support::metric_lines(&r3, "georep_quorum_repairs_total").await;
    assert!(
        metric
            .iter()
            .any(|l| l.contains("carts") && l.ends_with(" 1")),
        "{metric:?}"
    );

    phase("a client cannot send a repair: only peers, over the peer transport");
    let forged = r3
        .request(
            hyper::Method::POST,
            "/v1/collections/carts/docs/q-1/heads",
            &[("content-type", "application/json")],
            Bytes::from_static(br#"{"region":"r1","heads":[]}"#),
        )
        .await
        .unwrap();
    assert_eq!(
        forged.status,
        403,
        "{}",
        String::from_utf8_lossy(&forged.body)
    );
    let heads = get_json(&r3, "/v1/collections/carts/docs/q-1/heads").await;
    assert_eq!(heads["region"], "r3");
    assert_eq!(heads["heads"].as_array().unwrap().len(), 1, "{heads}");

    phase("bad quorums are refused naming the parameter");
    for (path, why) in [
        ("/v1/collections/carts/docs/q-1?quorum=0", "quorum"),
        ("/v1/collections/carts/docs/q-1?quorum=4", "quorum"),
        ("/v1/collections/carts/docs/q-1?quorum=x", "quorum"),
        ("/v1/collections/orders/docs/q-1?quorum=2", "multi-master"),
    ] {
        let r = get_path(&r3, path).await;
        assert_eq!(r.status, 400, "{path}");
        assert!(
            String::from_utf8_lossy(&r.body).contains(why),
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }

    phase("healed: r3 applies r1's log over the repaired version and ends where r1 is");
    cut(false);
    let w2 = r1
        .put("carts", "q-1", Bytes::from_static(b"later"), &[])
        .await
        .unwrap();
    let token = w2.header("x-georep-session-token").unwrap().to_string();
    let r = support::session_get(&r3, "carts", "q-1", &token).await;
    assert_eq!(
        &r.body[..],
        b"later",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let feed = get_json(&r3, "/v1/collections/carts/conflicts").await;
    assert_eq!(
        feed["conflicts"],
        serde_json::json!([]),
        "one writer: no conflict"
    );
}

const UNION: &str = r#"
// two carts merge into one holding the items of both
fn resolve(a, b) {
    let items = a.value.items;
    for i in b.value.items {
        if !(i in items) { items.push(i); }
    }
    #{ items: items }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resolver_settles_concurrent_versions_alike_in_every_region() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("union.rhai"), UNION).unwrap();
    std::fs::write(
        dir.path().join("stuck.rhai"),
        "fn resolve(a, b) { throw \"cannot merge these\"; }",
    )
    .unwrap();
    let mut extra = String::from(FAST);
    for (name, script) in [("bags", "union.rhai"), ("stuck", "stuck.rhai")] {
        extra += &format!(
            "[[collections]]\nname = \"{name}\"\ntier = \"multi_master\"\n\
             regions = [\"r1\", \"r2\", \"r3\"]\nconflict = \"custom\"\nresolver = \"{script}\"\n"
        );
    }
    let c = Cluster::start(dir.path(), &extra).await;
    let (r1, r2) = (c.client(0), c.client(1));
    let json = [("content-type", "application/json")];

    phase("r1 cut off: r1 and r2 write the same documents concurrently");
    c.mesh.isolate("r1", true);
    for (client, items, n) in [(&r1, r#"["apple"]"#, 1), (&r2, r#"["bread","apple"]"#, 2)] {
        let body = format!("{{\"items\":{items}}}");
        let w = client
            .put("bags", "b-1", Bytes::from(body), &json)
            .await
            .unwrap();
        assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
        let w = client
            .put("stuck", "s-1", Bytes::from(format!("{{\"n\":{n}}}")), &json)
            .await
            .unwrap();
        assert_eq!(w.status, 200);
    }
    c.mesh.isolate("r1", false);

    phase("every region reads the resolver's merge, and its feed says so");
    let want = serde_json::json!({"items": ["apple", "bread"]});
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..REGIONS.len() {
        loop {
            let r = c
                .client(i)
                .get("bags", "b-1", &[("x-georep-consistency", "eventual")])
                .await
                .unwrap();
            if r.status == 200 && r.json() == Some(want.clone()) {
                assert_eq!(r.header("x-georep-origin"), Some("resolver"));
                break;
            }
            assert!(Instant::now() < deadline, "{}: {:?}", REGIONS[i], r.json());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let feed = get_json(&c.client(i), "/v1/collections/bags/conflicts").await;
        let entries = feed["conflicts"].as_array().unwrap();
        assert!(
            entries.iter().any(|e| e["rule"] == "custom"
                && e["winner"]["region"] == "resolver"
                && e["winner"]["value"] == want
                && e["losers"].as_array().unwrap().len() == 2),
            "{}: {feed}",
            REGIONS[i]
        );
    }

    phase("a failing resolver: the last writer stands, the reason is given, both sides kept");
    for i in 0..REGIONS.len() {
        let r = loop {
            let r = c
                .client(i)
                .get("stuck", "s-1", &[("x-georep-consistency", "eventual")])
                .await
                .unwrap();
            if r.header("x-georep-unresolved").is_some() {
                break r;
            }
            assert!(
                Instant::now() < deadline,
                "{}: never unresolved",
                REGIONS[i]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(r.json(), Some(serde_json::json!({"n": 2})), "r2 wrote last");
        assert!(
            r.header("x-georep-unresolved")
                .unwrap()
                .contains("cannot merge these")
        );
        let feed = get_json(&c.client(i), "/v1/collections/stuck/conflicts").await;
        let e = &feed["conflicts"][0];
        assert_eq!(e["rule"], "custom");
        assert!(
            e["unresolved"]
                .as_str()
                .unwrap()
                .contains("cannot merge these"),
            "{feed}"
        );
        assert_eq!(e["losers"][0]["value"], serde_json::json!({"n": 1}));
    }
}
