//! The reconcile shell against a mocked API server (tower-test): every request the shell makes
//! is answered by the test, which checks method, path, query and body; "no write" is checked by
//! the reconcile finishing with no request made.

use super::*;
use crate::desired::fixtures::jetstream_bus;
use crate::render::placeholder_global_config;
use crate::status::{Check, compute, condition};
use http::{Method, Request, Response};
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::runtime::reflector::store::Writer;
use serde_json::Value;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn t(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

fn clock() -> Time {
    t(100)
}

fn no_creds(_: &EventBus) -> Result<JetStreamCredentials, BuildError> {
    panic!("no credentials expected")
}

struct Harness {
    ctx: Arc<Context>,
    handle: Handle,
    buses: Writer<Watched<EventBus>>,
    sensors: Writer<Cached<Sensor>>,
    _event_sources: Writer<Cached<EventSource>>,
}

fn harness() -> Harness {
    harness_with(|_| Events::disabled())
}

/// A harness whose Context writes Events through `events` (given the mocked client).
fn harness_with(events: impl FnOnce(&Client) -> Events) -> Harness {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let events = events(&client);
    let buses = Writer::default();
    let sensors = Writer::default();
    let event_sources = Writer::default();
    let ctx = Arc::new(Context {
        client,
        cfg: ControllerConfig::new("quay.io/argoproj/argo-events:test"),
        global: placeholder_global_config(),
        stan: Default::default(),
        buses: buses.as_reader(),
        event_sources: event_sources.as_reader(),
        sensors: sensors.as_reader(),
        children: Children::default(),
        metrics: Arc::new(Metrics::new()),
        failures: Mutex::default(),
        synced: Arc::new(AtomicBool::new(true)),
        clock,
        credentials: no_creds,
        token: || panic!("no token expected"),
        events,
    });
    Harness {
        ctx,
        handle,
        buses,
        sensors,
        _event_sources: event_sources,
    }
}

fn bus(ready: bool) -> Watched<EventBus> {
    let mut b = jetstream_bus();
    b.metadata.uid = Some("uid-bus".into());
    b.metadata.resource_version = Some("7".into());
    b.spec.jetstream = Some(argo_events_api::JetStreamBus {
        version: "latest".into(),
        ..Default::default()
    });
    let deployed = if ready {
        Check::ok()
    } else {
        Check::failed("JetStreamStatefulSetFailed", "boom")
    };
    b.status.conditions = compute(
        &[],
        condition::EVENT_BUS,
        &[
            (condition::CONFIGURED, Check::ok()),
            (condition::DEPLOYED, deployed),
        ],
        &t(0),
    );
    Watched::new(b)
}

/// The cache entry of a watched object.
fn cached(w: &Watched<Sensor>) -> Arc<Cached<Sensor>> {
    Arc::new(Cached::from_json(serde_json::to_value(w.object.as_ref().unwrap()).unwrap()).unwrap())
}

fn sensor(replicas: i32, status: Option<&Value>) -> Watched<Sensor> {
    let mut v = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
        "metadata": {"name": "s", "namespace": "argo-events", "uid": "uid-s",
                     "generation": replicas, "resourceVersion": "1"},
        "spec": {
            "replicas": replicas,
            "dependencies": [{"name": "d", "eventSourceName": "es", "eventName": "e"}],
            "triggers": [{"template": {"name": "t", "log": {}}}],
        },
    });
    if let Some(s) = status {
        v["status"] = s.clone();
    }
    Watched::from_json(v).unwrap()
}

/// The status the first reconcile writes, and the hash of the desired Deployment.
fn settled(h: &Harness, replicas: i32) -> (Value, String) {
    let b = bus(true);
    let plan = crate::reconcile::plan_sensor(
        &sensor(replicas, None),
        &PodFacts {
            bus: Some(&b),
            deployments: &[],
            services: &[],
            cfg: &h.ctx.cfg,
            now: &clock(),
        },
    );
    let Write::Create { body, .. } = &plan.writes[0] else {
        panic!("{plan:?}")
    };
    let hash = body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH]
        .as_str()
        .unwrap()
        .to_owned();
    (plan.status.unwrap(), hash)
}

struct Seen {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

async fn next(handle: &mut Handle) -> (Seen, tower_test::mock::SendResponse<Response<Body>>) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("timed out waiting for a request")
        .expect("client dropped");
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (
        Seen {
            method,
            path,
            query,
            content_type,
            body,
        },
        send,
    )
}

fn respond(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, body: &Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

fn cond<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("reconcile did not finish")
}

/// Asserts the mock received nothing more.
async fn assert_quiet(handle: &mut Handle) {
    let got = tokio::time::timeout(Duration::from_millis(50), handle.next_request()).await;
    assert!(got.is_err(), "unexpected request");
}

/// The generated name's suffix: five characters of `[a-z0-9]` after `prefix`.
fn generated_suffix<'a>(name: &'a str, prefix: &str) -> &'a str {
    let suffix = name
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{name} does not start with {prefix}"));
    assert_eq!(suffix.len(), 5, "{name}");
    assert!(
        suffix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{name}"
    );
    suffix
}

#[tokio::test]
async fn sensor_first_create_applies_deployment_under_a_generated_name_then_status() {
    let mut h = harness();
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(true)));
    let s = cached(&sensor(1, None));
    let task = tokio::spawn(reconcile_sensor(s, h.ctx.clone()));

    // Created by server-side apply (no POST, so no `Update` managed-fields entry exists),
    // under `<sensor>-sensor-<5 random>`, not forced.
    let prefix = "/apis/apps/v1/namespaces/argo-events/deployments/";
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(req.query, "&fieldManager=argo-events-controller");
    assert_eq!(req.content_type, "application/apply-patch+yaml");
    let first = req.path.strip_prefix(prefix).unwrap().to_owned();
    generated_suffix(&first, "s-sensor-");
    let meta = &req.body["metadata"];
    assert_eq!(req.body["kind"], "Deployment");
    assert_eq!(meta["name"], json!(first));
    assert!(meta.get("generateName").is_none());
    assert_eq!(meta["labels"]["controller"], "sensor-controller");
    assert_eq!(meta["labels"]["sensor-name"], "s");
    assert_eq!(meta["labels"]["owner-name"], "s");
    assert_eq!(meta["ownerReferences"][0]["kind"], "Sensor");
    assert_eq!(meta["ownerReferences"][0]["uid"], "uid-s");
    assert_eq!(meta["ownerReferences"][0]["controller"], true);
    assert!(meta["annotations"][ANNOTATION_RESOURCE_SPEC_HASH].is_string());
    // The name is taken (someone else's object): another name is picked.
    respond(
        send,
        409,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "Apply failed with 1 conflict", "reason": "Conflict", "code": 409}),
    );
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(req.query, "&fieldManager=argo-events-controller");
    let second = req.path.strip_prefix(prefix).unwrap().to_owned();
    generated_suffix(&second, "s-sensor-");
    assert_ne!(first, second);
    assert_eq!(req.body["metadata"]["name"], json!(second));
    let mut created = req.body.clone();
    created["metadata"]["resourceVersion"] = json!("41");
    respond(send, 200, &created);

    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(
        req.path,
        "/apis/argoproj.io/v1alpha1/namespaces/argo-events/sensors/s/status"
    );
    assert_eq!(req.content_type, "application/merge-patch+json");
    let status = &req.body["status"];
    for c in ["DependenciesProvided", "TriggersProvided", "Deployed"] {
        assert_eq!(cond(status, c)["status"], "True", "{c}");
    }
    respond(
        send,
        200,
        &serde_json::to_value(sensor(1, Some(status)).object.unwrap()).unwrap(),
    );

    let action = within(task).await.unwrap().unwrap();
    assert_eq!(action, Action::await_change());
    let owned = h
        .ctx
        .children
        .sensor
        .owned_by("uid-s", ChildKind::Deployment);
    assert_eq!(
        owned.len(),
        1,
        "the created Deployment is remembered at once"
    );
    assert_eq!(owned[0].name, second);
    assert_eq!(h.ctx.metrics.reconciles("Sensor"), 1);
    assert_quiet(&mut h.handle).await;

    // The name stays: the next spec change applies onto it.
    let task = tokio::spawn(reconcile_sensor(cached(&sensor(2, None)), h.ctx.clone()));
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(req.path, format!("{prefix}{second}"));
    assert_eq!(req.query, "&force=true&fieldManager=argo-events-controller");
    respond(send, 200, &req.body);
    let (req, send) = next(&mut h.handle).await;
    assert!(req.path.ends_with("/sensors/s/status"), "{}", req.path);
    respond(
        send,
        200,
        &serde_json::to_value(sensor(2, None).object.unwrap()).unwrap(),
    );
    within(task).await.unwrap().unwrap();
    assert_quiet(&mut h.handle).await;
}

#[tokio::test]
async fn sensor_unchanged_makes_no_request() {
    let mut h = harness();
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(true)));
    let (status, hash) = settled(&h, 1);
    let d = Deployment {
        metadata: ObjectMeta {
            name: Some("s-sensor-x7k2p".into()),
            namespace: Some("argo-events".into()),
            annotations: Some([(ANNOTATION_RESOURCE_SPEC_HASH.to_owned(), hash)].into()),
            owner_references: Some(vec![crate::desired::owner_reference(
                "Sensor",
                &sensor(1, None).metadata,
            )]),
            ..Default::default()
        },
        ..Default::default()
    };
    h.ctx
        .children
        .sensor
        .apply(ChildKind::Deployment, &watcher::Event::Apply(d));
    let s = cached(&sensor(1, Some(&status)));
    let action = within(reconcile_sensor(s, h.ctx.clone())).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_quiet(&mut h.handle).await;
}

#[tokio::test]
async fn sensor_spec_change_applies_with_new_hash() {
    let mut h = harness();
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(true)));
    let (status, old_hash) = settled(&h, 1);
    let d = Deployment {
        metadata: ObjectMeta {
            name: Some("s-sensor-x7k2p".into()),
            namespace: Some("argo-events".into()),
            annotations: Some(
                [(ANNOTATION_RESOURCE_SPEC_HASH.to_owned(), old_hash.clone())].into(),
            ),
            owner_references: Some(vec![crate::desired::owner_reference(
                "Sensor",
                &sensor(1, None).metadata,
            )]),
            ..Default::default()
        },
        ..Default::default()
    };
    h.ctx
        .children
        .sensor
        .apply(ChildKind::Deployment, &watcher::Event::Apply(d));
    let s = cached(&sensor(2, Some(&status)));
    let task = tokio::spawn(reconcile_sensor(s, h.ctx.clone()));

    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(
        req.path,
        "/apis/apps/v1/namespaces/argo-events/deployments/s-sensor-x7k2p"
    );
    assert_eq!(req.query, "&force=true&fieldManager=argo-events-controller");
    assert_eq!(req.content_type, "application/apply-patch+yaml");
    assert_eq!(req.body["apiVersion"], "apps/v1");
    assert_eq!(req.body["metadata"]["name"], "s-sensor-x7k2p");
    assert!(req.body["metadata"].get("generateName").is_none());
    assert_eq!(req.body["spec"]["replicas"], 2);
    let new_hash = req.body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH].clone();
    assert!(new_hash.is_string());
    assert_ne!(new_hash, json!(old_hash));
    respond(send, 200, &req.body);

    let action = within(task).await.unwrap().unwrap();
    assert_eq!(
        action,
        Action::await_change(),
        "status unchanged: not written"
    );
    assert_quiet(&mut h.handle).await;
    let owned = h
        .ctx
        .children
        .sensor
        .owned_by("uid-s", ChildKind::Deployment);
    assert_eq!(
        owned[0].spec_hash.as_ref().map(|s| json!(s)),
        Some(new_hash)
    );
}

#[tokio::test]
async fn sensor_with_bus_not_ready_writes_only_status() {
    let mut h = harness();
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(false)));
    let task = tokio::spawn(reconcile_sensor(cached(&sensor(1, None)), h.ctx.clone()));
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(
        req.path,
        "/apis/argoproj.io/v1alpha1/namespaces/argo-events/sensors/s/status"
    );
    let c = cond(&req.body["status"], "Deployed");
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "EventBusNotReady");
    assert_eq!(c["message"], "EventBus not ready.");
    respond(
        send,
        200,
        &serde_json::to_value(sensor(1, None).object.unwrap()).unwrap(),
    );
    let action = within(task).await.unwrap().unwrap();
    assert_eq!(action, Action::requeue(crate::reconcile::REQUEUE_WAITING));
    assert_quiet(&mut h.handle).await;
}

#[tokio::test]
async fn event_bus_deletion_held_while_a_sensor_uses_it() {
    let mut h = harness();
    let mut b = bus(true);
    b.metadata.deletion_timestamp = Some(t(50));
    b.metadata.finalizers = Some(vec!["eventbus-controller".into()]);
    if let Ok(o) = &mut b.object {
        o.metadata = b.metadata.clone();
    }
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(b.clone()));
    let s = cached(&sensor(1, None)).as_ref().clone();
    h.sensors
        .apply_watcher_event(&watcher::Event::Apply(s.clone()));

    // Held: the status says why, the finalizer stays.
    let task = tokio::spawn(reconcile_event_bus(Arc::new(b.clone()), h.ctx.clone()));
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(
        req.path,
        "/apis/argoproj.io/v1alpha1/namespaces/argo-events/eventbus/default/status"
    );
    let c = cond(&req.body["status"], "Deployed");
    assert_eq!(
        c["message"],
        "can not delete an EventBus with 1 Sensors connected"
    );
    assert_eq!(c["reason"], "DeletionBlocked");
    respond(
        send,
        200,
        &serde_json::to_value(b.object.clone().unwrap()).unwrap(),
    );
    let action = within(task).await.unwrap().unwrap();
    assert_eq!(action, Action::requeue(crate::reconcile::REQUEUE_WAITING));
    assert_quiet(&mut h.handle).await;

    // The Sensor is gone: volumes deleted, then the finalizer removed.
    h.sensors.apply_watcher_event(&watcher::Event::Delete(s));
    let task = tokio::spawn(reconcile_event_bus(Arc::new(b.clone()), h.ctx.clone()));
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::DELETE);
    assert_eq!(
        req.path,
        "/api/v1/namespaces/argo-events/persistentvolumeclaims"
    );
    assert!(
        req.query.contains(
            "labelSelector=controller%3Deventbus-controller%2Ceventbus-name%3Ddefault%2Cowner-name%3Ddefault"
        ),
        "{}",
        req.query
    );
    respond(
        send,
        200,
        &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaimList", "metadata": {}, "items": []}),
    );
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(
        req.path,
        "/apis/argoproj.io/v1alpha1/namespaces/argo-events/eventbus/default"
    );
    assert_eq!(req.content_type, "application/merge-patch+json");
    assert_eq!(
        req.body,
        json!({"metadata": {"finalizers": [], "resourceVersion": "7"}})
    );
    respond(
        send,
        200,
        &serde_json::to_value(b.object.clone().unwrap()).unwrap(),
    );
    let action = within(task).await.unwrap().unwrap();
    assert_eq!(action, Action::await_change());
    assert_quiet(&mut h.handle).await;
}

#[tokio::test]
async fn transient_errors_back_off_exponentially() {
    let mut h = harness();
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(true)));
    let s = cached(&sensor(1, None));
    // In the cache, as every object kube-runtime reconciles (counters of objects gone from
    // the cache are pruned).
    h.sensors
        .apply_watcher_event(&watcher::Event::Apply(s.as_ref().clone()));
    let mut delays = Vec::new();
    for _ in 0..3 {
        let task = tokio::spawn(reconcile_sensor(s.clone(), h.ctx.clone()));
        let (req, send) = next(&mut h.handle).await;
        assert_eq!(req.method, Method::PATCH);
        assert!(req.path.contains("/deployments/s-sensor-"), "{}", req.path);
        respond(
            send,
            500,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "etcd unavailable", "reason": "InternalError", "code": 500}),
        );
        // The failure shows in the status (the mock answers 200 to that patch).
        let (req, send) = next(&mut h.handle).await;
        assert_eq!(req.method, Method::PATCH);
        assert!(req.path.ends_with("/sensors/s/status"), "{}", req.path);
        let c = cond(&req.body["status"], "Deployed");
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "CreateDeploymentFailed");
        assert!(
            c["message"].as_str().unwrap().contains("etcd unavailable"),
            "{c}"
        );
        respond(
            send,
            200,
            &serde_json::to_value(sensor(1, None).object.unwrap()).unwrap(),
        );
        let err = within(task).await.unwrap().unwrap_err();
        assert!(
            err.to_string()
                .contains("create Deployment argo-events/s-sensor-"),
            "{err}"
        );
        delays.push(error_policy(s.clone(), &err, h.ctx.clone()));
    }
    assert_eq!(
        delays,
        [1, 2, 4].map(|s| Action::requeue(Duration::from_secs(s)))
    );
    assert_eq!(h.ctx.metrics.errors("Sensor"), 3);
}

/// A transient failure is reported as one `ReconcileFailed` Event per backoff, rate limited:
/// the next failure within the interval writes none.
#[tokio::test]
async fn a_failing_reconcile_writes_one_reconcile_failed_event() {
    let mut h = harness_with(|client| {
        Events::start(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: crate::kube_events::REPORTING_CONTROLLER.into(),
                instance: Some("controller-manager-abc".into()),
            },
        )
    });
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(true)));
    let s = cached(&sensor(1, None));
    h.sensors
        .apply_watcher_event(&watcher::Event::Apply(s.as_ref().clone()));
    for attempt in 0..2 {
        let task = tokio::spawn(reconcile_sensor(s.clone(), h.ctx.clone()));
        let (req, send) = next(&mut h.handle).await;
        assert!(req.path.contains("/deployments/s-sensor-"), "{}", req.path);
        respond(
            send,
            500,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "etcd unavailable", "reason": "InternalError", "code": 500}),
        );
        let (req, send) = next(&mut h.handle).await;
        assert!(req.path.ends_with("/sensors/s/status"), "{}", req.path);
        respond(
            send,
            200,
            &serde_json::to_value(sensor(1, None).object.unwrap()).unwrap(),
        );
        let err = within(task).await.unwrap().unwrap_err();
        error_policy(s.clone(), &err, h.ctx.clone());
        if attempt == 1 {
            // Within the interval of the first: no second Event.
            assert_quiet(&mut h.handle).await;
            break;
        }
        let (req, send) = next(&mut h.handle).await;
        assert_eq!(req.method, Method::POST);
        assert_eq!(
            req.path,
            "/apis/events.k8s.io/v1/namespaces/argo-events/events"
        );
        assert_eq!(req.body["reason"], "ReconcileFailed");
        assert_eq!(req.body["type"], "Warning");
        assert_eq!(req.body["reportingController"], "argo-events-controller");
        assert_eq!(req.body["reportingInstance"], "controller-manager-abc");
        assert_eq!(req.body["regarding"]["kind"], "Sensor");
        assert_eq!(req.body["regarding"]["name"], "s");
        assert_eq!(req.body["regarding"]["namespace"], "argo-events");
        assert_eq!(req.body["regarding"]["uid"], "uid-s");
        assert!(req.body["regarding"].get("resourceVersion").is_none());
        let note = req.body["note"].as_str().unwrap();
        assert!(
            note.starts_with("create Deployment argo-events/s-sensor-"),
            "{note}"
        );
        assert!(note.contains("etcd unavailable"), "{note}");
        assert!(note.ends_with("; retrying in 1s"), "{note}");
        respond(send, 201, &req.body);
    }
    assert_eq!(h.ctx.metrics.errors("Sensor"), 2);
}

/// The whole wiring (watches, caches, predicates, the three Controllers) over the in-memory
/// API double: a settled Sensor is left alone, a new one gets its Deployment and status, an
/// invalid one only a status; the settled EventBus is not written.
#[tokio::test]
async fn controllers_over_the_fake_api() {
    use super::fake::{ListFn, fake_client, list_text, scenario};
    let cfg = ControllerConfig::new("quay.io/argoproj/argo-events:test");
    let bus = scenario::ready_bus_text();
    let settled = scenario::sensor_text(0, true, true);
    let fresh = scenario::sensor_text(1, false, true);
    let invalid = scenario::sensor_text(2, true, false);
    let dep = scenario::deployment_meta_text(&settled, &bus, &cfg).unwrap();
    let mut lists: HashMap<String, ListFn> = HashMap::new();
    let b = bus.clone();
    lists.insert(
        "/apis/argoproj.io/v1alpha1/eventbus".into(),
        Arc::new(move |_| list_text("EventBusList", std::iter::once(b.clone()))),
    );
    let sensors = [settled, fresh, invalid];
    lists.insert(
        "/apis/argoproj.io/v1alpha1/sensors".into(),
        Arc::new(move |_| list_text("SensorList", sensors.iter().cloned())),
    );
    lists.insert(
        "/apis/apps/v1/deployments".into(),
        Arc::new(move |query: &str| {
            let items = query.contains("sensor-controller").then(|| dep.clone());
            list_text("PartialObjectMetadataList", items.into_iter())
        }),
    );
    let (client, writes) = fake_client(lists);
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let run = tokio::spawn(controllers(Setup {
        client,
        namespace: None,
        cfg,
        global: placeholder_global_config(),
        stan: Default::default(),
        metrics: metrics.clone(),
        health: health.clone(),
        clock,
        credentials: no_creds,
        token: || panic!("no token expected"),
    }));
    within(async {
        while metrics.reconciles("Sensor") < 3
            || metrics.reconciles("EventBus") < 1
            || !health.ready.load(Ordering::Relaxed)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // Let anything still in flight land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.abort();
    let writes = writes.lock().unwrap().clone();
    // Generated names are random: compare without their suffix.
    let mut seen: Vec<String> = writes
        .iter()
        .map(|w| {
            let path = if w.path.contains("/deployments/") {
                w.path[..w.path.len() - 5].to_owned()
            } else {
                w.path.clone()
            };
            format!("{} {}", w.method, path)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "PATCH /apis/apps/v1/namespaces/argo-events/deployments/s-1-sensor-",
            "PATCH /apis/argoproj.io/v1alpha1/namespaces/argo-events/sensors/s-1/status",
            "PATCH /apis/argoproj.io/v1alpha1/namespaces/argo-events/sensors/s-2/status",
            "POST /apis/events.k8s.io/v1/namespaces/argo-events/events",
        ],
        "{writes:#?}"
    );
    // The invalid Sensor's permanent failure, once, as a Warning Event regarding it.
    let event = writes.iter().find(|w| w.path.ends_with("/events")).unwrap();
    assert_eq!(event.body["reason"], "ReconcileFailed");
    assert_eq!(event.body["type"], "Warning");
    assert_eq!(event.body["action"], "Reconcile");
    assert_eq!(event.body["reportingController"], "argo-events-controller");
    assert_eq!(
        event.body["regarding"]["apiVersion"],
        "argoproj.io/v1alpha1"
    );
    assert_eq!(event.body["regarding"]["kind"], "Sensor");
    assert_eq!(event.body["regarding"]["name"], "s-2");
    assert_eq!(event.body["regarding"]["uid"], "uid-s-2");
    let note = event.body["note"].as_str().unwrap();
    assert!(
        note.starts_with(
            "not reconciled until the object changes: TriggersProvided InvalidTriggers: "
        ),
        "{note}"
    );
    let create = writes
        .iter()
        .find(|w| w.path.contains("/deployments/"))
        .unwrap();
    let name = create.body["metadata"]["name"].as_str().unwrap();
    generated_suffix(name, "s-1-sensor-");
    assert!(create.path.ends_with(name));
    let invalid = writes
        .iter()
        .find(|w| w.path.ends_with("s-2/status"))
        .unwrap();
    let c = cond(&invalid.body["status"], "TriggersProvided");
    assert_eq!(c["reason"], "InvalidTriggers");
    assert_eq!(metrics.errors("Sensor"), 0);
}

#[test]
fn run_flags() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let parse = |args: &[&str]| {
        let mut all = vec!["argo-events-controller", "--image", "img:1"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| c.run)
    };
    let d = parse(&["--managed-namespace", "argo-events"]).unwrap();
    assert!(!d.namespaced);
    assert!(d.leader_election);
    assert_eq!((d.metrics_port, d.health_port), (7777, 8081));
    assert_eq!(
        d.controller_config,
        PathBuf::from("/etc/argo-events/controller-config.yaml")
    );
    assert_eq!(d.image, "img:1");
    assert_eq!(d.image_pull_policy, "Always");
    let a = parse(&[
        "--namespaced",
        "--managed-namespace",
        "team-a",
        "--leader-election=false",
        "--metrics-port",
        "9090",
        "--health-port",
        "9091",
        "--controller-config",
        "/tmp/c.yaml",
        "--image-pull-policy",
        "IfNotPresent",
    ])
    .unwrap();
    assert!(a.namespaced && !a.leader_election);
    assert_eq!(a.managed_namespace, "team-a");
    assert_eq!((a.metrics_port, a.health_port), (9090, 9091));
    assert_eq!(a.image_pull_policy, "IfNotPresent");
    assert!(parse(&["--leader-election"]).unwrap().leader_election);
}

#[tokio::test]
async fn reconciles_wait_for_synced_caches() {
    let mut h = harness();
    h.ctx.synced.store(false, Ordering::Release);
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(true)));
    let wait = Action::requeue(REQUEUE_NOT_SYNCED);
    assert_eq!(wait, Action::requeue(Duration::from_secs(1)));
    let action = within(reconcile_sensor(cached(&sensor(1, None)), h.ctx.clone()))
        .await
        .unwrap();
    assert_eq!(action, wait);
    let action = within(reconcile_event_bus(Arc::new(bus(true)), h.ctx.clone()))
        .await
        .unwrap();
    assert_eq!(action, wait);
    let es: Watched<EventSource> = Watched::from_json(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
        "metadata": {"name": "es", "namespace": "argo-events", "uid": "uid-es"},
        "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}},
    }))
    .unwrap();
    let es = Arc::new(
        Cached::from_json(serde_json::to_value(es.object.as_ref().unwrap()).unwrap()).unwrap(),
    );
    let action = within(reconcile_event_source(es, h.ctx.clone()))
        .await
        .unwrap();
    assert_eq!(action, wait);
    assert_quiet(&mut h.handle).await;
    assert_eq!(h.ctx.metrics.reconciles("Sensor"), 0);
}

#[tokio::test]
async fn finalizer_conflict_requeues_without_backoff() {
    let mut h = harness();
    let text = super::fake::scenario::ready_bus_text();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["metadata"].as_object_mut().unwrap().remove("finalizers");
    let b: Watched<EventBus> = Watched::from_json(v).unwrap();
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(b.clone()));
    let task = tokio::spawn(reconcile_event_bus(Arc::new(b), h.ctx.clone()));
    let (req, send) = next(&mut h.handle).await;
    assert_eq!(req.method, Method::PATCH);
    assert_eq!(
        req.path,
        "/apis/argoproj.io/v1alpha1/namespaces/argo-events/eventbus/default"
    );
    assert_eq!(
        req.body,
        json!({"metadata": {"finalizers": ["eventbus-controller"], "resourceVersion": "1"}})
    );
    respond(
        send,
        409,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "the object has been modified", "reason": "Conflict", "code": 409}),
    );
    let action = within(task).await.unwrap().unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(1)));
    assert_quiet(&mut h.handle).await;
    assert_eq!(h.ctx.metrics.errors("EventBus"), 0);
    assert!(h.ctx.failures.lock().unwrap().is_empty());
}

#[tokio::test]
async fn failures_of_deleted_objects_are_pruned() {
    let mut h = harness();
    let s = cached(&sensor(1, None)).as_ref().clone();
    h.sensors
        .apply_watcher_event(&watcher::Event::Apply(s.clone()));
    h.buses
        .apply_watcher_event(&watcher::Event::Apply(bus(true)));
    {
        let mut f = h.ctx.failures.lock().unwrap();
        f.insert("Sensor/argo-events/s".into(), 3);
        f.insert("Sensor/argo-events/gone".into(), 5);
        f.insert("EventBus/argo-events/default".into(), 1);
        f.insert("EventSource/argo-events/gone".into(), 2);
    }
    h.ctx.prune_failures();
    let mut left: Vec<String> = h.ctx.failures.lock().unwrap().keys().cloned().collect();
    left.sort();
    assert_eq!(
        left,
        ["EventBus/argo-events/default", "Sensor/argo-events/s"]
    );
    // Deleted from the cache: its counter goes at the next prune (error_policy prunes too).
    h.sensors.apply_watcher_event(&watcher::Event::Delete(s));
    let err = Error::Encode {
        kind: "Deployment".into(),
        namespace: "argo-events".into(),
        source: serde_json::from_str::<Value>("{").unwrap_err(),
    };
    let b = Arc::new(bus(true));
    error_policy(b, &err, h.ctx.clone());
    let left: Vec<String> = h.ctx.failures.lock().unwrap().keys().cloned().collect();
    assert_eq!(left, ["EventBus/argo-events/default"]);
    assert_eq!(
        h.ctx.failures.lock().unwrap()["EventBus/argo-events/default"],
        2
    );
}

#[test]
fn seen_children_are_rebuilt_by_a_relist() {
    use super::wiring::SeenChildren;
    let d = |uid: &str, generation: i64| {
        let mut d = Deployment::default();
        d.metadata.uid = Some(uid.into());
        d.metadata.generation = Some(generation);
        d
    };
    let mut seen = SeenChildren::default();
    assert!(!seen.observe::<Deployment>(&watcher::Event::Init));
    assert!(seen.observe(&watcher::Event::InitApply(d("a", 1))));
    assert!(seen.observe(&watcher::Event::InitApply(d("b", 1))));
    assert!(!seen.observe::<Deployment>(&watcher::Event::InitDone));
    assert_eq!(seen.len(), 2);
    assert!(
        !seen.observe(&watcher::Event::Apply(d("a", 1))),
        "unchanged"
    );
    assert!(seen.observe(&watcher::Event::Apply(d("a", 2))), "changed");
    // b is deleted while the watch is down: the re-list does not list it, and it is forgotten.
    assert!(!seen.observe::<Deployment>(&watcher::Event::Init));
    assert!(!seen.observe(&watcher::Event::InitApply(d("a", 2))));
    assert!(!seen.observe::<Deployment>(&watcher::Event::InitDone));
    assert_eq!(seen.len(), 1);
    assert!(seen.observe(&watcher::Event::Delete(d("a", 2))));
    assert_eq!(seen.len(), 0);
}

/// The Deployments list answers long after the Sensors list: no reconcile writes before it
/// arrived, the Sensor whose Deployment exists never gets a second one, the new Sensor gets
/// exactly one.
#[tokio::test]
async fn no_child_writes_before_the_child_caches_synced() {
    use super::fake::{ListFn, fake_client_with_delays, list_text, scenario};
    let cfg = ControllerConfig::new("quay.io/argoproj/argo-events:test");
    let bus = scenario::ready_bus_text();
    let settled = scenario::sensor_text(0, true, true);
    let fresh = scenario::sensor_text(1, false, true);
    let dep = scenario::deployment_meta_text(&settled, &bus, &cfg).unwrap();
    let mut lists: HashMap<String, ListFn> = HashMap::new();
    let b = bus.clone();
    lists.insert(
        "/apis/argoproj.io/v1alpha1/eventbus".into(),
        Arc::new(move |_| list_text("EventBusList", std::iter::once(b.clone()))),
    );
    let sensors = [settled, fresh];
    lists.insert(
        "/apis/argoproj.io/v1alpha1/sensors".into(),
        Arc::new(move |_| list_text("SensorList", sensors.iter().cloned())),
    );
    let listed_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let at = listed_at.clone();
    lists.insert(
        "/apis/apps/v1/deployments".into(),
        Arc::new(move |query: &str| {
            at.lock().unwrap().push(Instant::now());
            let items = query.contains("sensor-controller").then(|| dep.clone());
            list_text("PartialObjectMetadataList", items.into_iter())
        }),
    );
    let delays = HashMap::from([(
        "/apis/apps/v1/deployments".to_owned(),
        Duration::from_millis(1500),
    )]);
    let (client, writes) = fake_client_with_delays(lists, delays);
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let started = Instant::now();
    let run = tokio::spawn(controllers(Setup {
        client,
        namespace: None,
        cfg,
        global: placeholder_global_config(),
        stan: Default::default(),
        metrics: metrics.clone(),
        health: health.clone(),
        clock,
        credentials: no_creds,
        token: || panic!("no token expected"),
    }));
    within(async {
        while metrics.reconciles("Sensor") < 2 || !health.ready.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.abort();
    let listed = listed_at.lock().unwrap().iter().max().copied().unwrap();
    assert!(listed.duration_since(started) >= Duration::from_millis(1400));
    let writes = writes.lock().unwrap().clone();
    for w in &writes {
        assert!(
            w.at >= listed,
            "{} {} written before the Deployments were listed",
            w.method,
            w.path
        );
    }
    let deployment_writes: Vec<&str> = writes
        .iter()
        .filter(|w| w.path.contains("/deployments"))
        .map(|w| w.path.as_str())
        .collect();
    assert_eq!(deployment_writes.len(), 1, "{writes:#?}");
    assert!(
        deployment_writes[0].contains("/deployments/s-1-sensor-"),
        "{deployment_writes:?}"
    );
    assert_eq!(metrics.errors("Sensor"), 0);
}
