//! A small in-memory Kubernetes API server for the tests of the cluster shell: a handler
//! answers each request (or never does, as an idle watch), and every request is recorded.

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::Value;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path and query.
    pub uri: String,
    pub content_type: Option<String>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// Answers a request with a status and a JSON body; `None` never answers (an idle watch).
pub type Handler = Arc<dyn Fn(&Seen) -> Option<(u16, Value)> + Send + Sync>;

/// A client talking to the fake, and the requests it received.
pub fn client(handler: Handler) -> (kube::Client, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let service = tower::service_fn(move |req: Request<Body>| {
        let handler = handler.clone();
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let request = Seen {
                method: parts.method.clone(),
                uri: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            log.lock().unwrap().push(request.clone());
            match handler(&request) {
                Some((status, value)) => Ok::<_, std::convert::Infallible>(
                    Response::builder()
                        .status(status)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Body::from(serde_json::to_vec(&value).unwrap()))
                        .unwrap(),
                ),
                None => std::future::pending().await,
            }
        }
    });
    (kube::Client::new(service, "default"), seen)
}

/// A `Status` failure as the API server writes it.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code})
}
