//! `argo-events`: the EventSource and Sensor pod binary.
//!
//! - `argo-events eventsource run [-f FILE]` runs the EventSource of `EVENTSOURCE_OBJECT` (or the
//!   file) against the bus of `EVENTBUS_CONFIG` (or `--bus-url`);
//! - `argo-events sensor run [-f FILE]` runs the Sensor of `SENSOR_OBJECT` (or the file).
//!
//! Both serve Prometheus metrics and health on `--metrics-addr` (`METRICS_ADDR`, default
//! `0.0.0.0:7777`); Sensor pods also answer `/decisions`, `/bus`, `/bus/messages` and
//! `POST /replay` there ([`argo_events_runtime::diagnostics`]; a replica that does not lead
//! refuses replays) and, from a pod, write Kubernetes Events about the Sensor
//! ([`argo_events_runtime::kube_events`]); EventSource pods answer `POST /publish?event=NAME`
//! ([`argo_events_runtime::publish`]: the body onto the event's bus subject, as its source would
//! publish it; a standby under leader election refuses).
//! `argo-events version [-o json|yaml]` prints the build.
//!
//! Sensors (unless the bus is Kafka) and recreate-class EventSources with several replicas run
//! only on the elected leader ([`argo_events_runtime::election`]): a lock on the EventBus by
//! default, a Kubernetes Lease with `LEADER_ELECTION=k8s`. A Sensor replica that loses
//! leadership stops its work and campaigns again in the same process; a single Sensor replica
//! keeps leading through bus outages ([`election::OnOutage::RideOut`]). An EventSource replica
//! that loses leadership exits non-zero (`leader lost: <identity>: <reason>`), so its pod
//! restarts.
//!
//! A Sensor started while its bus is down waits for it (a connection attempt every 5 s at
//! most, each logged) instead of exiting; once running, it rides out outages: fetches are
//! retried, durable consumers resume where they were, and unacknowledged events come again.
//! `TRIGGER_CONCURRENCY` and `TRIGGER_TIMEOUT` tune the trigger loops
//! ([`argo_events_runtime::sensor::Options::from_lookup`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use argo_events_bus::config::JetStreamOptions;
use argo_events_eventsource::manual::ManualPublisher;
use argo_events_eventsource::secrets::FileSecrets;
use argo_events_eventsource::{KubeAccess, SourceContext, SystemClock};
use argo_events_runtime::decisions::DecisionRecorder;
use argo_events_runtime::diagnostics::{SensorDiagnostics, diagnostics_router};
use argo_events_runtime::election::bus::BusElector;
use argo_events_runtime::election::k8s::{LeaseClient, LeaseElector};
use argo_events_runtime::election::{self, Elector, Mechanism, OnOutage, Outcome, Plan, Timings};
use argo_events_runtime::kube_events::{self, EventsObserver, KubeEvents};
use argo_events_runtime::metrics::{EventSourceMetrics, SensorMetrics, admin_router, serve_router};
use argo_events_runtime::publish::{EventSourcePublish, publish_router};
use argo_events_runtime::sensor::{LogObserver, Options, SensorObserver, SensorRunner};
use argo_events_runtime::triggers::{Executor, KubeTarget, LogSink, TriggerContext};
use argo_events_runtime::{busconnect, objects, telemetry};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

/// How long an EventSource's HTTP sources, and its `POST /publish`, wait for the bus to store
/// an event before answering 503.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(
    name = "argo-events",
    version,
    long_version = argo_events_buildinfo::LONG_VERSION,
    about = "Argo Events EventSource and Sensor runtime"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Top,
}

#[derive(Args)]
struct Common {
    /// Where /metrics, /health, /live and /ready are served (and a Sensor's /decisions, /bus,
    /// /bus/messages and /replay; an EventSource's /publish).
    #[arg(
        long,
        global = true,
        env = "METRICS_ADDR",
        default_value = "0.0.0.0:7777"
    )]
    metrics_addr: SocketAddr,
    /// Log format.
    #[arg(long, global = true, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    log_format: LogFormat,
    /// A JetStream URL to use instead of EVENTBUS_CONFIG (local runs).
    #[arg(long, global = true, env = "EVENTBUS_URL")]
    bus_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Plain,
    Json,
}

#[derive(Subcommand)]
enum Top {
    /// EventSource pods.
    #[command(subcommand)]
    Eventsource(Run),
    /// Sensor pods.
    #[command(subcommand)]
    Sensor(Run),
    /// Print the version, git commit, build date, compiler and target.
    Version(argo_events_buildinfo::VersionArgs),
}

#[derive(Subcommand)]
enum Run {
    /// Run the object.
    Run(RunArgs),
}

/// What this pod runs: `eventsource run` or `sensor run`.
enum Pod {
    EventSource(RunArgs),
    Sensor(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Read the object from this manifest instead of the environment.
    #[arg(short = 'f', long = "filename")]
    file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let pod = match cli.command {
        Top::Eventsource(Run::Run(args)) => Pod::EventSource(args),
        Top::Sensor(Run::Run(args)) => Pod::Sensor(args),
        Top::Version(args) => {
            let info = argo_events_buildinfo::BuildInfo::of(argo_events_runtime::metrics::BINARY);
            return match args.write_build_info(&mut std::io::stdout().lock(), &info) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Flushes the spans still buffered when it is dropped, after `run` returns.
    let _telemetry = init_logs(cli.common.log_format, &pod, runtime.handle());
    match runtime.block_on(run(cli.common, pod)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "exiting");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs, and the OTLP trace exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` asks for one
/// ([`telemetry`]).
fn init_logs(
    format: LogFormat,
    pod: &Pod,
    runtime: &tokio::runtime::Handle,
) -> telemetry::Telemetry {
    let service = match pod {
        Pod::EventSource(_) => "argo-events-eventsource",
        Pod::Sensor(_) => "argo-events-sensor",
    };
    let mut problem = None;
    let provider = if telemetry::exporter_wanted(|k| std::env::var(k).ok()) {
        let _guard = runtime.enter();
        telemetry::otlp_provider(runtime.clone(), service)
            .map_err(|e| problem = Some(e))
            .ok()
    } else {
        None
    };
    let installed = telemetry::install(matches!(format, LogFormat::Json), provider);
    if let Some(e) = problem {
        tracing::warn!(error = %e, "traces are not exported");
    } else if installed.exporting() {
        tracing::info!(service, "exporting traces over OTLP");
    }
    installed
}

async fn run(common: Common, pod: Pod) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        on_signal.cancel();
    });
    let bus_config = objects::bus_config_from_env()?;
    let kafka_bus = bus_config.as_ref().is_some_and(|b| b.kafka.is_some());
    let leader_election = std::env::var(election::LEADER_ELECTION).ok();
    let ready = Arc::new(AtomicBool::new(false));
    match pod {
        Pod::EventSource(args) => {
            let es = objects::event_source(args.file.as_deref())?;
            argo_events_eventsource::check_supported(&es)?;
            let name = es.metadata.name.clone().unwrap_or_default();
            let namespace = es.metadata.namespace.clone().unwrap_or_default();
            let class = election::source_class(&es.spec)
                .map_err(|e| anyhow::anyhow!("EventSource {namespace}/{name}: {e}"))?;
            let plan = election::plan_event_source(
                &namespace,
                &name,
                class,
                election::replicas(es.spec.replicas),
                kafka_bus,
                leader_election.as_deref(),
            );
            let events: Vec<&str> = es.spec.event_names().into_iter().map(|(_, e)| e).collect();
            let metrics = Arc::new(EventSourceMetrics::new(&namespace, &name, &events));
            let bus_options = busconnect::options(bus_config.as_ref(), common.bus_url.as_deref())?;
            let publish = Arc::new(EventSourcePublish::new(
                ManualPublisher::new(&es, Arc::new(SystemClock), metrics.clone(), PUBLISH_TIMEOUT)?,
                &bus_options.stream_name,
                matches!(plan, Plan::Elect { .. }),
            ));
            let admin = tokio::spawn(serve_router(
                common.metrics_addr,
                admin_router(metrics.registry(), ready.clone())
                    .merge(publish_router(publish.clone())),
                shutdown.clone(),
            ));
            let bus = busconnect::connect_with(bus_options.clone()).await?;
            publish.set_bus(bus.clone());
            let state = bus.key_value(&format!("eventsource-{name}")).await?;
            let elector = elector_for(&plan, &namespace, &bus_options).await?;
            ready.store(true, Ordering::SeqCst);
            let gauge = metrics.clone();
            let set_leader = move |leading: bool| {
                gauge.set_leader(leading);
                publish.set_running(leading);
            };
            let work = |token: CancellationToken| async move {
                let ctx = SourceContext {
                    bus,
                    state: Arc::from(state),
                    secrets: Arc::new(FileSecrets {
                        root: FileSecrets::DEFAULT_ROOT.into(),
                    }),
                    clock: Arc::new(SystemClock),
                    observer: metrics.clone(),
                    kube: KubeAccess::Infer,
                    publish_timeout: PUBLISH_TIMEOUT,
                    shutdown: token,
                };
                metrics.service_started();
                let result = argo_events_eventsource::run(&es, ctx).await;
                metrics.service_stopped();
                result.context("EventSource stopped")
            };
            let result = run_planned(&plan, elector, &shutdown, &set_leader, work).await;
            shutdown.cancel();
            let _ = admin.await;
            result
        }
        Pod::Sensor(args) => {
            // Kubernetes Events only from pods (the object in SENSOR_OBJECT), never from local
            // runs of a file against whatever cluster the kubeconfig names.
            let in_pod = args.file.is_none();
            let sensor = objects::sensor(args.file.as_deref())?;
            let name = sensor.metadata.name.clone().unwrap_or_default();
            let namespace = sensor.metadata.namespace.clone().unwrap_or_default();
            let triggers: Vec<String> = sensor
                .spec
                .triggers
                .iter()
                .filter_map(|t| t.template.as_ref().map(|t| t.name.clone()))
                .collect();
            let trigger_refs: Vec<&str> = triggers.iter().map(String::as_str).collect();
            let metrics = Arc::new(SensorMetrics::new(&namespace, &name, &trigger_refs));
            let bus_options = busconnect::options(bus_config.as_ref(), common.bus_url.as_deref())?;
            let kube = kube_client().await;
            let log: Arc<dyn SensorObserver> = Arc::new(LogObserver);
            let observer: Arc<dyn SensorObserver> = match &kube {
                Ok(client) if in_pod && !namespace.is_empty() => {
                    tracing::info!("Kubernetes Events about the Sensor are written (best effort)");
                    Arc::new(EventsObserver::new(
                        log,
                        KubeEvents::start(
                            client.clone(),
                            kube_events::reporter(|k| std::env::var(k).ok()),
                            kube_events::sensor_reference(&sensor),
                        ),
                    ))
                }
                _ => log,
            };
            let decisions = Arc::new(DecisionRecorder::new(&sensor, observer));
            let diagnostics = Arc::new(SensorDiagnostics::new(
                &sensor,
                decisions.clone(),
                &bus_options.stream_name,
            ));
            let admin = tokio::spawn(serve_router(
                common.metrics_addr,
                admin_router(metrics.registry(), ready.clone())
                    .merge(diagnostics_router(diagnostics.clone())),
                shutdown.clone(),
            ));
            let plan = election::plan_sensor(
                &namespace,
                &name,
                election::replicas(sensor.spec.replicas),
                kafka_bus,
                leader_election.as_deref(),
            );
            let options =
                Options::from_lookup(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
            tracing::info!(
                concurrency = options.concurrency,
                trigger_timeout = ?options.trigger_timeout,
                "trigger loops"
            );
            // A bus that is down at startup is waited for, not a reason to exit.
            let Some(bus) =
                busconnect::connect_retrying(bus_options.clone(), &shutdown, busconnect::log_retry)
                    .await?
            else {
                let _ = admin.await;
                return Ok(());
            };
            diagnostics.set_bus(bus.clone());
            let elector = elector_for(&plan, &namespace, &bus_options).await?;
            let kube = match kube {
                Ok(client) => KubeTarget::Client(client),
                Err(e) => KubeTarget::Unavailable(format!("no Kubernetes API: {e:#}")),
            };
            let executor = Executor::new(TriggerContext {
                sensor: name.clone(),
                namespace: namespace.clone(),
                secrets: Arc::new(FileSecrets {
                    root: FileSecrets::DEFAULT_ROOT.into(),
                }),
                kube,
                http: reqwest::Client::builder()
                    .build()
                    .context("building the HTTP client")?,
                sink: Arc::new(LogSink),
            });
            let runner = Arc::new(SensorRunner {
                sensor,
                bus,
                executor: Arc::new(executor),
                loader: Arc::new(argo_events_runtime::sources::ClusterSourceLoader::default()),
                metrics: metrics.clone(),
                observer: decisions,
                options,
            });
            ready.store(true, Ordering::SeqCst);
            let set_leader = move |leading: bool| metrics.set_leader(leading);
            let replays = diagnostics.replays();
            // Started afresh each time this replica leads again after a loss.
            let work = |token: CancellationToken| {
                let runner = runner.clone();
                let replays = replays.clone();
                async move {
                    runner
                        .run_shared(token, replays)
                        .await
                        .context("Sensor stopped")
                }
            };
            let result = run_sensor_planned(&plan, elector, &shutdown, &set_leader, work).await;
            shutdown.cancel();
            let _ = admin.await;
            result
        }
    }
}

/// The elector a plan asks for (none when every replica runs).
async fn elector_for(
    plan: &Plan,
    namespace: &str,
    bus_options: &JetStreamOptions,
) -> anyhow::Result<Option<Box<dyn Elector>>> {
    let Plan::Elect {
        mechanism,
        lease_name,
        lock_key,
        on_outage,
    } = plan
    else {
        return Ok(None);
    };
    let env = |k: &str| std::env::var(k).ok();
    let (timings, warnings) = Timings::from_lookup(env).map_err(anyhow::Error::msg)?;
    for warning in warnings {
        tracing::warn!(%warning, "leader election setting");
    }
    let identity = election::identity(env);
    Ok(Some(match mechanism {
        Mechanism::Bus => Box::new(
            BusElector::new(bus_options.clone(), lock_key.clone(), identity, timings)
                .with_on_outage(*on_outage),
        ),
        Mechanism::Kubernetes => {
            if namespace.is_empty() {
                anyhow::bail!(
                    "Kubernetes leader election needs the object's namespace (metadata.namespace is empty)"
                );
            }
            let config = kube::Config::infer().await.context(
                "Kubernetes leader election (LEADER_ELECTION=k8s) needs the Kubernetes API",
            )?;
            let client = LeaseClient::from_config(config, timings)
                .context("building the Kubernetes client for the leader election Lease")?;
            Box::new(LeaseElector::new(
                client,
                namespace,
                lease_name.clone(),
                identity,
                timings,
            ))
        }
    }))
}

/// Runs `work` on every replica (no elector) or only while leading; losing leadership is an
/// error (the process exits non-zero so the pod restarts, as upstream).
async fn run_planned<F, Fut>(
    plan: &Plan,
    elector: Option<Box<dyn Elector>>,
    shutdown: &CancellationToken,
    set_leader: &(dyn Fn(bool) + Send + Sync),
    work: F,
) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let Some(mut elector) = elector else {
        if let Plan::Everyone { reason } = plan {
            tracing::info!(reason, "no leader election: this replica runs");
        }
        set_leader(true);
        return work(shutdown.clone()).await;
    };
    let identity = elector.identity().to_owned();
    match election::run_while_leader(elector.as_mut(), shutdown, set_leader, work).await? {
        Outcome::NeverLed => Ok(()),
        Outcome::Finished(result) => result,
        Outcome::Lost(reason) => Err(anyhow::anyhow!("leader lost: {identity}: {reason}")),
    }
}

/// A Sensor's [`run_planned`]: losing leadership stops the work and campaigns again in this
/// process ([`election::run_elected`]), never exits.
async fn run_sensor_planned<F, Fut>(
    plan: &Plan,
    elector: Option<Box<dyn Elector>>,
    shutdown: &CancellationToken,
    set_leader: &(dyn Fn(bool) + Send + Sync),
    mut work: F,
) -> anyhow::Result<()>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let Some(mut elector) = elector else {
        if let Plan::Everyone { reason } = plan {
            tracing::info!(reason, "no leader election: this replica runs");
        }
        set_leader(true);
        return work(shutdown.clone()).await;
    };
    if let Plan::Elect {
        on_outage: OnOutage::RideOut,
        ..
    } = plan
    {
        tracing::info!(
            "a single replica: it takes the lock (rolling updates) but keeps it through bus outages"
        );
    }
    election::run_elected(elector.as_mut(), shutdown, set_leader, work)
        .await?
        .unwrap_or(Ok(()))
}

async fn kube_client() -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::infer().await?;
    // The Sensor's retryStrategy decides about retries, not the client.
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
