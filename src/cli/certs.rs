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
    /// Make a development cluster CA and, per region, a peer certificate (mutual TLS between
    /// regions) and a client API certificate (HTTPS with `[api] tls = true`)
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
    /// Host names or IP addresses clients reach the API by, comma-separated, added to every
    /// region's API certificate (<region>.api.pem) besides the region name, localhost and
    /// 127.0.0.1, e.g. --api-host georep.example.com,10.0.1.7
    #[arg(long = "api-host", value_delimiter = ',')]
    pub api_hosts: Vec<String>,
}

pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    let CertsCommand::Init(a) = args.command;
    for r in &a.regions {
        check_region_name(r).map_err(|e| UsageError(format!("--regions: {e}")))?;
    }
    for h in &a.api_hosts {
        let ok = h.parse::<std::net::IpAddr>().is_ok()
            || rustls_pki_types::DnsName::try_from(h.as_str()).is_ok();
        if !ok {
            return Err(UsageError(format!(
                "--api-host: {h:?} is neither an IP address nor a DNS name"
            ))
            .into());
        }
    }
    let written = transport::init_certs(&a.out, &a.cluster, &a.regions, &a.api_hosts)?;
    for p in &written {
        println!("{}", p.display());
    }
    eprintln!(
        "keep ca.key offline; copy ca.pem, <region>.pem, <region>.key (and, for HTTPS on the API,\n\
         <region>.api.pem and <region>.api.key) to each region's node, and point the topology's\n\
         [tls] certs_dir (or `georep node --certs`) at that directory. Clients verify HTTPS with\n\
         ca.pem: `curl --cacert ca.pem`, `georep ... --cacert ca.pem`."
    );
    Ok(())
}
