//! Which role each request needs, decided from its method and path alone (a pure table, so
//! the HTTP layer cannot forget an endpoint: anything not listed needs at least `reader`).

use axum::http::Method;

use crate::config::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Liveness and readiness: probes carry no credentials.
    Open,
    Needs(Role),
}

pub fn required(method: &Method, path: &str) -> Access {
    let read = *method == Method::GET || *method == Method::HEAD;
    if path == "/healthz" || path == "/readyz" {
        return Access::Open;
    }
    if path.starts_with("/v1/admin/") || path == "/v1/admin" {
        return Access::Needs(Role::Admin);
    }
    if path.starts_with("/v1/slots") {
        return Access::Needs(Role::Cdc);
    }
    Access::Needs(if read { Role::Reader } else { Role::Writer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_class_needs_its_role() {
        let table = [
            (Method::GET, "/healthz", Access::Open),
            (Method::GET, "/readyz", Access::Open),
            (Method::GET, "/metrics", Access::Needs(Role::Reader)),
            (Method::GET, "/v1/cluster", Access::Needs(Role::Reader)),
            (
                Method::GET,
                "/v1/collections/c/docs/k",
                Access::Needs(Role::Reader),
            ),
            (
                Method::GET,
                "/v1/collections/c/docs",
                Access::Needs(Role::Reader),
            ),
            (
                Method::PUT,
                "/v1/collections/c/docs/k",
                Access::Needs(Role::Writer),
            ),
            (
                Method::DELETE,
                "/v1/collections/c/docs/k",
                Access::Needs(Role::Writer),
            ),
            (
                Method::POST,
                "/v1/collections/c/docs/k/ops",
                Access::Needs(Role::Writer),
            ),
            (
                Method::GET,
                "/v1/admin/collections",
                Access::Needs(Role::Admin),
            ),
            (
                Method::PUT,
                "/v1/admin/collections/c/ack",
                Access::Needs(Role::Admin),
            ),
            (
                Method::POST,
                "/v1/admin/session-keys/rotate",
                Access::Needs(Role::Admin),
            ),
            (Method::GET, "/v1/slots/s/changes", Access::Needs(Role::Cdc)),
            (Method::GET, "/no/such/thing", Access::Needs(Role::Reader)),
            (Method::POST, "/no/such/thing", Access::Needs(Role::Writer)),
        ];
        for (m, p, want) in table {
            assert_eq!(required(&m, p), want, "{m} {p}");
        }
    }
}
