//! Claims inside peer messages are bound to the certificate: a peer that presents region
//! r2's certificate (valid, from the cluster CA) but names another node as a vote's
//! candidate, an append's leader or a forwarded write's origin is refused, counted and
//! logged by a real node, while the same messages naming r2 itself are handled.

mod support;

use std::sync::Arc;
use std::time::Duration;

use georep::clock::Hlc;
use georep::group::{GroupId, node_id, rpc};
use georep::transport::rpc::RpcError;
use georep::transport::{PeerClocks, Transport, TransportError, TransportMetrics};
use openraft::Vote;
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use support::cluster::{Cluster, FAST};
use support::phase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_that_do_not_name_the_certified_sender_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), FAST).await;
    c.leader("default", Duration::from_secs(20)).await;

    phase("an impostor speaks with r2's certificate, straight to r1 (no relay)");
    let identity = georep::transport::load_identity(&c.certs, "r2").unwrap();
    let registry = prometheus::Registry::new();
    let metrics = TransportMetrics::register(&registry).unwrap();
    let clocks = Arc::new(PeerClocks::new(
        Arc::new(Hlc::new(georep::clock::node_id_for_region("r2"), 500)),
        None,
    ));
    let refuse_all: georep::transport::Handler = Arc::new(|_, _| {
        Box::pin(async {
            Err(RpcError::Refused {
                reason: "not serving".into(),
            })
        })
    });
    let t = Transport::bind(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        c.topology.region_names(),
        metrics,
        clocks,
        refuse_all,
    )
    .unwrap();
    let r1 = c.topology.region("r1").unwrap().peer;
    let g = GroupId::DEFAULT_DATA;
    let refused = |r: Result<bytes::Bytes, TransportError>, what: &str| match r {
        Err(TransportError::Remote {
            error: RpcError::Refused { reason },
            ..
        }) => {
            assert!(reason.contains("r2"), "{what}: {reason}");
        }
        other => panic!("{what} was not refused: {other:?}"),
    };

    phase("a vote whose candidate is r3");
    let vote = |who: &str| VoteRequest {
        vote: Vote::new(0, node_id(who)),
        last_log_id: None,
    };
    refused(
        t.call("r1", r1, &rpc::encode_vote(g, &vote("r3"))).await,
        "vote",
    );
    phase("an append whose leader is r3");
    let append = AppendEntriesRequest {
        vote: Vote::new_committed(0, node_id("r3")),
        prev_log_id: None,
        leader_commit: None,
        entries: Vec::new(),
    };
    refused(
        t.call("r1", r1, &rpc::encode_append(g, &append, None))
            .await,
        "append",
    );
    phase("a forwarded write whose origin is r3");
    refused(
        t.call("r1", r1, &rpc::encode_propose(g, "r3", b"x")).await,
        "forwarded write",
    );

    phase("the same vote naming r2 itself is handled (an old term: simply not granted)");
    let answer = t
        .call("r1", r1, &rpc::encode_vote(g, &vote("r2")))
        .await
        .expect("a vote from its own sender reaches Raft");
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert!(answer["Ok"]["vote_granted"] == false, "{answer}");

    phase("r1 counted and logged each refusal");
    let lines = support::metric_lines(&c.client(0), "georep_peer_claim_mismatches_total").await;
    for kind in ["vote_candidate", "leader", "write_origin"] {
        assert!(
            lines.iter().any(|l| l.contains("peer=\"r2\"")
                && l.contains(&format!("kind=\"{kind}\""))
                && l.ends_with(" 1")),
            "{kind}: {lines:?}"
        );
    }
    let log = c.nodes[0].as_ref().unwrap().log_text();
    assert!(
        log.contains("vote_candidate") && log.contains("refused"),
        "{log}"
    );
    t.close();
}
