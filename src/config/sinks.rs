//! `[[sinks]]` in the topology: where a slot's changes are pushed (issue 17). NATS
//! JetStream: `slot`, `kind = "nats"`, `url = "nats://host:port"`, `subject`, and optionally
//! `stream` (created if absent, capturing the subject; default `georep-<slot>`). An HTTP
//! webhook: `slot`, `kind = "webhook"`, `url = "http(s)://host[:port]/path"`, `secret_file`
//! (at least 32 bytes: every request is signed with it, `cdc/sink/signature.rs`, so a
//! receiver can refuse what georep did not send). Validated at load: every problem names the
//! field, e.g. `sinks[1].subject`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::auth::{Secret, trim_newline};
use super::error::{ConfigError, invalid};
use super::names::check_collection_name;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SinkSpec {
    slot: String,
    kind: String,
    url: String,
    subject: Option<String>,
    stream: Option<String>,
    secret_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

/// A credential file's path (relative ones from the topology's directory) and its bytes,
/// without the trailing newline.
fn read_credential(
    base: &Path,
    path: &Path,
    field: &str,
) -> Result<(PathBuf, Vec<u8>), ConfigError> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let bytes =
        std::fs::read(&path).map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
    Ok((path, trim_newline(bytes)))
}

/// A NATS token: text (it travels in the CONNECT message), without whitespace.
fn read_token(base: &Path, path: &Path, field: &str) -> Result<Secret, ConfigError> {
    let (path, token) = read_credential(base, path, field)?;
    match std::str::from_utf8(&token) {
        Ok(t) if !t.is_empty() && !t.contains(char::is_whitespace) => Ok(Secret(token)),
        _ => Err(invalid(
            field,
            format!(
                "{}: not a token (one line of text, no spaces)",
                path.display()
            ),
        )),
    }
}

/// Bytes a webhook's signing secret has at least (HMAC-SHA256's block of security).
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 32;

fn read_secret(base: &Path, path: &Path, field: &str) -> Result<Secret, ConfigError> {
    let (path, secret) = read_credential(base, path, field)?;
    if secret.len() < MIN_WEBHOOK_SECRET_BYTES {
        return Err(invalid(
            field,
            format!(
                "{}: the secret is {} bytes; at least {MIN_WEBHOOK_SECRET_BYTES} (openssl rand -hex 32 > FILE)",
                path.display(),
                secret.len()
            ),
        ));
    }
    Ok(Secret(secret))
}

/// A validated sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    pub slot: String,
    pub kind: SinkKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// JetStream: each event one message on `subject` with `Nats-Msg-Id` = its position, so
    /// a redelivery after a restart is dropped by the stream's duplicate window.
    Nats {
        url: String,
        subject: String,
        stream: String,
        /// The server's token (`token_file`; nats-server `--auth`/`authorization { token }`);
        /// None: the sink connects without credentials.
        token: Option<Secret>,
    },
    /// An HTTP POST of each batch to `endpoint` + `path`, retried with backoff until it is
    /// answered 2xx.
    Webhook {
        /// `http(s)://host:port`, the port filled in if the URL had none.
        endpoint: String,
        /// Starts with `/`.
        path: String,
        /// Signs every request (`georep-signature`).
        secret: Secret,
    },
    /// A filtered replica (`[[replicas]]`): the slot's changes applied into `collection`
    /// of this cluster, those of `filter` (all without one). Made from `Replica`, never
    /// written in `[[sinks]]`.
    Replica {
        collection: String,
        filter: Option<String>,
    },
}

impl Sink {
    /// A name for logs and metrics.
    pub fn name(&self) -> String {
        match &self.kind {
            SinkKind::Nats { stream, .. } => format!("nats:{stream}"),
            SinkKind::Webhook { endpoint, path, .. } => format!("webhook:{endpoint}{path}"),
            SinkKind::Replica { collection, .. } => format!("replica:{collection}"),
        }
    }
}

/// NATS subject tokens: no spaces, no wildcards in a subject published to, no empty token.
fn check_subject(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || *c == '*' || *c == '>')
    {
        return Err(format!("{c:?} is not allowed in a subject published to"));
    }
    if s.split('.').any(str::is_empty) {
        return Err("a subject's tokens (between dots) cannot be empty".into());
    }
    Ok(())
}

/// `http(s)://host[:port][/path]` as the endpoint the client dials and the path it posts to.
fn webhook_url(url: &str) -> Result<(String, String), String> {
    let (scheme, rest, port) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r, 443)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r, 80)
    } else {
        return Err(format!("{url:?} is not http(s)://host[:port]/path"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "{url:?}: no host (credentials in the URL are not accepted)"
        ));
    }
    if path.contains(char::is_whitespace) {
        return Err(format!("{url:?}: the path has whitespace"));
    }
    let authority = match authority.rsplit_once(':') {
        Some((host, p)) if !host.is_empty() && p.parse::<u16>().is_ok() => authority.to_string(),
        Some(_) => return Err(format!("{url:?}: the port is not a number")),
        None => format!("{authority}:{port}"),
    };
    Ok((format!("{scheme}://{authority}"), path.to_string()))
}

/// JetStream stream names: no spaces, dots, wildcards or path separators.
fn check_stream(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 64 {
        return Err("1 to 64 characters".into());
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        Some(c) => Err(format!("{c:?} is not allowed (letters, digits, - and _)")),
        None => Ok(()),
    }
}

pub(super) fn validate(specs: Vec<SinkSpec>, base: &Path) -> Result<Vec<Sink>, ConfigError> {
    let mut out: Vec<Sink> = Vec::with_capacity(specs.len());
    for (i, s) in specs.into_iter().enumerate() {
        let field = |f: &str| format!("sinks[{i}].{f}");
        check_collection_name(&s.slot)
            .map_err(|r| invalid(field("slot"), format!("not a slot name: {r}")))?;
        if s.slot.starts_with(super::replicas::SLOT_PREFIX) {
            return Err(invalid(
                field("slot"),
                format!(
                    "slots named {}* are the filtered replicas' own",
                    super::replicas::SLOT_PREFIX
                ),
            ));
        }
        let kind = match s.kind.as_str() {
            "nats" => {
                if s.secret_file.is_some() {
                    return Err(invalid(field("secret_file"), "only webhook sinks have one"));
                }
                let token = match &s.token_file {
                    None => None,
                    Some(p) => Some(read_token(base, p, &field("token_file"))?),
                };
                let rest = s.url.strip_prefix("nats://").ok_or_else(|| {
                    invalid(field("url"), format!("{:?} is not nats://host:port", s.url))
                })?;
                if rest.is_empty() || rest.contains('/') {
                    return Err(invalid(
                        field("url"),
                        format!("{:?} is not nats://host:port", s.url),
                    ));
                }
                let subject = s.subject.ok_or_else(|| {
                    invalid(field("subject"), "missing: the subject to publish to")
                })?;
                check_subject(&subject).map_err(|r| invalid(field("subject"), r))?;
                let stream = s.stream.unwrap_or_else(|| format!("georep-{}", s.slot));
                check_stream(&stream).map_err(|r| invalid(field("stream"), r))?;
                SinkKind::Nats {
                    url: s.url,
                    subject,
                    stream,
                    token,
                }
            }
            "webhook" => {
                for (name, v) in [("subject", &s.subject), ("stream", &s.stream)] {
                    if v.is_some() {
                        return Err(invalid(field(name), "only nats sinks have one"));
                    }
                }
                if s.token_file.is_some() {
                    return Err(invalid(field("token_file"), "only nats sinks have one"));
                }
                let (endpoint, path) = webhook_url(&s.url).map_err(|r| invalid(field("url"), r))?;
                let secret_file = s.secret_file.as_ref().ok_or_else(|| {
                    invalid(
                        field("secret_file"),
                        "missing: webhook requests are signed (HMAC-SHA256) so the receiver can \
                         refuse what georep did not send",
                    )
                })?;
                let secret = read_secret(base, secret_file, &field("secret_file"))?;
                SinkKind::Webhook {
                    endpoint,
                    path,
                    secret,
                }
            }
            other => {
                return Err(invalid(
                    field("kind"),
                    format!("{other:?} is not a sink kind: nats or webhook"),
                ));
            }
        };
        let sink = Sink { slot: s.slot, kind };
        if out.iter().any(|o| o.slot == sink.slot) {
            return Err(invalid(
                field("slot"),
                format!(
                    "slot {:?} already has a sink: one sink per slot (its position is the sink's)",
                    sink.slot
                ),
            ));
        }
        // Two sinks into one stream would share its Nats-Msg-Id window: their positions could
        // collide and one sink's events be dropped as the other's duplicates.
        for (j, other) in out.iter().enumerate() {
            let (
                SinkKind::Nats {
                    stream: a,
                    subject: sa,
                    url: ua,
                    ..
                },
                SinkKind::Nats {
                    stream: b,
                    subject: sb,
                    url: ub,
                    ..
                },
            ) = (&other.kind, &sink.kind)
            else {
                continue;
            };
            if ua == ub && (a == b || sa == sb) {
                return Err(invalid(
                    field("stream"),
                    format!(
                        "sinks[{j}] already publishes to stream {a:?} / subject {sa:?} on {ua}"
                    ),
                ));
            }
        }
        out.push(sink);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses with the sinks' files relative to a directory holding `hook.secret` (32
    /// bytes and a newline) and `short.secret` (31 bytes).
    fn parse(toml_text: &str) -> Result<Vec<Sink>, String> {
        #[derive(Deserialize)]
        struct F {
            sinks: Vec<SinkSpec>,
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hook.secret"),
            format!("{}\n", "s".repeat(32)),
        )
        .unwrap();
        std::fs::write(dir.path().join("short.secret"), "s".repeat(31)).unwrap();
        std::fs::write(dir.path().join("spaced.token"), "a b\n").unwrap();
        let f: F = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        validate(f.sinks, dir.path()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_nats_sink_gets_a_default_stream() {
        let s = parse(
            "[[sinks]]\nslot = \"etl\"\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nsubject = \"georep.etl\"\n",
        )
        .unwrap();
        assert_eq!(
            s[0].kind,
            SinkKind::Nats {
                url: "nats://127.0.0.1:4222".into(),
                subject: "georep.etl".into(),
                stream: "georep-etl".into(),
                token: None,
            }
        );
    }

    #[test]
    fn a_webhook_url_is_split_and_its_port_filled_in() {
        let s = parse("[[sinks]]\nslot = \"etl\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/in/etl\"\nsecret_file = \"hook.secret\"\n")
            .unwrap();
        assert_eq!(
            s[0].kind,
            SinkKind::Webhook {
                endpoint: "https://hooks.example.com:443".into(),
                path: "/in/etl".into(),
                secret: Secret("s".repeat(32).into_bytes()),
            }
        );
        assert!(
            !format!("{:?}", s[0]).contains("sssss"),
            "the secret never prints"
        );
        assert_eq!(
            webhook_url("http://127.0.0.1:8080").unwrap(),
            ("http://127.0.0.1:8080".to_string(), "/".to_string())
        );
    }

    #[test]
    fn bad_sinks_are_refused_naming_the_field() {
        let ok = "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a.b\"\n";
        for (body, needle) in [
            (
                "slot = \"Etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\n",
                "sinks[0].slot",
            ),
            (
                "slot = \"etl\"\nkind = \"kafka\"\nurl = \"nats://h:1\"\n",
                "sinks[0].kind",
            ),
            (
                "slot = \"etl\"\nkind = \"webhook\"\nurl = \"ftp://h\"\n",
                "sinks[0].url",
            ),
            (
                "slot = \"etl\"\nkind = \"webhook\"\nurl = \"http://h:x/a\"\n",
                "port",
            ),
            (
                "slot = \"etl\"\nkind = \"webhook\"\nurl = \"http://h/a\"\nsubject = \"a\"\n",
                "sinks[0].subject",
            ),
            (
                "slot = \"etl\"\nkind = \"webhook\"\nurl = \"http://h/a\"\n",
                "sinks[0].secret_file: missing",
            ),
            (
                "slot = \"etl\"\nkind = \"webhook\"\nurl = \"http://h/a\"\nsecret_file = \"short.secret\"\n",
                "31 bytes; at least 32",
            ),
            (
                "slot = \"etl\"\nkind = \"webhook\"\nurl = \"http://h/a\"\nsecret_file = \"none.secret\"\n",
                "sinks[0].secret_file",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\nsecret_file = \"hook.secret\"\n",
                "sinks[0].secret_file: only webhook",
            ),
            (
                "slot = \"etl\"\nkind = \"webhook\"\nurl = \"http://h/a\"\nsecret_file = \"hook.secret\"\ntoken_file = \"hook.secret\"\n",
                "sinks[0].token_file: only nats",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\ntoken_file = \"spaced.token\"\n",
                "not a token",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"http://h:1\"\nsubject = \"a\"\n",
                "sinks[0].url",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\n",
                "sinks[0].subject: missing",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a.*\"\n",
                "sinks[0].subject",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a..b\"\n",
                "sinks[0].subject",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\nstream = \"a.b\"\n",
                "sinks[0].stream",
            ),
            (
                "slot = \"etl\"\nkind = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\ncolour = 1\n",
                "colour",
            ),
        ] {
            let e = parse(&format!("[[sinks]]\n{body}")).unwrap_err();
            assert!(e.contains(needle), "{body}: {e}");
        }
        let e = parse(&format!("[[sinks]]\n{ok}[[sinks]]\n{ok}")).unwrap_err();
        assert!(
            e.contains("sinks[1].slot") && e.contains("one sink per slot"),
            "{e}"
        );
        let other = ok.replace("\"etl\"", "\"etl2\"");
        let e = parse(&format!("[[sinks]]\n{ok}[[sinks]]\n{other}")).unwrap_err();
        assert!(
            e.contains("sinks[1].stream") && e.contains("sinks[0] already"),
            "{e}"
        );
    }
}
