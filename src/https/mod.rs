//! HTTPS on the client API (`[api] tls = true`): which certificate a node presents, and a
//! listener that completes TLS handshakes off the accept path.
//!
//! Peers keep their own mutual-TLS QUIC transport (`transport/`); this is only for
//! applications, which authenticate with bearer tokens (`auth/`), not certificates.

mod listener;
mod serve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ApiTls;

pub use listener::TlsListener;
pub use serve::spawn;

#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// `tls = true` with neither configured files nor a certificates directory.
    #[error(
        "api.tls: HTTPS needs a certificate: set api.cert_file and api.key_file, or a \
         certificates directory (tls.certs_dir or --certs) holding {region}.api.pem from \
         `georep certs init`"
    )]
    NoCertificate { region: String },
    #[error("{field}: {path}: {reason}")]
    File {
        field: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("api.tls: the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// The certificate chain and key files a node serves HTTPS with, and the field that named
/// them (for errors): the configured pair, else `<dir>/<region>.api.pem`, else the region's
/// peer certificate `<dir>/<region>.pem`.
pub fn choose_files(
    tls: &ApiTls,
    certs_dir: Option<&Path>,
    region: &str,
) -> Result<(&'static str, PathBuf, PathBuf), HttpsError> {
    if let Some((cert, key)) = &tls.files {
        return Ok(("api.cert_file", cert.clone(), key.clone()));
    }
    let dir = certs_dir.ok_or_else(|| HttpsError::NoCertificate {
        region: region.to_string(),
    })?;
    let api = crate::transport::api_cert_path(dir, region);
    if api.exists() {
        return Ok((
            "tls.certs_dir",
            api,
            crate::transport::api_key_path(dir, region),
        ));
    }
    Ok((
        "tls.certs_dir",
        crate::transport::node_cert_path(dir, region),
        crate::transport::node_key_path(dir, region),
    ))
}

/// A rustls server configuration from PEM files: HTTP/1.1 by ALPN, the crate's safe
/// protocol versions, no client certificates.
pub fn server_config(
    field: &'static str,
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, HttpsError> {
    let bad = |path: &Path, reason: String| HttpsError::File {
        field,
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| HttpsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Roots for clients of an HTTPS API: the PEM file's certificates (`--cacert`), else the
/// system's trust store.
pub fn client_roots(cacert: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match cacert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--cacert {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--cacert {}: no certificate in the file",
                    path.display()
                ));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("--cacert {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "no system trust roots found: pass --cacert with the CA that \
                            signed the API certificate"
                        .into(),
                );
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_certificate_is_preferred_to_the_peer_one() {
        let dir = tempfile::tempdir().unwrap();
        let regions = vec!["r1".to_string()];
        crate::transport::init_certs(dir.path(), "t", &regions, &[]).unwrap();
        let tls = ApiTls { files: None };
        let (_, cert, key) = choose_files(&tls, Some(dir.path()), "r1").unwrap();
        assert!(cert.ends_with("r1.api.pem") && key.ends_with("r1.api.key"));
        server_config("tls.certs_dir", &cert, &key).unwrap();
        std::fs::remove_file(&cert).unwrap();
        let (_, cert, _) = choose_files(&tls, Some(dir.path()), "r1").unwrap();
        assert!(cert.ends_with("r1.pem"));
        assert!(matches!(
            choose_files(&tls, None, "r1"),
            Err(HttpsError::NoCertificate { .. })
        ));
        // a key file holding no key is named with the field that chose it
        let bogus = dir.path().join("bogus.key");
        std::fs::write(&bogus, "not pem").unwrap();
        match server_config("api.cert_file", &cert, &bogus) {
            Err(e @ HttpsError::File { .. }) => {
                assert!(e.to_string().starts_with("api.cert_file: "), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_roots_name_the_cacert_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = client_roots(Some(&empty)).unwrap_err();
        assert!(
            e.contains("--cacert") && e.contains("no certificate"),
            "{e}"
        );
        let e = client_roots(Some(&dir.path().join("missing.pem"))).unwrap_err();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
