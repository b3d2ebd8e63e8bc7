//! Session tokens valid from the first answer, and `/readyz`, on a brand-new three-region
//! cluster without `[session] key_file` (each region starts with a key of its own until the
//! meta group's keys arrive). From the moment the nodes are up, three clients write in every
//! region and hand each token to the next region at once: no token in any 2xx answer is ever
//! refused as invalid, and once `/readyz` is 200 everywhere, every token is honoured.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::cluster::{Cluster, FAST};
use support::phase;

#[derive(Default, Debug)]
struct Tally {
    issued: usize,
    honoured: usize,
    /// 400: refused as invalid (must never happen)
    rejected: Vec<String>,
    /// other non-2xx answers to a token-carrying read, after every region was ready
    refused_after_ready: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_verify_everywhere_from_the_first_answer_and_readyz_says_when() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start_unready(dir.path(), FAST).await;
    let all_ready = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let started = Instant::now();

    phase("clients write in every region and carry each token to the next region");
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (here, next) = (c.client(i), c.client((i + 1) % 3));
        let (tally, all_ready) = (tally.clone(), all_ready.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while started.elapsed() < Duration::from_secs(14) {
                n += 1;
                let key = format!("t{i}-{n}");
                let Ok(w) = here.put("c", &key, Bytes::from("v"), &[]).await else {
                    continue;
                };
                if !w.status.is_success() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let token = w.header("x-georep-session-token").unwrap().to_string();
                let ready = all_ready.load(Ordering::Relaxed);
                let r = next
                    .get(
                        "c",
                        &key,
                        &[
                            ("x-georep-consistency", "session"),
                            ("x-georep-session-token", &token),
                        ],
                    )
                    .await
                    .unwrap();
                let mut t = tally.lock().unwrap();
                t.issued += 1;
                let body = String::from_utf8_lossy(&r.body).to_string();
                match r.status.as_u16() {
                    200 => t.honoured += 1,
                    400 => t.rejected.push(body),
                    s if ready => t.refused_after_ready.push(format!("{s} {body}")),
                    _ => {}
                }
            }
        }));
    }

    phase("/readyz turns 200 in every region, with reasons until then");
    let mut ready_at = [None; 3];
    let mut reasons_seen = Vec::new();
    while ready_at.iter().any(Option::is_none) {
        for (i, at) in ready_at.iter_mut().enumerate().filter(|(_, a)| a.is_none()) {
            let r = c
                .client(i)
                .request(hyper::Method::GET, "/readyz", &[], Bytes::new())
                .await
                .unwrap();
            match r.status.as_u16() {
                200 => *at = Some(started.elapsed()),
                503 => {
                    let v = r.json().unwrap();
                    assert!(
                        v["ready"] == false
                            && v["reasons"].as_array().is_some_and(|a| !a.is_empty()),
                        "{v}"
                    );
                    reasons_seen.push(v["reasons"].to_string());
                }
                s => panic!("/readyz answered {s}"),
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never ready: {reasons_seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all_ready.store(true, Ordering::Relaxed);
    let health = c
        .client(0)
        .request(hyper::Method::GET, "/healthz", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(health.status, 200, "/healthz stays liveness");
    for t in tasks {
        t.await.unwrap();
    }

    phase("every metric family passes promtool's lint (base units, counter names)");
    for i in 0..3 {
        support::lint_metrics(&c.client(i)).await;
    }

    let t = tally.lock().unwrap();
    eprintln!(
        "ready at {ready_at:?}; {} tokens issued, {} honoured; reasons before ready: {:?}",
        t.issued,
        t.honoured,
        reasons_seen.first()
    );
    assert!(t.issued > 100, "{t:?}");
    assert!(
        t.rejected.is_empty(),
        "tokens refused as invalid: {:?}",
        t.rejected
    );
    assert!(
        t.refused_after_ready.is_empty(),
        "tokens not honoured after every region was ready: {:?}",
        t.refused_after_ready
    );
}
