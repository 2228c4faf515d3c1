//! The whole event path on a real JetStream server: webhook (or calendar) EventSource →
//! `nats-server -js` → SensorRunner → trigger, wired as `kubectl argo events run --bus` wires it.
//! Bus outages, Sensor kills and restarts included.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use argo_events_api::{EventSource, Sensor};
use argo_events_bus::naming;
use argo_events_eventsource::SystemClock;
use argo_events_tests::workspace_root;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use harness::*;

const QUICKSTART: &str = "manifests/examples/quickstart";

/// The quickstart's webhook EventSource (`webhook`, event `push` on `/push`) on `port`.
fn webhook_source(port: u16) -> EventSource {
    let source = event_source(&format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: webhook
  namespace: argo-events
spec:
  webhook:
    push:
      port: "{port}"
      endpoint: /push
      method: POST
"#
    ));
    let mut quickstart: EventSource = workspace_object(&format!("{QUICKSTART}/eventsource.yaml"));
    if let Some(push) = quickstart.spec.webhook.get_mut("push") {
        push.port = port.to_string();
    }
    assert_eq!(
        source.spec, quickstart.spec,
        "the test's EventSource drifted from the quickstart's"
    );
    source
}

/// The quickstart's Sensor (its dependency and `body.ref` filter) with an `http` trigger
/// posting `{commit, ref, message}` to the sink.
fn build_on_push_sensor(sink: &str) -> Sensor {
    let sensor = sensor(
        &r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: build-on-push
  namespace: argo-events
spec:
  dependencies:
    - name: push
      eventSourceName: webhook
      eventName: push
      filters:
        data:
          - path: body.ref
            type: string
            value:
              - "^refs/heads/main$"
  triggers:
    - template:
        name: build
        http:
          url: SINK/build
          method: POST
          headers:
            Content-Type: application/json
          payload:
            - src: {dependencyName: push, dataKey: body.after}
              dest: commit
            - src: {dependencyName: push, dataKey: body.ref}
              dest: ref
            - src: {dependencyName: push, dataKey: body.head_commit.message}
              dest: message
      policy:
        status:
          allow: [200]
"#
        .replace("SINK", sink),
    );
    let quickstart: Sensor = workspace_object(&format!("{QUICKSTART}/sensor.yaml"));
    assert_eq!(
        sensor.spec.dependencies, quickstart.spec.dependencies,
        "the test's dependency drifted from the quickstart's"
    );
    sensor
}

/// An EventSource or Sensor from a manifest file of the workspace.
fn workspace_object<T: FromYaml>(path: &str) -> T {
    let full = workspace_root().join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("reading {}: {e}", full.display()));
    T::from_yaml(&text)
}

trait FromYaml {
    fn from_yaml(yaml: &str) -> Self;
}

impl FromYaml for EventSource {
    fn from_yaml(yaml: &str) -> Self {
        event_source(yaml)
    }
}

impl FromYaml for Sensor {
    fn from_yaml(yaml: &str) -> Self {
        sensor(yaml)
    }
}

/// `data.body` of one of the quickstart's sample events: what GitHub would POST.
fn quickstart_push(file: &str) -> Value {
    let path = workspace_root().join(format!("{QUICKSTART}/events/{file}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let event: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    event["data"]["body"].clone()
}

/// A push to main carrying `marker` as the commit.
fn push_main(marker: &str) -> Value {
    json!({"ref": "refs/heads/main", "after": marker, "head_commit": {"message": "m"}})
}

/// The commits the sink received, in order.
fn commits(sink: &Sink) -> Vec<String> {
    sink.hits()
        .iter()
        .map(|h| h.json()["commit"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Everything for one webhook → Sensor → sink test.
/// Fields drop in order: the Sensor and the EventSource stop before the server does.
struct WebhookPath {
    running: Option<RunningSensor>,
    source: RunningSource,
    sink: Sink,
    sensor: Sensor,
    port: u16,
    client: reqwest::Client,
    bus: Arc<dyn argo_events_bus::EventBus>,
    nats: Nats,
}

impl WebhookPath {
    async fn start() -> WebhookPath {
        init();
        let nats = Nats::start();
        let bus = nats.connect().await;
        let sink = Sink::start().await;
        let sensor = build_on_push_sensor(&sink.url);
        create_consumers(bus.as_ref(), &sensor).await;
        let running = RunningSensor::start(&sensor, bus.clone(), Arc::default());
        let port = free_port();
        let mut source =
            RunningSource::start(webhook_source(port), bus.clone(), Arc::new(SystemClock)).await;
        source.wait_listening(port).await;
        WebhookPath {
            running: Some(running),
            source,
            sink,
            sensor,
            port,
            client: http_client(),
            bus,
            nats,
        }
    }

    async fn post(&self, body: &Value) -> Answer {
        post(&self.client, self.port, "/push", body).await
    }

    fn sensor(&mut self) -> &mut RunningSensor {
        self.running
            .as_mut()
            .expect("invariant: a Sensor runs except during a restart")
    }

    /// Waits until every commit of `markers` reached the sink at least once.
    async fn wait_commits(&mut self, markers: &[String], limit: Duration) {
        let wanted: BTreeSet<String> = markers.iter().cloned().collect();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            self.sensor().assert_running();
            self.source.assert_running();
            let got: BTreeSet<String> = commits(&self.sink).into_iter().collect();
            let missing: Vec<&String> = wanted.difference(&got).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "after {limit:?}, {} of {} acknowledged events never reached the sink, e.g. {:?}",
                missing.len(),
                wanted.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_main_reaches_the_http_trigger_and_a_feature_push_does_not() {
    let mut path = WebhookPath::start().await;

    let feature = path.post(&quickstart_push("push-feature.json")).await;
    assert_eq!((feature.status, feature.body.as_str()), (200, "success"));
    let main_push = quickstart_push("push-main.json");
    let main = path.post(&main_push).await;
    assert_eq!((main.status, main.body.as_str()), (200, "success"));

    // One consumer delivers in order: once main's request is in, the feature push was handled.
    let sink_has_one = |p: &mut WebhookPath| {
        p.sensor().assert_running();
        p.sink.count() >= 1
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !sink_has_one(&mut path) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the push to main never reached the sink; the Sensor saw {:?}",
            path.sensor().seen.decisions()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Room for a wrong second request to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let hits = path.sink.hits();
    assert_eq!(hits.len(), 1, "exactly one request: {hits:?}");
    let hit = &hits[0];
    assert_eq!((hit.method.as_str(), hit.path.as_str()), ("POST", "/build"));
    assert_eq!(hit.content_type.as_deref(), Some("application/json"));
    let expected = json!({
        "commit": main_push["after"],
        "ref": "refs/heads/main",
        "message": main_push["head_commit"]["message"],
    });
    assert_eq!(
        expected["commit"], "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "the quickstart's sample changed"
    );
    assert_eq!(hit.body, expected.to_string(), "the exact payload");

    let seen = path.sensor().seen.clone();
    let verdicts: Vec<(String, bool)> = seen
        .events()
        .iter()
        .flat_map(|(_, v)| v.iter().map(|d| (d.name.clone(), d.matched)))
        .collect();
    assert_eq!(
        verdicts,
        [("push".to_owned(), false), ("push".to_owned(), true)],
        "the feature push was filtered out by body.ref, main passed"
    );
    // An event no dependency passes reaches no trigger: the one decision is main's.
    let fired: Vec<bool> = seen.decisions().iter().map(|d| d.fired).collect();
    assert_eq!(fired, [true]);
    assert!(seen.failures().is_empty(), "{:?}", seen.failures());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_answers_503_while_the_bus_is_down_and_recovers_after_a_restart() {
    let mut path = WebhookPath::start().await;
    let before = path.post(&push_main("before-stop")).await;
    assert_eq!(before.status, 200, "{before:?}");
    path.wait_commits(&["before-stop".to_owned()], WAIT).await;

    path.nats.stop();
    let started = tokio::time::Instant::now();
    let down = path.post(&push_main("during-outage")).await;
    eprintln!(
        "the webhook answered {} after {:?}",
        down.status,
        started.elapsed()
    );
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(down.retry_after.as_deref(), Some("1"), "{down:?}");
    assert!(down.body.starts_with("failed to record event"), "{down:?}");

    path.nats.restart();
    // The clients reconnect by themselves (at most 2 s between attempts); until then the
    // webhook keeps answering 503, and a caller retries.
    let mut accepted = Vec::new();
    let mut refused_while_reconnecting = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while accepted.is_empty() {
        let marker = format!("after-restart-{refused_while_reconnecting}");
        let answer = path.post(&push_main(&marker)).await;
        match answer.status {
            200 => accepted.push(marker),
            503 => {
                assert_eq!(answer.retry_after.as_deref(), Some("1"), "{answer:?}");
                refused_while_reconnecting += 1;
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the webhook still answers 503 {WAIT:?} after the bus restarted: {answer:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => panic!("unexpected answer: {answer:?}"),
        }
    }
    for i in 0..5 {
        let marker = format!("reconnected-{i}");
        let answer = path.post(&push_main(&marker)).await;
        assert_eq!(
            answer.status, 200,
            "once reconnected every POST is stored: {answer:?}"
        );
        accepted.push(marker);
    }
    path.wait_commits(&accepted, Duration::from_secs(12)).await;

    let got = commits(&path.sink);
    eprintln!(
        "503 while reconnecting: {refused_while_reconnecting}; the event refused during the \
         outage {} the sink (a client resend after reconnecting may store it)",
        if got.iter().any(|c| c == "during-outage") {
            "reached"
        } else {
            "did not reach"
        }
    );
    assert_eq!(
        got.iter().filter(|c| *c == "before-stop").count(),
        1,
        "the event handled before the outage is not delivered again: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_killed_mid_stream_loses_no_acknowledged_event() {
    const N: usize = 200;
    let mut path = WebhookPath::start().await;
    let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
    let client = path.client.clone();
    let port = path.port;
    // The first half is posted while the first Sensor runs; the second half once it is killed
    // (during the restart and after it).
    let poster = tokio::spawn(async move {
        let mut resumed = Some(resumed);
        let mut answers = Vec::with_capacity(N);
        for i in 0..N {
            if i == N / 2
                && let Some(resumed) = resumed.take()
            {
                let _ = resumed.await;
            }
            let marker = format!("event-{i:03}");
            let answer = post(&client, port, "/push", &push_main(&marker)).await;
            answers.push((marker, answer));
        }
        answers
    });

    let wait_quarter = async {
        while path.sink.count() < N / 4 {
            path.sensor().assert_running();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    bounded(
        "a quarter of the events to reach the sink",
        WAIT,
        wait_quarter,
    )
    .await;
    let first = path
        .running
        .take()
        .expect("invariant: the first Sensor runs");
    let first_seen = first.seen.clone();
    first.kill().await;
    let at_kill = path.sink.count();
    let routed_by_first = first_seen.events().len();
    let _ = resume.send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    path.running = Some(RunningSensor::start(
        &path.sensor,
        path.bus.clone(),
        Arc::default(),
    ));

    let answers = bounded("posting the events", WAIT, poster)
        .await
        .unwrap_or_else(|e| panic!("the poster task failed: {e}"));
    let refused: Vec<_> = answers.iter().filter(|(_, a)| a.status != 200).collect();
    assert!(refused.is_empty(), "the bus was up: {refused:?}");
    let accepted: Vec<String> = answers.into_iter().map(|(m, _)| m).collect();
    path.wait_commits(&accepted, Duration::from_secs(12)).await;

    let got = commits(&path.sink);
    let distinct: BTreeSet<&String> = got.iter().collect();
    let unknown: Vec<_> = distinct.iter().filter(|c| !accepted.contains(c)).collect();
    assert!(
        unknown.is_empty(),
        "the sink got events nobody sent: {unknown:?}"
    );
    assert!(distinct.len() >= accepted.len());
    let mut per_commit: BTreeMap<&String, usize> = BTreeMap::new();
    for c in &got {
        *per_commit.entry(c).or_default() += 1;
    }
    let duplicated: Vec<_> = per_commit.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "Sensor killed after routing {routed_by_first} events and sending {at_kill} requests; \
         {} sent, {} distinct received, {} requests in all: {} duplicate(s) (at least once), \
         on {:?}",
        accepted.len(),
        distinct.len(),
        got.len(),
        got.len() - distinct.len(),
        &duplicated[..duplicated.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condition_state_survives_a_sensor_restart() {
    init();
    let nats = Nats::start();
    let bus = nats.connect().await;
    let sink = Sink::start().await;
    let port = free_port();
    let source = event_source(&format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: pair
spec:
  webhook:
    a: {{port: "{port}", endpoint: /a, method: POST}}
    b: {{port: "{port}", endpoint: /b, method: POST}}
"#
    ));
    let sensor = sensor(
        &r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: pair
spec:
  dependencies:
    - {name: a, eventSourceName: pair, eventName: a}
    - {name: b, eventSourceName: pair, eventName: b}
  triggers:
    - template:
        name: both
        conditions: "a && b"
        http:
          url: SINK/both
          method: POST
          payload:
            - src: {dependencyName: a, dataKey: body.v}
              dest: a
            - src: {dependencyName: b, dataKey: body.v}
              dest: b
"#
        .replace("SINK", &sink.url),
    );
    create_consumers(bus.as_ref(), &sensor).await;
    let kv = sensor_bucket(bus.as_ref(), "pair").await;
    let key_a = naming::kv_dependency_key("both", "a");
    let key_b = naming::kv_dependency_key("both", "b");

    let mut first = RunningSensor::start(&sensor, bus.clone(), Arc::default());
    let mut running_source = RunningSource::start(source, bus.clone(), Arc::new(SystemClock)).await;
    running_source.wait_listening(port).await;
    let client = http_client();
    let a = post(&client, port, "/a", &json!({"v": "first"})).await;
    assert_eq!(a.status, 200, "{a:?}");

    // The Sensor stores a's event in its bucket, then acks it (a confirmed ack).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        first.assert_running();
        let stored = kv
            .get(&key_a)
            .await
            .unwrap_or_else(|e| panic!("reading {key_a}: {e}"));
        if stored.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Sensor never stored event a under {key_a}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a_id = first.seen.events()[0].0.id.clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().await;
    assert_eq!(sink.count(), 0, "nothing fires on a alone");

    let mut second = RunningSensor::start(&sensor, bus.clone(), Arc::default());
    let b = post(&client, port, "/b", &json!({"v": "second"})).await;
    assert_eq!(b.status, 200, "{b:?}");
    wait_until("the trigger to fire with a and b", WAIT, || {
        second.assert_running();
        sink.count() >= 1
    })
    .await;
    // Past the ack wait: a redelivered a (or b) would have fired again by now.
    tokio::time::sleep(ACK_WAIT + Duration::from_millis(500)).await;

    let hits = sink.hits();
    assert_eq!(hits.len(), 1, "fired exactly once: {hits:?}");
    assert_eq!(hits[0].body, r#"{"a":"first","b":"second"}"#);
    let seen_after_restart: Vec<(String, String)> = second
        .seen
        .events()
        .iter()
        .map(|(e, _)| (e.subject.clone(), e.id.clone()))
        .collect();
    assert_eq!(
        seen_after_restart.len(),
        1,
        "the restarted Sensor got only b; a came from the bucket: {seen_after_restart:?}"
    );
    assert_eq!(seen_after_restart[0].0, "b");
    assert_ne!(seen_after_restart[0].1, a_id);
    for key in [&key_a, &key_b] {
        let left = kv
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("reading {key}: {e}"));
        assert!(left.is_none(), "{key} is cleared after firing: {left:?}");
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_fires_on_schedule_through_jetstream_in_order() {
    init();
    let nats = Nats::start();
    let bus = nats.connect().await;
    let source = event_source(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: cal
spec:
  calendar:
    tick:
      schedule: "0 * * * *"
      metadata: {team: ops}
"#,
    );
    let sensor = sensor(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: ticks
spec:
  dependencies:
    - {name: tick, eventSourceName: cal, eventName: tick}
  triggers:
    - template:
        name: note
        log: {}
"#,
    );
    create_consumers(bus.as_ref(), &sensor).await;
    let actions = Arc::new(Actions::default());
    let mut running = RunningSensor::start(&sensor, bus.clone(), actions.clone());
    let clock = ManualClock::new(utc("2024-01-02T10:30:00Z"));
    let mut running_source = RunningSource::start(source, bus.clone(), clock.clone()).await;

    let mut wait_logs = async |n: usize| {
        let deadline = tokio::time::Instant::now() + WAIT;
        while actions.logs().len() < n {
            running.assert_running();
            running_source.assert_running();
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} log lines expected, got {:?}",
                actions.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };

    // Tick by tick: nothing before its time.
    for (n, at) in [(1, "2024-01-02T11:00:00Z"), (2, "2024-01-02T12:00:00Z")] {
        clock.wait_sleeper(utc(at)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(actions.logs().len(), n - 1, "nothing fires before {at}");
        clock.set(utc(at));
        wait_logs(n).await;
    }
    // Three hours at once: the three ticks fire in a row, in order.
    clock.wait_sleeper(utc("2024-01-02T13:00:00Z")).await;
    clock.set(utc("2024-01-02T15:00:00Z"));
    wait_logs(5).await;
    clock.wait_sleeper(utc("2024-01-02T16:00:00Z")).await;

    let expected: Vec<(String, String)> = [11, 12, 13, 14, 15]
        .iter()
        .map(|h| {
            (
                "note".to_owned(),
                format!(
                    r#"tick (cal/tick): {{"eventTime":"2024-01-02 {h}:00:00 +0000 UTC","metadata":{{"team":"ops"}}}}"#
                ),
            )
        })
        .collect();
    assert_eq!(actions.logs(), expected);
    let times: Vec<Option<DateTime<Utc>>> =
        running.seen.events().iter().map(|(e, _)| e.time).collect();
    let at = |t: &str| Some(utc(t));
    assert_eq!(
        times,
        [
            at("2024-01-02T11:00:00Z"),
            at("2024-01-02T12:00:00Z"),
            at("2024-01-02T15:00:00Z"),
            at("2024-01-02T15:00:00Z"),
            at("2024-01-02T15:00:00Z"),
        ],
        "CloudEvent time is the clock's time at publishing"
    );
    let state = sensor_bucket(bus.as_ref(), "eventsource-cal").await;
    let last = state
        .get("tick/lastFire")
        .await
        .unwrap_or_else(|e| panic!("reading tick/lastFire: {e}"));
    assert_eq!(
        last.as_deref(),
        Some(&b"2024-01-02T15:00:00Z"[..]),
        "the last fire is kept in the EventSource's bucket"
    );
}
