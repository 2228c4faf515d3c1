//! What the resource-source cases share: the bus and its consumer, the source as the
//! controller would run it, the objects, and the assertions on what the bus carries.

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argo_events_api::cloudevent::Event;
use argo_events_api::{EventSource, gocompat};
use argo_events_bus::EventBus as _;
use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::testserver::NatsServer;
use argo_events_bus::{Consumer, Subscription};
use argo_events_controller::desired::ControllerConfig;
use argo_events_controller::desired::eventsource::event_source_deployment;
use serde_json::{Value, json};

use crate::harness::{Namespace, Proc, WAIT, cluster, free_port, workspace_bin};
use crate::kubelet::Pod;

/// A `nats-server -js` and the test's own connection (which creates the stream).
pub(super) struct Bus {
    server: Mutex<NatsServer>,
    bus: JetStreamBus,
    rt: tokio::runtime::Runtime,
}

impl Bus {
    pub(super) fn start() -> Bus {
        let server = NatsServer::start().unwrap_or_else(|e| panic!("starting nats-server: {e}"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let bus = rt
            .block_on(async {
                tokio::time::timeout(
                    WAIT,
                    JetStreamBus::connect(JetStreamOptions::new(server.url.clone())),
                )
                .await
            })
            .unwrap_or_else(|_| panic!("connecting to {} timed out", server.url))
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.url));
        Bus {
            server: Mutex::new(server),
            bus,
            rt,
        }
    }

    pub(super) fn url(&self) -> String {
        self.server().url.clone()
    }

    pub(super) fn server(&self) -> std::sync::MutexGuard<'_, NatsServer> {
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Kills nats-server (its store stays).
    pub(super) fn stop_server(&self) {
        self.server().stop();
    }

    /// Starts nats-server again on the same port and store.
    pub(super) fn restart_server(&self) {
        self.server()
            .restart()
            .unwrap_or_else(|e| panic!("restarting nats-server: {e}"));
    }

    /// A durable consumer of `eventSource.eventName`, created before the source starts (new
    /// consumers only see later events).
    pub(super) fn events(&self, event_source: &str, event_name: &str) -> Events<'_> {
        let subscription = Subscription {
            sensor: "cluster-suite".into(),
            trigger: "t".into(),
            dependency: format!("{event_source}-{event_name}"),
            event_source: event_source.into(),
            event_name: event_name.into(),
        };
        let consumer = self
            .rt
            .block_on(async { tokio::time::timeout(WAIT, self.bus.subscribe(&subscription)).await })
            .unwrap_or_else(|_| panic!("creating the consumer of {subscription:?} timed out"))
            .unwrap_or_else(|e| panic!("creating the consumer of {subscription:?}: {e}"));
        Events {
            bus: self,
            consumer,
            what: format!("{event_source}/{event_name}"),
            seen: Vec::new(),
        }
    }
}

/// The events of one EventSource event, as a Sensor dependency reads them.
pub(super) struct Events<'a> {
    bus: &'a Bus,
    consumer: Box<dyn Consumer>,
    what: String,
    /// Ids of the events returned so far: a message whose ack was lost when nats-server was
    /// killed comes again (the bus is at-least-once); the source's own duplicates would carry
    /// new ids.
    seen: Vec<String>,
}

impl Events<'_> {
    /// The next new event (acked), within [`WAIT`]; panics with the source's log otherwise.
    pub(super) fn next(&mut self, source: &mut Proc) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            source.assert_running();
            let batch = self
                .bus
                .rt
                .block_on(self.consumer.fetch(1, Duration::from_millis(500)))
                .unwrap_or_else(|e| panic!("fetching {}: {e}", self.what));
            if let Some(delivery) = batch.into_iter().next() {
                self.bus
                    .rt
                    .block_on(delivery.acker.ack())
                    .unwrap_or_else(|e| panic!("acking an event of {}: {e}", self.what));
                if self.seen.contains(&delivery.event.id) {
                    continue;
                }
                self.seen.push(delivery.event.id.clone());
                return delivery.event;
            }
            assert!(
                Instant::now() < deadline,
                "no event of {} on the bus within {WAIT:?}; the source's log:\n{}",
                self.what,
                source.output()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The source
// ---------------------------------------------------------------------------------------------

pub(super) fn event_source(ns: &Namespace, name: &str, spec: Value) -> EventSource {
    let doc = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "EventSource",
        "metadata": {"name": name, "namespace": ns.name},
        "spec": spec,
    });
    let decoded = gocompat::from_value::<EventSource>(&doc)
        .unwrap_or_else(|e| panic!("the test's EventSource does not decode: {e}"));
    assert!(
        decoded.unknown_fields.is_empty(),
        "unknown fields in the test's EventSource: {:?}",
        decoded.unknown_fields
    );
    decoded.value
}

/// The Deployment the controller would create for `es` on a JetStream bus at `bus_url`, as
/// JSON.
pub(crate) fn deployment_of(es: &EventSource, bus_url: &str) -> Value {
    let namespace = es.metadata.namespace.clone().unwrap_or_default();
    let event_bus = gocompat::from_value::<argo_events_api::EventBus>(&json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "EventBus",
        "metadata": {"name": "default", "namespace": namespace},
        "spec": {"jetstream": {"version": "latest"}},
        "status": {"config": {"jetstream": {"url": bus_url}}},
    }))
    .unwrap_or_else(|e| panic!("the test's EventBus does not decode: {e}"))
    .value;
    let deployment = event_source_deployment(
        es,
        &event_bus,
        &ControllerConfig::new("argo-events-rs:test"),
    )
    .unwrap_or_else(|e| panic!("building the EventSource's Deployment: {e}"));
    serde_json::to_value(&deployment).expect("a Deployment encodes")
}

/// The pod's container run on the host with the Deployment's environment, but with
/// `KUBECONFIG` instead of the in-cluster ServiceAccount.
pub(super) fn run_local(es: &EventSource, bus: &Bus, kubeconfig: &std::path::Path) -> Proc {
    let name = es.metadata.name.clone().unwrap_or_default();
    let pod = Pod::of(
        &deployment_of(es, &bus.url()),
        &format!("{name}-eventsource-local"),
    );
    let argv = pod.argv();
    let mut cmd = Command::new(workspace_bin("argo-events"));
    cmd.args(&argv[1..])
        .env_clear()
        .envs(pod.environment())
        .env("KUBECONFIG", kubeconfig)
        .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()));
    Proc::spawn(
        &format!("{name}-eventsource-local-{}", std::process::id()),
        cmd,
    )
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

pub(super) fn create_configmap(
    ns: &Namespace,
    name: &str,
    labels: &[(&str, &str)],
    data: &[(&str, &str)],
) {
    let mut args = vec![
        "create".to_string(),
        "configmap".to_string(),
        name.to_string(),
    ];
    args.extend(data.iter().map(|(k, v)| format!("--from-literal={k}={v}")));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ns.must(&refs);
    if !labels.is_empty() {
        let mut args = vec![
            "label".to_string(),
            "configmap".to_string(),
            name.to_string(),
        ];
        args.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ns.must(&refs);
    }
}

/// The API server's copy of an object, managedFields included (kubectl hides them unless
/// asked; the source publishes them, as upstream does).
pub(super) fn object(ns: &Namespace, kind: &str, name: &str) -> Value {
    let out = ns.must(&["get", kind, name, "-o", "json", "--show-managed-fields"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl get {kind} {name}: {e}"))
}

pub(super) fn widget(group: &str, name: &str, spec: Value) -> String {
    json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": name}, "spec": spec})
        .to_string()
}

/// A cluster-scoped CRD (`widgets.<group>`, namespaced Widgets), deleted when dropped.
pub(super) struct Crd {
    group: String,
}

impl Crd {
    pub(super) fn create(group: &str) -> Crd {
        let c = cluster();
        c.kubectl_stdin(
            &["apply", "--server-side", "-f", "-"],
            Some(
                &json!({
                    "apiVersion": "apiextensions.k8s.io/v1",
                    "kind": "CustomResourceDefinition",
                    "metadata": {"name": format!("widgets.{group}")},
                    "spec": {
                        "group": group,
                        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                        "scope": "Namespaced",
                        "versions": [{
                            "name": "v1",
                            "served": true,
                            "storage": true,
                            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                        }],
                    },
                })
                .to_string(),
            ),
        )
        .unwrap_or_else(|e| panic!("creating the Widget CRD: {e}"));
        c.must(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/widgets.{group}"),
        ]);
        Crd {
            group: group.to_string(),
        }
    }

    /// `widgets.<group>`, what kubectl calls the resource.
    pub(super) fn resource(&self) -> String {
        format!("widgets.{}", self.group)
    }
}

impl Drop for Crd {
    fn drop(&mut self) {
        let _ = cluster().kubectl(&[
            "delete",
            "crd",
            &format!("widgets.{}", self.group),
            "--wait=false",
            "--ignore-not-found",
        ]);
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

/// The CloudEvent attributes upstream's resource source sets.
pub(super) fn assert_event(event: &Event, event_source: &str, event_name: &str) {
    assert_eq!(event.specversion, "1.0");
    assert_eq!(event.type_, "resource");
    assert_eq!(event.source, event_source);
    assert_eq!(event.subject, event_name);
    assert_eq!(event.datacontenttype, "application/json");
    assert!(
        event.id.len() == 32 && event.id.bytes().all(|b| b.is_ascii_hexdigit()),
        "id {:?} is not 32 hex digits",
        event.id
    );
    let time = event.time.expect("the event has a time");
    let age = chrono::Utc::now() - time;
    assert!(
        age >= chrono::Duration::seconds(-5) && age < chrono::Duration::minutes(2),
        "event time {time} is not recent"
    );
}

pub(super) fn text(event: &Event) -> String {
    String::from_utf8(event.data.clone()).expect("the data is UTF-8 JSON")
}

pub(super) fn data(event: &Event) -> Value {
    serde_json::from_slice(&event.data)
        .unwrap_or_else(|e| panic!("the event data is not JSON ({e}): {}", text(event)))
}

pub(super) fn body_name(event: &Event) -> String {
    data(event)["body"]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The data is exactly `{type, body, oldBody, group, version, resource, metadata?}`, in that
/// order, with the object keys sorted as Go sorts map keys, and the bodies equal to the API
/// server's copies.
pub(super) fn assert_data(
    event: &Event,
    change: &str,
    body: &Value,
    old_body: Option<&Value>,
    (group, version, resource): (&str, &str, &str),
    metadata: Option<&Value>,
) {
    let got = data(event);
    let mut want = json!({
        "type": change,
        "body": body,
        "oldBody": old_body.cloned().unwrap_or(Value::Null),
        "group": group,
        "version": version,
        "resource": resource,
    });
    if let Some(m) = metadata {
        want["metadata"] = m.clone();
    }
    assert_eq!(got, want, "event data:\n{}", text(event));
    let keys: Vec<&str> = got
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want_keys = vec!["type", "body", "oldBody", "group", "version", "resource"];
    if metadata.is_some() {
        want_keys.push("metadata");
    }
    assert_eq!(keys, want_keys, "key order of {}", text(event));
    assert_sorted(&got["body"], "body");
    assert_sorted(&got["oldBody"], "oldBody");
}

/// A DELETE carries the last state; the API server stamps it with the deletion's
/// resourceVersion, so that one field may differ from the last copy read.
pub(super) fn assert_deleted(
    event: &Event,
    last: &Value,
    gvr: (&str, &str, &str),
    metadata: Option<&Value>,
) {
    let got = data(event);
    let rv = |v: &Value| -> u64 {
        v["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no numeric resourceVersion in {v}"))
    };
    assert!(rv(&got["body"]) >= rv(last), "{}", text(event));
    let mut body = got["body"].clone();
    body["metadata"]["resourceVersion"] = last["metadata"]["resourceVersion"].clone();
    let mut rewritten = event.clone();
    let mut whole = got;
    whole["body"] = body;
    rewritten.data = serde_json::to_vec(&whole).expect("JSON encodes");
    assert_data(&rewritten, "DELETE", last, None, gvr, metadata);
    assert_sorted(&data(event)["body"], "body");
}

fn assert_sorted(value: &Value, at: &str) {
    match value {
        Value::Object(map) => {
            let keys: Vec<&String> = map.keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted, "keys of {at} are not in Go's sorted order");
            for (k, v) in map {
                assert_sorted(v, &format!("{at}.{k}"));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                assert_sorted(v, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}
