//! `[[sinks]]` in the topology: where a slot's changes are pushed (issue 17). NATS
//! JetStream: `slot`, `kind = "nats"`, `url = "nats://host:port"`, `subject`, and optionally
//! `stream` (created if absent, capturing the subject; default `georep-<slot>`). An HTTP
//! webhook: `slot`, `kind = "webhook"`, `url = "http(s)://host[:port]/path"`. Validated at
//! load: every problem names the field, e.g. `sinks[1].subject`.

use serde::Deserialize;

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
    },
    /// An HTTP POST of each batch to `endpoint` + `path`, retried with backoff until it is
    /// answered 2xx.
    Webhook {
        /// `http(s)://host:port`, the port filled in if the URL had none.
        endpoint: String,
        /// Starts with `/`.
        path: String,
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
            SinkKind::Webhook { endpoint, path } => format!("webhook:{endpoint}{path}"),
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

pub(super) fn validate(specs: Vec<SinkSpec>) -> Result<Vec<Sink>, ConfigError> {
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
                }
            }
            "webhook" => {
                for (name, v) in [("subject", &s.subject), ("stream", &s.stream)] {
                    if v.is_some() {
                        return Err(invalid(field(name), "only nats sinks have one"));
                    }
                }
                let (endpoint, path) = webhook_url(&s.url).map_err(|r| invalid(field("url"), r))?;
                SinkKind::Webhook { endpoint, path }
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
                },
                SinkKind::Nats {
                    stream: b,
                    subject: sb,
                    url: ub,
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

    fn parse(toml_text: &str) -> Result<Vec<Sink>, String> {
        #[derive(Deserialize)]
        struct F {
            sinks: Vec<SinkSpec>,
        }
        let f: F = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        validate(f.sinks).map_err(|e| e.to_string())
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
                stream: "georep-etl".into()
            }
        );
    }

    #[test]
    fn a_webhook_url_is_split_and_its_port_filled_in() {
        let s = parse("[[sinks]]\nslot = \"etl\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/in/etl\"\n")
            .unwrap();
        assert_eq!(
            s[0].kind,
            SinkKind::Webhook {
                endpoint: "https://hooks.example.com:443".into(),
                path: "/in/etl".into()
            }
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
