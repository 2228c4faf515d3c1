//! The kubectl plugin `kubectl-argo-events`, used as `kubectl argo events <command>`.
//!
//! Every command is `run(args, out, err) -> exit code`, so tests capture what people see.
//! Exit codes: 0 success (lint: clean or warnings only; online: everything healthy), 1 findings
//! of error severity or something broken, 2 usage, I/O or connection errors (with the API
//! server's message).

pub mod cani;
pub mod cli;
pub mod crds;
pub mod get;
pub mod health;
pub mod lint;
pub mod listen;
pub mod logs;
pub mod online;
pub mod replay;
pub mod run;
pub mod send;
pub mod sensorfile;
pub mod simulate;
pub mod suite;
pub mod table;
pub mod tree;
pub mod version;
pub mod why;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

/// The executable's name.
pub const BINARY: &str = "kubectl-argo-events";

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the command ran and found errors.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: bad usage, or a file could not be read.
pub const EXIT_USAGE: u8 = 2;

/// `run` owns standard output (it prints while events flow) and an async runtime.
fn run_local(kube: &cli::KubeArgs, args: &cli::RunArgs) -> anyhow::Result<u8> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run::run(
        kube,
        args,
        run::Printer::stdout(),
        tokio_util::sync::CancellationToken::new(),
    ))
}

/// Colour on a terminal only, and never with `NO_COLOR` set.
fn colour_on() -> bool {
    use std::io::IsTerminal as _;
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

fn completion(args: &cli::CompletionArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    use clap::CommandFactory as _;
    // The script completes the executable's own name; the usage text's "kubectl argo events"
    // (with spaces) would not name a command a shell can complete.
    let mut command = cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, BINARY, &mut script);
    let mut script = String::from_utf8(script)?;
    if args.shell == clap_complete::Shell::Bash {
        // clap_complete names the root `kubectl__argo__events` where it starts and
        // `kubectl__subcmd__argo__subcmd__events` in the subcommands' cases (a '-' in the
        // binary's name): one name, or no subcommand ever completes (tested in tests/cli.rs).
        script = script.replace(
            "kubectl__subcmd__argo__subcmd__events",
            "kubectl__argo__events",
        );
    }
    out.write_all(script.as_bytes())?;
    Ok(EXIT_OK)
}

/// The commands that talk to a cluster, on one async runtime.
fn run_online(
    kube: &cli::KubeArgs,
    command: &cli::Command,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let conn = online::connect(kube).await?;
        let client = &conn.client;
        let namespace = conn.namespace.as_str();
        match command {
            cli::Command::Get(args) => {
                let mut buffer = Vec::new();
                // `--watch` prints as it goes: straight to the writer.
                let code = if args.watch {
                    get::run(client, &conn.scope, args, out, err).await?
                } else {
                    let code = get::run(client, &conn.scope, args, &mut buffer, err).await?;
                    out.write_all(&buffer)?;
                    code
                };
                Ok(code)
            }
            cli::Command::Tree(args) => {
                let view = online::fetch_view(client, &conn.scope).await?;
                let roots = match (args.kind, args.name.as_deref()) {
                    (Some(kind), Some(name)) => match tree_root(&view, kind, namespace, name) {
                        Some(root) => vec![root],
                        None => {
                            writeln!(err, "Error from server (NotFound): {kind:?} \"{name}\" not found in {namespace}")?;
                            return Ok(EXIT_FINDINGS);
                        }
                    },
                    _ => tree::forest(&view),
                };
                if roots.is_empty() && args.output == cli::TextOrJson::Text {
                    writeln!(err, "No resources found.")?;
                }
                let broken = tree::print(&roots, args.output == cli::TextOrJson::Json, colour_on(), out)?;
                Ok(if broken { EXIT_FINDINGS } else { EXIT_OK })
            }
            cli::Command::Why(args) => {
                let since = argo_events_api::duration::parse_go_duration(&args.since)
                    .map_err(|e| anyhow::anyhow!("--since {:?}: {e}", args.since))?;
                let scope = online::Scope::Namespace(namespace.to_string());
                let view = online::fetch_view(client, &scope).await?;
                let Some(sensor) = view.sensors.iter().find(|s| s.name() == args.sensor) else {
                    writeln!(err, "Error from server (NotFound): sensors.argoproj.io \"{}\" not found in {namespace}", args.sensor)?;
                    return Ok(EXIT_FINDINGS);
                };
                let (bus, decisions, access) = why::gather(client, &view, sensor).await;
                let evidence = why::Evidence {
                    view: &view,
                    sensor,
                    trigger: args.trigger.as_deref(),
                    since: view.now - chrono::TimeDelta::from_std(since).unwrap_or(chrono::TimeDelta::MAX),
                    bus,
                    decisions,
                    access,
                };
                let report = why::ladder(&evidence);
                why::print(&report, args.output == cli::TextOrJson::Json, colour_on(), out)?;
                Ok(if report.broken().is_some() { EXIT_FINDINGS } else { EXIT_OK })
            }
            cli::Command::CanI(args) => {
                let scope = online::Scope::Namespace(namespace.to_string());
                let sensors = online::list_kind::<argo_events_api::Sensor>(client, &scope).await?;
                let Some(sensor) = sensors.iter().find(|s| s.name() == args.sensor) else {
                    writeln!(err, "Error from server (NotFound): sensors.argoproj.io \"{}\" not found in {namespace}", args.sensor)?;
                    return Ok(EXIT_FINDINGS);
                };
                let decoded = sensor.watched.object.as_ref().map_err(|e| anyhow::anyhow!("Sensor {}: {e}", args.sensor))?;
                let answers = why::review_access(client, namespace, decoded).await;
                let denied = cani::print(&format!("{namespace}/{}", args.sensor), &answers, args.output == cli::TextOrJson::Json, out)?;
                Ok(if denied { EXIT_FINDINGS } else { EXIT_OK })
            }
            cli::Command::Logs(args) => logs::run(client, namespace, args, out, err).await,
            cli::Command::Send(args) => send::run(client, namespace, args, out, err).await,
            cli::Command::Replay(args) => replay::run(client, namespace, args, out, err).await,
            _ => unreachable!("offline commands are dispatched before"),
        }
    })
}

fn tree_root(
    view: &online::View,
    kind: cli::TreeRoot,
    namespace: &str,
    name: &str,
) -> Option<tree::Node> {
    match kind {
        cli::TreeRoot::EventBus => view
            .buses
            .iter()
            .any(|b| b.namespace() == namespace && b.name() == name)
            .then(|| tree::bus_node(view, namespace, name)),
        cli::TreeRoot::EventSource => view
            .sources
            .iter()
            .find(|e| e.namespace() == namespace && e.name() == name)
            .map(|e| tree::event_source_node(view, e)),
        cli::TreeRoot::Sensor => view
            .sensors
            .iter()
            .find(|s| s.namespace() == namespace && s.name() == name)
            .map(|s| tree::sensor_node(view, s)),
    }
}

/// Parses `args` (program name first) and runs the command.
pub fn run_from_args<I, T>(args: I, out: &mut impl Write, err: &mut impl Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let rendered = if e.use_stderr() {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            let target: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = write!(target, "{rendered}");
            return code;
        }
    };
    let result = match &cli.command {
        cli::Command::Lint(args) => lint::run(&cli.kube, args, out, err),
        cli::Command::Simulate(args) => simulate::run(args, out),
        cli::Command::Test(args) => suite::run(args, out, err),
        cli::Command::Run(args) => run_local(&cli.kube, args),
        cli::Command::Crds(args) => crds::run(args, out, err),
        cli::Command::Version(args) => version::run(args, out),
        cli::Command::Completion(args) => completion(args, out),
        online => run_online(&cli.kube, online, out, err),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            EXIT_USAGE
        }
    }
}

/// Snapshot files of the output tests: `src/snapshots/<name>.txt`, rewritten with
/// `UPDATE_GOLDEN=1` (as the golden files of the tests crate).
#[cfg(test)]
pub(crate) fn assert_snapshot(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("creating src/snapshots");
        std::fs::write(&path, got).expect("writing the snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        want == got,
        "output differs from {} (UPDATE_GOLDEN=1 rewrites it):\n--- want\n{want}\n--- got\n{got}",
        path.display()
    );
}
