//! Command-line shape: kubectl-style global flags and one subcommand per verb.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Argo Events, from kubectl: check manifests and try Sensors offline.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-argo-events",
    bin_name = "kubectl argo events",
    version,
    long_version = argo_events_buildinfo::LONG_VERSION,
    after_help = "Installed as `kubectl-argo-events` on PATH, kubectl runs it as `kubectl argo events`.\n\
                  Link it as `kubectl-argo_events` to also get `kubectl argo-events`."
)]
pub struct Cli {
    /// Flags shared with kubectl.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The flags kubectl users expect on every command.
#[derive(Debug, Clone, Default, Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (online commands).
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (online commands).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace; for offline commands, the namespace assumed for objects that name none.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// All namespaces (online commands).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check EventBus, EventSource and Sensor manifests the way upstream decodes them.
    Lint(LintArgs),
    /// Feed CloudEvents to a Sensor offline and see what each dependency and trigger does.
    Simulate(SimulateArgs),
    /// Run Sensor test suites (SensorTest files): events in, expected trigger outcomes.
    Test(TestArgs),
    /// Run every EventSource and Sensor in the given manifests locally, on an in-process bus.
    Run(RunArgs),
    /// Print (or write) the CustomResourceDefinitions of the three kinds.
    Crds(CrdsArgs),
    /// Print the plugin's version, git commit, build date, compiler and target.
    Version(argo_events_buildinfo::VersionArgs),
    /// List EventBus, EventSource or Sensor objects with their health.
    Get(GetArgs),
    /// Show EventBus → EventSources → events → Sensors → triggers, each with its health.
    Tree(TreeArgs),
    /// Find out why a Sensor did not fire: walks the six layers and stops at the first broken one.
    Why(WhyArgs),
    /// Print the logs of every pod of an EventSource or a Sensor, each line prefixed with its pod.
    Logs(LogsArgs),
    /// Deliver a test event to an EventSource the way its producer would, and show what each
    /// Sensor listening to it decided.
    Send(SendArgs),
    /// Re-deliver events the bus still keeps to one Sensor (or, with --dry-run, run them
    /// through the offline engine).
    Replay(ReplayArgs),
    /// Per trigger: may the Sensor's ServiceAccount do what the trigger does?
    #[command(name = "can-i")]
    CanI(CanIArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
}

/// The three kinds, by kubectl's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// EventBus objects.
    #[value(name = "eventbus", alias = "eb", alias = "eventbuses")]
    EventBus,
    /// EventSource objects.
    #[value(name = "eventsources", alias = "eventsource", alias = "es")]
    EventSource,
    /// Sensor objects.
    #[value(name = "sensors", alias = "sensor", alias = "sn")]
    Sensor,
}

impl Kind {
    /// The resource's plural.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::EventBus => "eventbus",
            Kind::EventSource => "eventsources",
            Kind::Sensor => "sensors",
        }
    }
}

/// kubectl's `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Columns.
    Table,
    /// More columns.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `get` arguments.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// eventbus (eb), eventsources (es) or sensors (sn).
    #[arg(value_enum)]
    pub kind: Kind,
    /// Only this object.
    pub name: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// After listing, print a row again whenever it changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// The root of a `tree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TreeRoot {
    /// An EventBus.
    #[value(name = "eventbus", alias = "eb")]
    EventBus,
    /// An EventSource.
    #[value(name = "eventsource", alias = "es", alias = "eventsources")]
    EventSource,
    /// A Sensor.
    #[value(name = "sensor", alias = "sn", alias = "sensors")]
    Sensor,
}

/// `tree` arguments.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Start at this kind of object (default: every EventBus in scope).
    #[arg(value_enum, requires = "name")]
    pub kind: Option<TreeRoot>,
    /// Its name.
    pub name: Option<String>,
    /// Output format: text (default) or the same graph as JSON.
    #[arg(short = 'o', long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

/// `why` arguments.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The Sensor.
    pub sensor: String,
    /// Only this trigger.
    #[arg(long, value_name = "TRIGGER")]
    pub trigger: Option<String>,
    /// How far back to look at decisions and Events (Go duration: 30m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub since: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

/// Kinds `logs` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogsKind {
    /// An EventSource's pods.
    #[value(name = "eventsource", alias = "es", alias = "eventsources")]
    EventSource,
    /// A Sensor's pods.
    #[value(name = "sensor", alias = "sn", alias = "sensors")]
    Sensor,
    /// An EventBus's pods.
    #[value(name = "eventbus", alias = "eb")]
    EventBus,
}

/// `logs` arguments.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// eventsource (es), sensor (sn) or eventbus (eb).
    #[arg(value_enum)]
    pub kind: LogsKind,
    /// Its name.
    pub name: String,
    /// Keep streaming new lines.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines newer than this (Go duration: 10s, 5m, 1h).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only the last N lines of each pod.
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
    /// Prefix each line with its timestamp too.
    #[arg(long)]
    pub timestamps: bool,
}

/// `send` arguments.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The EventSource.
    pub event_source: String,
    /// The event name in it.
    pub event: String,
    /// The payload: JSON text, or @FILE.
    #[arg(short = 'd', long = "data", value_name = "JSON|@FILE")]
    pub data: Option<String>,
    /// A request header, K:V (repeatable).
    #[arg(short = 'H', long = "header", value_name = "K:V")]
    pub headers: Vec<String>,
    /// How long to wait for the Sensors' decisions (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub wait: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

/// `replay` arguments.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The Sensor.
    pub sensor: String,
    /// Only this dependency's events (default: every dependency, or those of --trigger).
    #[arg(long, value_name = "DEPENDENCY")]
    pub dependency: Option<String>,
    /// Only to this trigger.
    #[arg(long, value_name = "TRIGGER")]
    pub trigger: Option<String>,
    /// Events stored within this long (Go duration: 30m, 2h).
    #[arg(long, value_name = "DURATION", conflicts_with = "from_seq")]
    pub since: Option<String>,
    /// Events from this stream sequence on.
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// At most this many events per dependency.
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// Fetch the events and show what the Sensor would do with them, offline; deliver nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

/// `can-i` arguments.
#[derive(Debug, Args)]
pub struct CanIArgs {
    /// The Sensor.
    pub sensor: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

/// `completion` arguments.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Manifest files or directories holding EventSources and Sensors.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR",
        required = true
    )]
    pub files: Vec<PathBuf>,
    /// Use this JetStream server (nats://HOST:PORT) instead of the in-process bus.
    #[arg(long, value_name = "URL")]
    pub bus: Option<String>,
    /// What k8s and argoWorkflow triggers do: print the resource, or apply it to the current
    /// kube context.
    #[arg(long, value_enum, default_value_t = K8sMode::Print)]
    pub k8s: K8sMode,
    /// A secret value the manifests reference, as NAME/KEY=VALUE (repeatable).
    #[arg(long = "secret", value_name = "NAME/KEY=VALUE")]
    pub secrets: Vec<String>,
}

/// What k8s-style triggers do in `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum K8sMode {
    /// Print the resource that would be created.
    Print,
    /// Apply it with the current kube context.
    Apply,
}

/// `simulate` arguments.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The Sensor manifest.
    #[arg(short = 'f', long = "filename", value_name = "SENSOR.yaml")]
    pub file: PathBuf,
    /// A CloudEvent file (JSON structured mode; one event or an array), fed in order.
    /// `DEP=FILE` delivers it to dependency DEP instead of routing by source/subject.
    #[arg(long = "event", value_name = "[DEP=]FILE", required = true)]
    pub events: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
    /// The time given to events that carry none (RFC 3339); default: the current time.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// `test` arguments.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// SensorTest files, or directories searched for them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Text for people or JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// For people; colour on a terminal.
    Text,
    /// For programs.
    Json,
}

/// `lint` arguments.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files or directories (searched recursively for .yaml, .yml, .json); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = LintOutput::Text)]
    pub output: LintOutput,
    /// Policy bundle directory (`<name>/policy.yaml` or `*.yaml` Policy files); replaces the
    /// compiled-in default bundle (`policies/default/`).
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// Treat warnings as errors: exit 1 when there is any finding.
    #[arg(long)]
    pub strict: bool,
}

/// Output formats of `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintOutput {
    /// One line per finding and a summary, coloured on a terminal.
    Text,
    /// A JSON array of findings.
    Json,
}

/// `crds` arguments.
#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write one file per CRD into this directory instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}
