//! `[auth]` in the topology: who may call the client API, as what role.
//!
//! Static bearer tokens are stored only as the SHA-256 of the token (`georep auth token`
//! prints both); JWTs are HS256 with a key from a file and carry `role` and `exp` claims.
//! Validation names the field: a bad hash, an unknown role, two tokens with one name, a key
//! file that is missing or shorter than 32 bytes, `mode = "token"` with no credential.
//!
//! Tokens can also live in `auth.tokens_file`, a TOML file of `[[auth.tokens]]` entries (what
//! `georep auth token` prints, appended): deployments keep it in a secret store next to the
//! certificates, and the topology itself stays free of credentials.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, invalid};

/// What a caller may do. `reader` < `writer` < `admin` (each includes the one before);
/// `cdc` reads change streams only (slots, for change data capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reader,
    Writer,
    Admin,
    Cdc,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reader, Role::Writer, Role::Admin, Role::Cdc];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
            Role::Cdc => "cdc",
        }
    }

    /// Whether a caller holding `self` may do what needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Admin, _) => true,
            (Role::Cdc, n) => n == Role::Cdc,
            (_, Role::Cdc) => false,
            (have, n) => have >= n,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a role (reader, writer, admin, cdc)"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Key material that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticToken {
    pub name: String,
    pub role: Role,
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every request must authenticate (`/healthz` and `/readyz` excepted).
    Token,
    /// No authentication: written as `mode = "none"` (`explicit`), or `[auth]` absent,
    /// which a node accepts only while its API listens on loopback.
    None { explicit: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub mode: AuthMode,
    pub tokens: Vec<StaticToken>,
    pub jwt_hs256_key: Option<Secret>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::None { explicit: false },
            tokens: Vec::new(),
            jwt_hs256_key: None,
        }
    }
}

impl AuthConfig {
    pub fn enabled(&self) -> bool {
        self.mode == AuthMode::Token
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthSpec {
    mode: Option<String>,
    jwt_hs256_key_file: Option<PathBuf>,
    tokens_file: Option<PathBuf>,
    #[serde(default)]
    tokens: Vec<TokenSpec>,
}

/// `auth.tokens_file`: `[[auth.tokens]]` entries and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    auth: TokensFileAuth,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFileAuth {
    #[serde(default)]
    tokens: Vec<TokenSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSpec {
    name: String,
    role: String,
    sha256: String,
}

/// The shortest HS256 key accepted: RFC 7518 wants at least the hash size.
pub const MIN_JWT_KEY_BYTES: usize = 32;

impl AuthSpec {
    pub(super) fn validate(self, base: &Path) -> Result<AuthConfig, ConfigError> {
        let mut tokens: Vec<StaticToken> = Vec::new();
        for (i, t) in self.tokens.iter().enumerate() {
            add_token(&mut tokens, &format!("auth.tokens[{i}]"), t)?;
        }
        if let Some(p) = &self.tokens_file {
            let path = base.join(p);
            let at = format!("auth.tokens_file ({})", path.display());
            let text = std::fs::read_to_string(&path).map_err(|e| invalid(&at, e.to_string()))?;
            let file: TokensFile = toml::from_str(&text).map_err(|e| {
                invalid(
                    &at,
                    format!("expected [[auth.tokens]] entries (name, role, sha256): {e}"),
                )
            })?;
            for (i, t) in file.auth.tokens.iter().enumerate() {
                add_token(&mut tokens, &format!("{at}: auth.tokens[{i}]"), t)?;
            }
        }
        let jwt_hs256_key = match &self.jwt_hs256_key_file {
            None => None,
            Some(p) => {
                let path = if p.is_absolute() {
                    p.clone()
                } else {
                    base.join(p)
                };
                let bytes = std::fs::read(&path).map_err(|e| {
                    invalid(
                        "auth.jwt_hs256_key_file",
                        format!("{}: {e}", path.display()),
                    )
                })?;
                let key = trim_newline(bytes);
                if key.len() < MIN_JWT_KEY_BYTES {
                    return Err(invalid(
                        "auth.jwt_hs256_key_file",
                        format!(
                            "{}: the key is {} bytes; HS256 needs at least {MIN_JWT_KEY_BYTES}",
                            path.display(),
                            key.len()
                        ),
                    ));
                }
                Some(Secret(key))
            }
        };
        let has_credentials = !tokens.is_empty() || jwt_hs256_key.is_some();
        let mode = match self.mode.as_deref() {
            Some("token") if !has_credentials => {
                return Err(invalid(
                    "auth.mode",
                    "\"token\" needs [[auth.tokens]], auth.tokens_file or auth.jwt_hs256_key_file",
                ));
            }
            Some("token") => AuthMode::Token,
            Some("none") => AuthMode::None { explicit: true },
            Some(other) => {
                return Err(invalid(
                    "auth.mode",
                    format!("{other:?} is not \"token\" or \"none\""),
                ));
            }
            None if has_credentials => AuthMode::Token,
            None => AuthMode::None { explicit: false },
        };
        Ok(AuthConfig {
            mode,
            tokens,
            jwt_hs256_key,
        })
    }
}

/// Validates one `[[auth.tokens]]` entry (`field` names it in errors) against those before.
fn add_token(tokens: &mut Vec<StaticToken>, field: &str, t: &TokenSpec) -> Result<(), ConfigError> {
    if t.name.is_empty() || t.name.len() > 64 || t.name.chars().any(char::is_control) {
        return Err(invalid(
            format!("{field}.name"),
            "1-64 printable characters",
        ));
    }
    if tokens.iter().any(|x| x.name == t.name) {
        return Err(invalid(
            format!("{field}.name"),
            format!("duplicate token name {:?}", t.name),
        ));
    }
    let role = t
        .role
        .parse()
        .map_err(|e| invalid(format!("{field}.role"), e))?;
    let sha256 = parse_sha256(&t.sha256).ok_or_else(|| {
        invalid(
            format!("{field}.sha256"),
            "64 hex characters: the SHA-256 of the token (`georep auth token` prints it)",
        )
    })?;
    if tokens.iter().any(|x| x.sha256 == sha256) {
        return Err(invalid(format!("{field}.sha256"), "the same token twice"));
    }
    tokens.push(StaticToken {
        name: t.name.clone(),
        role,
        sha256,
    });
    Ok(())
}

pub(super) fn trim_newline(mut v: Vec<u8>) -> Vec<u8> {
    while matches!(v.last(), Some(b'\n' | b'\r')) {
        v.pop();
    }
    v
}

pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> AuthSpec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn roles_nest_and_cdc_stands_apart() {
        assert!(Role::Writer.allows(Role::Reader));
        assert!(!Role::Reader.allows(Role::Writer));
        assert!(Role::Admin.allows(Role::Cdc) && Role::Admin.allows(Role::Writer));
        assert!(Role::Cdc.allows(Role::Cdc) && !Role::Cdc.allows(Role::Reader));
        assert!(!Role::Writer.allows(Role::Cdc));
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().unwrap_err().contains("reader"));
    }

    #[test]
    fn validation_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let hash = "ab".repeat(32);
        let err = |t: &str| spec(t).validate(dir.path()).unwrap_err().to_string();
        assert!(
            err(&format!(
                "[[tokens]]\nname = \"a\"\nrole = \"root\"\nsha256 = \"{hash}\""
            ))
            .contains("auth.tokens[0].role")
        );
        assert!(
            err("[[tokens]]\nname = \"a\"\nrole = \"reader\"\nsha256 = \"abc\"")
                .contains("auth.tokens[0].sha256")
        );
        assert!(err(&format!("[[tokens]]\nname = \"a\"\nrole = \"reader\"\nsha256 = \"{hash}\"\n[[tokens]]\nname = \"a\"\nrole = \"admin\"\nsha256 = \"{}\"", "cd".repeat(32))).contains("auth.tokens[1].name"));
        assert!(err("mode = \"token\"").contains("auth.mode"));
        assert!(err("mode = \"open\"").contains("auth.mode"));
        assert!(err("jwt_hs256_key_file = \"missing.key\"").contains("auth.jwt_hs256_key_file"));
        std::fs::write(dir.path().join("short.key"), "tooshort\n").unwrap();
        let e = err("jwt_hs256_key_file = \"short.key\"");
        assert!(e.contains("at least 32") && !e.contains("tooshort"), "{e}");
    }

    #[test]
    fn credentials_imply_token_mode_and_none_is_remembered_as_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let hash = "ab".repeat(32);
        let c = spec(&format!(
            "[[tokens]]\nname = \"a\"\nrole = \"writer\"\nsha256 = \"{hash}\""
        ))
        .validate(dir.path())
        .unwrap();
        assert_eq!(c.mode, AuthMode::Token);
        assert_eq!(c.tokens[0].role, Role::Writer);
        let c = spec("mode = \"none\"").validate(dir.path()).unwrap();
        assert_eq!(c.mode, AuthMode::None { explicit: true });
        let key = "k".repeat(40);
        std::fs::write(dir.path().join("jwt.key"), format!("{key}\n")).unwrap();
        let c = spec("jwt_hs256_key_file = \"jwt.key\"")
            .validate(dir.path())
            .unwrap();
        assert_eq!(c.jwt_hs256_key.as_ref().unwrap().0, key.as_bytes());
        assert!(!format!("{c:?}").contains(&key), "keys never print");
    }

    #[test]
    fn a_tokens_file_adds_entries_and_its_errors_name_the_file_and_entry() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |name: &str, role: &str, hash: &str| {
            format!("[[auth.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{hash}\"\n")
        };
        let file = dir.path().join("tokens.toml");
        std::fs::write(
            &file,
            entry("ops", "admin", &"cd".repeat(32))
                + entry("app", "writer", &"ef".repeat(32)).as_str(),
        )
        .unwrap();
        let inline = format!(
            "tokens_file = \"tokens.toml\"\n[[tokens]]\nname = \"dash\"\nrole = \"reader\"\nsha256 = \"{}\"",
            "ab".repeat(32)
        );
        let c = spec(&inline).validate(dir.path()).unwrap();
        assert_eq!(c.mode, AuthMode::Token);
        let names: Vec<_> = c.tokens.iter().map(|t| (t.name.as_str(), t.role)).collect();
        assert_eq!(
            names,
            [
                ("dash", Role::Reader),
                ("ops", Role::Admin),
                ("app", Role::Writer)
            ]
        );
        // a file alone is credentials enough for mode = "token"
        let c = spec("mode = \"token\"\ntokens_file = \"tokens.toml\"")
            .validate(dir.path())
            .unwrap();
        assert_eq!(c.tokens.len(), 2);

        let err = |text: String| {
            std::fs::write(&file, text).unwrap();
            spec("tokens_file = \"tokens.toml\"")
                .validate(dir.path())
                .unwrap_err()
                .to_string()
        };
        let e =
            err(entry("a", "writer", &"cd".repeat(32))
                + entry("b", "root", &"ef".repeat(32)).as_str());
        assert!(
            e.contains("auth.tokens_file") && e.contains("tokens.toml): auth.tokens[1].role"),
            "{e}"
        );
        let e = err(entry("a", "writer", &"cd".repeat(32))
            + entry("a", "reader", &"ef".repeat(32)).as_str());
        assert!(e.contains("auth.tokens[1].name"), "{e}");
        let e = err("[[tokens]]\nname = \"a\"\n".into());
        assert!(
            e.contains("auth.tokens_file") && e.contains("[[auth.tokens]]"),
            "{e}"
        );
        std::fs::remove_file(&file).unwrap();
        let e = spec("tokens_file = \"tokens.toml\"")
            .validate(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("auth.tokens_file") && e.contains("tokens.toml"),
            "{e}"
        );
    }
}
