//! `georep bench`: an end-to-end load driver. N clients, each with its own keep-alive
//! connection, issue requests back to back for a fixed time; latencies are recorded per
//! request after a warm-up and summarised as throughput and percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;
use georep::consistency::Consistency;

use super::UsageError;
use super::stats::{ms, percentile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    Put,
    Get,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub connect: super::ConnectOpts,
    #[arg(long, value_enum, default_value = "put")]
    pub op: Op,
    /// Concurrent clients (one connection each)
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Measured seconds (after the warm-up)
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Unmeasured seconds before measuring
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    #[arg(long, default_value_t = 1024)]
    pub value_bytes: usize,
    /// Distinct keys written or read
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    #[arg(long, default_value = "bench")]
    pub collection: String,
    /// Consistency header for reads
    #[arg(long, value_parser = |s: &str| s.parse::<Consistency>().map_err(|e| e.to_string()))]
    pub consistency: Option<Consistency>,
}

impl BenchArgs {
    fn client(&self) -> Result<Client, UsageError> {
        self.connect.client()
    }
}

struct ClientResult {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.keys == 0 || args.duration == 0 {
        return Err(
            UsageError("--clients, --keys and --duration must be at least 1".into()).into(),
        );
    }
    let probe = args.client()?;
    let value = Bytes::from(
        (0..args.value_bytes)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let op = match args.op {
        Op::Put => "put",
        Op::Get => "get",
    };
    eprintln!(
        "georep bench: {op}, {} clients, {} s (+{} s warm-up), {}-byte values, {} keys, {}",
        args.clients,
        args.duration,
        args.warmup,
        args.value_bytes,
        args.keys,
        probe.base()
    );
    if args.op == Op::Get {
        preload(&probe, &args, value.clone()).await?;
    }
    let consistency = args.consistency.map(|c| c.as_str().to_string());
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let end = measure_from + Duration::from_secs(args.duration);
    let args = Arc::new(args);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let client = args.client()?;
        let (args, value, consistency) = (args.clone(), value.clone(), consistency.clone());
        tasks.push(tokio::spawn(async move {
            let mut r = ClientResult {
                latencies: Vec::new(),
                errors: 0,
                first_error: None,
            };
            let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1);
            let headers: Vec<(&str, &str)> = consistency
                .as_deref()
                .map(|v| vec![("x-georep-consistency", v)])
                .unwrap_or_default();
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let key = format!("k{:08}", rng % args.keys);
                let resp = match args.op {
                    Op::Put => {
                        client
                            .put(&args.collection, &key, value.clone(), &headers)
                            .await
                    }
                    Op::Get => client.get(&args.collection, &key, &headers).await,
                };
                let took = now.elapsed();
                let ok = match &resp {
                    Ok(resp) if resp.status.is_success() => true,
                    Ok(resp) => {
                        r.first_error
                            .get_or_insert_with(|| format!("HTTP {}", resp.status));
                        false
                    }
                    Err(e) => {
                        r.first_error.get_or_insert_with(|| e.to_string());
                        false
                    }
                };
                if now >= measure_from {
                    if ok {
                        r.latencies.push(took);
                    } else {
                        r.errors += 1;
                    }
                }
            }
            r
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let r = t.await?;
        all.extend(r.latencies);
        errors += r.errors;
        first_error = first_error.or(r.first_error);
    }
    all.sort_unstable();
    let secs = args.duration as f64;
    let ops = all.len() as f64 / secs;
    println!(
        "op={op} clients={} value_bytes={} duration_s={}",
        args.clients, args.value_bytes, args.duration
    );
    println!("requests_ok={} errors={errors}", all.len());
    println!(
        "throughput_ops_s={ops:.0} throughput_mib_s={:.1}",
        ops * args.value_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "latency_ms p50={} p99={} p99.9={} max={}",
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 99.0)),
        ms(percentile(&all, 99.9)),
        ms(all.last().copied().unwrap_or_default()),
    );
    if let Some(e) = first_error {
        eprintln!("first error: {e}");
    }
    if all.is_empty() {
        anyhow::bail!("no request succeeded");
    }
    Ok(())
}

/// Writes every key once so reads find documents.
async fn preload(client: &Client, args: &BenchArgs, value: Bytes) -> anyhow::Result<()> {
    let started = Instant::now();
    let workers = 32.min(args.keys as usize);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (client, value) = (client.clone(), value.clone());
        let (collection, keys) = (args.collection.clone(), args.keys);
        tasks.push(tokio::spawn(async move {
            let mut k = w as u64;
            while k < keys {
                let resp = client
                    .put(&collection, &format!("k{k:08}"), value.clone(), &[])
                    .await?;
                if !resp.status.is_success() {
                    anyhow::bail!("preload write failed: HTTP {}", resp.status);
                }
                k += workers as u64;
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!(
        "preloaded {} keys in {:.1} s",
        args.keys,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
