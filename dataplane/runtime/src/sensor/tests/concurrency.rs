//! A hung trigger request delays only its own event: per-trigger concurrency, the http
//! trigger's `timeout`, the redelivery of the hung event, and a second trigger unaffected.

use std::time::Duration;

use argo_events_bus::memory::MemoryBus;
use argo_events_eventsource::secrets::MapSecrets;
use serde_json::json;

use super::sink::{Rule, Seen, Sink, wait_until};
use super::*;
use crate::triggers::{KubeTarget, LogSink, TriggerContext};

fn event(id: &str) -> Event {
    Event {
        id: id.into(),
        source: "webhook".into(),
        specversion: "1.0".into(),
        type_: "webhook".into(),
        datacontenttype: "application/json".into(),
        subject: "push".into(),
        time: None,
        trace: Default::default(),
        data: b"{}".to_vec(),
    }
}

fn http_trigger(name: &str, url: String, timeout: Option<u64>) -> serde_json::Value {
    let mut http = json!({
        "url": url,
        "method": "POST",
        "payload": [{"src": {"dependencyName": "d", "contextKey": "id"}, "dest": "id"}],
    });
    if let Some(t) = timeout {
        http["timeout"] = json!(t);
    }
    json!({"template": {"name": name, "http": http}})
}

#[tokio::test]
async fn a_hung_request_delays_only_its_own_event_times_out_and_is_redelivered() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sink, base, sink_task) = Sink::start().await;
    // The first request for e1 on /slow never gets an answer.
    sink.rule("/slow", "e1", Rule::HangOnce);
    let value = json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {
            "dependencies": [{"name": "d", "eventSourceName": "webhook", "eventName": "push"}],
            "triggers": [
                http_trigger("slow", format!("{base}/slow"), Some(2)),
                http_trigger("other", format!("{base}/other"), None),
            ],
        },
    });
    let sensor = value_sensor(&value);
    let bus = MemoryBus::new();
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
        metrics: Arc::new(SensorMetrics::new("ns", "s", &["slow", "other"])),
        observer: Arc::new(LogObserver),
        options: Options {
            fetch_wait: Duration::from_millis(50),
            concurrency: 2,
            ..Options::default()
        },
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    for subscription in subscriptions(&sensor) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while bus
            .inspect(&subscription)
            .await
            .unwrap()
            .consumer_state
            .is_none()
        {
            assert!(Instant::now() < deadline, "the loop never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    bus.publish(&event("e1")).await.unwrap();
    bus.publish(&event("e2")).await.unwrap();

    let slow_e1 = Seen::arrived("/slow", "e1");
    wait_until("e1 to come again on /slow", Duration::from_secs(30), || {
        sink.count(&slow_e1) == 2
    })
    .await;
    let slow_e2 = Seen::arrived("/slow", "e2");
    let gave_up = Seen::abandoned("/slow", "e1");
    let at = |s: &Seen, nth| {
        sink.position(s, nth)
            .unwrap_or_else(|| panic!("{s:?} #{nth} never seen: {:?}", sink.seen()))
    };
    // e2 reached the slow trigger's endpoint while e1's request still hung there.
    assert!(at(&slow_e2, 0) < at(&gave_up, 0), "{:?}", sink.seen());
    // The hung request was given up (its `timeout`), then e1 was delivered again.
    assert!(at(&gave_up, 0) < at(&slow_e1, 1), "{:?}", sink.seen());
    // The other trigger got each event once, before the slow one gave up on e1.
    for id in ["e1", "e2"] {
        let other = Seen::arrived("/other", id);
        assert_eq!(sink.count(&other), 1, "{:?}", sink.seen());
        assert!(at(&other, 0) < at(&gave_up, 0), "{:?}", sink.seen());
    }
    assert_eq!(sink.count(&slow_e2), 1, "{:?}", sink.seen());
    shutdown.cancel();
    task.await.unwrap().unwrap();
    sink_task.abort();
}

#[test]
fn concurrency_and_timeout_come_from_the_environment() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let defaults = Options::from_lookup(lookup(&[])).unwrap();
    assert_eq!(defaults.concurrency, DEFAULT_TRIGGER_CONCURRENCY);
    assert_eq!(defaults.trigger_timeout, DEFAULT_TRIGGER_TIMEOUT);
    let set = Options::from_lookup(lookup(&[
        (TRIGGER_CONCURRENCY, " 1 "),
        (TRIGGER_TIMEOUT, "1m30s"),
    ]))
    .unwrap();
    assert_eq!(set.concurrency, 1);
    assert_eq!(set.trigger_timeout, Duration::from_secs(90));
    for bad in ["0", "-1", "x", "257"] {
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([(TRIGGER_CONCURRENCY, bad)]));
        let err = Options::from_lookup(lookup(pairs)).unwrap_err();
        assert!(err.contains(TRIGGER_CONCURRENCY), "{err}");
    }
    for bad in ["0s", "soon"] {
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([(TRIGGER_TIMEOUT, bad)]));
        let err = Options::from_lookup(lookup(pairs)).unwrap_err();
        assert!(err.contains(TRIGGER_TIMEOUT), "{err}");
    }
}

#[test]
fn each_kind_gets_its_attempt_timeout() {
    let render = |value: serde_json::Value| {
        let sensor = value_sensor(&json!({
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {
                "dependencies": [{"name": "d", "eventSourceName": "webhook", "eventName": "push"}],
                "triggers": [value],
            },
        }));
        let trigger = sensor.spec.triggers[0].clone();
        let events = BTreeMap::from([("d".to_owned(), event("e1"))]);
        let rendered =
            render::render(&trigger, &events, &argo_events_engine::render::InlineOnly).unwrap();
        (trigger, rendered)
    };
    let default = Duration::from_secs(60);
    let (t, r) = render(http_trigger("h", "http://x/".into(), Some(7)));
    assert_eq!(
        attempt_timeout(&r, t.policy.as_ref(), default),
        Duration::from_secs(8)
    );
    let (t, r) = render(http_trigger("h", "http://x/".into(), None));
    assert_eq!(
        attempt_timeout(&r, t.policy.as_ref(), default),
        Duration::from_secs(61)
    );
    let (t, r) = render(json!({"template": {"name": "l", "log": {}}}));
    assert_eq!(attempt_timeout(&r, t.policy.as_ref(), default), default);
    // A k8s trigger waiting for labels: its backoff's waits between its 4 checks on top
    // (1 + 2 + 4 s), each at its full jitter (doubled with upstream's default jitter of 1).
    let k8s = |jitter: Option<f64>| {
        let mut backoff = json!({"duration": "1s", "factor": 2, "steps": 4});
        if let Some(j) = jitter {
            backoff["jitter"] = json!(j);
        }
        render(json!({
            "template": {"name": "k", "k8s": {"operation": "create", "source": {"resource": {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}}}},
            "policy": {"k8s": {"labels": {"done": "true"}, "backoff": backoff}},
        }))
    };
    let (t, r) = k8s(Some(0.0));
    assert_eq!(
        attempt_timeout(&r, t.policy.as_ref(), default),
        Duration::from_secs(67)
    );
    let (t, r) = k8s(None);
    assert_eq!(
        attempt_timeout(&r, t.policy.as_ref(), default),
        Duration::from_secs(74)
    );
}

#[test]
fn rate_limit_slots_are_taken_in_order_and_spaced_evenly() {
    let mut limiter = RateLimiter::new(&argo_events_api::RateLimit {
        unit: "Hour".into(),
        requests_per_unit: 2,
    });
    let first = limiter.reserve();
    let second = limiter.reserve();
    let third = limiter.reserve();
    assert_eq!(second - first, Duration::from_secs(1800));
    assert_eq!(third - second, Duration::from_secs(1800));
}
