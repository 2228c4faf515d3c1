//! A small copy of `kubectl argo events run`'s wiring for tests: a real `nats-server -js`, a
//! [`JetStreamBus`] with a short ack wait, EventSources run by `argo_events_eventsource::run`,
//! Sensors run by [`SensorRunner`], an HTTP sink recording what `http` triggers send, an
//! [`ActionSink`] recording what `log` triggers write, and a manual [`Clock`].
//!
//! Every wait is bounded and panics naming what it waited for; servers and tasks are stopped
//! on drop.

use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use argo_events_api::cloudevent::Event;
use argo_events_api::{EventSource, Sensor, gocompat, manifest};
use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::testserver::NatsServer;
use argo_events_bus::{EventBus, KeyValue, Subscription};
use argo_events_engine::machine::{DependencyVerdict, TriggerVerdict};
use argo_events_engine::render::InlineOnly;
use argo_events_eventsource::secrets::MapSecrets;
use argo_events_eventsource::{Clock, KubeAccess, NoObserver, SourceContext, SourceError};
use argo_events_runtime::metrics::SensorMetrics;
use argo_events_runtime::sensor::{
    Options, SensorError, SensorObserver, SensorRunner, trigger_dependencies,
};
use argo_events_runtime::triggers::{ActionSink, Executor, KubeTarget, TriggerContext};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::FutureExt as _;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a consumer waits for an ack before the server redelivers.
pub const ACK_WAIT: Duration = Duration::from_secs(2);
/// Bound on each publish acknowledgement and JetStream API call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an HTTP EventSource waits for the bus before answering 503.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);
/// The default bound of a wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// Once per process: the rustls provider (reqwest is built without one) and, with `RUST_LOG`,
/// logs on the test output.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `f`, panicking naming `what` after `limit`.
pub async fn bounded<T>(what: &str, limit: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?}: {what}"))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free loopback port: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

fn document(kind: &str, yaml: &str) -> Value {
    let (mut docs, error) = manifest::parse_documents("test.yaml", yaml);
    if let Some(e) = error {
        panic!("the test's {kind} YAML does not parse: {e}\n{yaml}");
    }
    assert_eq!(docs.len(), 1, "one {kind} document expected:\n{yaml}");
    docs.remove(0).value
}

fn decoded<T>(kind: &str, result: Result<gocompat::Decoded<T>, gocompat::DecodeError>) -> T {
    let decoded = result.unwrap_or_else(|e| panic!("the test's {kind} does not decode: {e}"));
    assert!(
        decoded.unknown_fields.is_empty(),
        "the test's {kind} has unknown fields {:?}",
        decoded.unknown_fields
    );
    decoded.value
}

/// An EventSource from YAML.
pub fn event_source(yaml: &str) -> EventSource {
    let doc = document("EventSource", yaml);
    decoded("EventSource", gocompat::from_value::<EventSource>(&doc))
}

/// A Sensor from YAML.
pub fn sensor(yaml: &str) -> Sensor {
    let doc = document("Sensor", yaml);
    decoded("Sensor", gocompat::from_value::<Sensor>(&doc))
}

// ---------------------------------------------------------------------------------------------
// The bus
// ---------------------------------------------------------------------------------------------

/// A `nats-server -js` on a free loopback port with a temporary store directory, and a
/// [`JetStreamBus`] connected to it. The server is killed (and its store removed) on drop.
pub struct Nats {
    server: NatsServer,
}

impl Nats {
    /// Starts the server (the multi-threaded runtime keeps other tasks running meanwhile).
    pub fn start() -> Nats {
        let server = tokio::task::block_in_place(NatsServer::start)
            .unwrap_or_else(|e| panic!("starting nats-server: {e}"));
        Nats { server }
    }

    /// A new connection with [`ACK_WAIT`] and [`REQUEST_TIMEOUT`]; creates the stream.
    pub async fn connect(&self) -> Arc<dyn EventBus> {
        let options = JetStreamOptions {
            ack_wait: ACK_WAIT,
            request_timeout: REQUEST_TIMEOUT,
            ..JetStreamOptions::new(self.server.url.clone())
        };
        let bus = bounded(
            "connecting to nats-server",
            WAIT,
            JetStreamBus::connect(options),
        )
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.server.url));
        Arc::new(bus)
    }

    /// Kills the server; the port and store directory are kept.
    pub fn stop(&mut self) {
        tokio::task::block_in_place(|| self.server.stop());
    }

    /// Starts the server again on the same port and store directory.
    pub fn restart(&mut self) {
        tokio::task::block_in_place(|| self.server.restart())
            .unwrap_or_else(|e| panic!("restarting nats-server: {e}"));
    }
}

/// Creates the durable consumers of every trigger dependency of `sensor`, as the Sensor would:
/// consumers start with events published after their creation, so a test creates them before
/// it publishes instead of guessing when the Sensor got there.
pub async fn create_consumers(bus: &dyn EventBus, sensor: &Sensor) {
    let name = sensor.metadata.name.clone().unwrap_or_default();
    for trigger in &sensor.spec.triggers {
        let trigger_name = trigger
            .template
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let deps = trigger_dependencies(sensor, trigger);
        for dep in sensor
            .spec
            .dependencies
            .iter()
            .filter(|d| deps.contains(&d.name))
        {
            let subscription = Subscription {
                sensor: name.clone(),
                trigger: trigger_name.clone(),
                dependency: dep.name.clone(),
                event_source: dep.event_source_name.clone(),
                event_name: dep.event_name.clone(),
            };
            bounded(
                "creating a durable consumer",
                WAIT,
                bus.subscribe(&subscription),
            )
            .await
            .unwrap_or_else(|e| panic!("creating the consumer of {subscription:?}: {e}"));
        }
    }
}

/// The KV bucket of a Sensor.
pub async fn sensor_bucket(bus: &dyn EventBus, sensor: &str) -> Box<dyn KeyValue> {
    bounded("opening a KV bucket", WAIT, bus.key_value(sensor))
        .await
        .unwrap_or_else(|e| panic!("opening the KV bucket of {sensor}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// EventSource
// ---------------------------------------------------------------------------------------------

/// A running EventSource; stopped on drop.
pub struct RunningSource {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), SourceError>>,
}

impl RunningSource {
    /// Runs `source` on `bus` with `clock`, its state in the bus's KV bucket
    /// `eventsource-<name>` (as `kubectl argo events run` does).
    pub async fn start(
        source: EventSource,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> RunningSource {
        let name = source.metadata.name.clone().unwrap_or_default();
        let state: Arc<dyn KeyValue> =
            Arc::from(sensor_bucket(bus.as_ref(), &format!("eventsource-{name}")).await);
        let shutdown = CancellationToken::new();
        let ctx = SourceContext {
            bus,
            state,
            secrets: Arc::new(MapSecrets::default()),
            clock,
            observer: Arc::new(NoObserver),
            kube: KubeAccess::Infer,
            publish_timeout: PUBLISH_TIMEOUT,
            shutdown: shutdown.clone(),
        };
        let task = tokio::spawn(async move { argo_events_eventsource::run(&source, ctx).await });
        RunningSource { shutdown, task }
    }

    /// Panics with `run`'s result if it returned.
    pub fn assert_running(&mut self) {
        if let Some(result) = (&mut self.task).now_or_never() {
            panic!("the EventSource stopped by itself: {result:?}");
        }
    }

    /// Waits until the webhook listener on `port` answers `/health`.
    pub async fn wait_listening(&mut self, port: u16) {
        let client = http_client();
        let url = format!("http://127.0.0.1:{port}/health");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.assert_running();
            if let Ok(r) = client.get(&url).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the webhook on port {port} never answered /health"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RunningSource {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Sensor
// ---------------------------------------------------------------------------------------------

/// What one Sensor run saw (observer callbacks), in order.
#[derive(Default)]
pub struct Seen {
    events: Mutex<Vec<(Event, Vec<DependencyVerdict>)>>,
    decisions: Mutex<Vec<TriggerVerdict>>,
    failures: Mutex<Vec<String>>,
}

impl Seen {
    /// Events routed to a trigger, with the dependency verdicts.
    pub fn events(&self) -> Vec<(Event, Vec<DependencyVerdict>)> {
        lock(&self.events).clone()
    }
    /// Trigger decisions.
    pub fn decisions(&self) -> Vec<TriggerVerdict> {
        lock(&self.decisions).clone()
    }
    /// Failed trigger executions.
    pub fn failures(&self) -> Vec<String> {
        lock(&self.failures).clone()
    }
}

impl SensorObserver for Seen {
    fn event(&self, _trigger: &str, event: &Event, verdicts: &[DependencyVerdict]) {
        lock(&self.events).push((event.clone(), verdicts.to_vec()));
    }
    fn decision(&self, verdict: &TriggerVerdict) {
        lock(&self.decisions).push(verdict.clone());
    }
    fn executed(&self, trigger: &str, result: &Result<String, String>) {
        if let Err(e) = result {
            lock(&self.failures).push(format!("{trigger}: {e}"));
        }
    }
}

/// Records what `log` triggers write and `k8s` triggers would print.
#[derive(Default)]
pub struct Actions {
    logs: Mutex<Vec<(String, String)>>,
}

impl Actions {
    /// `(trigger, message)` of every log trigger run, in order.
    pub fn logs(&self) -> Vec<(String, String)> {
        lock(&self.logs).clone()
    }
}

impl ActionSink for Actions {
    fn log(&self, trigger: &str, message: &str) {
        lock(&self.logs).push((trigger.to_owned(), message.to_owned()));
    }
    fn print_resource(&self, trigger: &str, operation: &str, resource: &Value) {
        panic!(
            "trigger {trigger} printed a resource ({operation}) in a test that has none: {resource}"
        );
    }
}

/// A running Sensor; stopped on drop.
pub struct RunningSensor {
    /// What it saw.
    pub seen: Arc<Seen>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), SensorError>>>,
}

impl RunningSensor {
    /// Runs `sensor` on `bus` as `kubectl argo events run` does; log lines go to `actions`.
    pub fn start(sensor: &Sensor, bus: Arc<dyn EventBus>, actions: Arc<Actions>) -> RunningSensor {
        let name = sensor.metadata.name.clone().unwrap_or_default();
        let namespace = sensor
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let triggers: Vec<String> = sensor
            .spec
            .triggers
            .iter()
            .filter_map(|t| t.template.as_ref().map(|t| t.name.clone()))
            .collect();
        let trigger_refs: Vec<&str> = triggers.iter().map(String::as_str).collect();
        let executor = Executor::new(TriggerContext {
            sensor: name.clone(),
            namespace: namespace.clone(),
            secrets: Arc::new(MapSecrets::default()),
            kube: KubeTarget::Unavailable("no Kubernetes in this test".to_owned()),
            http: http_client(),
            sink: actions,
        });
        let seen = Arc::new(Seen::default());
        let runner = SensorRunner {
            sensor: sensor.clone(),
            bus,
            executor: Arc::new(executor),
            loader: Arc::new(InlineOnly),
            metrics: Arc::new(SensorMetrics::new(&namespace, &name, &trigger_refs)),
            observer: seen.clone(),
            options: Options::default(),
        };
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { runner.run(token).await });
        RunningSensor {
            seen,
            shutdown,
            task: Some(task),
        }
    }

    /// Panics with the runner's result if it returned.
    pub fn assert_running(&mut self) {
        if let Some(task) = self.task.as_mut()
            && let Some(result) = task.now_or_never()
        {
            panic!("the Sensor stopped by itself: {result:?}");
        }
    }

    /// Aborts the runner task, as a killed process: nothing it had not acknowledged is.
    pub async fn kill(mut self) {
        let task = self
            .task
            .take()
            .expect("invariant: the task is there until kill");
        task.abort();
        match bounded("the aborted Sensor task to end", WAIT, task).await {
            Err(e) if e.is_cancelled() => {}
            other => panic!("the Sensor had stopped before it was killed: {other:?}"),
        }
    }
}

impl Drop for RunningSensor {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// A client that never uses a proxy.
pub fn http_client() -> reqwest::Client {
    init();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap_or_else(|e| panic!("building the HTTP client: {e}"))
}

/// An answer of the webhook.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The body.
    pub body: String,
}

/// POSTs JSON to the webhook on `port` at `path`.
pub async fn post(client: &reqwest::Client, port: u16, path: &str, body: &Value) -> Answer {
    let url = format!("http://127.0.0.1:{port}{path}");
    let response = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading the answer of POST {url}: {e}"));
    Answer {
        status,
        retry_after,
        body,
    }
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body as text.
    pub body: String,
}

impl Hit {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the sink got a body that is not JSON ({e}): {}", self.body))
    }
}

/// An HTTP server on 127.0.0.1 answering 200 to everything and recording it.
pub struct Sink {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: JoinHandle<()>,
}

impl Sink {
    /// Starts the sink.
    pub async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap_or_else(|e| panic!("binding the sink: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the sink's address: {e}"))
            .port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let recorded = recorded.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                lock(&recorded).push(Hit {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    content_type: parts
                        .headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
                "ok"
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink {
            url: format!("http://127.0.0.1:{port}"),
            hits,
            task,
        }
    }

    /// Everything received so far, in order.
    pub fn hits(&self) -> Vec<Hit> {
        lock(&self.hits).clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        lock(&self.hits).len()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------------

/// A clock that moves only when told to, and knows who sleeps until when.
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
    sleepers: Mutex<Vec<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: watch::Sender::new(now),
            sleepers: Mutex::new(Vec::new()),
        })
    }

    /// Moves the clock to `t`, waking the sleepers it passes.
    pub fn set(&self, t: DateTime<Utc>) {
        self.now.send_replace(t);
    }

    /// Waits until something sleeps until exactly `at`.
    pub async fn wait_sleeper(&self, at: DateTime<Utc>) {
        wait_until(&format!("a timer set for {at}"), WAIT, || {
            lock(&self.sleepers).contains(&at)
        })
        .await;
    }
}

/// Removes a sleeper when its `sleep_until` ends or is dropped.
struct Sleeper<'a>(&'a ManualClock, DateTime<Utc>);

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        let mut sleepers = lock(&self.0.sleepers);
        if let Some(i) = sleepers.iter().position(|t| *t == self.1) {
            sleepers.remove(i);
        }
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let mut rx = self.now.subscribe();
        lock(&self.sleepers).push(at);
        let _sleeper = Sleeper(self, at);
        while *rx.borrow_and_update() < at {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}
