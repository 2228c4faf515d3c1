//! The kubelet server of the stand-in's Node: what the API server forwards to a kubelet for
//! `kubectl logs` (`GET /containerLogs/{namespace}/{pod}/{container}`, answered by the rules in
//! `argo_events_tests::kubelet::logs` from the lines the stand-in captured), and `/healthz`.
//! HTTPS on 127.0.0.1 with a self-signed certificate; the API server presents no client
//! certificate (no `--kubelet-client-certificate`), so none is asked for. exec, attach and
//! port-forward are not served (404).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use argo_events_tests::kubelet::logs::{
    LogOptions, LogWriter, QueryError, Written, render, tail_start,
};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::node::NODE_IP;
use super::record::{PodRecord, Registry};

/// Starts the server on a free port of 127.0.0.1 and returns the port.
pub async fn start(pods: Arc<Registry>) -> Result<u16, String> {
    let listener = TcpListener::bind((NODE_IP.parse::<Ipv4Addr>().map_err(|e| e.to_string())?, 0))
        .await
        .map_err(|e| format!("binding the kubelet port: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("the kubelet port: {e}"))?
        .port();
    let certified =
        rcgen::generate_simple_self_signed(vec![NODE_IP.to_string(), "localhost".into()])
            .map_err(|e| format!("a self-signed certificate: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .map_err(|e| format!("the TLS certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let app = Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(pods);
    tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(Arc::new(config)),
        app,
    ));
    Ok(port)
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                eprintln!("kubelet stand-in: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                app.clone().oneshot(req.map(Body::new))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn container_logs(
    State(pods): State<Arc<Registry>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let opts = match LogOptions::from_query(&query, Utc::now()) {
        Ok(opts) => opts,
        Err(QueryError::Decode(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                r#"{"message": "Unable to decode query."}"#.into(),
            );
        }
        Err(QueryError::Invalid(_)) => {
            return text(
                StatusCode::UNPROCESSABLE_ENTITY,
                r#"{"message": "Invalid request."}"#.into(),
            );
        }
    };
    let Some(record) = pods.get(&namespace, &pod) else {
        return text(StatusCode::NOT_FOUND, format!("pod {pod:?} does not exist"));
    };
    let chosen = record.read(|s| {
        let index = s.container(&container).ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("container {container:?} not found in pod {pod:?}"),
            )
        })?;
        let c = &s.containers[index];
        let run = c
            .log_run(&pod, opts.previous)
            .map_err(|m| (StatusCode::BAD_REQUEST, m))?;
        let lines = &c.runs[run].lines;
        let start = tail_start(lines.len(), opts.tail);
        if opts.follow && !c.runs[run].finished {
            Ok((index, run, start, None))
        } else {
            Ok((index, run, start, Some(render(lines, &opts))))
        }
    });
    let (index, run, start, whole) = match chosen {
        Ok(chosen) => chosen,
        Err((status, message)) => return text(status, message),
    };
    let body = match whole {
        Some(bytes) => Body::from(bytes),
        None => Body::from_stream(follow(record, index, run, start, opts)),
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// A following request's body: the run's lines from `start`, then each new one as it comes,
/// until the run ends, the byte limit is reached or the client goes away (the body is dropped).
fn follow(
    record: Arc<PodRecord>,
    container: usize,
    run: usize,
    start: usize,
    opts: LogOptions,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Follow {
        record: Arc<PodRecord>,
        changes: watch::Receiver<u64>,
        next: usize,
        writer: LogWriter,
        done: bool,
    }
    let changes = record.subscribe();
    let state = Follow {
        record,
        changes,
        next: start,
        writer: LogWriter::new(&opts),
        done: false,
    };
    futures::stream::unfold(state, move |mut f| async move {
        loop {
            if f.done {
                return None;
            }
            f.changes.borrow_and_update();
            let (chunk, finished) = f.record.read(|s| {
                let r = &s.containers[container].runs[run];
                let mut chunk = Vec::new();
                let mut limit = false;
                for line in &r.lines[f.next.min(r.lines.len())..] {
                    f.next += 1;
                    match f.writer.write(line) {
                        Written::Skipped => {}
                        Written::Bytes(b) => chunk.extend_from_slice(&b),
                        Written::Last(b) => {
                            chunk.extend_from_slice(&b);
                            limit = true;
                            break;
                        }
                    }
                }
                (chunk, r.finished || limit)
            });
            if finished {
                f.done = true;
            }
            if !chunk.is_empty() {
                return Some((Ok(chunk), f));
            }
            if f.done {
                return None;
            }
            if f.changes.changed().await.is_err() {
                return None;
            }
        }
    })
}
