//! `georep auth token|jwt`: credentials for a cluster with `[auth]`.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use georep::config::{MIN_JWT_KEY_BYTES, Role};
use sha2::{Digest, Sha256};

use super::UsageError;

#[derive(Debug, clap::Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Make a new random bearer token: prints the token (give it to the client, e.g. as
    /// GEOREP_TOKEN) and the `[[auth.tokens]]` entry holding only its SHA-256 (paste it into
    /// the topology of every region)
    Token(TokenArgs),
    /// Sign an HS256 JWT with the topology's `auth.jwt_hs256_key_file` key
    Jwt(JwtArgs),
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// reader (GET, list, /metrics, /v1/cluster) | writer (+ PUT, DELETE) | admin (+ /v1/admin/*) | cdc (change slots)
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// The name the token is known by in the topology (and in refusals' logs)
    #[arg(long, default_value = "app")]
    pub name: String,
    /// Append the entry to this tokens file (the one `auth.tokens_file` names; created
    /// mode 0600) instead of printing it; stdout then carries only the token, e.g.
    /// `georep auth token --role writer --name app --append-to auth-tokens.toml > app.token`
    #[arg(long)]
    pub append_to: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct JwtArgs {
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// The HS256 key file (the one `auth.jwt_hs256_key_file` names)
    #[arg(long)]
    pub key_file: PathBuf,
    /// Lifetime in seconds (the `exp` claim)
    #[arg(long, default_value_t = 3600)]
    pub ttl_s: u64,
    /// The `sub` claim: who the token is for
    #[arg(long)]
    pub sub: Option<String>,
}

pub fn run(args: AuthArgs) -> anyhow::Result<()> {
    match args.command {
        AuthCommand::Token(a) => {
            let (token, digest) = new_token()?;
            let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let entry = format!(
                "[[auth.tokens]]\nname = {:?}\nrole = \"{}\"\nsha256 = \"{hash}\"\n",
                a.name, a.role
            );
            match &a.append_to {
                None => {
                    println!("token (shown once; store it as a secret): {token}");
                    println!();
                    print!("{entry}");
                }
                Some(path) => {
                    append_entry(path, &a.name, &entry)?;
                    println!("{token}");
                    eprintln!(
                        "appended the [[auth.tokens]] entry {:?} ({}) to {}",
                        a.name,
                        a.role,
                        path.display()
                    );
                }
            }
            Ok(())
        }
        AuthCommand::Jwt(a) => {
            let mut key = std::fs::read(&a.key_file)
                .map_err(|e| UsageError(format!("--key-file {}: {e}", a.key_file.display())))?;
            while matches!(key.last(), Some(b'\n' | b'\r')) {
                key.pop();
            }
            if key.len() < MIN_JWT_KEY_BYTES {
                return Err(UsageError(format!(
                    "--key-file {}: {} bytes; HS256 needs at least {MIN_JWT_KEY_BYTES}",
                    a.key_file.display(),
                    key.len()
                ))
                .into());
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            println!(
                "{}",
                georep::auth::jwt::sign(&key, a.role, a.sub.as_deref(), now + a.ttl_s)
            );
            Ok(())
        }
    }
}

/// A new random bearer token (`grp_` and 32 random bytes) and its SHA-256.
pub fn new_token() -> anyhow::Result<(String, [u8; 32])> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = format!("grp_{}", URL_SAFE_NO_PAD.encode(raw));
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    Ok((token, digest))
}

/// Appends `entry` to the tokens file at `path`, refusing a file that is not a tokens file
/// or that already has a token named `name` (the node would refuse it at start).
fn append_entry(path: &std::path::Path, name: &str, entry: &str) -> Result<(), UsageError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bad = |reason: String| UsageError(format!("--append-to {}: {reason}", path.display()));
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(bad(e.to_string())),
    };
    let table: toml::Table = toml::from_str(&existing).map_err(|e| bad(e.to_string()))?;
    let names: Vec<String> = table
        .get("auth")
        .and_then(|a| a.get("tokens"))
        .and_then(|t| t.as_array())
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if names.iter().any(|n| n == name) {
        return Err(bad(format!(
            "a token named {name:?} is already there; choose another --name"
        )));
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| bad(e.to_string()))?;
    let sep = if existing.is_empty() || existing.ends_with("\n\n") {
        ""
    } else if existing.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    f.write_all(format!("{sep}{entry}").as_bytes())
        .map_err(|e| bad(e.to_string()))
}
