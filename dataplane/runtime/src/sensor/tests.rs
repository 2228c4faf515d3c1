//! The loop's reports to its observer when a trigger fails: each attempt, the retries of its
//! `retryStrategy`, the redelivery, and the dead-letter, over the in-memory bus.

use std::sync::Mutex;

use argo_events_bus::memory::MemoryBus;
use argo_events_eventsource::secrets::MapSecrets;
use serde_json::json;

use super::*;
use crate::triggers::{KubeTarget, LogSink, TriggerContext};

#[derive(Default)]
struct Calls(Mutex<Vec<String>>);

impl Calls {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl SensorObserver for Calls {
    fn event(&self, _: &str, _: &Event, _: &[DependencyVerdict]) {}
    fn decision(&self, _: &TriggerVerdict) {}
    fn executed(&self, trigger: &str, result: &Result<String, String>) {
        let what = if result.is_ok() { "ok" } else { "failed" };
        self.0
            .lock()
            .unwrap()
            .push(format!("executed {trigger} {what}"));
    }
    fn retried(&self, trigger: &str, _: &str, retry: &Retry) {
        self.0
            .lock()
            .unwrap()
            .push(format!("retried {trigger}: {retry}"));
    }
    fn dead_lettered(&self, trigger: &str, _: &str, dlq: Option<&str>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("dead_lettered {trigger} {dlq:?}"));
    }
}

#[tokio::test]
async fn retries_redeliveries_and_the_dead_letter_reach_the_observer() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let closed = format!(
        "http://127.0.0.1:{}/hook",
        argo_events_bus::testserver::free_port().unwrap()
    );
    let value = json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {
            "dependencies": [{"name": "d", "eventSourceName": "webhook", "eventName": "push"}],
            "triggers": [{
                "template": {"name": "call", "http": {"url": closed, "method": "POST"}},
                "retryStrategy": {"steps": 2, "duration": "10ms"},
                "dlqTrigger": {"template": {"name": "call-dlq", "log": {}}},
            }],
        },
    });
    let sensor = value_sensor(&value);
    let bus = MemoryBus::new();
    let calls = Arc::new(Calls::default());
    let runner = SensorRunner {
        sensor,
        bus: Arc::new(bus.clone()),
        executor: Arc::new(Executor::new(TriggerContext {
            sensor: "s".into(),
            namespace: "ns".into(),
            secrets: Arc::new(MapSecrets::default()),
            kube: KubeTarget::Unavailable("no Kubernetes in this test".into()),
            http: reqwest::Client::new(),
            sink: Arc::new(LogSink),
        })),
        loader: Arc::new(crate::sources::ClusterSourceLoader::default()),
        metrics: Arc::new(SensorMetrics::new("ns", "s", &["call"])),
        observer: calls.clone(),
        options: Options {
            fetch_wait: Duration::from_millis(50),
            max_deliveries: 2,
            ..Options::default()
        },
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    // Published once the loop's consumer exists (consumers start at the end of the stream).
    let subscription = &subscriptions(&value_sensor(&value))[0];
    assert_eq!(
        (
            subscription.trigger.as_str(),
            subscription.dependency.as_str()
        ),
        ("call", "d")
    );
    let event = Event {
        id: "e1".into(),
        source: "webhook".into(),
        specversion: "1.0".into(),
        type_: "webhook".into(),
        datacontenttype: "application/json".into(),
        subject: "push".into(),
        time: None,
        trace: Default::default(),
        data: b"{}".to_vec(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while bus
        .inspect(subscription)
        .await
        .unwrap()
        .consumer_state
        .is_none()
    {
        assert!(Instant::now() < deadline, "the loop never subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bus.publish(&event).await.unwrap();
    while !calls
        .all()
        .iter()
        .any(|c| c.starts_with("executed call-dlq"))
    {
        assert!(
            Instant::now() < deadline,
            "no dead-letter: {:?}",
            calls.all()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let calls = calls.all();
    let retried = |s: &str| calls.iter().filter(|c| c.starts_with(s)).count();
    assert_eq!(
        retried("retried call: attempt 1 of 2 failed; retrying in "),
        2,
        "{calls:?}"
    );
    assert_eq!(
        retried("retried call: delivery 1 of 2 failed; the event is redelivered in 2s"),
        1,
        "{calls:?}"
    );
    assert_eq!(retried("executed call failed"), 4, "{calls:?}");
    // Waits are shown to the millisecond (the strategy's jitter makes them uneven).
    assert!(calls.iter().all(|c| !c.ends_with("ns")), "{calls:?}");
    assert_eq!(
        calls[calls.len() - 2..],
        [
            "dead_lettered call Some(\"call-dlq\")".to_owned(),
            "executed call-dlq ok".to_owned()
        ],
        "{calls:?}"
    );
}

fn value_sensor(value: &serde_json::Value) -> Sensor {
    argo_events_api::gocompat::from_value(value).unwrap().value
}

mod concurrency;
mod outage;
mod replay;
mod sink;
