//! `run`: every EventSource and Sensor found in the given manifests, in one process, on an
//! in-process bus (or JetStream with `--bus`), printing each event and each decision.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use argo_events_api::cloudevent::Event;
use argo_events_api::manifest::{self, Object};
use argo_events_api::{EventSource, Sensor};
use argo_events_bus::EventBus;
use argo_events_bus::memory::MemoryBus;
use argo_events_engine::machine::{DependencyVerdict, TriggerVerdict};
use argo_events_eventsource::secrets::MapSecrets;
use argo_events_eventsource::{KubeAccess, Observer, SourceContext, SystemClock};
use argo_events_runtime::metrics::SensorMetrics;
use argo_events_runtime::sensor::{Options, SensorObserver, SensorRunner};
use argo_events_runtime::triggers::{ActionSink, Executor, KubeTarget, TriggerContext};
use tokio_util::sync::CancellationToken;

use crate::cli::{K8sMode, KubeArgs, RunArgs};
use crate::sensorfile::FileSourceLoader;

/// Shared, line-buffered output.
#[derive(Clone)]
pub struct Printer(Arc<Mutex<Box<dyn Write + Send>>>);

impl Printer {
    /// Prints to standard output.
    pub fn stdout() -> Self {
        Printer(Arc::new(Mutex::new(Box::new(std::io::stdout()))))
    }

    fn line(&self, text: &str) {
        if let Ok(mut out) = self.0.lock() {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

struct SourcePrinter {
    printer: Printer,
}

impl Observer for SourcePrinter {
    fn published(&self, event: &Event) {
        self.printer.line(&format!(
            "event {}/{} id={} published ({} bytes)",
            event.source,
            event.subject,
            event.id,
            event.data.len()
        ));
    }
    fn publish_failed(&self, event_name: &str, error: &str) {
        self.printer
            .line(&format!("event {event_name}: NOT published: {error}"));
    }
    fn rejected(&self, event_name: &str, reason: &str) {
        self.printer
            .line(&format!("event {event_name}: rejected: {reason}"));
    }
}

struct DecisionPrinter {
    printer: Printer,
    sensor: String,
}

impl SensorObserver for DecisionPrinter {
    fn event(&self, trigger: &str, event: &Event, verdicts: &[DependencyVerdict]) {
        for v in verdicts {
            let mark = if v.matched { "✓" } else { "✗" };
            self.printer.line(&format!(
                "sensor {} trigger {trigger}: {mark} dependency {} ← {}/{} id={}: {}",
                self.sensor, v.name, event.source, event.subject, event.id, v.reason
            ));
        }
    }
    fn decision(&self, v: &TriggerVerdict) {
        let word = if v.fired { "FIRE" } else { "wait" };
        self.printer.line(&format!(
            "sensor {} trigger {}: {word}: {}",
            self.sensor, v.name, v.reason
        ));
    }
    fn executed(&self, trigger: &str, result: &Result<String, String>) {
        match result {
            Ok(summary) => self.printer.line(&format!(
                "sensor {} trigger {trigger}: done: {summary}",
                self.sensor
            )),
            Err(e) => self.printer.line(&format!(
                "sensor {} trigger {trigger}: FAILED: {e}",
                self.sensor
            )),
        }
    }
}

struct SinkPrinter {
    printer: Printer,
}

impl ActionSink for SinkPrinter {
    fn log(&self, trigger: &str, message: &str) {
        self.printer
            .line(&format!("log trigger {trigger}: {message}"));
    }
    fn print_resource(&self, trigger: &str, operation: &str, resource: &serde_json::Value) {
        let yaml = serde_yaml_ng::to_string(resource).unwrap_or_else(|_| resource.to_string());
        let mut text = format!("trigger {trigger}: would {operation}:");
        for line in yaml.lines() {
            text.push_str("\n    ");
            text.push_str(line);
        }
        self.printer.line(&text);
    }
}

/// Loads the EventSources and Sensors of the given paths.
pub fn load_objects(paths: &[PathBuf]) -> anyhow::Result<(Vec<EventSource>, Vec<Sensor>)> {
    let (docs, errors) = manifest::load(paths)?;
    if let Some(e) = errors.first() {
        bail!("{e}");
    }
    let mut sources = Vec::new();
    let mut sensors = Vec::new();
    for doc in &docs {
        match manifest::decode_object(&doc.value) {
            None => {}
            Some(Err(e)) => bail!(
                "{}#{}: {} {}: {e}",
                doc.file,
                doc.index,
                doc.kind().unwrap_or("?"),
                doc.name().unwrap_or("?")
            ),
            Some(Ok(d)) => match d.value {
                Object::EventSource(es) => sources.push(*es),
                Object::Sensor(s) => sensors.push(*s),
                Object::EventBus(_) => {}
            },
        }
    }
    if sources.is_empty() && sensors.is_empty() {
        bail!("no EventSource or Sensor found in the given paths");
    }
    Ok((sources, sensors))
}

/// Runs everything until Ctrl-C (or `shutdown`).
pub async fn run(
    kube: &KubeArgs,
    args: &RunArgs,
    printer: Printer,
    shutdown: CancellationToken,
) -> anyhow::Result<u8> {
    let (sources, sensors) = load_objects(&args.files)?;
    for es in &sources {
        argo_events_eventsource::check_supported(es)?;
    }
    let bus: Arc<dyn EventBus> = match &args.bus {
        None => Arc::new(MemoryBus::new()),
        Some(url) => argo_events_runtime::busconnect::connect(None, Some(url)).await?,
    };
    let kube_target = match args.k8s {
        K8sMode::Print => KubeTarget::Print,
        K8sMode::Apply => KubeTarget::Client(kube_client(kube).await?),
    };
    // Resource sources watch the cluster of the plugin's kube flags.
    let source_kube = match sources.iter().any(|es| !es.spec.resource.is_empty()) {
        true => KubeAccess::Client(kube_client(kube).await?),
        false => KubeAccess::Infer,
    };
    let mut secrets = MapSecrets::default();
    for s in &args.secrets {
        let (key, value) = s
            .split_once('=')
            .with_context(|| format!("--secret {s:?}: expected NAME/KEY=VALUE"))?;
        let (name, key) = key
            .split_once('/')
            .with_context(|| format!("--secret {s:?}: expected NAME/KEY=VALUE"))?;
        secrets
            .values
            .insert((name.to_owned(), key.to_owned()), value.to_owned());
    }
    let secrets = Arc::new(secrets);
    let namespace = kube
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let http = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let mut tasks = tokio::task::JoinSet::new();

    for sensor in sensors {
        let name = sensor.metadata.name.clone().unwrap_or_default();
        let triggers: Vec<String> = sensor
            .spec
            .triggers
            .iter()
            .filter_map(|t| t.template.as_ref().map(|t| t.name.clone()))
            .collect();
        let trigger_refs: Vec<&str> = triggers.iter().map(String::as_str).collect();
        let ns = sensor
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.clone());
        let executor = Executor::new(TriggerContext {
            sensor: name.clone(),
            namespace: ns.clone(),
            secrets: secrets.clone(),
            kube: kube_target.clone(),
            http: http.clone(),
            sink: Arc::new(SinkPrinter {
                printer: printer.clone(),
            }),
        });
        printer.line(&format!(
            "sensor {name}: {} trigger(s): {}",
            triggers.len(),
            triggers.join(", ")
        ));
        let runner = SensorRunner {
            sensor,
            bus: bus.clone(),
            executor: Arc::new(executor),
            loader: Arc::new(FileSourceLoader {
                base: PathBuf::from("."),
            }),
            metrics: Arc::new(SensorMetrics::new(&ns, &name, &trigger_refs)),
            observer: Arc::new(DecisionPrinter {
                printer: printer.clone(),
                sensor: name.clone(),
            }),
            options: Options::default(),
        };
        let shutdown = shutdown.clone();
        tasks.spawn(async move { runner.run(shutdown).await.map_err(anyhow::Error::from) });
    }
    // Sensors subscribe before sources start, so no event published at start-up is missed.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut ports: Vec<u16> = Vec::new();
    for es in sources {
        ports.extend(http_ports(&es));
        let name = es.metadata.name.clone().unwrap_or_default();
        for (kind, event) in es.spec.event_names() {
            let detail = match kind {
                "webhook" => es
                    .spec
                    .webhook
                    .get(event)
                    .map(|w| format!(" on :{} {} {}", w.port, w.method, w.endpoint)),
                _ => None,
            };
            printer.line(&format!(
                "eventsource {name}: {kind} event {event}{}",
                detail.unwrap_or_default()
            ));
        }
        let ctx = SourceContext {
            bus: bus.clone(),
            state: Arc::from(bus.key_value(&format!("eventsource-{name}")).await?),
            secrets: secrets.clone(),
            clock: Arc::new(SystemClock),
            observer: Arc::new(SourcePrinter {
                printer: printer.clone(),
            }),
            kube: source_kube.clone(),
            publish_timeout: Duration::from_secs(5),
            shutdown: shutdown.clone(),
        };
        tasks.spawn(async move {
            argo_events_eventsource::run(&es, ctx)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    wait_for_listeners(&ports).await;
    printer.line("running; Ctrl-C stops");
    let on_signal = shutdown.clone();
    let signal_printer = printer.clone();
    tokio::spawn(async move {
        match tokio::signal::ctrl_c().await {
            Ok(()) => {
                signal_printer.line("stopping");
                on_signal.cancel();
            }
            Err(e) => signal_printer.line(&format!("warning: cannot listen for Ctrl-C: {e}")),
        }
    });

    let mut code = crate::EXIT_OK;
    while let Some(joined) = tasks.join_next().await {
        let failure = match joined {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("error: {e:#}"),
            Err(e) => format!("error: a task stopped: {e}"),
        };
        printer.line(&failure);
        code = crate::EXIT_USAGE;
        shutdown.cancel();
    }
    Ok(code)
}

/// The ports HTTP-based sources listen on.
fn http_ports(es: &EventSource) -> Vec<u16> {
    let spec = &es.spec;
    let mut ports: Vec<&str> = spec.webhook.values().map(|w| w.port.as_str()).collect();
    ports.extend(
        spec.github
            .values()
            .filter_map(|g| g.webhook.as_ref())
            .map(|w| w.port.as_str()),
    );
    ports.extend(
        spec.gitlab
            .values()
            .filter_map(|g| g.webhook.as_ref())
            .map(|w| w.port.as_str()),
    );
    ports.iter().filter_map(|p| p.parse().ok()).collect()
}

/// Waits (at most 5 s) until every HTTP source accepts connections, so "running" means it.
async fn wait_for_listeners(ports: &[u16]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    for port in ports {
        while tokio::net::TcpStream::connect(("127.0.0.1", *port))
            .await
            .is_err()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn kube_client(kube: &KubeArgs) -> anyhow::Result<kube::Client> {
    let options = kube::config::KubeConfigOptions {
        context: kube.context.clone(),
        ..Default::default()
    };
    let config = match &kube.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &options).await?
        }
        None => kube::Config::from_kubeconfig(&options).await?,
    };
    Ok(kube::Client::try_from(config)?)
}
