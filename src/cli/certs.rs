use std::path::PathBuf;

use georep::config::names::check_region_name;
use georep::transport;

use super::UsageError;

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    pub command: CertsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Make a development cluster CA and one certificate per region (mutual TLS between regions)
    Init(InitArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to write ca.pem, ca.key, <region>.pem and <region>.key into
    #[arg(long)]
    pub out: PathBuf,
    /// Comma-separated region names, e.g. us-east-1,eu-west-1,ap-south-1
    #[arg(long, value_delimiter = ',', required = true)]
    pub regions: Vec<String>,
    /// Cluster name written into the CA's subject
    #[arg(long, default_value = "georep")]
    pub cluster: String,
}

pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    let CertsCommand::Init(a) = args.command;
    for r in &a.regions {
        check_region_name(r).map_err(|e| UsageError(format!("--regions: {e}")))?;
    }
    let written = transport::init_certs(&a.out, &a.cluster, &a.regions)?;
    for p in &written {
        println!("{}", p.display());
    }
    eprintln!(
        "keep ca.key offline; copy ca.pem, <region>.pem and <region>.key to each region's node, and\n\
         point the topology's [tls] certs_dir (or `georep node --certs`) at that directory."
    );
    Ok(())
}
