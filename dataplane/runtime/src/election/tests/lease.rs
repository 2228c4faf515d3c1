//! The Lease elector against an in-memory API server holding Leases, with server-side apply's
//! conflict rule on `spec.holderIdentity` (kube-lease-manager relies on it): an apply that
//! would change a field another field manager owns is refused with 409 Conflict.

use std::sync::Mutex;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Map, Value, json};

use super::super::k8s::{LeaseClient, LeaseElector, call_timeout};
use super::*;

const PREFIX: &str = "/apis/coordination.k8s.io/v1/namespaces/";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    field_manager: Option<String>,
    content_type: String,
    body: Value,
}

type Stored = (Map<String, Value>, HashMap<String, String>);

#[derive(Default)]
struct Leases {
    /// `namespace/name` → (spec, field → owning field manager).
    objects: HashMap<String, Stored>,
    log: Vec<Seen>,
    version: u64,
}

fn status(code: StatusCode, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

impl Leases {
    fn object(&self, key: &str) -> Value {
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        let (spec, _) = &self.objects[key];
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name, "namespace": ns, "resourceVersion": self.version.to_string()},
               "spec": spec})
    }

    fn handle(&mut self, seen: Seen) -> (StatusCode, Value) {
        self.log.push(seen.clone());
        let Some(rest) = seen.path.strip_prefix(PREFIX) else {
            return status(StatusCode::NOT_FOUND, "NotFound", "not a Lease path");
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (ns, name) = match (seen.method.as_str(), parts.as_slice()) {
            ("POST", [ns, "leases"]) => {
                let name = seen.body["metadata"]["name"].as_str().unwrap_or_default();
                (ns.to_string(), name.to_owned())
            }
            (_, [ns, "leases", name]) => (ns.to_string(), name.to_string()),
            _ => return status(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
        };
        let key = format!("{ns}/{name}");
        match seen.method.as_str() {
            "GET" if self.objects.contains_key(&key) => (StatusCode::OK, self.object(&key)),
            "GET" => status(StatusCode::NOT_FOUND, "NotFound", "lease not found"),
            "POST" if self.objects.contains_key(&key) => {
                status(StatusCode::CONFLICT, "AlreadyExists", "lease exists")
            }
            "POST" => {
                self.version += 1;
                self.objects.insert(key.clone(), Default::default());
                (StatusCode::CREATED, self.object(&key))
            }
            "PATCH" if !self.objects.contains_key(&key) => {
                status(StatusCode::NOT_FOUND, "NotFound", "lease not found")
            }
            "PATCH" => {
                let manager = seen.field_manager.clone().unwrap_or_default();
                let apply = seen.content_type.contains("apply-patch");
                let (spec, owners) = self.objects.get_mut(&key).expect("checked above");
                let fields = seen.body["spec"].as_object().cloned().unwrap_or_default();
                if apply {
                    for (field, value) in &fields {
                        let owner = owners.get(field);
                        if owner.is_some_and(|o| *o != manager) && spec.get(field) != Some(value) {
                            return status(StatusCode::CONFLICT, "Conflict", "apply conflict");
                        }
                    }
                }
                for (field, value) in fields {
                    if value.is_null() {
                        spec.remove(&field);
                        owners.remove(&field);
                    } else {
                        spec.insert(field.clone(), value);
                        owners.insert(field, manager.clone());
                    }
                }
                self.version += 1;
                (StatusCode::OK, self.object(&key))
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "no"),
        }
    }
}

async fn seen(request: Request<Body>) -> Seen {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let field_manager = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|p| p.strip_prefix("fieldManager=").map(str::to_owned))
    });
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        // Apply patches are JSON too (content type `application/apply-patch+yaml`).
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Seen {
        method,
        path,
        field_manager,
        content_type,
        body,
    }
}

fn response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(Bytes::from(body.to_string())))
        .expect("a valid response")
}

/// A Lease client answered by a shared in-memory Lease store.
fn fake_client(store: Arc<Mutex<Leases>>) -> LeaseClient {
    let service = tower::service_fn(move |request: Request<Body>| {
        let store = store.clone();
        async move {
            let seen = seen(request).await;
            let (code, body) = store.lock().expect("store lock").handle(seen);
            Ok::<_, std::convert::Infallible>(response(code, &body))
        }
    });
    LeaseClient::from_service(service, "default")
}

fn lease_elector(client: LeaseClient, identity: &str) -> LeaseElector {
    LeaseElector::new(client, "ns", "sensor-pair", identity, fast())
}

#[tokio::test]
async fn acquiring_creates_and_applies_the_lease_with_upstreams_name_and_duration() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = LeaseClient::from_service(service, "default");
    let store = Arc::new(Mutex::new(Leases::default()));
    let server_store = store.clone();
    // Answer every request the elector makes from the in-memory store.
    let server = tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let seen = seen(request).await;
            let (code, body) = server_store.lock().expect("store lock").handle(seen);
            send.send_response(response(code, &body));
        }
    });
    let mut elector = LeaseElector::new(
        client,
        "argo-events",
        "sensor-webhook",
        "pod-a",
        Timings::default(),
    );
    let shutdown = CancellationToken::new();
    let led = tokio::time::timeout(ms(10_000), elector.acquire(&shutdown))
        .await
        .expect("acquired in time")
        .expect("no setup error");
    assert!(led);
    let log = store.lock().expect("store lock").log.clone();
    let path = "/apis/coordination.k8s.io/v1/namespaces/argo-events/leases";
    let lease = format!("{path}/sensor-webhook");
    let shape: Vec<(String, String)> = log
        .iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect();
    assert_eq!(shape[0], ("GET".into(), lease.clone()), "{shape:?}");
    assert_eq!(shape[1], ("POST".into(), path.to_owned()), "{shape:?}");
    assert_eq!(log[1].body["metadata"]["name"], "sensor-webhook");
    let apply = log
        .iter()
        .find(|s| s.method == "PATCH" && s.content_type.contains("apply-patch"))
        .expect("a server-side apply of the holder");
    assert_eq!(apply.path, lease);
    assert_eq!(apply.body["spec"]["holderIdentity"], "pod-a");
    assert_eq!(apply.body["spec"]["leaseDurationSeconds"], 5);
    assert_eq!(apply.field_manager.as_deref(), Some("argo-events-pod-a"));
    let stored = store
        .lock()
        .expect("store lock")
        .object("argo-events/sensor-webhook");
    assert_eq!(stored["spec"]["holderIdentity"], "pod-a");

    // A graceful stop releases the Lease (holder cleared).
    let stop = CancellationToken::new();
    stop.cancel();
    assert_eq!(elector.hold(&stop).await, Hold::Released);
    let stored = store
        .lock()
        .expect("store lock")
        .object("argo-events/sensor-webhook");
    assert!(stored["spec"].get("holderIdentity").is_none(), "{stored}");
    server.abort();
}

#[tokio::test]
async fn two_lease_electors_one_leader_and_a_crashed_leader_is_replaced() {
    let store = Arc::new(Mutex::new(Leases::default()));
    let flags = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let mut tasks = Vec::new();
    for (i, identity) in ["pod-a", "pod-b"].into_iter().enumerate() {
        let mut elector = lease_elector(fake_client(store.clone()), identity);
        let flag = flags[i].clone();
        tasks.push(tokio::spawn(async move {
            let set = move |l: bool| flag.store(l, Ordering::SeqCst);
            let shutdown = CancellationToken::new();
            run_while_leader(&mut elector, &shutdown, &set, |token| async move {
                token.cancelled().await;
            })
            .await
        }));
    }
    let leading = |i: usize| flags[i].load(Ordering::SeqCst);
    wait_for("a leader", ms(10_000), || leading(0) || leading(1)).await;
    // Exactly one, across more than one lease duration (renewals included).
    for _ in 0..20 {
        assert!(leading(0) ^ leading(1), "a={} b={}", leading(0), leading(1));
        tokio::time::sleep(ms(150)).await;
    }
    let leader = if leading(0) { 0 } else { 1 };
    let standby = 1 - leader;
    tasks[leader].abort();
    wait_for("the standby to take over", ms(15_000), || leading(standby)).await;
    let holder =
        store.lock().expect("store lock").object("ns/sensor-pair")["spec"]["holderIdentity"]
            .clone();
    assert_eq!(holder, ["pod-a", "pod-b"][standby]);
    tasks[standby].abort();
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_reports_lost() {
    let store = Arc::new(Mutex::new(Leases::default()));
    let mut elector = lease_elector(fake_client(store.clone()), "pod-a");
    let shutdown = CancellationToken::new();
    assert!(
        tokio::time::timeout(ms(10_000), elector.acquire(&shutdown))
            .await
            .expect("acquired in time")
            .expect("no setup error")
    );
    // Another holder appears (e.g. an operator edits the Lease).
    {
        let mut leases = store.lock().expect("store lock");
        let (spec, owners) = leases.objects.get_mut("ns/sensor-pair").expect("the Lease");
        spec.insert("holderIdentity".into(), json!("intruder"));
        owners.insert("holderIdentity".into(), "kubectl".into());
    }
    let stop = CancellationToken::new();
    let held = tokio::time::timeout(ms(10_000), elector.hold(&stop))
        .await
        .expect("noticed within a renewal");
    match held {
        Hold::Lost(reason) => assert!(reason.contains("held by another replica"), "{reason}"),
        other => panic!("expected Lost, got {other:?}"),
    }
}

#[test]
fn lease_calls_time_out_within_the_retry_period() {
    for timings in [Timings::default(), fast()] {
        assert!(call_timeout(timings) <= timings.retry_period, "{timings:?}");
        assert!(
            call_timeout(timings) < timings.renew_deadline,
            "{timings:?}"
        );
    }
}

/// A fake whose `PATCH`es hang once `hang` is set (a renew that never answers).
fn hanging_client(store: Arc<Mutex<Leases>>, hang: Arc<AtomicBool>) -> LeaseClient {
    let service = tower::service_fn(move |request: Request<Body>| {
        let store = store.clone();
        let hang = hang.clone();
        async move {
            if hang.load(Ordering::SeqCst) && request.method() == http::Method::PATCH {
                std::future::pending::<()>().await;
            }
            let seen = seen(request).await;
            let (code, body) = store.lock().expect("store lock").handle(seen);
            Ok::<_, std::convert::Infallible>(response(code, &body))
        }
    });
    LeaseClient::from_service(service, "default")
}

#[tokio::test]
async fn a_hung_renew_loses_the_lease_exactly_at_the_renew_deadline() {
    let store = Arc::new(Mutex::new(Leases::default()));
    let hang = Arc::new(AtomicBool::new(false));
    let client = hanging_client(store.clone(), hang.clone());
    let renewals = client.renewals().clone();
    let mut elector = lease_elector(client, "pod-a");
    let shutdown = CancellationToken::new();
    assert!(
        tokio::time::timeout(ms(10_000), elector.acquire(&shutdown))
            .await
            .expect("acquired in time")
            .expect("no setup error")
    );
    hang.store(true, Ordering::SeqCst);
    let last = renewals.last().expect("the acquiring apply was recorded");
    let stop = CancellationToken::new();
    let held = tokio::time::timeout(ms(10_000), elector.hold(&stop))
        .await
        .expect("the loss is noticed");
    let at = last.elapsed();
    match held {
        Hold::Lost(reason) => assert!(reason.contains("renew deadline"), "{reason}"),
        other => panic!("expected Lost, got {other:?}"),
    }
    // Lost at the deadline (plus scheduling slack), not one retry period or more later.
    assert!(at >= fast().renew_deadline, "{at:?}");
    assert!(at < fast().renew_deadline + ms(200), "{at:?}");
}

#[tokio::test]
async fn a_deleted_lease_is_created_again_by_a_waiting_standby() {
    let store = Arc::new(Mutex::new(Leases::default()));
    {
        let mut leases = store.lock().expect("store lock");
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let spec: Map<String, Value> = json!({
            "holderIdentity": "other",
            "leaseDurationSeconds": 2,
            "acquireTime": now,
            "renewTime": now,
        })
        .as_object()
        .cloned()
        .expect("an object");
        let owners = spec
            .keys()
            .map(|k| (k.clone(), "argo-events-other".to_owned()))
            .collect();
        leases
            .objects
            .insert("ns/sensor-pair".into(), (spec, owners));
        leases.version = 1;
    }
    let mut elector = lease_elector(fake_client(store.clone()), "pod-b");
    let shutdown = CancellationToken::new();
    let acquiring = tokio::spawn(async move {
        let led = elector.acquire(&shutdown).await;
        (led, elector)
    });
    wait_for("the standby to read the Lease", ms(5_000), || {
        !store.lock().expect("store lock").log.is_empty()
    })
    .await;
    store
        .lock()
        .expect("store lock")
        .objects
        .remove("ns/sensor-pair");
    let deleted_at = store.lock().expect("store lock").log.len();
    let (led, _elector) = tokio::time::timeout(ms(15_000), acquiring)
        .await
        .expect("acquired after the Lease was deleted")
        .expect("the task");
    assert!(led.expect("no setup error"));
    let leases = store.lock().expect("store lock");
    assert!(
        leases.log[deleted_at..]
            .iter()
            .any(|s| s.method == "POST" && s.path.ends_with("/namespaces/ns/leases")),
        "the Lease was not created again"
    );
    assert_eq!(
        leases.object("ns/sensor-pair")["spec"]["holderIdentity"],
        "pod-b"
    );
}
