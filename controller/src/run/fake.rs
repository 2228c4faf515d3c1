//! An in-memory API server double for tests and the RSS benchmark: answers list requests from
//! generators keyed by path, holds watch requests open forever (an idle watch), and records
//! every write, answering it with the written object.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// Makes the JSON text of a list body on demand (so a large list lives only while answered),
/// given the request's query (e.g. to honour a `labelSelector`).
pub type ListFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// One write the double received.
#[derive(Clone, Debug)]
pub struct RecordedWrite {
    /// HTTP method.
    pub method: Method,
    /// Request path.
    pub path: String,
    /// Request query.
    pub query: String,
    /// JSON body (`null` when empty or not JSON).
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

/// The list text of `items` (each an object's JSON text).
pub fn list_text(kind: &str, items: impl Iterator<Item = String>) -> String {
    let mut out = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"{kind}\",\"metadata\":{{\"resourceVersion\":\"1\"}},\"items\":["
    );
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push_str("]}");
    out
}

fn answer(status: u16, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp
}

/// A client talking to the double. `lists` maps a request path (e.g.
/// `/apis/argoproj.io/v1alpha1/sensors`) to its list; other paths list nothing.
pub fn fake_client(lists: HashMap<String, ListFn>) -> (Client, Arc<Mutex<Vec<RecordedWrite>>>) {
    fake_client_with_delays(lists, HashMap::new())
}

/// [`fake_client`] whose list answers for the paths in `delays` come that much later (a slow
/// cache start).
pub fn fake_client_with_delays(
    lists: HashMap<String, ListFn>,
    delays: HashMap<String, Duration>,
) -> (Client, Arc<Mutex<Vec<RecordedWrite>>>) {
    let writes: Arc<Mutex<Vec<RecordedWrite>>> = Arc::default();
    let recorded = writes.clone();
    let lists = Arc::new(lists);
    let delays = Arc::new(delays);
    let service = tower::service_fn(move |req: Request<Body>| {
        let lists = lists.clone();
        let delays = delays.clone();
        let writes = writes.clone();
        async move {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or_default().to_owned();
            if method == Method::GET {
                if query.contains("watch=true") {
                    // An idle watch: nothing ever happens.
                    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                    return Ok::<_, Infallible>(answer(200, Vec::new()));
                }
                if let Some(d) = delays.get(&path) {
                    tokio::time::sleep(*d).await;
                }
                let text = match lists.get(&path) {
                    Some(f) => f(&query),
                    None => list_text("List", std::iter::empty()),
                };
                return Ok(answer(200, text.into_bytes()));
            }
            let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let mut echo = body.clone();
            let segments: Vec<&str> = path.split('/').collect();
            let namespace = segments
                .iter()
                .position(|s| *s == "namespaces")
                .and_then(|i| segments.get(i + 1))
                .copied()
                .unwrap_or_default();
            let name = match segments.last() {
                Some(&"status") => segments.get(segments.len() - 2).copied(),
                _ if method == Method::PATCH => segments.last().copied(),
                _ => None,
            };
            if !echo.is_object() {
                echo = json!({});
            }
            if echo.get("metadata").is_none_or(|m| !m.is_object()) {
                echo["metadata"] = json!({});
            }
            echo["metadata"]["namespace"] = json!(namespace);
            match name {
                Some(n) => echo["metadata"]["name"] = json!(n),
                None => {
                    let generated = format!(
                        "{}fake",
                        echo["metadata"]["generateName"].as_str().unwrap_or("x-")
                    );
                    echo["metadata"]["name"] = json!(generated);
                }
            }
            if let Ok(mut w) = writes.lock() {
                w.push(RecordedWrite {
                    method,
                    path,
                    query,
                    body,
                    at: Instant::now(),
                });
            }
            Ok(answer(200, serde_json::to_vec(&echo).unwrap_or_default()))
        }
    });
    (Client::new(service, "default"), recorded)
}

/// Objects of a scenario, as the API server would list them.
pub mod scenario {
    use argo_events_api::watched::Watched;
    use argo_events_api::{EventBus, Sensor};

    use crate::desired::ControllerConfig;
    use crate::desired::sensor::sensor_deployment;

    /// Namespace of every scenario object.
    pub const NAMESPACE: &str = "argo-events";

    const LTT: &str = "2026-01-01T00:00:00Z";

    /// A ready exotic JetStream EventBus `default` with its finalizer and settled status
    /// (reconciling it writes nothing).
    pub fn ready_bus_text() -> String {
        format!(
            r#"{{"apiVersion":"argoproj.io/v1alpha1","kind":"EventBus","metadata":{{"name":"default","namespace":"{NAMESPACE}","uid":"uid-bus","generation":1,"resourceVersion":"1","finalizers":["eventbus-controller"]}},"spec":{{"jetstreamExotic":{{"url":"nats://nats.{NAMESPACE}.svc:4222"}}}},"status":{{"conditions":[{{"type":"Configured","status":"True","lastTransitionTime":"{LTT}"}},{{"type":"Deployed","status":"True","lastTransitionTime":"{LTT}","reason":"Skipped","message":"Skip deployment because of using exotic config."}}],"config":{{"jetstream":{{"url":"nats://nats.{NAMESPACE}.svc:4222"}}}}}}}}"#
        )
    }

    /// Sensor `s-<i>` (a webhook dependency with a data filter and an HTTP trigger); with
    /// `settled` its status is what a reconcile computes, so only missing children are written.
    /// `triggers: false` makes it invalid (no triggers).
    pub fn sensor_text(i: usize, settled: bool, triggers: bool) -> String {
        let status = if settled {
            format!(
                r#","status":{{"conditions":[{{"type":"DependenciesProvided","status":"True","lastTransitionTime":"{LTT}"}},{{"type":"Deployed","status":"True","lastTransitionTime":"{LTT}"}},{{"type":"TriggersProvided","status":"True","lastTransitionTime":"{LTT}"}}]}}"#
            )
        } else {
            String::new()
        };
        let triggers = if triggers {
            r#","triggers":[{"template":{"name":"notify","http":{"url":"http://notify.example.svc/hook","method":"POST","payload":[{"src":{"dependencyName":"push","dataKey":"body.ref"},"dest":"ref"}]}}}]"#
        } else {
            ""
        };
        format!(
            r#"{{"apiVersion":"argoproj.io/v1alpha1","kind":"Sensor","metadata":{{"name":"s-{i}","namespace":"{NAMESPACE}","uid":"uid-s-{i}","generation":1,"resourceVersion":"1","labels":{{"team":"t{t}"}}}},"spec":{{"template":{{"serviceAccountName":"operate-workflow-sa"}},"dependencies":[{{"name":"push","eventSourceName":"webhook","eventName":"push-{i}","filters":{{"data":[{{"path":"body.ref","type":"string","value":["refs/heads/main"]}}]}}}}]{triggers}}}{status}}}"#,
            t = i % 10
        )
    }

    /// The metadata (as a metadata-only list item) of the Deployment a reconcile of
    /// `sensor_text` against `bus_text` wants, with its hash: an up-to-date child.
    pub fn deployment_meta_text(
        sensor_text: &str,
        bus_text: &str,
        cfg: &ControllerConfig,
    ) -> Result<String, String> {
        let sensor: Watched<Sensor> = serde_json::from_str(sensor_text)
            .map_err(|e| format!("scenario Sensor does not decode: {e}"))?;
        let bus: Watched<EventBus> = serde_json::from_str(bus_text)
            .map_err(|e| format!("scenario EventBus does not decode: {e}"))?;
        let (Ok(sensor), Ok(bus)) = (sensor.object, bus.object) else {
            return Err("scenario objects do not decode".into());
        };
        let d = sensor_deployment(&sensor, &bus, cfg)
            .map_err(|e| format!("scenario Deployment: {e}"))?;
        let name = sensor.metadata.name.clone().unwrap_or_default();
        let mut meta = d.metadata;
        meta.name = Some(format!("{name}-sensor-abcde"));
        meta.generate_name = None;
        meta.uid = Some(format!("uid-d-{name}"));
        meta.resource_version = Some("1".into());
        meta.generation = Some(1);
        Ok(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": meta,
        })
        .to_string())
    }
}
