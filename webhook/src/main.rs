//! `argo-events-webhook`: the admission server for EventBus, EventSource and Sensor. The
//! decisions are the library's ([`argo_events_webhook::admission`]); this binary only serves
//! them over TLS. `version` prints the build.

mod cabundle;
mod certsecret;
mod cluster;
#[cfg(test)]
mod fake_api;
mod sar;
mod server;

use clap::{Parser, Subcommand, ValueEnum};

/// The binary's name, as `version` and `argo_events_build_info` report it.
const BINARY: &str = "argo-events-webhook";

// A review allocates many small objects (the decoded object, findings, the JSON answer) on
// every core at once; with mimalloc's per-thread heaps the server answered ~26k reviews/s at 64
// connections where the system allocator gave ~15k (`cargo bench -p argo-events-webhook
// --bench admission`, this 2-core machine).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The admission webhook for argoproj.io/v1alpha1 EventBus, EventSource and Sensor.
#[derive(Debug, Parser)]
#[command(
    name = "argo-events-webhook",
    version,
    long_version = argo_events_buildinfo::LONG_VERSION
)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "WEBHOOK_LOG_FORMAT",
        value_enum,
        default_value = "plain",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Plain,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve POST /validate and POST /mutate (AdmissionReview v1) over TLS, and /metrics,
    /// /live, /ready over plain HTTP on the admin address.
    ///
    /// Cluster facts come from the manifests under --snapshot (read once at start; RBAC
    /// evaluated statically over them), or else from the cluster: EventBuses, EventSources and
    /// Sensors from reflector caches, RBAC by SubjectAccessReview. The policy bundle is the
    /// compiled-in default one, or the one under --policies (a mounted ConfigMap in-cluster),
    /// read once at start.
    Serve(Box<server::ServeOpts>),
    /// Print the version, git commit, build date, compiler and target.
    Version(argo_events_buildinfo::VersionArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let opts = match cli.command {
        Command::Serve(opts) => opts,
        Command::Version(args) => {
            let info = argo_events_buildinfo::BuildInfo::of(BINARY);
            args.write_build_info(&mut std::io::stdout().lock(), &info)?;
            return Ok(());
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server::serve(*opts))
}
