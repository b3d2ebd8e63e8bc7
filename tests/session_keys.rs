//! Session-token keys held in the meta group: with no key file in the topology, a token
//! signed in one region verifies in every other; a rotation (asked of any region) reaches
//! every region, tokens signed before it keep verifying through two more rotations and are
//! refused after; a restarted region answers 503 (retry) to a token with a key it has not
//! relearned yet, then signs with the current key. No key material
//! appears in an answer, a log or the metrics.

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use support::cluster::{Cluster, FAST};
use support::{phase, session_get};

/// The key id a token was signed with (its second byte).
fn key_id(token: &str) -> u8 {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .unwrap()[1]
}

async fn write(c: &Cluster, i: usize, key: &str) -> String {
    let r = c
        .client(i)
        .put("s", key, Bytes::from_static(b"v"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.header("x-georep-session-token").unwrap().to_string()
}

async fn session_read(c: &Cluster, i: usize, key: &str, token: &str) -> georep::client::Response {
    session_get(&c.client(i), "s", key, token).await
}

async fn rotate(c: &Cluster, i: usize) -> serde_json::Value {
    let r = c
        .client(i)
        .request(
            hyper::Method::POST,
            "/v1/admin/session-keys/rotate",
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        !has_hex_key(&String::from_utf8_lossy(&r.body)),
        "no key material in the answer"
    );
    r.json().unwrap()
}

/// Whether `text` holds a run of 64 hex characters (what a key looks like).
fn has_hex_key(text: &str) -> bool {
    let mut run = 0;
    for ch in text.chars() {
        run = if ch.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 64 {
            return true;
        }
    }
    false
}

/// Writes at `i` until its token carries key `id` (every region adopts a rotation within
/// half a second); returns that token.
async fn token_with_key(c: &Cluster, i: usize, id: u8) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = write(c, i, "probe").await;
        if key_id(&t) == id {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "r{} still signs with key {}",
            i + 1,
            key_id(&t)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to 5 s: a region adopts new keys within half a second) until region `j`
/// takes `token`.
async fn verifies(c: &Cluster, j: usize, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = session_read(c, j, "probe", token).await;
        if r.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "r{} refuses key {}: {}",
            j + 1,
            key_id(token),
            String::from_utf8_lossy(&r.body)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_keys_live_in_the_meta_group_and_rotate_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), FAST).await;
    c.leader("default", Duration::from_secs(30)).await;

    phase("no key file: a token from any region verifies in every region");
    let mut first = String::new();
    for i in 0..3 {
        let t = token_with_key(&c, i, 1).await;
        for j in 0..3 {
            verifies(&c, j, &t).await;
        }
        first = t;
    }

    phase("rotate (asked of r2): every region signs with key 2; key 1 tokens still verify");
    let v = rotate(&c, 1).await;
    assert_eq!(v["current_key_id"], 2, "{v}");
    assert_eq!(v["verifying_key_ids"], serde_json::json!([2, 1]), "{v}");
    for i in 0..3 {
        let t = token_with_key(&c, i, 2).await;
        for j in 0..3 {
            verifies(&c, j, &t).await;
            assert_eq!(session_read(&c, j, "probe", &first).await.status, 200);
        }
    }

    phase("two more rotations: key 1 no longer verifies, anywhere");
    rotate(&c, 2).await;
    let v = rotate(&c, 0).await;
    assert_eq!(v["verifying_key_ids"], serde_json::json!([4, 3, 2]), "{v}");
    let latest = token_with_key(&c, 2, 4).await;
    for j in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = session_read(&c, j, "probe", &first).await;
            if r.status == 400 {
                let e = r.json().unwrap();
                assert!(
                    e["error"]["message"].as_str().unwrap().contains("key id 1"),
                    "{e}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "r{} still takes key 1", j + 1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    phase("a restarted region relearns the current key and signs with it");
    c.kill9(0);
    c.restart(0).await;
    // until its replica of the meta group catches up, a token with a key it has not
    // learned yet is answered 503 with Retry-After (never 400: the token is good)
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        let r = session_read(&c, 0, "probe", &latest).await;
        assert_ne!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        if r.status == 200 {
            break r;
        }
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(Instant::now() < deadline, "r1 never learned key 4");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let t = r.header("x-georep-session-token").unwrap();
    assert_eq!(key_id(t), 4);

    phase("no key material in logs, /metrics or /v1/cluster");
    for i in 0..3 {
        let log = c.nodes[i].as_ref().unwrap().log_text();
        assert!(!has_hex_key(&log), "r{}'s log shows a key", i + 1);
        for path in ["/metrics", "/v1/cluster"] {
            let body = c
                .client(i)
                .request(hyper::Method::GET, path, &[], Bytes::new())
                .await
                .unwrap()
                .body;
            assert!(
                !has_hex_key(&String::from_utf8_lossy(&body)),
                "{path} of r{}",
                i + 1
            );
        }
    }
}
