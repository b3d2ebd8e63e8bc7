//! `[api]` in the topology: how the client API is served. Today: plain HTTP or HTTPS.
//!
//! With `tls = true` a node serves HTTPS with, in order: the configured `cert_file` /
//! `key_file`; else `<certs_dir>/<region>-api.pem` (made by `georep certs init`, valid for
//! the region name, `localhost`, 127.0.0.1 and any `--api-host`); else the region's peer
//! certificate, whose only name is the region's. Which files exist is checked when the node
//! starts, since `georep node --certs` can point elsewhere than the topology.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, invalid};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiSpec {
    #[serde(default)]
    tls: bool,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

/// HTTPS settings of the client API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    /// Configured certificate chain and key (absolute), if not the certs directory's.
    pub files: Option<(PathBuf, PathBuf)>,
}

impl ApiSpec {
    pub(super) fn validate(self, base: &Path) -> Result<Option<ApiTls>, ConfigError> {
        let files = match (self.cert_file, self.key_file) {
            (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "api.key_file",
                    "missing: cert_file needs the private key that goes with it",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "api.cert_file",
                    "missing: key_file needs the certificate that goes with it",
                ));
            }
        };
        match (self.tls, files) {
            (true, files) => Ok(Some(ApiTls { files })),
            (false, None) => Ok(None),
            (false, Some(_)) => Err(invalid(
                "api.tls",
                "cert_file and key_file are set but tls is false: write `tls = true` to serve HTTPS",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<Option<ApiTls>, ConfigError> {
        let s: ApiSpec = toml::from_str(text).unwrap();
        s.validate(Path::new("/etc/georep"))
    }

    #[test]
    fn files_resolve_against_the_topology_and_come_in_pairs() {
        assert_eq!(spec("").unwrap(), None);
        assert_eq!(spec("tls = true").unwrap(), Some(ApiTls { files: None }));
        assert_eq!(
            spec("tls = true\ncert_file = \"api.pem\"\nkey_file = \"/k/api.key\"").unwrap(),
            Some(ApiTls {
                files: Some(("/etc/georep/api.pem".into(), "/k/api.key".into()))
            })
        );
        let field = |t: &str| match spec(t) {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("tls = true\ncert_file = \"a\""), "api.key_file");
        assert_eq!(field("tls = true\nkey_file = \"a\""), "api.cert_file");
        assert_eq!(field("cert_file = \"a\"\nkey_file = \"b\""), "api.tls");
    }
}
