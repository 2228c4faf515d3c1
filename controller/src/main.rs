//! `argo-events-controller`: `run` reconciles EventBuses, EventSources and Sensors in a
//! cluster; `render` prints the children the controller would create for a set of manifests;
//! `version` prints the build.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use argo_events_controller::desired::ControllerConfig;
use argo_events_controller::desired::eventbus::StanGlobalConfig;
use argo_events_controller::render::{
    parse_controller_config, placeholder_global_config, render_with,
};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "argo-events-controller",
    version,
    long_version = argo_events_buildinfo::LONG_VERSION,
    about
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the Deployments, Services, ConfigMaps and StatefulSets the controller would create.
    Render(RenderArgs),
    /// Reconcile EventBuses, EventSources and Sensors (the in-cluster controller).
    Run(Box<argo_events_controller::run::RunArgs>),
    /// Print the version, git commit, build date, compiler and target.
    Version(argo_events_buildinfo::VersionArgs),
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Manifest files or directories (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Yaml)]
    output: Format,
    /// Namespace for objects that have none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Image of EventSource and Sensor pods.
    #[arg(
        long,
        env = "ARGO_EVENTS_IMAGE",
        default_value = "quay.io/argoproj/argo-events:latest"
    )]
    image: String,
    /// Pull policy of generated EventSource/Sensor containers.
    #[arg(long, env = "IMAGE_PULL_POLICY", default_value = "Always")]
    image_pull_policy: String,
    /// The controller's `controller-config.yaml` (JetStream versions and images); without it
    /// placeholder images are used.
    #[arg(long)]
    controller_config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Render(args) => args,
        Command::Run(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            return rt.block_on(argo_events_controller::run::run(*args));
        }
        Command::Version(args) => {
            let info = argo_events_buildinfo::BuildInfo::of(argo_events_controller::admin::BINARY);
            args.write_build_info(&mut std::io::stdout().lock(), &info)?;
            return Ok(());
        }
    };
    let (docs, errors) =
        argo_events_api::manifest::load(&args.files).context("reading manifests")?;
    if let Some(first) = errors.first() {
        anyhow::bail!("{first}");
    }
    let (global, stan) = match &args.controller_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let text = argo_events_controller::render::controller_config_document(&text)
                .with_context(|| format!("{}", path.display()))?;
            let stan = StanGlobalConfig::from_controller_config(&text)
                .with_context(|| format!("{}: eventBus.nats", path.display()))?;
            (parse_controller_config(&text)?, stan)
        }
        None => {
            eprintln!(
                "note: no --controller-config; JetStream images are placeholders (nats:<version>), \
                 NATS Streaming images upstream's defaults"
            );
            (
                placeholder_global_config(),
                StanGlobalConfig::upstream_defaults(),
            )
        }
    };
    let cfg = ControllerConfig {
        image: args.image,
        image_pull_policy: args.image_pull_policy,
    };
    let rendered = render_with(&docs, &args.namespace, &cfg, &global, &stan)?;
    for note in &rendered.notes {
        eprintln!("note: {note}");
    }
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &rendered.objects)?;
            writeln!(stdout)?;
        }
        Format::Yaml => {
            for obj in &rendered.objects {
                writeln!(stdout, "---")?;
                write!(stdout, "{}", serde_yaml_ng::to_string(obj)?)?;
            }
        }
    }
    Ok(())
}
