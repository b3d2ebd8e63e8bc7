//! Cluster certificates: a CA per cluster, and per region a certificate whose only subject
//! name is the region name. A peer's region is whatever name its certificate is valid for,
//! so a node cannot claim another region's identity without that region's key.
//!
//! `georep certs init` makes a development CA and node certificates with rcgen; production
//! deployments can issue the same shape (SAN = region name, serverAuth + clientAuth) from
//! their own PKI.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::TransportError;

/// What one node presents and trusts.
#[derive(Debug)]
pub struct NodeIdentity {
    pub region: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The cluster CA: the only root peers are verified against.
    pub ca: CertificateDer<'static>,
}

impl Clone for NodeIdentity {
    fn clone(&self) -> Self {
        Self {
            region: self.region.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ca: self.ca.clone(),
        }
    }
}

fn rc(e: rcgen::Error) -> TransportError {
    TransportError::Tls(format!("certificate generation: {e}"))
}

pub fn ca_cert_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

pub fn node_cert_path(dir: &Path, region: &str) -> PathBuf {
    dir.join(format!("{region}.pem"))
}

pub fn node_key_path(dir: &Path, region: &str) -> PathBuf {
    dir.join(format!("{region}.key"))
}

/// The client API's HTTPS certificate for `region` (`[api] tls = true`). Region names
/// have no dots, so this never clashes with a region's own files.
pub fn api_cert_path(dir: &Path, region: &str) -> PathBuf {
    dir.join(format!("{region}.api.pem"))
}

pub fn api_key_path(dir: &Path, region: &str) -> PathBuf {
    dir.join(format!("{region}.api.key"))
}

/// Names every API certificate from [`init`] is valid for besides the region's and the
/// `--api-host` ones: enough for curl and clients on the node itself.
pub const API_DEFAULT_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

/// A cluster CA, kept in memory while it signs node certificates.
pub struct ClusterCa {
    pub cert_pem: String,
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A new CA for `cluster`.
pub fn generate_ca(cluster: &str) -> Result<ClusterCa, TransportError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("georep {cluster} cluster CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(rc)?;
    let cert = params.self_signed(&key).map_err(rc)?;
    let key_pem = key.serialize_pem();
    Ok(ClusterCa {
        cert_pem: cert.pem(),
        key_pem,
        issuer: Issuer::new(params, key),
    })
}

impl ClusterCa {
    /// A certificate for `region`: `(certificate PEM, key PEM)`.
    pub fn issue(&self, region: &str) -> Result<(String, String), TransportError> {
        let mut params = CertificateParams::new(vec![region.to_string()]).map_err(rc)?;
        params.distinguished_name.push(DnType::CommonName, region);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().map_err(rc)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rc)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// An HTTPS certificate for `region`'s client API, valid for the region name and `hosts`
    /// (DNS names or IP addresses). Server authentication only: it cannot dial a peer as
    /// the region, so the API key is no peer credential.
    pub fn issue_api(
        &self,
        region: &str,
        hosts: &[String],
    ) -> Result<(String, String), TransportError> {
        let mut names = vec![region.to_string()];
        for h in hosts {
            if !names.contains(h) {
                names.push(h.clone());
            }
        }
        // rcgen takes a string that parses as an IP address as an IP SAN, else a DNS name
        let mut params = CertificateParams::new(names).map_err(rc)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{region} client API"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(rc)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rc)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Writes `ca.pem`, `ca.key`, and for each region `<region>.pem` / `<region>.key` (peer
/// identity) and `<region>.api.pem` / `<region>.api.key` (client API HTTPS, valid for the
/// region name, [`API_DEFAULT_HOSTS`] and `api_hosts`) into `out` (keys mode 0600).
/// Refuses to overwrite an existing CA.
pub fn init(
    out: &Path,
    cluster: &str,
    regions: &[String],
    api_hosts: &[String],
) -> Result<Vec<PathBuf>, TransportError> {
    let err = |path: &Path, e: std::io::Error| TransportError::Certs {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(out).map_err(|e| err(out, e))?;
    let ca_path = ca_cert_path(out);
    if ca_path.exists() {
        return Err(TransportError::Certs {
            path: ca_path,
            reason: "a CA already exists here; remove it or choose another --out".into(),
        });
    }
    let ca = generate_ca(cluster)?;
    let mut written = Vec::new();
    let mut write = |path: PathBuf, text: &str, secret: bool| -> Result<(), TransportError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if secret { 0o600 } else { 0o644 })
            .open(&path)
            .map_err(|e| err(&path, e))?;
        f.write_all(text.as_bytes()).map_err(|e| err(&path, e))?;
        written.push(path);
        Ok(())
    };
    write(ca_path, &ca.cert_pem, false)?;
    write(out.join("ca.key"), &ca.key_pem, true)?;
    for region in regions {
        let (cert, key) = ca.issue(region)?;
        write(node_cert_path(out, region), &cert, false)?;
        write(node_key_path(out, region), &key, true)?;
        let hosts: Vec<String> = API_DEFAULT_HOSTS
            .iter()
            .map(|h| h.to_string())
            .chain(api_hosts.iter().cloned())
            .collect();
        let (cert, key) = ca.issue_api(region, &hosts)?;
        write(api_cert_path(out, region), &cert, false)?;
        write(api_key_path(out, region), &key, true)?;
    }
    Ok(written)
}

/// Loads `region`'s identity from a directory laid out by [`init`].
pub fn load(dir: &Path, region: &str) -> Result<NodeIdentity, TransportError> {
    let bad = |path: PathBuf, reason: String| TransportError::Certs { path, reason };
    let ca_path = ca_cert_path(dir);
    let ca =
        CertificateDer::from_pem_file(&ca_path).map_err(|e| bad(ca_path.clone(), e.to_string()))?;
    let cert_path = node_cert_path(dir, region);
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert_path.clone(), e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(cert_path, "no certificate in the file".into()));
    }
    let key_path = node_key_path(dir, region);
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| bad(key_path, e.to_string()))?;
    Ok(NodeIdentity {
        region: region.to_string(),
        chain,
        key,
        ca,
    })
}

/// The regions among `candidates` that `cert` (an end-entity certificate) is valid for.
pub fn regions_of(cert: &CertificateDer<'_>, candidates: &[String]) -> Vec<String> {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    candidates
        .iter()
        .filter(|r| {
            rustls_pki_types::ServerName::try_from(r.as_str())
                .is_ok_and(|name| ee.verify_is_valid_for_subject_name(&name).is_ok())
        })
        .cloned()
        .collect()
}
