//! Serving the client API router over plain HTTP or HTTPS until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::TlsListener;

/// Serves `app` on `tcp` (TLS with `tls`) until `stop` fires. The client address is kept
/// for the authentication backoff (`ConnectInfo<SocketAddr>`).
pub fn spawn(
    tcp: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    stop: oneshot::Receiver<()>,
) -> std::io::Result<JoinHandle<std::io::Result<()>>> {
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = async move {
        let _ = stop.await;
    };
    Ok(match tls {
        None => {
            let listener = tcp.tap_io(|s| {
                let _ = s.set_nodelay(true);
            });
            tokio::spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            })
        }
        Some(cfg) => {
            // nodelay is set before the handshake; the tap only makes the address known
            let listener = TlsListener::new(tcp, cfg)?.tap_io(|_| {});
            tokio::spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            })
        }
    })
}
