//! The one table from a request's first byte to the service that serves it.

use std::sync::Arc;

use bytes::Bytes;

use super::RpcError;
use crate::transport::{Handler, Inbound};

/// What a peer request is for: its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Service {
    /// Log-group replication and the requests a replica sends its leader (`group/rpc.rs`).
    Group = 1,
    /// A client request for a collection the sending region holds no replica of, served by
    /// this region's API (`api/proxy.rs`).
    Proxy = 2,
}

impl Service {
    pub const ALL: [Service; 2] = [Service::Group, Service::Proxy];

    fn from_u8(b: u8) -> Option<Service> {
        Service::ALL.into_iter().find(|s| *s as u8 == b)
    }
}

/// A request buffer for `service`, with room for `body_hint` more bytes: services write their
/// message after the byte, so nothing is copied to prepend it.
pub fn request(service: Service, body_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + body_hint);
    out.push(service as u8);
    out
}

/// Which handler serves each service. A request for a service nobody registered gets
/// [`RpcError::UnknownService`].
#[derive(Default, Clone)]
pub struct Dispatch {
    table: Vec<(Service, Handler)>,
}

impl Dispatch {
    pub fn new() -> Dispatch {
        Dispatch::default()
    }

    /// Serves `service` with `handler`, which sees the request without its service byte.
    pub fn serve(mut self, service: Service, handler: Handler) -> Dispatch {
        self.table.retain(|(s, _)| *s != service);
        self.table.push((service, handler));
        self
    }

    /// The transport handler that looks each request's service up in the table.
    pub fn into_handler(self) -> Handler {
        let table = Arc::new(self.table);
        Arc::new(move |from: Inbound, request: Bytes| {
            let found = request.first().copied().ok_or(RpcError::Malformed {
                what: "request".into(),
                reason: "empty".into(),
            });
            let handler = found.and_then(|b| {
                let service = Service::from_u8(b).ok_or(RpcError::UnknownService(b))?;
                table
                    .iter()
                    .find(|(s, _)| *s == service)
                    .map(|(_, h)| h.clone())
                    .ok_or(RpcError::UnknownService(b))
            });
            match handler {
                Ok(h) => h(from, request.slice(1..)),
                Err(e) => Box::pin(async move { Err(e) }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn inbound() -> Inbound {
        Inbound {
            peer: "eu".into(),
            rtt: Duration::ZERO,
            received: Instant::now(),
            sent_hlc_ms: 0,
        }
    }

    fn echo(tag: &'static str) -> Handler {
        Arc::new(move |_, body: Bytes| {
            Box::pin(async move {
                let mut out = tag.as_bytes().to_vec();
                out.extend_from_slice(&body);
                Ok(Bytes::from(out))
            })
        })
    }

    #[tokio::test]
    async fn each_service_reaches_its_handler_without_its_byte() {
        let h = Dispatch::new()
            .serve(Service::Group, echo("g:"))
            .serve(Service::Proxy, echo("p:"))
            .into_handler();
        let mut g = request(Service::Group, 2);
        g.extend_from_slice(b"hi");
        assert_eq!(&h(inbound(), Bytes::from(g)).await.unwrap()[..], b"g:hi");
        let mut p = request(Service::Proxy, 2);
        p.extend_from_slice(b"yo");
        assert_eq!(&h(inbound(), Bytes::from(p)).await.unwrap()[..], b"p:yo");
    }

    #[tokio::test]
    async fn unknown_unserved_and_empty_requests_are_refused_by_name() {
        let h = Dispatch::new()
            .serve(Service::Group, echo("g:"))
            .into_handler();
        assert_eq!(
            h(inbound(), Bytes::from_static(&[9, 1])).await.unwrap_err(),
            RpcError::UnknownService(9)
        );
        assert_eq!(
            h(inbound(), Bytes::from(request(Service::Proxy, 0)))
                .await
                .unwrap_err(),
            RpcError::UnknownService(Service::Proxy as u8)
        );
        assert!(matches!(
            h(inbound(), Bytes::new()).await.unwrap_err(),
            RpcError::Malformed { .. }
        ));
    }
}
