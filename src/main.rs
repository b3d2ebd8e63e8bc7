//! The `georep` binary: parses the command line and maps failures to exit codes
//! (2 = bad usage or configuration, 1 = runtime failure).

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command, UsageError};
use georep::config::ConfigError;
use georep::node::NodeError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        // openraft reports every failed RPC to a down peer as an error; its own warnings
        // are routine (stale votes). RUST_LOG overrides.
        Command::Node(_) => "info,openraft=error",
        _ => "warn,openraft=off",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // Listing commands end quietly when their reader goes away (`| head`), like other Unix
    // tools. Servers keep Rust's default (SIGPIPE ignored): a vanished client is an error
    // on one connection, not the end of the process.
    if matches!(
        cli.command,
        Command::Archive(_) | Command::Get(_) | Command::Restore(_)
    ) {
        // SAFETY: called before any thread of ours writes to a pipe; SIG_DFL is always valid.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(a) => cli::demo::run(a).await,
            Command::Node(a) => cli::node::run(a).await,
            Command::Put(a) => cli::doc::put(a).await,
            Command::Get(a) => cli::doc::get(a).await,
            Command::Delete(a) => cli::doc::delete(a).await,
            Command::Bench(a) => cli::bench::run(a).await,
            Command::Certs(a) => cli::certs::run(a),
            Command::Archive(a) => cli::archive::run(a).await,
            Command::Restore(a) => cli::restore::run(a).await,
            Command::Auth(a) => cli::auth::run(a),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    let usage = e.chain().any(|c| {
        c.is::<UsageError>()
            || c.is::<ConfigError>()
            || c.downcast_ref::<NodeError>()
                .is_some_and(NodeError::is_usage)
    });
    if usage { 2 } else { 1 }
}
