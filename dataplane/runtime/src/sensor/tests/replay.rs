//! `/replay` end to end: a running Sensor, its admin router, and the bus (in memory and a real
//! nats-server). Replayed events run the trigger again, through the dependency's filter, with
//! outcomes in `/decisions`, and the durable consumer is left as it was.

use std::sync::atomic::AtomicBool;

use argo_events_api::diagnostics::{
    AdminError, Decisions, ReplayResult, StoredMessages, TriggerResult,
};
use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::testserver::NatsServer;
use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::*;
use crate::decisions::DecisionRecorder;
use crate::diagnostics::{SensorDiagnostics, diagnostics_router};
use crate::metrics::admin_router;
use crate::triggers::ActionSink;

/// What the log trigger wrote.
#[derive(Default)]
struct Captured(Mutex<Vec<String>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl ActionSink for Captured {
    fn log(&self, _: &str, message: &str) {
        self.0.lock().unwrap().push(message.to_owned());
    }
    fn print_resource(&self, _: &str, _: &str, _: &Value) {}
}

/// Every dependency verdict: (event id, matched).
#[derive(Default)]
struct Verdicts(Mutex<Vec<(String, bool)>>);

impl SensorObserver for Verdicts {
    fn event(&self, _: &str, event: &Event, verdicts: &[DependencyVerdict]) {
        let mut seen = self.0.lock().unwrap();
        for v in verdicts {
            seen.push((event.id.clone(), v.matched));
        }
    }
    fn decision(&self, _: &TriggerVerdict) {}
    fn executed(&self, _: &str, _: &Result<String, String>) {}
}

fn sensor() -> Sensor {
    value_sensor(&json!({
        "metadata": {"name": "replayed", "namespace": "ns"},
        "spec": {
            "dependencies": [{
                "name": "push",
                "eventSourceName": "webhook",
                "eventName": "push",
                "filters": {"data": [{"path": "body.ref", "type": "string", "value": ["main"]}]},
            }],
            "triggers": [{"template": {"name": "log-it", "log": {}}}],
        },
    }))
}

fn push(id: &str, git_ref: &str, n: u32) -> Event {
    Event {
        id: id.into(),
        source: "webhook".into(),
        specversion: "1.0".into(),
        type_: "webhook".into(),
        datacontenttype: "application/json".into(),
        subject: "push".into(),
        time: None,
        trace: Default::default(),
        data: json!({"body": {"ref": git_ref, "n": n}})
            .to_string()
            .into_bytes(),
    }
}

struct Harness {
    bus: Arc<dyn EventBus>,
    router: Router,
    recorder: Arc<DecisionRecorder>,
    verdicts: Arc<Verdicts>,
    sink: Arc<Captured>,
    subscription: Subscription,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), SensorError>>>,
}

impl Harness {
    async fn start(bus: Arc<dyn EventBus>) -> Harness {
        let sensor = sensor();
        let verdicts = Arc::new(Verdicts::default());
        let recorder = Arc::new(DecisionRecorder::new(&sensor, verdicts.clone()));
        let diagnostics = Arc::new(SensorDiagnostics::new(
            &sensor,
            recorder.clone(),
            naming::STREAM_NAME,
        ));
        diagnostics.set_bus(bus.clone());
        let metrics = Arc::new(SensorMetrics::new("ns", "replayed", &["log-it"]));
        let router = admin_router(metrics.registry(), Arc::new(AtomicBool::new(true)))
            .merge(diagnostics_router(diagnostics.clone()));
        let sink = Arc::new(Captured::default());
        let runner = SensorRunner {
            sensor: sensor.clone(),
            bus: bus.clone(),
            executor: Arc::new(Executor::new(TriggerContext {
                sensor: "replayed".into(),
                namespace: "ns".into(),
                secrets: Arc::new(MapSecrets::default()),
                kube: KubeTarget::Unavailable("no Kubernetes in this test".into()),
                http: reqwest::Client::new(),
                sink: sink.clone(),
            })),
            loader: Arc::new(argo_events_engine::render::InlineOnly),
            metrics,
            observer: recorder.clone(),
            options: Options {
                fetch_wait: Duration::from_millis(50),
                ..Options::default()
            },
        };
        let shutdown = CancellationToken::new();
        let replays = diagnostics.replays();
        let task = tokio::spawn(runner.run_with_replays(shutdown.clone(), replays.clone()));
        let subscription = subscriptions(&sensor).remove(0);
        // Publish only once the durable consumer exists (it starts at the end of the stream).
        wait_for("the loop to subscribe and take replays", async || {
            replays.running() == ["log-it"]
                && bus
                    .inspect(&subscription)
                    .await
                    .unwrap()
                    .consumer_state
                    .is_some()
        })
        .await;
        Harness {
            bus,
            router,
            recorder,
            verdicts,
            sink,
            subscription,
            shutdown,
            task: Some(task),
        }
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Request::post(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Waits until the durable consumer has every delivery up to `seq` acknowledged.
    async fn wait_acked(&self, seq: u64) -> argo_events_bus::SubscriptionState {
        wait_for(&format!("acks up to {seq}"), async || {
            let s = self.bus.inspect(&self.subscription).await.unwrap();
            s.consumer_state
                .is_some_and(|c| c.ack_floor_stream_seq == seq && c.ack_pending == 0)
        })
        .await;
        self.bus.inspect(&self.subscription).await.unwrap()
    }

    fn outcomes(&self) -> Vec<(TriggerResult, String)> {
        self.recorder.snapshot().triggers[0]
            .recent
            .iter()
            .map(|o| (o.result, o.message.clone()))
            .collect()
    }

    fn verdicts_of(&self, id: &str) -> Vec<bool> {
        self.verdicts
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _)| e == id)
            .map(|(_, m)| *m)
            .collect()
    }
}

async fn wait_for(what: &str, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The scenario, on any bus.
async fn replays_run_the_trigger_again_through_the_same_path(bus: Arc<dyn EventBus>) {
    let mut h = Harness::start(bus).await;
    h.bus.publish(&push("e1", "main", 1)).await.unwrap();
    h.bus.publish(&push("e2", "main", 2)).await.unwrap();
    wait_for("two runs", async || h.sink.lines().len() == 2).await;
    let before = h.wait_acked(2).await;

    // fromSeq=1: both events again, to this Sensor's trigger, though their ids are within the
    // duplicate window.
    let (status, body) = h.post("/replay?dependency=push&fromSeq=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result: ReplayResult = serde_json::from_value(body).unwrap();
    assert_eq!(
        result,
        ReplayResult {
            sensor: "ns/replayed".into(),
            dependency: "push".into(),
            subject: "default.webhook.push".into(),
            triggers: vec!["log-it".into()],
            replayed: 2,
            sequences: vec![1, 2],
            skipped: vec![],
            truncated: false,
        }
    );
    wait_for("two more runs", async || h.sink.lines().len() == 4).await;
    let lines = h.sink.lines();
    assert!(lines[2].contains(r#""n":1"#), "{lines:?}");
    assert!(lines[3].contains(r#""n":2"#), "{lines:?}");
    // The durable consumer saw nothing of it.
    assert_eq!(h.bus.inspect(&h.subscription).await.unwrap(), before);
    // /decisions: four successful runs (the verdicts of e1 and e2 are counted once per id).
    let (status, body) = h.get("/decisions").await;
    assert_eq!(status, StatusCode::OK);
    let decisions: Decisions = serde_json::from_value(body).unwrap();
    let results: Vec<TriggerResult> = decisions.triggers[0]
        .recent
        .iter()
        .map(|o| o.result)
        .collect();
    assert_eq!(results, [TriggerResult::Succeeded; 4]);
    assert_eq!(h.verdicts_of("e1"), [true, true]);

    // An event the filter rejects is rejected when replayed too.
    h.bus.publish(&push("e3", "feature/x", 3)).await.unwrap();
    wait_for("the rejection", async || h.verdicts_of("e3").len() == 1).await;
    let before = h.wait_acked(3).await;
    let (status, body) = h.post("/replay?dependency=push&fromSeq=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sequences"], json!([3]));
    wait_for("the replay's rejection", async || {
        h.verdicts_of("e3").len() == 2
    })
    .await;
    assert_eq!(h.verdicts_of("e3"), [false, false]);
    assert_eq!(h.sink.lines().len(), 4, "the trigger did not run");
    assert_eq!(h.outcomes().len(), 4, "{:?}", h.outcomes());
    let push_log = &h.recorder.snapshot().dependencies[0];
    let last = push_log.recent.last().unwrap();
    assert_eq!((last.event_id.as_str(), last.passed), ("e3", false));
    assert!(last.reason.contains("feature/x"), "{}", last.reason);
    assert_eq!(h.bus.inspect(&h.subscription).await.unwrap(), before);

    // What a dry run reads: the same three events, as the Sensor decodes them.
    let (status, body) = h.get("/bus/messages?dependency=push&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: StoredMessages = serde_json::from_value(body).unwrap();
    let ids: Vec<(u64, &str)> = page
        .messages
        .iter()
        .map(|m| (m.seq, m.event["id"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(ids, [(1, "e1"), (2, "e2")]);
    assert!(page.truncated);
    assert_eq!(page.messages[1].event["data"]["body"]["n"], 2);
    assert_eq!(page.triggers, ["log-it"]);

    // A stopped Sensor takes no replay.
    h.shutdown.cancel();
    h.task.take().unwrap().await.unwrap().unwrap();
    let (status, body) = h.post("/replay?dependency=push").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let error: AdminError = serde_json::from_value(body).unwrap();
    assert!(
        error
            .error
            .contains("not running the trigger loops of log-it"),
        "{}",
        error.error
    );
}

#[tokio::test]
async fn replays_on_the_in_memory_bus() {
    replays_run_the_trigger_again_through_the_same_path(Arc::new(MemoryBus::new())).await;
}

#[tokio::test]
async fn replays_on_jetstream() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = NatsServer::start().unwrap();
    let bus = JetStreamBus::connect(JetStreamOptions::new(&server.url))
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(90),
        replays_run_the_trigger_again_through_the_same_path(Arc::new(bus)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_replay_that_fails_retryably_comes_back_as_a_redelivery_would() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let closed = format!(
        "http://127.0.0.1:{}/hook",
        argo_events_bus::testserver::free_port().unwrap()
    );
    let sensor = value_sensor(&json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {
            "dependencies": [{"name": "d", "eventSourceName": "webhook", "eventName": "push"}],
            "triggers": [{"template": {"name": "call", "http": {"url": closed, "method": "POST"}}}],
        },
    }));
    let bus = MemoryBus::new();
    // The event is in the bus's history, settled: no consumer had it.
    bus.publish(&push("e1", "main", 1)).await.unwrap();
    let calls = Arc::new(Calls::default());
    let recorder = Arc::new(DecisionRecorder::new(&sensor, calls.clone()));
    let diagnostics = Arc::new(SensorDiagnostics::new(&sensor, recorder.clone(), "default"));
    diagnostics.set_bus(Arc::new(bus.clone()));
    let runner = SensorRunner {
        sensor: sensor.clone(),
        bus: Arc::new(bus.clone()),
        executor: Arc::new(Executor::new(TriggerContext {
            sensor: "s".into(),
            namespace: "ns".into(),
            secrets: Arc::new(MapSecrets::default()),
            kube: KubeTarget::Unavailable("no Kubernetes in this test".into()),
            http: reqwest::Client::new(),
            sink: Arc::new(LogSink),
        })),
        loader: Arc::new(argo_events_engine::render::InlineOnly),
        metrics: Arc::new(SensorMetrics::new("ns", "s", &["call"])),
        observer: recorder,
        options: Options {
            fetch_wait: Duration::from_millis(50),
            max_deliveries: 2,
            ..Options::default()
        },
    };
    let shutdown = CancellationToken::new();
    let replays = diagnostics.replays();
    let task = tokio::spawn(runner.run_with_replays(shutdown.clone(), replays.clone()));
    wait_for("the loop", async || replays.running() == ["call"]).await;
    let result = diagnostics
        .replay(&[("dependency".to_owned(), "d".to_owned())])
        .await
        .unwrap();
    assert_eq!(result.sequences, [1]);
    wait_for("the give-up", async || {
        calls
            .all()
            .iter()
            .any(|c| c.starts_with("dead_lettered call"))
    })
    .await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(
        calls.all(),
        [
            "executed call failed",
            "retried call: delivery 1 of 2 failed; the event is redelivered in 2s",
            "executed call failed",
            "dead_lettered call None",
        ]
    );
}
