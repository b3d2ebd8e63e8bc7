//! Change-row retention (issue 17), in one process (`support::inproc`): rows a slot has not
//! confirmed are kept on every replica; once the slot has confirmed them (and with no slot
//! needing them, once the grace passed) they are purged; a slot that falls further behind
//! than `cdc_retain_max_entries` is marked lost, says so on every read and in a metric, and
//! no longer holds rows back. Never a silent gap.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::group::GroupId;
use hyper::Method;
use serde_json::{Value, json};
use support::cluster::FAST;
use support::inproc::InProcCluster;
use support::{call, phase};

const RETENTION: &str = "cdc_retain_max_entries = 100\ncdc_retain_grace_ms = 0\n";

/// Change rows each region's replica of the default group holds.
fn held(c: &InProcCluster) -> Vec<u64> {
    c.live()
        .into_iter()
        .map(|i| {
            let g = c.nodes[i]
                .as_ref()
                .unwrap()
                .groups()
                .get(GroupId::DEFAULT_DATA)
                .unwrap();
            g.store().changes_held(GroupId::DEFAULT_DATA.0).unwrap().1
        })
        .collect()
}

async fn until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn writes(c: &InProcCluster, from: usize, to: usize) {
    for i in from..to {
        support::put_n(&c.client(i % 3), "c", i as u64).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_kept_for_slots_up_to_the_cap_then_the_slot_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let c = InProcCluster::start(dir.path(), &format!("{FAST}{RETENTION}")).await;
    c.leader(GroupId::DEFAULT_DATA, Duration::from_secs(20))
        .await;

    phase("no slot: rows go once the (zero) grace passed");
    writes(&c, 0, 30).await;
    until("every replica purged", Duration::from_secs(10), || {
        held(&c).iter().all(|&n| n == 0)
    })
    .await;

    phase("a slot that reads nothing holds its rows on every replica");
    let (s, v) = call(
        &c.client(0),
        Method::POST,
        "/v1/slots",
        json!({"name": "slow"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    writes(&c, 30, 90).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(held(&c).iter().all(|&n| n >= 60), "{:?}", held(&c));
    let (events, _) = {
        let r = c
            .client(1)
            .request(
                Method::GET,
                "/v1/slots/slow/changes?max=1000",
                &[],
                Bytes::new(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let n = r
            .body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        (n, ())
    };
    assert_eq!(events, 60, "every change since the slot's start");

    phase("past the cap (100 entries behind): lost, said on every read, rows no longer held");
    writes(&c, 90, 220).await;
    until("the slot is marked lost", Duration::from_secs(15), || {
        held(&c).iter().all(|&n| n <= 101)
    })
    .await;
    let (s, v) = call(
        &c.client(2),
        Method::GET,
        "/v1/slots/slow/changes",
        Value::Null,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("slot_lost")),
        "{v}"
    );
    let (s, v) = call(&c.client(1), Method::GET, "/v1/slots/slow", Value::Null).await;
    assert_eq!(s, 200);
    assert!(
        v["lost"]
            .as_str()
            .unwrap()
            .contains("cdc_retain_max_entries"),
        "{v}"
    );
    let metrics = c
        .client(0)
        .request(Method::GET, "/metrics", &[], Bytes::new())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(
        text.lines().any(|l| l.starts_with("georep_cdc_slot_lost{")
            && l.contains("slow")
            && l.ends_with(" 1")),
        "{text}"
    );

    phase("a slot that keeps up lets its rows go");
    let (s, v) = call(
        &c.client(0),
        Method::POST,
        "/v1/slots",
        json!({"name": "quick"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    writes(&c, 220, 260).await;
    // a consumer reads and acknowledges as changes come: a read in a region still applying
    // the last writes stops before them, and the next read takes them
    let deadline = Instant::now() + Duration::from_secs(20);
    while held(&c).iter().any(|&n| n > 0) {
        assert!(
            Instant::now() < deadline,
            "never: rows confirmed by the live slot purged: {:?}",
            held(&c)
        );
        let r = c
            .client(0)
            .request(
                Method::GET,
                "/v1/slots/quick/changes?max=1000&wait_ms=200",
                &[],
                Bytes::new(),
            )
            .await
            .unwrap();
        let frontier = r.header("georep-slot-position").unwrap().to_string();
        let (s, v) = call(
            &c.client(0),
            Method::POST,
            "/v1/slots/quick/ack",
            json!({ "position": frontier }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
