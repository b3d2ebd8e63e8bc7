//! Placement changes while the collection serves, with real processes: `orders` starts on
//! the critical tier in r1, r2 and r3, moves to the archival tier in one region that does
//! not lead it (the leader removes itself), then back to critical in all three, under a writer that never stops. Every acknowledged write is
//! readable afterwards in every region; the region removed stops serving its stale copy
//! (its requests are proxied), empties it, and after rejoining holds the group bit for bit
//! like the others. Bad placements are refused with 400 naming the field. A change data
//! capture slot with `ddl` on delivers each placement change as DDL events.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use support::cluster::{Cluster, FAST};
use support::phase;

const PLACEMENT: &str = "[[collections]]\nname = \"orders\"\ntier = \"critical\"\n\
                         regions = [\"r1\", \"r2\", \"r3\"]\n";

async fn put_placement(c: &Cluster, via: usize, body: Value) -> georep::client::Response {
    c.client(via)
        .with_timeout(Duration::from_secs(180))
        .request(
            hyper::Method::PUT,
            "/v1/admin/collections/orders",
            &[],
            Bytes::from(body.to_string()),
        )
        .await
        .unwrap()
}

/// Waits until node `i` reports `orders` as `ok` says.
async fn wait_status(c: &Cluster, i: usize, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let g = c.group_status(i, "orders").await;
        if let Some(g) = &g
            && ok(g)
        {
            return g.clone();
        }
        assert!(
            Instant::now() < deadline,
            "r{} never reported {what}: {g:?}",
            i + 1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads and acknowledges the `ddl` slot through r{via+1} until the DDL event saying the
/// `changes`th placement change completed (the placement in force, nothing changing);
/// every event read.
async fn ddl_events(c: &Cluster, via: usize, changes: u64) -> Vec<Value> {
    let client = c.client(via);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out: Vec<Value> = Vec::new();
    loop {
        let r = client
            .request(
                hyper::Method::GET,
                "/v1/slots/ddl/changes?max=100&wait_ms=500",
                &[],
                Bytes::new(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let frontier = r.header("georep-slot-position").unwrap().to_string();
        out.extend(
            String::from_utf8_lossy(&r.body)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
        let (s, v) = support::call(
            &client,
            hyper::Method::POST,
            "/v1/slots/ddl/ack",
            json!({ "position": frontier }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        if out
            .iter()
            .any(|e| e["after"]["changes"] == changes && e["after"]["changing_to"].is_null())
        {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "no end of change {changes}: {out:?}"
        );
    }
}

/// The DDL events of one placement change to `tier`: the change announced, then in force.
fn assert_ddl_change(events: &[Value], tier: &str, changes: u64) {
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(
            (
                e["op"].as_str(),
                e["collection"].as_str(),
                e["key"].as_str()
            ),
            (Some("ddl"), Some("orders"), Some("placement")),
            "only DDL events of orders (the slot's ops are delete only): {e}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["after"]["changing_to"]["tier"] == tier),
        "the change to {tier} was announced: {events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["after"]["placement"]["tier"], tier, "{last}");
    assert_eq!(last["after"]["changes"], changes, "{last}");
    assert_eq!(last["source"]["group"], 0, "from the meta group: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_changes_online_lose_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), &format!("{FAST}{PLACEMENT}")).await;
    // the archival placement keeps a region that does not lead: the leader removes itself
    let leader = c.leader("orders", Duration::from_secs(30)).await;
    let (keep, other) = ((leader + 1) % 3, (leader + 2) % 3);
    let name = |i: usize| format!("r{}", i + 1);

    phase("a slot for orders' placement changes (DDL events), no data events");
    let (s, v) = support::call(
        &c.client(0),
        hyper::Method::POST,
        "/v1/slots",
        json!({"name": "ddl", "collections": ["orders"], "ops": ["delete"], "ddl": true}),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    phase(&format!(
        "a writer through the leader {} that never stops",
        name(leader)
    ));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, acked, failed, stop) = (
            c.client(leader),
            acked.clone(),
            failed.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("k{i}");
                match client
                    .put("orders", &key, Bytes::from(format!("v{i}")), &[])
                    .await
                {
                    Ok(r) if r.status.is_success() => acked.lock().unwrap().push(key),
                    Ok(r) => failed.lock().unwrap().push(format!(
                        "{key}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                    Err(e) => failed.lock().unwrap().push(format!("{key}: {e}")),
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    phase("bad placements are refused, naming the field");
    for (body, code, needle) in [
        (
            json!({"tier": "archival", "regions": ["r9"]}),
            "invalid_placement",
            "body.regions[0]",
        ),
        (
            json!({"tier": "critical", "regions": ["r1", "r2"]}),
            "invalid_placement",
            "body.regions",
        ),
        (
            json!({"tier": "archival", "regions": ["r1"], "colour": 1}),
            "invalid_body",
            "colour",
        ),
        (
            json!({"tier": "standard", "regions": ["r1", "r2"]}),
            "placement_change_unsupported",
            "standard",
        ),
        (
            json!({"tier": "archival", "regions": ["r1"], "learners": ["r1"]}),
            "invalid_placement",
            "body.learners[0]",
        ),
    ] {
        let r = put_placement(&c, 2, body.clone()).await;
        let v = r.json().unwrap_or_default();
        assert_eq!(r.status, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let r = c
        .client(2)
        .request(
            hyper::Method::PUT,
            "/v1/admin/collections/nowhere",
            &[],
            Bytes::from(json!({"tier": "archival", "regions": ["r1"]}).to_string()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);

    phase(&format!(
        "critical in r1, r2, r3 -> archival in {} (asked of {}; {} leads)",
        name(keep),
        name(other),
        name(leader)
    ));
    let r = put_placement(
        &c,
        other,
        json!({"tier": "archival", "regions": [name(keep)]}),
    )
    .await;
    let v = r.json().unwrap_or_default();
    assert_eq!(r.status, 200, "{v}");
    assert_eq!(v["voters"], json!([name(keep)]));
    println!("critical -> archival took {} ms", v["took_ms"]);
    for i in [leader, other] {
        wait_status(&c, i, "not a member, emptied, blank", |g| {
            g["member"] == false
                && g["applied_index"] == 0
                && g["voters"].as_array().is_some_and(|v| v.is_empty())
        })
        .await;
    }
    let g = wait_status(&c, keep, "sole voter", |g| {
        g["voters"] == json!([name(keep)])
    })
    .await;
    assert_eq!(
        g["ack"]["ack_mode"], "async",
        "the archival tier's ack policy: {g}"
    );
    let orders = c.placement(1, "orders").await.unwrap();
    assert_eq!(orders["tier"], "archival", "{orders}");
    assert_eq!(orders["changes"], 1, "{orders}");
    phase("the slot delivers the change as DDL events");
    assert_ddl_change(&ddl_events(&c, keep, 1).await, "archival", 1);
    phase("write latency is counted under the tier as placed now, not the topology file's");
    let archival = "georep_write_duration_seconds_count{tier=\"archival\"";
    let before = c.metric(keep, archival).await;
    let r = c
        .client(keep)
        .put("orders", "after-move", Bytes::from_static(b"x"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let after = c.metric(keep, archival).await;
    assert!(
        after >= before + 1.0,
        "{before} -> {after}: {:?}",
        support::metric_lines(&c.client(keep), "georep_write_duration_seconds_count").await
    );

    phase("a removed region no longer serves orders itself: its requests are proxied");
    let last = acked.lock().unwrap().last().cloned().unwrap();
    let r = c
        .client(other)
        .get("orders", &last, &[("x-georep-consistency", "eventual")])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-georep-region"), Some(&*name(keep)));
    assert_eq!(r.header("x-georep-proxied-by"), Some(&*name(other)));

    phase("a removed region restarts: it stays out, blank");
    c.kill9(other);
    c.restart(other).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let g = wait_status(&c, other, "still out", |g| g["member"] == false).await;
    assert_eq!(g["applied_index"], 0, "{g}");
    assert_eq!(
        g["state"], "learner",
        "a blank slot never stands for election: {g}"
    );

    phase("archival -> critical in r1, r2, r3 (asked of a removed region)");
    let r = put_placement(
        &c,
        other,
        json!({"tier": "critical", "regions": ["r1", "r2", "r3"]}),
    )
    .await;
    let v = r.json().unwrap_or_default();
    assert_eq!(r.status, 200, "{v}");
    println!("archival -> critical took {} ms", v["took_ms"]);
    assert_ddl_change(&ddl_events(&c, keep, 2).await, "critical", 2);
    for i in 0..3 {
        wait_status(&c, i, "three voters", |g| {
            g["member"] == true && g["voters"].as_array().is_some_and(|v| v.len() == 3)
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    println!(
        "{} writes acknowledged, {} refused: {failed:?}",
        acked.len(),
        failed.len()
    );
    assert!(
        acked.len() > 200,
        "the writer kept writing: {}",
        acked.len()
    );
    // a write refused while the leader hands over is answered 503 with a reason, never lost
    // silently: the client knows to retry it
    assert!(failed.iter().all(|f| f.contains("503")), "{failed:?}");
    c.converged("orders", Duration::from_secs(30)).await;

    phase("every acknowledged write, read locally in every region");
    for i in 0..3 {
        let client = c.client(i);
        for key in acked.iter().step_by(7).chain(acked.last()) {
            let r = client
                .get("orders", key, &[("x-georep-consistency", "eventual")])
                .await
                .unwrap();
            assert_eq!(r.status, 200, "r{} lost {key}", i + 1);
            assert_eq!(r.header("x-georep-region"), Some(&*format!("r{}", i + 1)));
            assert!(r.header("x-georep-proxied-by").is_none());
        }
    }
}
