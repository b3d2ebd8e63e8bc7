//! Client API authentication with real processes: every endpoint class against no token, a
//! wrong token, an expired JWT, each role (static tokens and a JWT); the backoff after
//! repeated failures; a proxied request keeping its role; a node whose API would listen
//! beyond loopback without `[auth]` refusing to start; and no credential in any log.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::auth::jwt;
use georep::client::Client;
use georep::config::Role;
use hyper::Method;
use sha2::{Digest, Sha256};
use support::cluster::{Cluster, FAST};
use support::{NodeProcess, phase, run, topology};

const JWT_KEY: &str = "jwt-key-for-tests-0123456789abcdefghij";

fn hex_sha256(t: &str) -> String {
    Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `[auth]` with one static token per role (`<role>-secret-token`) and a JWT key file.
fn auth_toml(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("jwt.key"), format!("{JWT_KEY}\n")).unwrap();
    let mut t = format!(
        "[auth]\nmode = \"token\"\njwt_hs256_key_file = \"{}\"\n",
        dir.join("jwt.key").display()
    );
    for role in Role::ALL {
        t += &format!(
            "[[auth.tokens]]\nname = \"{role}-app\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            hex_sha256(&format!("{role}-secret-token"))
        );
    }
    t
}

fn now_s() -> u64 {
    support::now_ms() / 1000
}

/// What a request needs (None: open).
struct Endpoint {
    method: Method,
    path: &'static str,
    body: &'static str,
    needs: Option<Role>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_class_against_every_kind_of_credential() {
    let dir = tempfile::tempdir().unwrap();
    let (topo, apis) = topology(dir.path(), &["r1"], &auth_toml(dir.path()));
    let node = NodeProcess::start(&topo, "r1", &dir.path().join("data"), apis[0]).await;
    let c = Client::new(&apis[0].to_string()).unwrap();

    let endpoints = [
        Endpoint {
            method: Method::GET,
            path: "/healthz",
            body: "",
            needs: None,
        },
        Endpoint {
            method: Method::GET,
            path: "/readyz",
            body: "",
            needs: None,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/collections/c/docs/k",
            body: "",
            needs: Some(Role::Reader),
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/collections/c/docs?limit=5",
            body: "",
            needs: Some(Role::Reader),
        },
        Endpoint {
            method: Method::GET,
            path: "/metrics",
            body: "",
            needs: Some(Role::Reader),
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/cluster",
            body: "",
            needs: Some(Role::Reader),
        },
        Endpoint {
            method: Method::PUT,
            path: "/v1/collections/c/docs/k",
            body: "v",
            needs: Some(Role::Writer),
        },
        Endpoint {
            method: Method::DELETE,
            path: "/v1/collections/c/docs/gone",
            body: "",
            needs: Some(Role::Writer),
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/admin/collections",
            body: "",
            needs: Some(Role::Admin),
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/admin/digest",
            body: "",
            needs: Some(Role::Admin),
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/admin/session-keys/rotate",
            body: "",
            needs: Some(Role::Admin),
        },
    ];
    let expired = jwt::sign(JWT_KEY.as_bytes(), Role::Admin, Some("late"), now_s() - 10);
    let jwt_writer = jwt::sign(JWT_KEY.as_bytes(), Role::Writer, Some("ci"), now_s() + 600);
    // (label, Authorization, the role it proves: None = it proves nothing)
    let mut credentials: Vec<(String, Option<String>, Option<Role>)> = vec![
        ("no token".into(), None, None),
        (
            "wrong token".into(),
            Some("Bearer not-a-token-of-this-cluster".into()),
            None,
        ),
        (
            "expired JWT".into(),
            Some(format!("Bearer {expired}")),
            None,
        ),
        (
            "writer JWT".into(),
            Some(format!("Bearer {jwt_writer}")),
            Some(Role::Writer),
        ),
    ];
    for role in Role::ALL {
        credentials.push((
            format!("{role} token"),
            Some(format!("Bearer {role}-secret-token")),
            Some(role),
        ));
    }
    let reset = [("authorization", "Bearer reader-secret-token")];

    phase("every endpoint class x every credential");
    let mut cells = 0;
    for e in &endpoints {
        for (label, header, proves) in &credentials {
            let headers: Vec<(&str, &str)> = header
                .iter()
                .map(|h| ("authorization", h.as_str()))
                .collect();
            let r = c
                .request(e.method.clone(), e.path, &headers, Bytes::from(e.body))
                .await
                .unwrap();
            let want = match (e.needs, proves) {
                (None, _) => "served",
                (Some(_), None) => "401",
                (Some(n), Some(have)) if have.allows(n) => "served",
                (Some(_), Some(_)) => "403",
            };
            let got = match r.status.as_u16() {
                401 => {
                    assert_eq!(r.error_code().as_deref(), Some("unauthenticated"));
                    assert!(
                        r.header("www-authenticate")
                            .is_some_and(|h| h.starts_with("Bearer"))
                    );
                    "401"
                }
                403 => {
                    assert_eq!(r.error_code().as_deref(), Some("forbidden"));
                    "403"
                }
                429 => panic!("backed off during the table: {:?}", r.body),
                _ => "served",
            };
            assert_eq!(
                got,
                want,
                "{} {} with {label}: {} {}",
                e.method,
                e.path,
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            cells += 1;
            if want == "401" {
                // a success clears this address's failure count, so the table never
                // trips the backoff (tested on its own below)
                c.request(Method::GET, "/metrics", &reset, Bytes::new())
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(cells, endpoints.len() * credentials.len());

    phase("the CLI authenticates with --token and GEOREP_TOKEN");
    let endpoint = format!("http://{}", apis[0]);
    let (code, _, err) = run(&[
        "put",
        "--endpoint",
        &endpoint,
        "--token",
        "writer-secret-token",
        "c",
        "cli",
        "x",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["get", "--endpoint", &endpoint, "c", "cli"]);
    assert_eq!(code, 1, "no token: refused");
    assert!(
        err.contains("401") || err.contains("unauthenticated"),
        "{err}"
    );

    phase("a client that keeps failing is backed off, then let in after Retry-After");
    // the CLI's refused request above counted; a success starts the count afresh
    c.request(Method::GET, "/metrics", &reset, Bytes::new())
        .await
        .unwrap();
    for _ in 0..georep::auth::FREE_FAILURES {
        let r = c
            .request(
                Method::GET,
                "/metrics",
                &[("authorization", "Bearer guess")],
                Bytes::new(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 401);
    }
    let r = c
        .request(Method::GET, "/metrics", &reset, Bytes::new())
        .await
        .unwrap();
    assert_eq!(r.status, 429, "even a good token waits out the block");
    assert_eq!(r.error_code().as_deref(), Some("auth_backoff"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let r = c
        .request(Method::GET, "/metrics", &reset, Bytes::new())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).to_string();
    for reason in [
        "missing",
        "unknown_token",
        "expired",
        "forbidden",
        "backoff",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("georep_auth_failures_total")
                    && l.contains(&format!("reason=\"{reason}\""))),
            "reason {reason} counted"
        );
    }

    phase("no credential appears in the log, the metrics or any answer");
    let log = node.log_text();
    for secret in ["secret-token", JWT_KEY, &jwt_writer, &expired] {
        assert!(
            !log.contains(secret) && !text.contains(secret),
            "{secret} leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxied_request_keeps_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{FAST}[[collections]]\nname = \"far\"\ntier = \"archival\"\nregions = [\"r1\"]\n{}",
        auth_toml(dir.path())
    );
    let mut c = Cluster::start(dir.path(), &extra).await;
    c.bearer = Some("admin-secret-token".into());
    c.leader("default", Duration::from_secs(20)).await;
    let r3 = Client::new(&c.apis[2].to_string()).unwrap();
    let put = |token: Option<&'static str>| {
        let r3 = r3.clone();
        async move {
            let h: Vec<(&str, String)> = token
                .iter()
                .map(|t| ("authorization", format!("Bearer {t}")))
                .collect();
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            r3.put("far", "k", Bytes::from("v"), &h).await.unwrap()
        }
    };
    phase("r3 holds no replica of `far`: a writer's PUT there is proxied to r1 and served");
    let r = put(Some("writer-secret-token")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-georep-proxied-by"), Some("r3"));
    assert_eq!(r.header("x-georep-region"), Some("r1"));
    phase("a reader's PUT is refused (403), no token is 401");
    assert_eq!(put(Some("reader-secret-token")).await.status, 403);
    assert_eq!(put(None).await.status, 401);
    let read = r3
        .get(
            "far",
            "k",
            &[
                ("authorization", "Bearer reader-secret-token"),
                ("x-georep-consistency", "strong"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(read.status, 200);
    assert_eq!(read.header("x-georep-proxied-by"), Some("r3"));
    support::lint_metrics(&c.client(0)).await;
}

#[test]
fn an_api_beyond_loopback_without_auth_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    // 192.0.2.1 (TEST-NET-1) is on no interface: a node that got as far as binding it would
    // fail with exit 1, never reach it; refusing first is exit 2 naming auth.mode
    let topo = dir.path().join("open.toml");
    let region = "[[regions]]\nname = \"r1\"\napi = \"192.0.2.1:7101\"\npeer = \"127.0.0.1:0\"\n";
    std::fs::write(&topo, format!("cluster = \"t\"\n{region}")).unwrap();
    let data = dir.path().join("d");
    let node = |t: &std::path::Path| {
        run(&[
            "node",
            "--topology",
            t.to_str().unwrap(),
            "--region",
            "r1",
            "--data-dir",
            data.to_str().unwrap(),
        ])
    };
    let started = Instant::now();
    let (code, _, err) = node(&topo);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("auth.mode") && err.contains("192.0.2.1"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    phase("mode = \"none\" written out is accepted (the bind itself then fails here)");
    let explicit = dir.path().join("explicit.toml");
    std::fs::write(
        &explicit,
        format!("cluster = \"t\"\n{region}[auth]\nmode = \"none\"\n"),
    )
    .unwrap();
    let (code, _, err) = node(&explicit);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot listen on 192.0.2.1"), "{err}");
}

#[test]
fn auth_token_prints_a_token_and_its_topology_entry() {
    let (code, out, err) = run(&["auth", "token", "--role", "writer", "--name", "orders-app"]);
    assert_eq!(code, 0, "{err}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token (shown once; store it as a secret): "))
        .unwrap();
    assert!(token.starts_with("grp_") && token.len() > 40, "{out}");
    assert!(
        out.contains("[[auth.tokens]]")
            && out.contains("name = \"orders-app\"")
            && out.contains("role = \"writer\"")
    );
    assert!(
        out.contains(&format!("sha256 = \"{}\"", hex_sha256(token))),
        "{out}"
    );
    let (code, _, err) = run(&["auth", "token", "--role", "root"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--role"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_file_made_by_auth_token_append_to_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth-tokens.toml");
    let file_arg = file.to_str().unwrap();
    let mint = |role: &str, name: &str| {
        run(&[
            "auth",
            "token",
            "--role",
            role,
            "--name",
            name,
            "--append-to",
            file_arg,
        ])
    };
    let (code, writer, err) = mint("writer", "app");
    assert_eq!(code, 0, "{err}");
    let (code, reader, err) = mint("reader", "dash");
    assert_eq!(code, 0, "{err}");
    let (writer, reader) = (writer.trim().to_string(), reader.trim().to_string());
    assert!(
        writer.starts_with("grp_") && !writer.contains(' '),
        "stdout is the token alone"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&writer) && text.contains(&hex_sha256(&writer)));
    phase("a second token with the same name is refused, the file left as it was");
    let (code, _, err) = mint("admin", "app");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"app\"") && err.contains("--append-to"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    phase("a node with [auth] tokens_file = that file: each token has its role");
    let (topo, apis) = topology(
        dir.path(),
        &["r1"],
        "[auth]\nmode = \"token\"\ntokens_file = \"auth-tokens.toml\"\n",
    );
    let _node = NodeProcess::start(&topo, "r1", &dir.path().join("data"), apis[0]).await;
    let c = Client::new(&apis[0].to_string()).unwrap();
    let put = |token: &str| {
        let c = c.clone().with_bearer(token);
        async move { c.put("c", "k", Bytes::from_static(b"v"), &[]).await }
    };
    assert_eq!(put(&writer).await.unwrap().status, 200);
    assert_eq!(put(&reader).await.unwrap().status, 403);
    assert_eq!(put("grp_not-a-token").await.unwrap().status, 401);
}
