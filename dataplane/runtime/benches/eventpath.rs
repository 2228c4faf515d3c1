//! Event-path throughput and latency against one real `nats-server -js` (loopback, free port,
//! temporary store directory, killed at the end), printed as one JSON object on stdout; progress
//! goes to stderr. Not a test: nothing is asserted, targets are printed next to the figures.
//!
//! `cargo bench -p argo-events-runtime --bench eventpath` (needs `nats-server` on `PATH`;
//! `EVENTPATH_LOG=info` turns the crates' logs on, to stderr).
//!
//! 1. `raw_publish`: the ceiling of the bus: async-nats JetStream publishes of 512-byte payloads
//!    to the `default` stream (subject `default.bench.raw`), 256 awaiting their PubAck at any
//!    time, for ~5 s.
//! 2. `webhook_ingest`: the webhook EventSource (`argo_events_eventsource::run` on a
//!    `JetStreamBus`) under 64 concurrent keep-alive HTTP clients POSTing 512-byte JSON bodies;
//!    a `200` is only answered once the bus acknowledged the event. Compared with (1).
//! 3. `sensor_drain`: 50 000 events already on the stream, drained by a `SensorRunner` whose
//!    only trigger is a `log` trigger (an `ActionSink` that counts) behind a data filter that
//!    passes. Compared with bare pull + ack loops on durable pull consumers over the same
//!    messages: batches of 256 with fire-and-forget acks (the ceiling), and batches of 16 with a
//!    confirmed ack each, in sequence (what the Sensor's ack protocol costs by itself).
//! 4. `latency`: webhook POST → log trigger executed, offered open-loop at 1000 events/s for
//!    ~5 s after 0.5 s of warm-up (requests are sent on a schedule, never waiting for earlier
//!    answers); p50/p99/max and the rate achieved. `latency_low_rate` repeats it at 200
//!    events/s with a fresh Sensor: the latency of the path when no queue builds up.
//!
//! Every client, the EventSource, the Sensors and nats-server share the machine's cores, so the
//! ratios are what one machine does end to end, not what each part could do alone.

use std::future::IntoFuture as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use argo_events_api::cloudevent::{Event, MEDIA_TYPE_JSON};
use argo_events_api::{EventSource, Sensor};
use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::testserver::{NatsServer, free_port};
use argo_events_bus::{EventBus, Subscription, naming};
use argo_events_engine::machine::{DependencyVerdict, TriggerVerdict};
use argo_events_engine::render::InlineOnly;
use argo_events_eventsource::secrets::MapSecrets;
use argo_events_eventsource::{KubeAccess, NoObserver, SourceContext, SystemClock};
use argo_events_runtime::metrics::SensorMetrics;
use argo_events_runtime::sensor::{Options, SensorObserver, SensorRunner};
use argo_events_runtime::triggers::{ActionSink, Executor, KubeTarget, TriggerContext};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, stream::Stream};
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Size of every HTTP body and raw payload.
const PAYLOAD_BYTES: usize = 512;
/// Publishes awaiting their PubAck in the raw phase (and while pre-publishing).
const RAW_IN_FLIGHT: usize = 256;
/// Length of the timed raw and ingest phases.
const PHASE: Duration = Duration::from_secs(5);
/// Concurrent keep-alive HTTP clients in the ingest phase.
const HTTP_CLIENTS: usize = 64;
/// Events drained by the Sensor (and by the bare loops).
const DRAIN_EVENTS: u64 = 50_000;
/// Batch of the ceiling pull loop.
const CEILING_BATCH: usize = 256;
/// Offered rate of the latency phase.
const LATENCY_RATE: u64 = 1_000;
/// A rate the Sensor keeps up with even as it is now: its latency without a queue.
const LATENCY_LOW_RATE: u64 = 200;
/// Events are sent for this long before measuring (connection pool and consumer warm-up)…
const LATENCY_WARMUP: Duration = Duration::from_millis(500);
/// …and measured for this long.
const LATENCY_MEASURED: Duration = Duration::from_secs(5);
/// Longest any one drain (Sensor or bare loop) may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);
/// Longest the whole benchmark may take.
const OVERALL_TIMEOUT: Duration = Duration::from_secs(900);

const TARGET_INGEST_RATIO: f64 = 0.25;
const TARGET_DRAIN_RATIO: f64 = 0.50;
const TARGET_P99_MS: f64 = 10.0;

/// EventSource and Sensor names (bus subjects `default.<source>.<event>`).
const SOURCE: &str = "bench";
const RAW_EVENT: &str = "raw";
const INGEST_EVENT: &str = "ingest";
const LATENCY_EVENT: &str = "latency";
const DRAIN_SOURCE: &str = "drain";
const DRAIN_EVENT: &str = "evt";
const TRIGGER: &str = "count";
const DEPENDENCY: &str = "dep";

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Ok(filter) = std::env::var("EVENTPATH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match NatsServer::start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: starting nats-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "nats-server -js at {} (store {})",
        server.url,
        server.store_dir.display()
    );
    let url = server.url.clone();
    let report = runtime.block_on(async move {
        match tokio::time::timeout(OVERALL_TIMEOUT, run(&url)).await {
            Ok(report) => report,
            Err(_) => {
                json!({"error": format!("the benchmark did not finish within {OVERALL_TIMEOUT:?}")})
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    // Kills nats-server and removes its store.
    drop(server);
    match serde_json::to_string_pretty(&report) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: printing the report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What every phase shares.
struct Setup {
    bus: Arc<dyn EventBus>,
    client: async_nats::Client,
    js: jetstream::Context,
}

impl Setup {
    async fn connect(url: &str) -> anyhow::Result<Setup> {
        // Creates the `default` stream with this implementation's settings.
        let bus = JetStreamBus::connect(JetStreamOptions::new(url))
            .await
            .with_context(|| format!("connecting the JetStream bus to {url}"))?;
        let client = async_nats::connect(url)
            .await
            .with_context(|| format!("connecting async-nats to {url}"))?;
        let js = jetstream::new(client.clone());
        Ok(Setup {
            bus: Arc::new(bus),
            client,
            js,
        })
    }

    async fn stream(&self) -> anyhow::Result<Stream> {
        self.js
            .get_stream(naming::STREAM_NAME)
            .await
            .with_context(|| format!("looking up stream {}", naming::STREAM_NAME))
    }
}

async fn run(url: &str) -> Value {
    let mut out = Map::new();
    let setup = match Setup::connect(url).await {
        Ok(s) => s,
        Err(e) => return json!({"error": format!("{e:#}")}),
    };
    out.insert(
        "machine".into(),
        json!({
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "nats_server": setup.client.server_info().version,
            "payload_bytes": PAYLOAD_BYTES,
        }),
    );

    eprintln!("1/4 raw JetStream publish ceiling ({RAW_IN_FLIGHT} in flight, {PHASE:?})");
    let raw = raw_publish(&setup).await;
    let raw_rate = raw.as_ref().ok().and_then(|v| v["events_per_sec"].as_f64());
    out.insert("raw_publish".into(), or_error(raw));

    let stop_source = CancellationToken::new();
    let source = start_webhook_source(&setup, stop_source.clone()).await;
    match &source {
        Ok((port, _)) => {
            eprintln!("2/4 webhook ingest ({HTTP_CLIENTS} keep-alive clients, {PHASE:?})");
            let ingest = webhook_ingest(*port).await.map(|mut v| {
                if let (Some(raw), Some(rate)) = (raw_rate, v["events_per_sec"].as_f64())
                    && raw > 0.0
                {
                    v["ratio_to_raw"] = json!(round(rate / raw, 3));
                    v["meets_target"] = json!(rate / raw >= TARGET_INGEST_RATIO);
                }
                v["target_ratio_to_raw"] = json!(TARGET_INGEST_RATIO);
                v
            });
            out.insert("webhook_ingest".into(), or_error(ingest));
        }
        Err(e) => {
            out.insert("webhook_ingest".into(), json!({"error": format!("{e:#}")}));
        }
    }

    eprintln!("3/4 sensor drain ({DRAIN_EVENTS} events) vs bare pull + ack");
    out.insert("sensor_drain".into(), or_error(sensor_drain(&setup).await));

    match &source {
        Ok((port, _)) => {
            for (key, sensor, rate) in [
                ("latency", "latency", LATENCY_RATE),
                ("latency_low_rate", "latency-low", LATENCY_LOW_RATE),
            ] {
                eprintln!(
                    "4/4 latency webhook → trigger ({rate}/s open loop, {LATENCY_MEASURED:?})"
                );
                let measured = latency(&setup, *port, sensor, rate).await;
                out.insert(key.into(), or_error(measured));
            }
        }
        Err(e) => {
            out.insert("latency".into(), json!({"error": format!("{e:#}")}));
        }
    }

    stop_source.cancel();
    if let Ok((_, handle)) = source {
        match tokio::time::timeout(Duration::from_secs(10), handle).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("EventSource stopped with an error: {e}"),
            Ok(Err(e)) => eprintln!("EventSource task failed: {e}"),
            Err(_) => eprintln!("EventSource did not stop within 10 s"),
        }
    }
    Value::Object(out)
}

fn or_error(result: anyhow::Result<Value>) -> Value {
    result.unwrap_or_else(|e| {
        eprintln!("phase failed: {e:#}");
        json!({"error": format!("{e:#}")})
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// A 512-byte JSON object `{"kind":"bench","bench_seq":N,"pad":"xx…"}`.
fn body(seq: u64) -> Bytes {
    let head = format!("{{\"kind\":\"bench\",\"bench_seq\":{seq},\"pad\":\"");
    let tail = "\"}";
    let pad = PAYLOAD_BYTES.saturating_sub(head.len() + tail.len());
    Bytes::from(format!("{head}{}{tail}", "x".repeat(pad)))
}

/// The `bench_seq` of a body, found in a log trigger's message.
fn seq_of(text: &str) -> Option<usize> {
    const KEY: &str = "\"bench_seq\":";
    let start = text.find(KEY)? + KEY.len();
    let digits: &str = text[start..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

fn elapsed_rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        round(count as f64 / secs, 1)
    } else {
        0.0
    }
}

// ---------------------------------------------------------------- 1. raw publish ceiling

async fn raw_publish(setup: &Setup) -> anyhow::Result<Value> {
    let subject = naming::subject(naming::STREAM_NAME, SOURCE, RAW_EVENT);
    let payload = body(0);
    let (acked, failed, elapsed) = tokio::time::timeout(
        PHASE + Duration::from_secs(30),
        publish_window(&setup.js, &subject, PHASE, |_| Ok(payload.clone()), None),
    )
    .await
    .map_err(|_| anyhow!("raw publishing did not finish in time"))??;
    // Keep the stream small for the phases after (it refuses publishes once full).
    let purged = setup
        .stream()
        .await?
        .purge()
        .filter(subject.clone())
        .await
        .map_err(|e| anyhow!("purging {subject}: {e}"))?;
    eprintln!(
        "  raw: {acked} acked in {elapsed:.2?} ({} purged)",
        purged.purged
    );
    Ok(json!({
        "events_per_sec": elapsed_rate(acked, elapsed),
        "events": acked,
        "failed": failed,
        "seconds": round(elapsed.as_secs_f64(), 3),
        "in_flight": RAW_IN_FLIGHT,
        "subject": subject,
    }))
}

/// Publishes with [`RAW_IN_FLIGHT`] publishes awaiting their PubAck, until `duration` has passed
/// or `limit` messages were sent; returns (acked, failed, elapsed until the last ack).
async fn publish_window(
    js: &jetstream::Context,
    subject: &str,
    duration: Duration,
    make: impl Fn(u64) -> anyhow::Result<Bytes>,
    limit: Option<u64>,
) -> anyhow::Result<(u64, u64, Duration)> {
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let (mut sent, mut acked, mut failed) = (0u64, 0u64, 0u64);
    let mut settle = |result: Option<Result<jetstream::publish::PublishAck, _>>| match result {
        Some(Ok(_)) => acked += 1,
        Some(Err(e)) => {
            if failed == 0 {
                eprintln!("  publish failed: {e}");
            }
            failed += 1;
        }
        None => {}
    };
    loop {
        let more = limit.map_or(started.elapsed() < duration, |l| sent < l);
        if !more {
            break;
        }
        if in_flight.len() >= RAW_IN_FLIGHT {
            settle(in_flight.next().await);
        }
        let ack = js
            .publish(subject.to_owned(), make(sent)?)
            .await
            .map_err(|e| anyhow!("publishing on {subject}: {e}"))?;
        in_flight.push(ack.into_future());
        sent += 1;
    }
    while let Some(result) = in_flight.next().await {
        settle(Some(result));
    }
    Ok((acked, failed, started.elapsed()))
}

// ---------------------------------------------------------------- 2. webhook ingest

fn decode<T: serde::de::DeserializeOwned>(what: &str, value: &Value) -> anyhow::Result<T> {
    let decoded = argo_events_api::gocompat::from_value::<T>(value)
        .map_err(|e| anyhow!("decoding the benchmark's {what}: {e}"))?;
    if !decoded.unknown_fields.is_empty() {
        bail!(
            "the benchmark's {what} has unknown fields: {}",
            decoded.unknown_fields.join(", ")
        );
    }
    Ok(decoded.value)
}

fn http_client(idle_per_host: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(idle_per_host)
        .timeout(Duration::from_secs(10))
        .build()
        .context("building an HTTP client")
}

type SourceTask = tokio::task::JoinHandle<Result<(), argo_events_eventsource::SourceError>>;

/// Runs the webhook EventSource (`/ingest` and `/latency` on one free port) until `stop`.
async fn start_webhook_source(
    setup: &Setup,
    stop: CancellationToken,
) -> anyhow::Result<(u16, SourceTask)> {
    let port = free_port().map_err(|e| anyhow!(e))?;
    let p = port.to_string();
    let es: EventSource = decode(
        "EventSource",
        &json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "EventSource",
            "metadata": {"name": SOURCE, "namespace": "bench"},
            "spec": {"webhook": {
                INGEST_EVENT: {"port": p, "endpoint": "/ingest", "method": "POST"},
                LATENCY_EVENT: {"port": p, "endpoint": "/latency", "method": "POST"},
            }},
        }),
    )?;
    let state = setup
        .bus
        .key_value(&format!("eventsource-{SOURCE}"))
        .await
        .context("opening the EventSource's KV bucket")?;
    let ctx = SourceContext {
        bus: setup.bus.clone(),
        state: Arc::from(state),
        secrets: Arc::new(MapSecrets::default()),
        clock: Arc::new(SystemClock),
        observer: Arc::new(NoObserver),
        kube: KubeAccess::Infer,
        publish_timeout: Duration::from_secs(5),
        shutdown: stop,
    };
    let handle = tokio::spawn(async move { argo_events_eventsource::run(&es, ctx).await });
    let client = http_client(1)?;
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if handle.is_finished() {
            bail!("the webhook EventSource stopped at start (port {port})");
        }
        if let Ok(r) = client.get(&health).send().await
            && r.status() == reqwest::StatusCode::OK
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the webhook EventSource did not answer {health} within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((port, handle))
}

async fn webhook_ingest(port: u16) -> anyhow::Result<Value> {
    let url = format!("http://127.0.0.1:{port}/ingest");
    let deadline = tokio::time::Instant::now() + PHASE;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..HTTP_CLIENTS {
        let url = url.clone();
        let body = body(i as u64);
        let client = http_client(1)?;
        tasks.spawn(async move {
            let (mut ok, mut failed, mut first_error) = (0u64, 0u64, None::<String>);
            while tokio::time::Instant::now() < deadline {
                let sent = client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(resp) => {
                        let status = resp.status();
                        let answer = resp.bytes().await;
                        if status == reqwest::StatusCode::OK && answer.is_ok() {
                            ok += 1;
                        } else {
                            failed += 1;
                            first_error.get_or_insert_with(|| {
                                format!(
                                    "HTTP {status}: {}",
                                    answer
                                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                                        .unwrap_or_default()
                                )
                            });
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (ok, failed, first_error)
        });
    }
    let (mut ok, mut failed, mut first_error) = (0u64, 0u64, None);
    let collected = tokio::time::timeout(PHASE + Duration::from_secs(30), async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((o, f, e)) => {
                    ok += o;
                    failed += f;
                    if first_error.is_none() {
                        first_error = e;
                    }
                }
                Err(e) => {
                    first_error.get_or_insert_with(|| format!("client task failed: {e}"));
                }
            }
        }
    })
    .await;
    if collected.is_err() {
        tasks.abort_all();
        first_error.get_or_insert_with(|| "clients did not finish in time".to_owned());
    }
    let elapsed = started.elapsed();
    eprintln!("  ingest: {ok} × 200, {failed} failed in {elapsed:.2?}");
    Ok(json!({
        "events_per_sec": elapsed_rate(ok, elapsed),
        "ok": ok,
        "failed": failed,
        "first_error": first_error,
        "seconds": round(elapsed.as_secs_f64(), 3),
        "clients": HTTP_CLIENTS,
    }))
}

// ---------------------------------------------------------------- Sensors

/// Counts log-trigger executions and stamps them (nanoseconds since `origin`, plus one so zero
/// means "not yet"); with `arrivals`, also per `bench_seq`.
struct CountingSink {
    origin: Instant,
    count: AtomicU64,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    arrivals: Option<Arc<Vec<AtomicU64>>>,
}

impl CountingSink {
    fn new(origin: Instant, arrivals: Option<Arc<Vec<AtomicU64>>>) -> CountingSink {
        CountingSink {
            origin,
            count: AtomicU64::new(0),
            first_ns: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            arrivals,
        }
    }

    fn span(&self) -> Duration {
        let first = self.first_ns.load(Ordering::Acquire);
        let last = self.last_ns.load(Ordering::Acquire);
        Duration::from_nanos(last.saturating_sub(first))
    }
}

fn stamp(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

impl ActionSink for CountingSink {
    fn log(&self, _trigger: &str, message: &str) {
        let now = stamp(self.origin);
        let _ = self
            .first_ns
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        self.last_ns.fetch_max(now, Ordering::AcqRel);
        self.count.fetch_add(1, Ordering::AcqRel);
        if let Some(arrivals) = &self.arrivals
            && let Some(slot) = seq_of(message).and_then(|seq| arrivals.get(seq))
        {
            let _ = slot.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    fn print_resource(&self, _trigger: &str, _operation: &str, _resource: &Value) {}
}

/// Sees nothing: the benchmark measures the loop, not an observer.
struct QuietObserver;

impl SensorObserver for QuietObserver {
    fn event(&self, _: &str, _: &Event, _: &[DependencyVerdict]) {}
    fn decision(&self, _: &TriggerVerdict) {}
    fn executed(&self, _: &str, _: &Result<String, String>) {}
}

/// One dependency on `<source>/<event>` with a passing data filter; one `log` trigger.
fn bench_sensor(name: &str, source: &str, event: &str) -> anyhow::Result<Sensor> {
    decode(
        "Sensor",
        &json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Sensor",
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {
                "dependencies": [{
                    "name": DEPENDENCY,
                    "eventSourceName": source,
                    "eventName": event,
                    "filters": {"data": [
                        {"path": "body.kind", "type": "string", "value": ["^bench$"]}
                    ]},
                }],
                "triggers": [{"template": {"name": TRIGGER, "log": {}}}],
            },
        }),
    )
}

fn sensor_runner(
    sensor: Sensor,
    bus: Arc<dyn EventBus>,
    sink: Arc<CountingSink>,
) -> anyhow::Result<SensorRunner> {
    let name = sensor.metadata.name.clone().unwrap_or_default();
    let executor = Executor::new(TriggerContext {
        sensor: name.clone(),
        namespace: "bench".into(),
        secrets: Arc::new(MapSecrets::default()),
        kube: KubeTarget::Unavailable("the benchmark has no Kubernetes API server".into()),
        http: http_client(1)?,
        sink,
    });
    Ok(SensorRunner {
        sensor,
        bus,
        executor: Arc::new(executor),
        loader: Arc::new(InlineOnly),
        metrics: Arc::new(SensorMetrics::new("bench", &name, &[TRIGGER])),
        observer: Arc::new(QuietObserver),
        options: Options::default(),
    })
}

type SensorTask = tokio::task::JoinHandle<Result<(), argo_events_runtime::sensor::SensorError>>;

async fn stop_sensor(name: &str, stop: CancellationToken, handle: SensorTask) {
    stop.cancel();
    match tokio::time::timeout(Duration::from_secs(10), handle).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("  Sensor {name} stopped with an error: {e}"),
        Ok(Err(e)) => eprintln!("  Sensor {name} task failed: {e}"),
        Err(_) => eprintln!("  Sensor {name} did not stop within 10 s"),
    }
}

// ---------------------------------------------------------------- 3. sensor drain

async fn sensor_drain(setup: &Setup) -> anyhow::Result<Value> {
    const SENSOR: &str = "drain";
    let subject = naming::subject(naming::STREAM_NAME, DRAIN_SOURCE, DRAIN_EVENT);
    // The Sensor's durable consumer starts with events published after its creation: create it
    // first, exactly as the runner will look it up.
    let subscription = Subscription {
        sensor: SENSOR.into(),
        trigger: TRIGGER.into(),
        dependency: DEPENDENCY.into(),
        event_source: DRAIN_SOURCE.into(),
        event_name: DRAIN_EVENT.into(),
    };
    drop(
        setup
            .bus
            .subscribe(&subscription)
            .await
            .context("creating the Sensor's durable consumer")?,
    );

    let make = |seq: u64| -> anyhow::Result<Bytes> {
        let data = format!(
            "{{\"header\":{{\"Content-Type\":[\"application/json\"]}},\"body\":{}}}",
            String::from_utf8_lossy(&body(seq))
        );
        let event = Event {
            id: format!("drain-{seq}"),
            source: DRAIN_SOURCE.into(),
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: MEDIA_TYPE_JSON.into(),
            subject: DRAIN_EVENT.into(),
            time: Some(chrono::Utc::now()),
            trace: Default::default(),
            data: data.into_bytes(),
        };
        Ok(Bytes::from(serde_json::to_vec(&event.to_cloudevent())?))
    };
    let message_bytes = make(0)?.len();
    let (acked, failed, elapsed) = tokio::time::timeout(
        Duration::from_secs(120),
        publish_window(&setup.js, &subject, PHASE, make, Some(DRAIN_EVENTS)),
    )
    .await
    .map_err(|_| anyhow!("pre-publishing did not finish within 120 s"))??;
    eprintln!("  pre-published {acked} ({message_bytes} bytes each) in {elapsed:.2?}");
    if failed > 0 || acked != DRAIN_EVENTS {
        bail!("pre-publishing: {acked} of {DRAIN_EVENTS} acknowledged, {failed} failed");
    }

    let ceiling = pull_ack(setup, "bench-ceiling", &subject, CEILING_BATCH, false).await?;
    eprintln!(
        "  bare pull ({CEILING_BATCH}) + ack: {} in {:.2?}",
        ceiling.0, ceiling.1
    );
    let sync = pull_ack(setup, "bench-ack-sync", &subject, 16, true).await?;
    eprintln!(
        "  bare pull (16) + confirmed ack: {} in {:.2?}",
        sync.0, sync.1
    );

    let origin = Instant::now();
    let sink = Arc::new(CountingSink::new(origin, None));
    let runner = sensor_runner(
        bench_sensor(SENSOR, DRAIN_SOURCE, DRAIN_EVENT)?,
        setup.bus.clone(),
        sink.clone(),
    )?;
    let stop = CancellationToken::new();
    let handle: SensorTask = tokio::spawn(runner.run(stop.clone()));
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut next_report = Instant::now() + Duration::from_secs(5);
    while sink.count.load(Ordering::Acquire) < DRAIN_EVENTS
        && Instant::now() < deadline
        && !handle.is_finished()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if Instant::now() > next_report {
            eprintln!(
                "  sensor: {} of {DRAIN_EVENTS}",
                sink.count.load(Ordering::Acquire)
            );
            next_report += Duration::from_secs(5);
        }
    }
    let processed = sink.count.load(Ordering::Acquire);
    let span = sink.span();
    let startup = Duration::from_nanos(sink.first_ns.load(Ordering::Acquire));
    // Everything processed should be acknowledged shortly after.
    let durable = naming::durable_name(SENSOR, TRIGGER, DEPENDENCY);
    let stream = setup.stream().await?;
    let mut unacked = None;
    for _ in 0..100 {
        let info = stream
            .consumer_info(&durable)
            .await
            .map_err(|e| anyhow!("consumer info of {durable}: {e}"))?;
        let left = info.num_pending + info.num_ack_pending as u64;
        unacked = Some(left);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_sensor(SENSOR, stop, handle).await;
    eprintln!("  sensor: {processed} processed in {span:.2?} (started after {startup:.2?})");

    let sensor_rate = elapsed_rate(processed.saturating_sub(1), span);
    let ceiling_rate = elapsed_rate(ceiling.0.saturating_sub(1), ceiling.1);
    let sync_rate = elapsed_rate(sync.0.saturating_sub(1), sync.1);
    let ratio = if ceiling_rate > 0.0 {
        sensor_rate / ceiling_rate
    } else {
        0.0
    };
    Ok(json!({
        "events": DRAIN_EVENTS,
        "message_bytes": message_bytes,
        "prepublish_per_sec": elapsed_rate(acked, elapsed),
        "sensor_events_per_sec": sensor_rate,
        "sensor_processed": processed,
        "sensor_unacked_after": unacked,
        "sensor_startup_ms": round(startup.as_secs_f64() * 1e3, 1),
        "sensor_batch": Options::default().batch,
        "pull_ack_per_sec": ceiling_rate,
        "pull_ack_batch": CEILING_BATCH,
        "pull_confirmed_ack_sequential_per_sec": sync_rate,
        "pull_confirmed_ack_batch": 16,
        "ratio_to_pull_ack": round(ratio, 3),
        "ratio_to_pull_confirmed_ack": round(if sync_rate > 0.0 { sensor_rate / sync_rate } else { 0.0 }, 3),
        "target_ratio_to_pull_ack": TARGET_DRAIN_RATIO,
        "meets_target": ratio >= TARGET_DRAIN_RATIO,
    }))
}

/// A bare drain of [`DRAIN_EVENTS`] messages through a new durable pull consumer: `batch`
/// messages per pull request, each acknowledged (`confirmed`: waiting for the server's
/// confirmation, one at a time, as the Sensor does). Returns (messages, first → last).
async fn pull_ack(
    setup: &Setup,
    durable: &str,
    subject: &str,
    batch: usize,
    confirmed: bool,
) -> anyhow::Result<(u64, Duration)> {
    let consumer: PullConsumer = setup
        .stream()
        .await?
        .create_consumer(pull::Config {
            durable_name: Some(durable.to_owned()),
            filter_subject: subject.to_owned(),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow!("creating durable consumer {durable}: {e}"))?;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut first = None;
    let mut last = Instant::now();
    let mut n = 0u64;
    'drain: while n < DRAIN_EVENTS && Instant::now() < deadline {
        let pulled = if confirmed {
            consumer.fetch().max_messages(batch).messages().await
        } else {
            consumer
                .batch()
                .max_messages(batch)
                .expires(Duration::from_millis(500))
                .messages()
                .await
        };
        let mut messages = pulled.map_err(|e| anyhow!("pull from {durable}: {e}"))?;
        while let Some(message) = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| anyhow!("pull from {durable}: no answer within 10 s"))?
        {
            let message = message.map_err(|e| anyhow!("pull from {durable}: {e}"))?;
            first.get_or_insert_with(Instant::now);
            let acked = if confirmed {
                message.double_ack().await
            } else {
                message.ack().await
            };
            acked.map_err(|e| anyhow!("ack on {durable}: {e}"))?;
            n += 1;
            last = Instant::now();
            if n == DRAIN_EVENTS {
                break 'drain;
            }
        }
    }
    if !confirmed {
        setup
            .client
            .flush()
            .await
            .map_err(|e| anyhow!("flushing acks of {durable}: {e}"))?;
        last = Instant::now();
    }
    Ok((n, first.map_or(Duration::ZERO, |f| last - f)))
}

// ---------------------------------------------------------------- 4. latency

/// Offers `rate` webhook POSTs per second (open loop) to a fresh Sensor `sensor` on the
/// latency event; measures POST sent → log trigger executed.
async fn latency(setup: &Setup, port: u16, sensor: &str, rate: u64) -> anyhow::Result<Value> {
    let warmup = usize::try_from(rate * LATENCY_WARMUP.as_millis() as u64 / 1000)?;
    let measured_events = usize::try_from(rate * LATENCY_MEASURED.as_millis() as u64 / 1000)?;
    let total = warmup + measured_events;
    let origin = Instant::now();
    let slots =
        || -> Arc<Vec<AtomicU64>> { Arc::new((0..total).map(|_| AtomicU64::new(0)).collect()) };
    let sent = slots();
    let arrivals = slots();
    let sink = Arc::new(CountingSink::new(origin, Some(arrivals.clone())));
    let runner = sensor_runner(
        bench_sensor(sensor, SOURCE, LATENCY_EVENT)?,
        setup.bus.clone(),
        sink.clone(),
    )?;
    let stop = CancellationToken::new();
    let handle: SensorTask = tokio::spawn(runner.run(stop.clone()));

    // Events published before the Sensor's consumer exists would never reach it.
    let durable = naming::durable_name(sensor, TRIGGER, DEPENDENCY);
    let stream = setup.stream().await?;
    let wait_from = Instant::now();
    while stream.consumer_info(&durable).await.is_err() {
        if handle.is_finished() || wait_from.elapsed() > Duration::from_secs(10) {
            stop_sensor(sensor, stop, handle).await;
            bail!("Sensor {sensor}'s consumer {durable} did not appear within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let url = format!("http://127.0.0.1:{port}/latency");
    let client = http_client(256)?;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut posts = JoinSet::new();
    let mut late = Duration::ZERO;
    for (i, slot) in sent.iter().enumerate() {
        let due = start + interval * u32::try_from(i)?;
        tokio::time::sleep_until(due).await;
        late = late.max(tokio::time::Instant::now() - due);
        slot.store(stamp(origin), Ordering::Release);
        let (client, url, ok, failed, first_error) = (
            client.clone(),
            url.clone(),
            ok.clone(),
            failed.clone(),
            first_error.clone(),
        );
        posts.spawn(async move {
            let sent = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body(i as u64))
                .send()
                .await;
            let problem = match sent {
                Ok(resp) if resp.status() == reqwest::StatusCode::OK => match resp.bytes().await {
                    Ok(_) => None,
                    Err(e) => Some(e.to_string()),
                },
                Ok(resp) => Some(format!("HTTP {}", resp.status())),
                Err(e) => Some(e.to_string()),
            };
            match problem {
                None => ok.fetch_add(1, Ordering::AcqRel),
                Some(p) => {
                    if let Ok(mut first) = first_error.lock() {
                        first.get_or_insert(p);
                    }
                    failed.fetch_add(1, Ordering::AcqRel)
                }
            };
        });
        while posts.try_join_next().is_some() {}
    }
    let sending = start.elapsed();
    let answered = tokio::time::timeout(Duration::from_secs(15), async {
        while posts.join_next().await.is_some() {}
    })
    .await;
    if answered.is_err() {
        posts.abort_all();
    }
    let ok = ok.load(Ordering::Acquire);
    let wait_from = Instant::now();
    while sink.count.load(Ordering::Acquire) < ok && wait_from.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_sensor(sensor, stop, handle).await;

    let mut latencies_ms = Vec::with_capacity(measured_events);
    let (mut first_sent, mut last_arrival) = (u64::MAX, 0u64);
    for i in warmup..total {
        let s = sent[i].load(Ordering::Acquire);
        let a = arrivals[i].load(Ordering::Acquire);
        if s == 0 {
            continue;
        }
        first_sent = first_sent.min(s);
        if a == 0 {
            continue;
        }
        last_arrival = last_arrival.max(a);
        latencies_ms.push(a.saturating_sub(s) as f64 / 1e6);
    }
    latencies_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| -> Option<f64> {
        let n = latencies_ms.len();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        Some(round(latencies_ms[rank - 1], 3))
    };
    let measured = latencies_ms.len() as u64;
    let achieved = if last_arrival > first_sent {
        elapsed_rate(measured, Duration::from_nanos(last_arrival - first_sent))
    } else {
        0.0
    };
    let p99 = pct(0.99);
    eprintln!(
        "  latency: {measured} measured, p50 {:?} ms, p99 {p99:?} ms, max {:?} ms",
        pct(0.5),
        pct(1.0)
    );
    Ok(json!({
        "offered_per_sec": rate,
        "achieved_per_sec": achieved,
        "sent": total,
        "warmup": warmup,
        "ok": ok,
        "failed": failed.load(Ordering::Acquire),
        "first_error": first_error.lock().ok().and_then(|e| e.clone()),
        "triggered": sink.count.load(Ordering::Acquire),
        "measured": measured,
        "missing": measured_events as u64 - measured,
        "sending_seconds": round(sending.as_secs_f64(), 3),
        "sender_max_late_ms": round(late.as_secs_f64() * 1e3, 3),
        "p50_ms": pct(0.5),
        "p90_ms": pct(0.9),
        "p99_ms": p99,
        "max_ms": pct(1.0),
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": p99.is_some_and(|p| p < TARGET_P99_MS),
    }))
}
