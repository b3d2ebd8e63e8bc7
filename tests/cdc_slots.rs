//! Change-data-capture slots (issue 17, the slice built so far): created in one region,
//! listed and changed from the others, kept across a restart and the meta group's leader
//! failing, refused with the field named when malformed, and guarded by the `cdc` role.
//! A slot's projection (the transform hook) delivers the named fields only. (Reading
//! changes: `cdc_changes.rs`.)

mod support;

use std::time::Duration;

use bytes::Bytes;
use georep::client::Client;
use hyper::Method;
use sha2::{Digest, Sha256};
use support::cluster::{Cluster, FAST, REGIONS};
use support::phase;

async fn call(c: &Client, method: Method, path: &str, body: &str) -> (u16, serde_json::Value) {
    let r = c
        .request(method, path, &[], Bytes::from(body.to_string()))
        .await
        .unwrap();
    let json = r.json().unwrap_or(serde_json::Value::Null);
    (r.status.as_u16(), json)
}

const ETL: &str = r#"{"name": "etl", "collections": ["orders", "tenant-*"], "exclude": ["tenant-test*"],
    "ops": ["insert", "update"], "filter": "tenant == 'acme' and n >= 1"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_are_kept_by_the_cluster_and_served_by_every_region() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), FAST).await;

    phase("created in r1, listed in r2 at once, refused again in r3");
    let (status, body) = call(&c.client(0), Method::POST, "/v1/slots", ETL).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "etl");
    assert_eq!(body["paused"], false);
    assert_eq!(body["created_in"], "r1");
    assert_eq!(body["format"], "json");
    let (status, list) = call(&c.client(1), Method::GET, "/v1/slots", "").await;
    assert_eq!(status, 200);
    assert_eq!(list["slots"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["slots"][0]["name"], "etl");
    assert_eq!(list["slots"][0]["filter"], "tenant == 'acme' and n >= 1");
    let (status, body) = call(&c.client(2), Method::POST, "/v1/slots", ETL).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "slot_exists");

    phase("malformed slots are refused, naming the field");
    let bad = [
        (
            r#"{"name": "s", "filter": "tenant = 'a'"}"#,
            "invalid_slot",
            "filter: at byte 7",
        ),
        (
            r#"{"name": "s", "collections": ["ok", "Orders"]}"#,
            "invalid_slot",
            "collections[1]",
        ),
        (
            r#"{"name": "s", "format": "xml"}"#,
            "invalid_slot",
            "format",
        ),
        (
            r#"{"name": "s", "ops": ["snapshot"]}"#,
            "invalid_slot",
            "initial_snapshot",
        ),
        (r#"{"name": "S"}"#, "invalid_slot", "name"),
        (
            r#"{"name": "s", "ops": ["upsert"]}"#,
            "invalid_body",
            "upsert",
        ),
        (
            r#"{"name": "s", "colections": []}"#,
            "invalid_body",
            "colections",
        ),
        ("not json", "invalid_body", "expected"),
        (
            r#"{"name": "s", "project": ["id", "a..b"]}"#,
            "invalid_slot",
            "project[1]",
        ),
        (
            r#"{"name": "replica.s"}"#,
            "invalid_slot",
            "filtered replicas",
        ),
    ];
    for (body, code, names) in bad {
        let (status, answer) = call(&c.client(1), Method::POST, "/v1/slots", body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{body}: {message}");
    }
    let (status, _) = call(&c.client(1), Method::GET, "/v1/slots/Bad", "").await;
    assert_eq!(status, 400);
    let (status, answer) = call(&c.client(1), Method::GET, "/v1/slots/nope", "").await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &"not_found".into())
    );

    phase("a projected slot delivers the named fields only");
    let (status, body) = call(
        &c.client(0),
        Method::POST,
        "/v1/slots",
        r#"{"name": "slim", "collections": ["people"], "project": ["id", "a.b"]}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["project"], serde_json::json!(["id", "a.b"]), "{body}");
    let r = c
        .client(1)
        .put(
            "people",
            "p1",
            Bytes::from_static(br#"{"id": 1, "ssn": "078-05-1120", "a": {"b": 2, "c": 3}}"#),
            &[("content-type", "application/json")],
        )
        .await
        .unwrap();
    assert!(r.status.is_success(), "{}", r.status);
    let r = c
        .client(2)
        .request(
            Method::GET,
            "/v1/slots/slim/changes?max=10&wait_ms=5000",
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&r.body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["op"], "insert");
    assert_eq!(
        events[0]["after"],
        serde_json::json!({"id": 1, "a": {"b": 2}}),
        "the ssn never leaves the cluster"
    );
    let (status, _) = call(&c.client(0), Method::DELETE, "/v1/slots/slim", "").await;
    assert_eq!(status, 204);

    phase("paused in r2, seen paused in r3, resumed in r3");
    let (status, body) = call(&c.client(1), Method::POST, "/v1/slots/etl/pause", "").await;
    assert_eq!((status, &body["paused"]), (200, &true.into()), "{body}");
    let (_, body) = call(&c.client(2), Method::GET, "/v1/slots/etl", "").await;
    assert_eq!(body["paused"], true);
    let (status, body) = call(&c.client(2), Method::POST, "/v1/slots/etl/resume", "").await;
    assert_eq!((status, &body["paused"]), (200, &false.into()), "{body}");

    phase("kept across a SIGKILL of r1 and of the meta group's leader");
    c.kill9(0);
    c.restart(0).await;
    let (status, body) = call(&c.client(0), Method::GET, "/v1/slots/etl", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ops"], serde_json::json!(["insert", "update"]));
    let meta = c.leader("meta", Duration::from_secs(20)).await;
    c.kill9(meta);
    let survivor = (meta + 1) % 3;
    let (status, body) = call(&c.client(survivor), Method::GET, "/v1/slots/etl", "").await;
    assert_eq!(
        status, 200,
        "{} after {} died: {body}",
        REGIONS[survivor], REGIONS[meta]
    );
    let (status, _) = call(
        &c.client(survivor),
        Method::POST,
        "/v1/slots",
        r#"{"name": "second", "collections": ["users"]}"#,
    )
    .await;
    assert_eq!(status, 201, "a slot is created with one region down");
    c.restart(meta).await;
    c.wait_ready(Duration::from_secs(30)).await;

    phase("dropped through the region just restarted: gone everywhere");
    // right after a restart: the restarted region counts its leader's silence from when
    // peers could reach it, so it forwards at once (group/mod.rs: reachable_from_now)
    let (status, body) = call(&c.client(meta), Method::DELETE, "/v1/slots/etl", "").await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = call(&c.client(survivor), Method::GET, "/v1/slots/etl", "").await;
    assert_eq!(status, 404);
    let (status, _) = call(&c.client(1), Method::DELETE, "/v1/slots/etl", "").await;
    assert_eq!(status, 404, "dropping twice");
    let (_, list) = call(&c.client(2), Method::GET, "/v1/slots", "").await;
    assert_eq!(list["slots"].as_array().unwrap().len(), 1);
}

fn hex_sha256(t: &str) -> String {
    Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_endpoints_need_the_cdc_role() {
    let dir = tempfile::tempdir().unwrap();
    let mut auth = String::from("[auth]\nmode = \"token\"\n");
    for role in ["cdc", "writer", "admin"] {
        auth += &format!(
            "[[auth.tokens]]\nname = \"{role}-app\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            hex_sha256(&format!("{role}-token"))
        );
    }
    let c = Cluster::start_unready(dir.path(), &format!("{FAST}{auth}")).await;
    let client = |token: Option<&str>| match token {
        Some(t) => c.client(0).with_bearer(t),
        None => c.client(0),
    };
    let body = r#"{"name": "audit"}"#;
    let (status, _) = call(&client(None), Method::POST, "/v1/slots", body).await;
    assert_eq!(status, 401, "no token");
    let (status, _) = call(
        &client(Some("writer-token")),
        Method::POST,
        "/v1/slots",
        body,
    )
    .await;
    assert_eq!(status, 403, "a writer is not a CDC consumer");
    let (status, _) = call(&client(Some("writer-token")), Method::GET, "/v1/slots", "").await;
    assert_eq!(status, 403);
    // readiness needs the meta group's keys; slot calls retry until it has them
    let mut created = (0, serde_json::Value::Null);
    for _ in 0..100 {
        created = call(&client(Some("cdc-token")), Method::POST, "/v1/slots", body).await;
        if created.0 != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(created.0, 201, "{}", created.1);
    let (status, _) = call(
        &client(Some("admin-token")),
        Method::GET,
        "/v1/slots/audit",
        "",
    )
    .await;
    assert_eq!(status, 200, "admin holds every role");
}
