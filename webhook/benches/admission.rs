//! Admission throughput and latency over TLS on loopback: the real `argo-events-webhook serve`
//! binary (with a `--snapshot` of cluster facts) against a bare axum + rustls "ceiling" endpoint
//! in this process that only parses the body and answers a fixed allowed AdmissionReview.
//!
//! For each: saturated throughput and mean/p99 latency with 64 and 500 keep-alive connections
//! (closed loop, one request in flight per connection), and p50/p99 at a fixed offered rate
//! (open loop). Then, under `hostile` ([`hostile`]): a valid review's p50/p99 while 300
//! slow-body clients are open next to none open, and the server's peak RSS during 16
//! concurrent reviews of a 5 000-trigger and of a ~1.5 MiB Sensor next to its idle RSS.
//! Prints ONE JSON object on stdout; progress goes to stderr.
//!
//! `cargo bench -p argo-events-webhook --bench admission`. Environment knobs:
//! `BENCH_SECS` (seconds per phase, default 5), `BENCH_RATE` (open-loop reviews/s, default
//! 1000), `BENCH_SERVER_LOG` (the server's `RUST_LOG`, default `info`, as deployed; its log
//! goes to a file).

// The server binary runs on mimalloc; the ceiling (in this process) gets the same allocator so
// the comparison is allocator-neutral.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse as _;
use axum::routing::post;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tower::ServiceExt as _;

const NS: &str = "argo-events";
/// Namespaces of the snapshot: each holds a full set of objects.
const NAMESPACES: [&str; 3] = [NS, "team-a", "team-b"];
/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the whole run.
const RUN_TIMEOUT: Duration = Duration::from_secs(420);

// A bench's root resolves `mod` next to itself; its parts live in admission/ (`foo.rs` + `foo/`).
#[path = "admission/hostile.rs"]
mod hostile;
#[path = "support/many_triggers.rs"]
mod many_triggers;

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secs: u64 = env_or("BENCH_SECS", 5)?;
    let rate: u64 = env_or("BENCH_RATE", 1000)?;
    let server_log = std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "info".to_owned());
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    let out = client_rt.block_on(async {
        tokio::time::timeout(
            RUN_TIMEOUT,
            run(Duration::from_secs(secs.max(1)), rate.max(1), &server_log),
        )
        .await
        .context("the benchmark did not finish within its time limit")?
    })?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    client_rt.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

fn env_or(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

async fn run(secs: Duration, rate: u64, server_log: &str) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let snapshot_dir = dir.path().join("snapshot");
    let snapshot_objects = write_snapshot(&snapshot_dir)?;
    let bodies = review_bodies();

    // The server under test.
    eprintln!("starting argo-events-webhook serve (RUST_LOG={server_log})");
    let server = spawn_server(dir.path(), &snapshot_dir, server_log).await?;
    let server_tls = client_config(&server.ca)?;
    let server_target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], server.port)),
        tls: server_tls,
    };
    let decisions = check_decisions(&server_target, &bodies).await?;
    let server_cpu = || proc_cpu_secs(&format!("/proc/{}/stat", server.child.id()));
    let server_results = measure(&server_target, &bodies, secs, rate, &server_cpu).await?;

    // The ceiling, on its own runtime (as a separate server process would be).
    eprintln!("starting the ceiling endpoint");
    let ceiling = Ceiling::start()?;
    let ceiling_target = Target {
        addr: ceiling.addr,
        tls: client_config(&ceiling.ca)?,
    };
    let ceiling_cpu = || Some(threads_cpu_secs("ceiling"));
    let ceiling_results = measure(&ceiling_target, &bodies, secs, rate, &ceiling_cpu).await?;
    ceiling.stop();

    let server_rss_kb = proc_rss_kb(server.child.id());
    let log_lines = std::fs::read_to_string(&server.log)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    drop(server);

    let valid = bodies
        .iter()
        .find(|(_, allowed, _)| *allowed)
        .map(|(_, _, b)| b.clone())
        .context("no allowed review body")?;
    let hostile = hostile::measure(dir.path(), &snapshot_dir, server_log, &valid).await?;

    let targets = targets(&server_results, &ceiling_results, rate);
    Ok(json!({
        "setup": {
            "transport": "HTTP/1.1 over TLS 1.3 (rustls, ring), loopback, keep-alive",
            "server_under_test": "argo-events-webhook serve (CARGO_BIN_EXE, bench profile), separate process, --self-signed, --snapshot DIR",
            "server_log": {"RUST_LOG": server_log, "to": "a file", "lines": log_lines},
            "server_rss_kb_at_end": server_rss_kb,
            "ceiling": "axum + hyper http1 + tokio-rustls in the bench process (own 2-thread runtime): parse JSON body, answer a fixed allowed AdmissionReview",
            "client": "hyper http1 connections over tokio-rustls, 2-thread runtime in the bench process",
            "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
            "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            "phase_secs": secs.as_secs(),
            "snapshot_objects": snapshot_objects,
            "review_bodies": decisions,
        },
        "server": server_results,
        "ceiling": ceiling_results,
        "targets": targets,
        "hostile": hostile,
    }))
}

// ---------------------------------------------------------------------------------------------
// The snapshot and the reviews.

fn meta(name: &str, ns: &str) -> Value {
    json!({"name": name, "namespace": ns})
}

/// Writes the snapshot manifests; returns how many objects of each kind.
fn write_snapshot(dir: &Path) -> anyhow::Result<Value> {
    std::fs::create_dir_all(dir)?;
    let mut docs: Vec<Value> = Vec::new();
    for ns in NAMESPACES {
        docs.push(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
            "metadata": meta("default", ns), "spec": {"jetstream": {"version": "latest"}}}),
        );
        docs.push(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": meta("webhook", ns),
            "spec": {"webhook": {
                "push": {"port": "12000", "endpoint": "/push", "method": "POST"},
                "pr": {"port": "12000", "endpoint": "/pr", "method": "POST"},
                "release": {"port": "12000", "endpoint": "/release", "method": "POST"},
            }}}),
        );
        docs.push(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": meta("calendar", ns),
            "spec": {"calendar": {
                "nightly": {"schedule": "0 2 * * *", "timezone": "Europe/Paris"},
                "every-5m": {"interval": "5m"},
            }}}),
        );
        docs.push(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": meta("nats", ns),
            "spec": {"nats": {"orders": {"url": "nats://nats:4222", "subject": "orders"}}}}),
        );
        docs.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": meta("operate-workflow-sa", ns)}));
        docs.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": meta("deployer-sa", ns)}));
        docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": meta("operate-workflow-role", ns),
            "rules": [
                {"apiGroups": ["argoproj.io"], "verbs": ["create", "get", "list"], "resources": ["workflows"]},
                {"apiGroups": ["argoproj.io"], "verbs": ["patch"], "resources": ["workflows"], "resourceNames": ["nightly"]},
            ]}));
        docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": meta("operate-workflow", ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operate-workflow-role"},
            "subjects": [{"kind": "ServiceAccount", "name": "operate-workflow-sa"}]}));
        docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": meta("deployer", ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer-sa"}]}));
        // Sensors already in the cluster: the rules look at every object of the snapshot.
        for (i, source) in ["webhook", "calendar", "nats"].iter().enumerate() {
            let event = ["push", "nightly", "orders"][i];
            docs.push(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
                "metadata": meta(&format!("existing-{source}"), ns),
                "spec": {
                    "template": {"serviceAccountName": "operate-workflow-sa"},
                    "dependencies": [{"name": "dep", "eventSourceName": source, "eventName": event}],
                    "triggers": [{"template": {"name": "wf", "argoWorkflow": {"operation": "submit",
                        "source": {"resource": workflow("generateName", "run-")}}}}],
                }}));
        }
    }
    // Cluster-wide: an aggregated ClusterRole for deployments and pods, bound by the
    // RoleBindings above, plus a ClusterRoleBinding for a group.
    docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "deployer"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"bench/aggregate-to-deployer": "true"}}]},
        "rules": []}));
    docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "deployer-apps", "labels": {"bench/aggregate-to-deployer": "true"}},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "patch", "update"]}]}));
    docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "deployer-core", "labels": {"bench/aggregate-to-deployer": "true"}},
        "rules": [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["create", "delete"]}]}));
    docs.push(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "viewer"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}),
    );
    docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "viewers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "viewer"},
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}]}));

    let mut counts = serde_json::Map::new();
    for (i, doc) in docs.iter().enumerate() {
        let kind = doc["kind"].as_str().unwrap_or("?").to_owned();
        let n = counts.get(&kind).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(kind, json!(n + 1));
        std::fs::write(dir.join(format!("{i:03}.json")), doc.to_string())?;
    }
    counts.insert("total".into(), json!(docs.len()));
    Ok(Value::Object(counts))
}

fn workflow(name_key: &str, name: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {name_key: name},
        "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "commit", "value": "x"}]},
            "templates": [{"name": "main", "container": {"image": "alpine:3.20", "command": ["sh", "-c"], "args": ["echo {{workflow.parameters.commit}}"]}}]}})
}

/// A Sensor exercising every rule in one go: two references into the snapshot with data and
/// expr filters, the snapshot's EventBus, and k8s, argoWorkflow and http triggers whose RBAC the
/// snapshot decides.
fn full_sensor(name: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": name, "namespace": NS, "generation": 1},
    "spec": {
        "eventBusName": "default",
        "template": {"serviceAccountName": "operate-workflow-sa"},
        "dependencies": [
            {"name": "push", "eventSourceName": "webhook", "eventName": "push",
             "filters": {
                "data": [
                    {"path": "body.ref", "type": "string", "value": ["^refs/heads/main$", "^refs/heads/release-.*$"]},
                    {"path": "body.commits.#", "type": "number", "value": ["0"], "comparator": ">"},
                ],
                "exprs": [{"expr": "a == \"push\" && b > 0", "fields": [
                    {"name": "a", "path": "headers.X-Github-Event.0"},
                    {"name": "b", "path": "body.size"},
                ]}],
                "dataLogicalOperator": "and",
             }},
            {"name": "nightly", "eventSourceName": "calendar", "eventName": "nightly"},
        ],
        "triggers": [
            {"template": {"name": "build", "conditions": "push", "argoWorkflow": {"operation": "submit",
                "source": {"resource": workflow("generateName", "build-")}},
                },
             "parameters": [{"src": {"dependencyName": "push", "dataKey": "body.after"},
                "dest": "spec.arguments.parameters.0.value"}]},
            {"template": {"name": "notify", "conditions": "push || nightly", "http": {
                "url": "https://hooks.example.invalid/notify", "method": "POST",
                "payload": [{"src": {"dependencyName": "push", "dataKey": "body.ref"}, "dest": "ref"}],
                "timeout": 5}}},
            {"template": {"name": "resume-nightly", "conditions": "nightly", "argoWorkflow": {"operation": "suspend",
                "source": {"resource": workflow("name", "nightly")}}}},
        ],
    }})
}

fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = value;
    }
    v
}

fn admission_review(uid: &str, operation: &str, object: Value, old: Option<Value>) -> Value {
    let mut request = json!({
        "uid": uid,
        "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": object["kind"].clone()},
        "resource": {"group": "argoproj.io", "version": "v1alpha1", "resource": "sensors"},
        "name": object["metadata"]["name"].clone(),
        "namespace": NS,
        "operation": operation,
        "userInfo": {"username": "system:serviceaccount:argo-cd:argocd-application-controller",
            "groups": ["system:serviceaccounts", "system:authenticated"]},
        "object": object,
        "dryRun": false,
    });
    if let Some(old) = old {
        request["oldObject"] = old;
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

/// The review bodies, sent round-robin: (name, expected `allowed`, bytes).
fn review_bodies() -> Vec<(&'static str, bool, Bytes)> {
    let full = full_sensor("build-on-push");
    let deployer = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": "deploy", "namespace": NS, "generation": 3},
    "spec": {
        "template": {"serviceAccountName": "deployer-sa"},
        "dependencies": [{"name": "release", "eventSourceName": "webhook", "eventName": "release",
            "filters": {"data": [{"path": "body.action", "type": "string", "value": ["published"]}]}}],
        "triggers": [
            {"template": {"name": "rollout", "k8s": {"operation": "patch", "patchStrategy": "application/merge-patch+json",
                "source": {"resource": {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "api", "namespace": NS},
                    "spec": {"template": {"metadata": {"annotations": {"release": "x"}}}}}}}},
             "parameters": [{"src": {"dependencyName": "release", "dataKey": "body.release.tag_name"},
                "dest": "spec.template.metadata.annotations.release"}]},
            {"template": {"name": "smoke", "k8s": {"operation": "create",
                "source": {"resource": {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "smoke-test"},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "curlimages/curl"}]}}}}}},
        ],
    }});
    let old_deployer = with(deployer.clone(), "/metadata/generation", json!(2));
    let reviews: Vec<(&'static str, bool, Value)> = vec![
        // Every rule passes: allowed, no warnings.
        (
            "full-allowed",
            true,
            admission_review("u-full", "CREATE", full.clone(), None),
        ),
        // A near-miss EventSource name: reference error.
        (
            "reference-typo",
            false,
            admission_review(
                "u-ref",
                "CREATE",
                with(
                    full.clone(),
                    "/spec/dependencies/0/eventSourceName",
                    json!("webhok"),
                ),
                None,
            ),
        ),
        // An EventBus the namespace does not have: event-bus error.
        (
            "missing-event-bus",
            false,
            admission_review(
                "u-bus",
                "CREATE",
                with(full.clone(), "/spec/eventBusName", json!("jetstream")),
                None,
            ),
        ),
        // The ServiceAccount may not create Pods nor patch other Workflows: rbac error.
        (
            "rbac-denied",
            false,
            admission_review(
                "u-rbac",
                "CREATE",
                with(
                    full.clone(),
                    "/spec/triggers/2/template/argoWorkflow/source/resource/metadata/name",
                    json!("weekly"),
                ),
                None,
            ),
        ),
        // Naming: a dependency name that cannot be a subject token.
        (
            "naming",
            false,
            admission_review(
                "u-name",
                "CREATE",
                with(full.clone(), "/spec/dependencies/1/name", json!("night.ly")),
                None,
            ),
        ),
        // UPDATE with a new generation; RBAC through an aggregated ClusterRole; a k8s create
        // with a fixed name (pitfall warning): allowed with warnings.
        (
            "update-aggregated-rbac-pitfall",
            true,
            admission_review("u-upd", "UPDATE", deployer, Some(old_deployer)),
        ),
    ];
    reviews
        .into_iter()
        .map(|(name, allowed, v)| (name, allowed, Bytes::from(v.to_string())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The server under test.

struct Server {
    child: Child,
    port: u16,
    ca: Vec<u8>,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn spawn_server(dir: &Path, snapshot: &Path, log_level: &str) -> anyhow::Result<Server> {
    let bin = env!("CARGO_BIN_EXE_argo-events-webhook");
    for attempt in 1..=3 {
        let (port, admin_port) = (free_port()?, free_port()?);
        let ca_path = dir.join("ca.pem");
        let log = dir.join(format!("server-{attempt}.log"));
        let child = Command::new(bin)
            .arg("serve")
            .args(["--self-signed", "--dns-name", "localhost", "--write-ca"])
            .arg(&ca_path)
            .arg("--snapshot")
            .arg(snapshot)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{admin_port}"))
            .env("RUST_LOG", log_level)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let mut server = Server {
            child,
            port,
            ca: Vec::new(),
            log,
        };
        if wait_ready(&mut server, admin_port).await? {
            server.ca = std::fs::read(&ca_path)
                .with_context(|| format!("reading the CA {}", ca_path.display()))?;
            return Ok(server);
        }
        let tail = std::fs::read_to_string(&server.log).unwrap_or_default();
        eprintln!("the server exited before it was ready (attempt {attempt}): {tail}");
    }
    bail!("the server did not start, 3 times")
}

/// Whether /ready answers 200 (false: the process exited first); an error after 30 s.
async fn wait_ready(server: &mut Server, admin_port: u16) -> anyhow::Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    loop {
        if Instant::now() > deadline {
            bail!("the server did not become ready within 30 s");
        }
        if server.child.try_wait()?.is_some() {
            return Ok(false);
        }
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{admin_port}/ready"))
            .send()
            .await
            && r.status() == 200
        {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The ceiling: the same TLS and HTTP stack, no decision.

struct Ceiling {
    addr: SocketAddr,
    ca: Vec<u8>,
    runtime: tokio::runtime::Runtime,
}

impl Ceiling {
    fn start() -> anyhow::Result<Ceiling> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ceiling")
            .enable_all()
            .build()?;
        let std_listener = StdListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let app = Router::new().route("/validate", post(ceiling_admit));
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            app.clone().oneshot(req.map(Body::new))
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Ceiling {
            addr,
            ca: certified.cert.pem().into_bytes(),
            runtime,
        })
    }

    /// Stops the ceiling's runtime without blocking the caller's.
    fn stop(self) {
        self.runtime.shutdown_background();
    }
}

async fn ceiling_admit(body: Bytes) -> axum::response::Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(review) => {
            let uid = review
                .pointer("/request/uid")
                .cloned()
                .unwrap_or(Value::Null);
            axum::Json(
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": uid, "allowed": true}}),
            )
            .into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// The client.

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    tls: TlsConnector,
}

fn client_config(ca_pem: &[u8]) -> anyhow::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// One keep-alive HTTP/1.1 connection over TLS.
async fn connect(target: &Target) -> anyhow::Result<SendRequest<Body>> {
    let fut = async {
        let tcp = TcpStream::connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost")?;
        let tls = target.tls.connect(name, tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        anyhow::Ok(sender)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fut)
        .await
        .with_context(|| format!("connecting to {} timed out", target.addr))?
        .with_context(|| format!("connecting to {}", target.addr))
}

/// Sends one review and reads the whole answer; the status and body on success.
async fn send(sender: &mut SendRequest<Body>, body: &Bytes) -> anyhow::Result<(u16, Bytes)> {
    let fut = async {
        sender.ready().await?;
        let req = hyper::Request::post("/validate")
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body.clone()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(Body::new(resp.into_body()), 16 * 1024 * 1024).await?;
        anyhow::Ok((status, bytes))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fut)
        .await
        .context("the request timed out")?
}

/// Sends each body once and checks the server decides as expected.
async fn check_decisions(
    target: &Target,
    bodies: &[(&'static str, bool, Bytes)],
) -> anyhow::Result<Value> {
    let mut sender = connect(target).await?;
    let mut out = Vec::new();
    for (name, expected, body) in bodies {
        let (status, resp) = send(&mut sender, body).await?;
        if status != 200 {
            bail!(
                "review {name}: HTTP {status}: {}",
                String::from_utf8_lossy(&resp)
            );
        }
        let v: Value = serde_json::from_slice(&resp)?;
        let allowed = v["response"]["allowed"].as_bool();
        eprintln!("review {name}: {}", v["response"]);
        if allowed != Some(*expected) {
            bail!(
                "review {name}: expected allowed={expected}, got {}",
                v["response"]
            );
        }
        out.push(json!({
            "name": name,
            "bytes": body.len(),
            "allowed": allowed,
            "warnings": v["response"]["warnings"].as_array().map_or(0, Vec::len),
            "message": v["response"]["status"]["message"],
        }));
    }
    Ok(Value::Array(out))
}

/// Latencies in microseconds.
fn summarize(mut lat_us: Vec<u32>) -> Value {
    lat_us.sort_unstable();
    let n = lat_us.len();
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        let i = ((p / 100.0) * n as f64).ceil() as usize;
        f64::from(lat_us[i.clamp(1, n) - 1]) / 1000.0
    };
    let mean = if n == 0 {
        0.0
    } else {
        lat_us.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64 / 1000.0
    };
    json!({
        "mean_ms": round3(mean),
        "p50_ms": round3(pct(50.0)),
        "p90_ms": round3(pct(90.0)),
        "p99_ms": round3(pct(99.0)),
        "p999_ms": round3(pct(99.9)),
        "max_ms": round3(pct(100.0)),
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The three phases against one target.
async fn measure(
    target: &Target,
    bodies: &[(&'static str, bool, Bytes)],
    secs: Duration,
    rate: u64,
    server_cpu: &dyn Fn() -> Option<f64>,
) -> anyhow::Result<Value> {
    let bodies: Arc<Vec<Bytes>> = Arc::new(bodies.iter().map(|(_, _, b)| b.clone()).collect());
    // Warm-up: a second at 64 connections, not recorded.
    closed_loop(target, &bodies, 64, Duration::from_secs(1), server_cpu).await?;
    let c64 = closed_loop(target, &bodies, 64, secs, server_cpu).await?;
    let c500 = closed_loop(target, &bodies, 500, secs, server_cpu).await?;
    let open = open_loop(target, &bodies, rate, secs, server_cpu).await?;
    Ok(json!({"closed_64": c64, "closed_500": c500, "open_rate": open}))
}

/// CPU seconds (user + system) of a process or task, from its `/proc/.../stat`.
fn proc_cpu_secs(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds of this process's threads whose name starts with `prefix`.
fn threads_cpu_secs(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim_end().starts_with(prefix))
        })
        .filter_map(|t| proc_cpu_secs(&t.path().join("stat").to_string_lossy()))
        .sum()
}

fn proc_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU use (in cores) of the server and of the client threads over a phase.
struct CpuMeter<'a> {
    server: &'a dyn Fn() -> Option<f64>,
    start: (Option<f64>, f64, Instant),
}

impl<'a> CpuMeter<'a> {
    fn start(server: &'a dyn Fn() -> Option<f64>) -> Self {
        CpuMeter {
            server,
            start: (server(), threads_cpu_secs("bench-client"), Instant::now()),
        }
    }

    fn finish(&self) -> Value {
        let wall = self.start.2.elapsed().as_secs_f64();
        let server = match ((self.server)(), self.start.0) {
            (Some(end), Some(start)) => Some(round3((end - start) / wall)),
            _ => None,
        };
        let client = round3((threads_cpu_secs("bench-client") - self.start.1) / wall);
        json!({"server_cores": server, "client_cores": client})
    }
}

/// `conns` connections, each sending the next review as soon as the previous is answered.
async fn closed_loop(
    target: &Target,
    bodies: &Arc<Vec<Bytes>>,
    conns: usize,
    secs: Duration,
    server_cpu: &dyn Fn() -> Option<f64>,
) -> anyhow::Result<Value> {
    eprintln!(
        "closed loop: {conns} connections for {secs:?} against {}",
        target.addr
    );
    let mut senders = Vec::with_capacity(conns);
    let connect_started = Instant::now();
    // Connect in batches so the accept backlog is not overrun.
    for chunk in (0..conns).collect::<Vec<_>>().chunks(64) {
        let mut set = tokio::task::JoinSet::new();
        for _ in chunk {
            let target = target.clone();
            set.spawn(async move { connect(&target).await });
        }
        while let Some(r) = set.join_next().await {
            senders.push(r??);
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let meter = CpuMeter::start(server_cpu);
    let started = Instant::now();
    let end = started + secs;
    let mut set = tokio::task::JoinSet::new();
    for (i, mut sender) in senders.into_iter().enumerate() {
        let bodies = bodies.clone();
        set.spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut k = i;
            while Instant::now() < end {
                let body = &bodies[k % bodies.len()];
                k += 1;
                let t0 = Instant::now();
                match send(&mut sender, body).await {
                    Ok((200, _)) => lat.push(micros(t0.elapsed())),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (lat, errors)
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let joined = tokio::time::timeout(secs + REQUEST_TIMEOUT * 2, async {
        while let Some(r) = set.join_next().await {
            let (l, e) = r?;
            lat.extend(l);
            errors += e;
        }
        anyhow::Ok(())
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = meter.finish();
    joined.context("the closed-loop workers did not finish")??;
    let n = lat.len();
    let mut out = summarize(lat);
    out["connections"] = json!(conns);
    out["requests"] = json!(n);
    out["errors"] = json!(errors);
    out["secs"] = json!(round3(elapsed));
    out["throughput_rps"] = json!((n as f64 / elapsed).round());
    out["connect_secs"] = json!(round3(connect_secs));
    out["cpu"] = cpu;
    eprintln!("  {out}");
    Ok(out)
}

/// Reviews sent at a fixed rate over a pool of keep-alive connections; latency from the moment
/// each is dispatched (waiting for a free connection included).
async fn open_loop(
    target: &Target,
    bodies: &Arc<Vec<Bytes>>,
    rate: u64,
    secs: Duration,
    server_cpu: &dyn Fn() -> Option<f64>,
) -> anyhow::Result<Value> {
    const POOL: usize = 64;
    eprintln!("open loop: {rate}/s for {secs:?} against {}", target.addr);
    let pool = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(POOL)));
    for _ in 0..POOL {
        pool.lock().await.push(connect(target).await?);
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(POOL));
    let total = rate * secs.as_secs();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let meter = CpuMeter::start(server_cpu);
    let started = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let mut max_lag = Duration::ZERO;
    for i in 0..total {
        let at = started + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(at).await;
        max_lag = max_lag.max(tokio::time::Instant::now() - at);
        let (pool, permits, bodies) = (pool.clone(), permits.clone(), bodies.clone());
        set.spawn(async move {
            let t0 = Instant::now();
            let Ok(_permit) = permits.acquire().await else {
                return None;
            };
            let mut sender = pool.lock().await.pop()?;
            let r = send(&mut sender, &bodies[i as usize % bodies.len()]).await;
            let took = t0.elapsed();
            let ok = matches!(r, Ok((200, _)));
            if r.is_ok() {
                pool.lock().await.push(sender);
            }
            ok.then(|| micros(took))
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0u64;
    let joined = tokio::time::timeout(REQUEST_TIMEOUT * 2, async {
        while let Some(r) = set.join_next().await {
            match r? {
                Some(us) => lat.push(us),
                None => errors += 1,
            }
        }
        anyhow::Ok(())
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = meter.finish();
    joined.context("the open-loop requests did not finish")??;
    let n = lat.len();
    let mut out = summarize(lat);
    out["offered_rps"] = json!(rate);
    out["achieved_rps"] = json!((n as f64 / elapsed).round());
    out["requests"] = json!(n);
    out["errors"] = json!(errors);
    out["pool_connections"] = json!(POOL);
    out["max_dispatch_lag_ms"] = json!(round3(max_lag.as_secs_f64() * 1000.0));
    out["cpu"] = cpu;
    eprintln!("  {out}");
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Targets (printed, not asserted).

fn targets(server: &Value, ceiling: &Value, rate: u64) -> Value {
    let f = |v: &Value, phase: &str, key: &str| v[phase][key].as_f64().unwrap_or(0.0);
    let mut out = serde_json::Map::new();
    for phase in ["closed_64", "closed_500"] {
        let (s_rps, c_rps) = (
            f(server, phase, "throughput_rps"),
            f(ceiling, phase, "throughput_rps"),
        );
        let (s_p99, c_p99) = (f(server, phase, "p99_ms"), f(ceiling, phase, "p99_ms"));
        let ratio = if c_rps > 0.0 { s_rps / c_rps } else { 0.0 };
        let p99_ratio = if c_p99 > 0.0 { s_p99 / c_p99 } else { 0.0 };
        out.insert(
            phase.to_owned(),
            json!({
                "throughput_vs_ceiling": round3(ratio),
                "throughput_target": ">= 0.8",
                "throughput_met": ratio >= 0.8,
                "p99_vs_ceiling": round3(p99_ratio),
                "p99_target": "<= 1.5",
                "p99_met": p99_ratio <= 1.5,
            }),
        );
    }
    let p99 = f(server, "open_rate", "p99_ms");
    out.insert(
        "open_rate".to_owned(),
        json!({
            "offered_rps": rate,
            "p99_ms": p99,
            "p99_target_ms": "< 2",
            "p99_met": p99 < 2.0 && f(server, "open_rate", "errors") == 0.0,
        }),
    );
    Value::Object(out)
}
