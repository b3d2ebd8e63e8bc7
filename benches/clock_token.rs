//! Hot-path costs: HLC readings, the clock work every peer frame carries (stamp, merge and
//! judge on receipt, offset measurement on an answer), and session-token encode/verify.
//!
//! cargo bench --bench clock_token

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use georep::clock::{Hlc, Timestamp};
use georep::group::GroupId;
use georep::session::{GroupPosition, SessionKeys, SessionToken};

fn bench(c: &mut Criterion) {
    let hlc = Hlc::new(1, 500);
    c.bench_function("hlc_now", |b| b.iter(|| black_box(hlc.now())));
    let remote = Timestamp {
        node: 2,
        ..hlc.now()
    };
    c.bench_function("hlc_update", |b| {
        b.iter(|| black_box(hlc.update(black_box(remote))))
    });

    // what every peer frame costs: a stamp to send, a merge (and skew check) on receipt
    let clocks = georep::transport::PeerClocks::new(std::sync::Arc::new(Hlc::new(1, 500)), None);
    c.bench_function("peer_frame_stamp", |b| b.iter(|| black_box(clocks.stamp())));
    let peer = georep::transport::PeerClocks::new(std::sync::Arc::new(Hlc::new(2, 500)), None);
    let stamp = peer.stamp();
    c.bench_function("peer_request_merge", |b| {
        b.iter(|| black_box(clocks.on_request("eu-west-1", black_box(stamp))))
    });
    c.bench_function("peer_answer_merge_and_offset", |b| {
        let sent = clocks.wall_ms();
        b.iter(|| black_box(clocks.on_answer("eu-west-1", black_box(stamp), sent)))
    });

    // what [auth] adds to every request: a static token among 8 configured, and a JWT
    let hash = |t: &str| -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(t.as_bytes()).into()
    };
    let jwt_key = b"0123456789abcdef0123456789abcdef".to_vec();
    let config = georep::config::AuthConfig {
        mode: georep::config::AuthMode::Token,
        tokens: (0..8)
            .map(|i| georep::config::StaticToken {
                name: format!("t{i}"),
                role: georep::config::Role::Writer,
                sha256: hash(&format!("grp_token-number-{i}-abcdefghijklmnop")),
            })
            .collect(),
        jwt_hs256_key: Some(georep::config::Secret(jwt_key.clone())),
    };
    let auth = georep::auth::Authenticator::new(config, None).unwrap();
    let put = axum::http::Method::PUT;
    let now = std::time::Instant::now();
    // the server passes the caller's address (for the backoff), so the bench does too
    let client = std::net::IpAddr::from([127, 0, 0, 1]);
    c.bench_function("auth_static_token_of_8", |b| {
        b.iter(|| {
            black_box(auth.authorize(
                &put,
                "/v1/collections/c/docs/k",
                Some("Bearer grp_token-number-5-abcdefghijklmnop"),
                Some(client),
                now,
                1_000,
            ))
        })
    });
    let jwt = format!(
        "Bearer {}",
        georep::auth::jwt::sign(&jwt_key, georep::config::Role::Writer, Some("ci"), 9_999)
    );
    c.bench_function("auth_hs256_jwt", |b| {
        b.iter(|| {
            black_box(auth.authorize(
                &put,
                "/v1/collections/c/docs/k",
                Some(&jwt),
                Some(client),
                now,
                1_000,
            ))
        })
    });

    let keys = SessionKeys::new(1, [5; 32]);
    let mut token = SessionToken::default();
    for g in 1..=3 {
        token.observe(GroupPosition {
            group: GroupId(g),
            epoch: 4,
            index: 1_234_567 * u64::from(g),
        });
    }
    c.bench_function("token_encode_3_groups", |b| {
        b.iter(|| black_box(token.encode(&keys, 1_700_000_000_000)))
    });
    let text = token.encode(&keys, 1_700_000_000_000);
    c.bench_function("token_verify_3_groups", |b| {
        b.iter(|| {
            black_box(
                SessionToken::decode(black_box(&text), &keys, 1_700_000_000_100, 86_400_000)
                    .unwrap(),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
