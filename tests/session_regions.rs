//! Session tokens across regions under emulated 100 ms RTT: a write in r1, then a SESSION
//! read with its token in r3 returns that write or a later one, every time; a token carried
//! on to r2 never reads older (monotonic reads); forged, truncated and expired tokens are
//! refused with 400 in every region.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::session::{SessionKeys, SessionToken};
use support::cluster::{Cluster, FAST, REGIONS};
use support::{phase, session_get};

const KEY_HEX: &str = "6a1f2e3d4c5b6a798887a6b5c4d3e2f1a0b1c2d3e4f5061728394a5b6c7d8e9f";

fn topology_extra() -> String {
    let mut s =
        format!("{FAST}session_token_ttl_ms = 600000\n[session]\nkey_file = \"session.key\"\n");
    for (a, b) in [("r1", "r2"), ("r1", "r3"), ("r2", "r3")] {
        s += &format!("[[links]]\nbetween = [\"{a}\", \"{b}\"]\nrtt_ms = 100\n");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_read_in_another_region_sees_the_write_every_time() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("session.key"), KEY_HEX).unwrap();
    let c = Cluster::start(dir.path(), &topology_extra()).await;
    let leader = c.leader("default", Duration::from_secs(30)).await;
    // write at the leader: it acknowledges once one follower holds the write, so the
    // other may not have it yet when the read arrives there
    let (writer, reader, third) = (leader, (leader + 1) % 3, (leader + 2) % 3);
    let (w, r, t) = (c.client(writer), c.client(reader), c.client(third));

    phase("write in one region, read with the token at SESSION in another, 40 times");
    let mut waited = Vec::new();
    for i in 0..40 {
        let value = format!("v{i}");
        let put = w
            .put("s", "k", Bytes::from(value.clone()), &[])
            .await
            .unwrap();
        assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
        let version: u64 = put.header("x-georep-version").unwrap().parse().unwrap();
        let token = put.header("x-georep-session-token").unwrap().to_string();
        let started = Instant::now();
        let got = session_get(&r, "s", "k", &token).await;
        waited.push(started.elapsed());
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
        let seen: u64 = got.header("x-georep-version").unwrap().parse().unwrap();
        assert!(
            seen >= version,
            "read version {seen} older than the write's {version}"
        );
        assert_eq!(&got.body[..], value.as_bytes(), "round {i}");

        // the token from that read, carried to the third region: never older
        let token = got.header("x-georep-session-token").unwrap().to_string();
        let again = session_get(&t, "s", "k", &token).await;
        assert_eq!(again.status, 200);
        let later: u64 = again.header("x-georep-version").unwrap().parse().unwrap();
        assert!(later >= seen, "monotonic reads: {later} after {seen}");
    }
    waited.sort();
    eprintln!(
        "SESSION read after a cross-region write: p50 {:?}, max {:?}",
        waited[waited.len() / 2],
        waited.last().unwrap()
    );

    phase("the reads are counted by how they were served, the writes by tier");
    let text = |client: &georep::client::Client| {
        let client = client.clone();
        async move {
            let r = client
                .request(hyper::Method::GET, "/metrics", &[], Bytes::new())
                .await
                .unwrap();
            String::from_utf8_lossy(&r.body).to_string()
        }
    };
    // the sum of the samples of `name` whose labels include every one of `labels`
    let sum = |text: &str, name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .filter(|l| labels.iter().all(|x| l.contains(x)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let reader_metrics = text(&r).await;
    let served = |how: &str| {
        sum(
            &reader_metrics,
            "georep_reads_total",
            &["consistency=\"session\"", &format!("served=\"{how}\"")],
        )
    };
    assert!(
        served("waited") + served("local") >= 40.0,
        "{reader_metrics}"
    );
    assert!(
        served("waited") >= 1.0,
        "some reads waited for their session's index"
    );
    let writer_metrics = text(&w).await;
    assert!(
        sum(
            &writer_metrics,
            "georep_write_duration_seconds_count",
            &["tier=\"default\""]
        ) >= 40.0,
        "{writer_metrics}"
    );

    phase("the reader's staleness, from the leader's watermarks: small while connected");
    let staleness = |i: usize| {
        let c = &c;
        async move {
            c.group_status(i, "default").await.unwrap()["staleness_ms"]
                .as_u64()
                .unwrap()
        }
    };
    for _ in 0..10 {
        let s = staleness(reader).await;
        // heartbeats every 200 ms, 50 ms one way
        assert!(s < 600, "a connected follower reports {s} ms of staleness");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        sum(
            &text(&r).await,
            "georep_staleness_seconds",
            &["group=\"g1\""]
        ) < 0.6,
        "the gauge agrees"
    );
    phase(
        "the reading region cut off from the leader: the read goes to a replica that can serve it",
    );
    for (a, b) in [(leader, reader), (reader, leader)] {
        c.mesh
            .relay(REGIONS[a], REGIONS[b])
            .unwrap()
            .partition(true);
    }
    let put = w
        .put("s", "cut", Bytes::from("after the cut"), &[])
        .await
        .unwrap();
    assert_eq!(put.status, 200);
    let token = put.header("x-georep-session-token").unwrap().to_string();
    let started = Instant::now();
    let got = session_get(&r, "s", "cut", &token).await;
    eprintln!("forwarded SESSION read took {:?}", started.elapsed());
    let s = staleness(reader).await;
    assert!(
        s > 1000,
        "cut off from the leader for over a second, yet {s} ms stale"
    );
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_eq!(&got.body[..], b"after the cut");
    assert_eq!(got.header("x-georep-proxied-by"), Some(REGIONS[reader]));
    assert_eq!(got.header("x-georep-region"), Some(REGIONS[third]));
    let forwarded = sum(
        &text(&r).await,
        "georep_reads_total",
        &["consistency=\"session\"", "served=\"forwarded\""],
    );
    assert_eq!(forwarded, 1.0);
    for (a, b) in [(leader, reader), (reader, leader)] {
        c.mesh
            .relay(REGIONS[a], REGIONS[b])
            .unwrap()
            .partition(false);
    }

    phase("forged, truncated and expired tokens are refused everywhere");
    let keys = SessionKeys::new(1, georep::node::session_key::parse(KEY_HEX).unwrap());
    let good = SessionToken::default().encode(&keys, support::now_ms());
    let mut forged: Vec<char> = good.chars().collect();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let expired = SessionToken::default().encode(&keys, support::now_ms() - 3_600_000);
    for i in 0..3 {
        let client = c.client(i);
        let ok = client
            .get("s", "k", &[("x-georep-session-token", &good)])
            .await
            .unwrap();
        assert_eq!(
            ok.status, 200,
            "a token from any region verifies in every region"
        );
        for bad in [&good[..good.len() - 4], &forged, &expired] {
            let r = client
                .get("s", "k", &[("x-georep-session-token", bad)])
                .await
                .unwrap();
            assert_eq!(r.status, 400, "{bad}");
            assert_eq!(r.error_code().as_deref(), Some("invalid_session_token"));
        }
    }
}
