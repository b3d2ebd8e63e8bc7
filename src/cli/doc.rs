use std::io::{Read, Write};

use anyhow::Context;
use bytes::Bytes;
use georep::client::Response;

use super::{ClientOpts, UsageError};

#[derive(Debug, clap::Args)]
pub struct DocArgs {
    #[command(flatten)]
    pub client: ClientOpts,
    /// Only if the document is at this version (DELETE); see `put --if-match`
    #[arg(long)]
    pub if_match: Option<u64>,
    pub collection: String,
    pub key: String,
}

#[derive(Debug, clap::Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub client: ClientOpts,
    /// Write only if the document is at this version (compare-and-set; 412 otherwise)
    #[arg(long, conflicts_with = "if_absent")]
    pub if_match: Option<u64>,
    /// Write only if the document does not exist yet
    #[arg(long)]
    pub if_absent: bool,
    /// Content-Type to store (application/json values are checked to parse)
    #[arg(long)]
    pub content_type: Option<String>,
    pub collection: String,
    pub key: String,
    /// The document; `-` reads it from stdin
    pub value: Option<String>,
}

fn headers(opts: &ClientOpts) -> Vec<(&'static str, String)> {
    let mut h = Vec::new();
    if let Some(c) = opts.consistency {
        h.push(("x-georep-consistency", c.as_str().to_string()));
    }
    if let Some(t) = &opts.session_token {
        h.push(("x-georep-session-token", t.clone()));
    }
    if let Some(s) = opts.max_staleness_ms {
        h.push(("x-georep-max-staleness-ms", s.to_string()));
    }
    h
}

fn borrow<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Prints the response's metadata and token to stderr; fails on a non-success status.
fn report(resp: &Response) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    let field = |name| resp.header(name).unwrap_or("-").to_string();
    writeln!(
        err,
        "status: {}  region: {}  version: {}  staleness_ms: {}",
        resp.status.as_u16(),
        field("x-georep-region"),
        field("x-georep-version"),
        field("x-georep-staleness-ms"),
    )?;
    if let Some(t) = resp.header("x-georep-session-token") {
        writeln!(err, "session-token: {t}")?;
    }
    if resp.status.is_success() {
        return Ok(());
    }
    let message = resp
        .json()
        .and_then(|j| j["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&resp.body).into_owned());
    anyhow::bail!(
        "{} {}: {message}",
        resp.status.as_u16(),
        resp.error_code().unwrap_or_default()
    )
}

pub async fn put(args: PutArgs) -> anyhow::Result<()> {
    let value = match args.value.as_deref() {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the value from stdin")?;
            buf
        }
        Some(v) => v.as_bytes().to_vec(),
        None => {
            return Err(UsageError("put needs a VALUE (or - to read it from stdin)".into()).into());
        }
    };
    let client = args.client.client()?;
    let mut h = headers(&args.client);
    if let Some(v) = args.if_match {
        h.push(("if-match", v.to_string()));
    }
    if args.if_absent {
        h.push(("if-none-match", "*".into()));
    }
    if let Some(ct) = &args.content_type {
        h.push(("content-type", ct.clone()));
    }
    let resp = client
        .put(&args.collection, &args.key, Bytes::from(value), &borrow(&h))
        .await?;
    report(&resp)?;
    std::io::stdout().write_all(&resp.body)?;
    println!();
    Ok(())
}

pub async fn get(args: DocArgs) -> anyhow::Result<()> {
    if args.if_match.is_some() {
        return Err(UsageError("--if-match applies to put and delete".into()).into());
    }
    let client = args.client.client()?;
    let resp = client
        .get(&args.collection, &args.key, &borrow(&headers(&args.client)))
        .await?;
    report(&resp)?;
    std::io::stdout().write_all(&resp.body)?;
    if !resp.body.ends_with(b"\n") {
        println!();
    }
    Ok(())
}

pub async fn delete(args: DocArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    let mut h = headers(&args.client);
    if let Some(v) = args.if_match {
        h.push(("if-match", v.to_string()));
    }
    let resp = client
        .delete(&args.collection, &args.key, &borrow(&h))
        .await?;
    report(&resp)?;
    std::io::stdout().write_all(&resp.body)?;
    println!();
    Ok(())
}
