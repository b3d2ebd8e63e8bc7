//! Filtered replicas end to end, with real processes in three regions through the WAN relays
//! (issue 17): `orders` (critical, every region) is copied into `orders-acme` in r2 (the
//! documents with `tenant == 'acme'`), which is copied in turn into `acme-big` in r3 (those
//! with `n >= 100`): a chain of two hops. Documents written before and after the replicas'
//! slots exist, updated into and out of the filter, and deleted, end up in each replica
//! exactly as the source holds them, byte for byte; across a kill of the runner (the
//! source's leader) too. Clients cannot write to a replica.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};
use support::cluster::{Cluster, FAST};
use support::{call, phase};

// a majority acknowledges orders' writes, so they go on while one region is down
const TOPOLOGY: &str = "[[collections]]\nname = \"orders\"\ntier = \"critical\"\n\
    regions = [\"r1\", \"r2\", \"r3\"]\nmin_sync_replicas = 1\n\
    [[replicas]]\nname = \"orders-acme\"\nsource = \"orders\"\nregion = \"r2\"\n\
    filter = \"tenant == 'acme'\"\n\
    [[replicas]]\nname = \"acme-big\"\nsource = \"orders-acme\"\nregion = \"r3\"\n\
    filter = \"n >= 100\"\n";

const JSON: (&str, &str) = ("content-type", "application/json");
const EVENTUAL: (&str, &str) = ("x-georep-consistency", "eventual");

/// The document of key `i` as written: irregular spacing, so a copy re-encoded from its
/// JSON would differ.
fn doc(tenant: &str, n: u64) -> String {
    format!("{{ \"tenant\":\"{tenant}\",  \"n\": {n} }}")
}

fn tenant_of(value: &str) -> &'static str {
    if value.contains("\"acme\"") {
        "acme"
    } else {
        "zeta"
    }
}

fn n_of(value: &str) -> u64 {
    let v: Value = serde_json::from_str(value).unwrap();
    v["n"].as_u64().unwrap()
}

/// Writes (or deletes, with None) through region `via`; panics unless acknowledged.
async fn write(
    c: &Cluster,
    via: usize,
    model: &mut BTreeMap<String, String>,
    key: &str,
    value: Option<String>,
) {
    let client = c.client(via);
    let r = match &value {
        Some(v) => client
            .put("orders", key, Bytes::from(v.clone()), &[JSON])
            .await
            .unwrap(),
        None => client.delete("orders", key, &[]).await.unwrap(),
    };
    assert!(
        r.status.is_success(),
        "{key}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    match value {
        Some(v) => model.insert(key.to_string(), v),
        None => model.remove(key),
    };
}

/// Every document of `collection` as region `i` holds it: key -> (bytes, content type).
async fn contents(c: &Cluster, i: usize, collection: &str) -> BTreeMap<String, String> {
    let client = c.client(i);
    let (s, v) = call(
        &client,
        Method::GET,
        &format!("/v1/collections/{collection}/docs?limit=1000"),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["next_start_after"].is_null(), "one page holds them all");
    let mut out = BTreeMap::new();
    for k in v["keys"].as_array().unwrap() {
        let key = k["key"].as_str().unwrap();
        let r = client.get(collection, key, &[EVENTUAL]).await.unwrap();
        if r.status == 404 {
            continue; // deleted since the listing
        }
        assert_eq!(r.status, 200, "{collection}/{key}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{collection}/{key}: the content type travels with the document"
        );
        out.insert(key.to_string(), String::from_utf8(r.body.to_vec()).unwrap());
    }
    out
}

/// Waits until region `i`'s `collection` holds exactly `want`.
async fn converges(c: &Cluster, i: usize, collection: &str, want: &BTreeMap<String, String>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let have = contents(c, i, collection).await;
        if &have == want {
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = want.keys().filter(|k| !have.contains_key(*k)).collect();
            let extra: Vec<_> = have.keys().filter(|k| !want.contains_key(*k)).collect();
            let differ: Vec<_> = want
                .iter()
                .filter(|(k, v)| have.get(*k).is_some_and(|h| h != *v))
                .collect();
            panic!(
                "r{} {collection}: {} documents, want {}; missing {missing:?}, extra {extra:?}, \
                 different {differ:?}",
                i + 1,
                have.len(),
                want.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn expected(
    model: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let acme: BTreeMap<String, String> = model
        .iter()
        .filter(|(_, v)| tenant_of(v) == "acme")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let big = acme
        .iter()
        .filter(|(_, v)| n_of(v) >= 100)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (acme, big)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_replicas_hold_exactly_the_matching_documents_through_a_chain_and_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), &format!("{FAST}{TOPOLOGY}")).await;
    c.leader("orders", Duration::from_secs(30)).await;
    let mut model = BTreeMap::new();

    phase("200 documents through every region, while the replicas create their slots");
    for i in 0..200u64 {
        let tenant = if i % 2 == 0 { "acme" } else { "zeta" };
        write(
            &c,
            (i % 3) as usize,
            &mut model,
            &format!("k{i:03}"),
            Some(doc(tenant, i)),
        )
        .await;
    }

    phase("updates into and out of the filter, and deletes");
    for i in 0..40u64 {
        // flip the tenant: acme documents leave the replica, zeta ones join it
        let tenant = if i % 2 == 0 { "zeta" } else { "acme" };
        write(
            &c,
            (i % 3) as usize,
            &mut model,
            &format!("k{i:03}"),
            Some(doc(tenant, i + 100)),
        )
        .await;
    }
    for i in (100..140u64).step_by(3) {
        write(&c, (i % 3) as usize, &mut model, &format!("k{i:03}"), None).await;
    }
    let (acme, big) = expected(&model);
    assert!(acme.len() > 50 && big.len() > 20 && big.len() < acme.len());
    converges(&c, 1, "orders-acme", &acme).await;
    converges(&c, 2, "acme-big", &big).await;

    phase("the replicas' own slots are visible; their names are reserved");
    let (s, v) = call(
        &c.client(0),
        Method::GET,
        "/v1/slots/replica.orders-acme",
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["collections"], json!(["orders"]), "{v}");
    let (s, v) = call(
        &c.client(0),
        Method::POST,
        "/v1/slots",
        json!({"name": "replica.mine"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_slot")),
        "{v}"
    );

    phase("clients cannot write to a replica, in any region");
    for via in 0..3 {
        let r = c
            .client(via)
            .put("orders-acme", "k000", Bytes::from_static(b"{}"), &[JSON])
            .await
            .unwrap();
        let v = r.json().unwrap_or_default();
        assert_eq!(r.status, 409, "r{}: {v}", via + 1);
        assert_eq!(v["error"]["code"], "read_only_collection", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("\"orders\""),
            "names the source: {v}"
        );
        let r = c.client(via).delete("acme-big", "k101", &[]).await.unwrap();
        assert_eq!(r.status, 409, "r{}", via + 1);
    }

    phase("the runner (the leader of orders) is killed under writes, then restarted");
    let leader = c.leader("orders", Duration::from_secs(30)).await;
    c.kill9(leader);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 200u64;
    while i < 260 {
        let key = format!("k{i:03}");
        let value = doc(if i % 2 == 0 { "acme" } else { "zeta" }, i);
        let r = c
            .client(others[(i % 2) as usize])
            .put("orders", &key, Bytes::from(value.clone()), &[JSON])
            .await;
        match r {
            Ok(r) if r.status.is_success() => {
                model.insert(key, value);
                i += 1;
            }
            // the new leader is being elected: the client retries
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "orders took no writes after the kill"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    c.restart(leader).await;
    let (acme, big) = expected(&model);
    converges(&c, 1, "orders-acme", &acme).await;
    converges(&c, 2, "acme-big", &big).await;
    // counted where the runner ran (the killed node's counts went with it)
    let mut applied = 0.0;
    for i in 0..3 {
        for line in support::metric_lines(&c.client(i), "georep_cdc_sink_events_total").await {
            if line.contains("sink=\"replica:orders-acme\"") && line.contains("duplicate=\"false\"")
            {
                applied += line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
            }
        }
    }
    assert!(applied > 0.0, "the replica's writes are counted");
}
