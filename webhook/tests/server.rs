//! The admission server binary over real TLS on loopback: a self-signed certificate, the CA it
//! writes as the client's only root, AdmissionReviews to /validate and /mutate, the HTTP
//! errors, and the admin port.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const NS: &str = "argo-events";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server process, killed on drop.
struct Server {
    child: Child,
    port: u16,
    admin_port: u16,
    _dir: tempfile::TempDir,
    ca: Vec<u8>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_snapshot(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let bus = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
        "metadata": {"name": "default", "namespace": NS}, "spec": {"jetstream": {"version": "latest"}}});
    let source = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
        "metadata": {"name": "github", "namespace": NS},
        "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}});
    std::fs::write(dir.join("bus.json"), bus.to_string()).unwrap();
    std::fs::write(dir.join("source.json"), source.to_string()).unwrap();
}

async fn start() -> Server {
    start_with(&[]).await
}

/// [`start`], with `extra` flags.
async fn start_with(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot");
    write_snapshot(&snapshot);
    let ca_path = dir.path().join("ca.pem");
    let mut args: Vec<std::ffi::OsString> = vec![
        "--self-signed".into(),
        "--dns-name".into(),
        "localhost".into(),
        "--write-ca".into(),
        ca_path.clone().into(),
        "--snapshot".into(),
        snapshot.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    let mut server = spawn(dir, &args).await;
    server.ca = std::fs::read(&ca_path).unwrap();
    server
}

/// Starts `serve` with `args` on free loopback ports and waits until /ready answers 200. A
/// server that exits before it is ready (a port taken between picking and binding) is started
/// again on other ports, twice at most. Without `--snapshot` in `args` an empty one is given
/// (else the server would watch a cluster).
async fn spawn(dir: tempfile::TempDir, args: &[std::ffi::OsString]) -> Server {
    let mut args = args.to_vec();
    if !args.iter().any(|a| a == "--snapshot") {
        let empty = dir.path().join("empty-snapshot");
        std::fs::create_dir_all(&empty).unwrap();
        args.push("--snapshot".into());
        args.push(empty.into());
    }
    let args = args.as_slice();
    let mut dir = Some(dir);
    for attempt in 1..=3 {
        let (port, admin_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_argo-events-webhook"))
            .arg("serve")
            .args(args)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{admin_port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            port,
            admin_port,
            _dir: dir.take().unwrap(),
            ca: Vec::new(),
        };
        if wait_ready(&mut server).await {
            return server;
        }
        assert!(
            attempt < 3,
            "the server exited before it was ready, 3 times"
        );
        dir = Some(std::mem::replace(
            &mut server._dir,
            tempfile::tempdir().unwrap(),
        ));
    }
    unreachable!()
}

/// Whether the server becomes ready (false: it exited first); panics after 30 s.
async fn wait_ready(server: &mut Server) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        assert!(Instant::now() < deadline, "the server did not become ready");
        if server.child.try_wait().unwrap().is_some() {
            return false;
        }
        let ready = client
            .get(format!("http://127.0.0.1:{}/ready", server.admin_port))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if let Ok(r) = ready
            && r.status() == 200
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Server {
    fn tls_client(&self) -> reqwest::Client {
        self.tls_client_trusting(&self.ca)
    }

    /// A client whose only roots are the certificates in `ca` (PEM).
    fn tls_client_trusting(&self, ca: &[u8]) -> reqwest::Client {
        let certs = reqwest::Certificate::from_pem_bundle(ca).unwrap();
        reqwest::Client::builder()
            .tls_certs_only(certs)
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], self.port)))
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }
}

fn review(operation: &str, object: Value) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u-1",
        "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": object["kind"].clone()},
        "operation": operation,
        "namespace": NS,
        "object": object,
    }})
}

fn sensor(event_source: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": "build", "namespace": NS, "generation": 1},
    "spec": {
        "dependencies": [{"name": "push", "eventSourceName": event_source, "eventName": "push"}],
        "triggers": [{"template": {"name": "t", "log": {}}}],
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_over_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start().await;
    let client = server.tls_client();
    let post = |path: &str, body: Vec<u8>, content_type: &str| {
        client
            .post(server.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let json_body = |v: &Value| serde_json::to_vec(v).unwrap();

    // Allowed.
    let r = post(
        "/validate",
        json_body(&review("CREATE", sensor("github"))),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["response"]["uid"], "u-1");
    assert_eq!(v["response"]["allowed"], true, "{v}");

    // Denied, with the path; the snapshot's EventSource is what the Sensor is checked against.
    let r = post(
        "/validate",
        json_body(&review("CREATE", sensor("githb"))),
        "application/json; charset=utf-8",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert_eq!(v["response"]["status"]["code"], 400);
    assert_eq!(
        v["response"]["status"]["message"],
        "invalid Sensor: spec.dependencies[0].eventSourceName: no EventSource \"githb\"; EventSources in argo-events: github"
    );

    // DELETE is never blocked.
    let r = post(
        "/validate",
        json_body(&review("DELETE", sensor("githb"))),
        "application/json",
    )
    .await
    .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["response"]["allowed"], true, "{v}");

    // Mutation: a JSON patch with upstream's defaults.
    let r = post(
        "/mutate",
        json_body(&review("CREATE", sensor("github"))),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(v["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    let ops: Vec<(&str, &str)> = patch
        .as_array()
        .unwrap()
        .iter()
        .map(|op| (op["op"].as_str().unwrap(), op["path"].as_str().unwrap()))
        .collect();
    assert!(ops.contains(&("add", "/spec/replicas")), "{patch}");
    assert!(ops.contains(&("add", "/spec/eventBusName")), "{patch}");

    // Garbage, no uid, wrong content type, too large.
    let r = post("/validate", b"{not json".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not JSON"));
    let r = post(
        "/validate",
        b"{\"request\": {}}".to_vec(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text().await.unwrap().contains("apiVersion"),
        "a review names its apiVersion"
    );
    let r = post(
        "/validate",
        b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\", \"request\": {}}".to_vec(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("request.uid"));
    let r = post(
        "/validate",
        json_body(&review("CREATE", sensor("github"))),
        "text/plain",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 415);
    let r = post(
        "/validate",
        vec![b' '; 10 * 1024 * 1024],
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    // 5 MiB (an UPDATE carries object and oldObject) is within the default 8 MiB.
    let mut big = vec![b' '; 5 * 1024 * 1024];
    big.extend(json_body(&review("CREATE", sensor("github"))));
    let r = post("/validate", big, "application/json").await.unwrap();
    assert_eq!(r.status(), 200);
    // Only POST.
    let r = client.get(server.url("/validate")).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // Admin port: health and the counters of the reviews above.
    let admin = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", server.admin_port);
    for path in ["/live", "/ready"] {
        let r = admin.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = admin
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "argo_events_webhook_reviews_total{kind=\"Sensor\",operation=\"CREATE\",allowed=\"true\"} 3",
        "argo_events_webhook_reviews_total{kind=\"Sensor\",operation=\"CREATE\",allowed=\"false\"} 1",
        "argo_events_webhook_reviews_total{kind=\"Sensor\",operation=\"DELETE\",allowed=\"true\"} 1",
        "argo_events_webhook_review_duration_seconds_count 8",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    // The build, outside the webhook's prefix, with the values `version -o json` prints.
    let version = Command::new(env!("CARGO_BIN_EXE_argo-events-webhook"))
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    let version: Value = serde_json::from_slice(&version.stdout).unwrap();
    let rustc = version["rustcVersion"].as_str().unwrap();
    let build_info = format!(
        "argo_events_build_info{{version=\"{}\",commit=\"{}\",rustc=\"{}\",binary=\"argo-events-webhook\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        version["gitCommit"].as_str().unwrap(),
        rustc.split_whitespace().nth(1).unwrap(),
    );
    assert!(
        metrics.contains(&build_info),
        "{build_info} not in\n{metrics}"
    );
}

#[test]
fn version_prints_the_build_as_text_and_json() {
    let bin = env!("CARGO_BIN_EXE_argo-events-webhook");
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json: Value = serde_json::from_str(&run(&["version", "-o", "json"])).unwrap();
    let fields = [
        ("Binary", "binary"),
        ("Version", "version"),
        ("Git Commit", "gitCommit"),
        ("Build Date", "buildDate"),
        ("Rustc", "rustcVersion"),
        ("Target", "target"),
    ];
    assert_eq!(json.as_object().unwrap().len(), fields.len(), "{json}");
    assert_eq!(json["binary"], "argo-events-webhook");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    // Text: one `Key: value` line per field, in this order, with the JSON's values.
    let text = run(&["version"]);
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| {
            let (key, value) = l.split_once(':').unwrap();
            (key, value.trim())
        })
        .collect();
    let want: Vec<(&str, &str)> = fields
        .iter()
        .map(|(key, field)| (*key, json[field].as_str().unwrap()))
        .collect();
    assert_eq!(lines, want, "{text}");
}

#[test]
fn bad_flags_and_certificates_fail_clearly() {
    let bin = env!("CARGO_BIN_EXE_argo-events-webhook");
    // No certificate and no --self-signed: a usage error.
    let out = Command::new(bin).arg("serve").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert"));
    // A certificate file that is not one.
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "nope").unwrap();
    let out = Command::new(bin)
        .arg("serve")
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert)
        .args(["--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cert.pem"), "{stderr}");
}

/// A certificate for `localhost` and its key, as PEM.
fn cert_pair() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_certificate_is_used_for_new_connections() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (cert_a, key_a) = cert_pair();
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "--tls-cert".into(),
        cert_path.clone().into(),
        "--tls-key".into(),
        key_path.clone().into(),
        "--cert-check-interval".into(),
        "1".into(),
    ];
    let server = spawn(dir, &args).await;
    // A fresh client (no pooled connection) trusting only `ca`: does the handshake succeed?
    let handshake = |ca: &str| {
        let client = server.tls_client_trusting(ca.as_bytes());
        let url = server.url("/live");
        async move { client.get(url).send().await.is_ok() }
    };
    assert!(handshake(&cert_a).await);
    let (cert_b, key_b) = cert_pair();
    assert!(!handshake(&cert_b).await, "B is not served yet");
    std::fs::write(&key_path, &key_b).unwrap();
    std::fs::write(&cert_path, &cert_b).unwrap();
    // Make the change visible even on a coarse-mtime filesystem.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    for p in [&cert_path, &key_path] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if handshake(&cert_b).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!handshake(&cert_a).await, "A is no longer served");
}

/// The install manifests under `manifests/webhook` parse, decode as their Kubernetes types and
/// say what the server expects.
#[test]
fn the_install_manifests_parse_and_match_the_server() {
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::ClusterRole;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/webhook");
    let (docs, errors) = argo_events_api::manifest::load(&[dir]).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let of_kind = |kind: &str| -> Vec<Value> {
        docs.iter()
            .filter(|d| d.kind() == Some(kind))
            .map(|d| d.value.clone())
            .collect()
    };
    let mut kinds: Vec<&str> = docs.iter().filter_map(|d| d.kind()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Kustomization",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ValidatingWebhookConfiguration"
        ]
    );
    // The default needs no cert-manager: no cert-manager resource, annotation or field.
    for doc in &docs {
        let text = serde_json::to_string(&doc.value).unwrap();
        assert!(!text.contains("cert-manager"), "{text}");
    }
    // Every namespaced object is in argo-events (the install overlay sets it too).
    for doc in &docs {
        if let Some(ns) = doc.value.pointer("/metadata/namespace") {
            assert_eq!(ns, "argo-events", "{:?}", doc.kind());
        }
    }

    // Both configurations: v1 reviews, no side effects, 5 s, fail closed, CREATE/UPDATE on the
    // three kinds, kube-system excluded, the right path on the Service.
    let validating: ValidatingWebhookConfiguration =
        serde_json::from_value(of_kind("ValidatingWebhookConfiguration").remove(0)).unwrap();
    let mutating: MutatingWebhookConfiguration =
        serde_json::from_value(of_kind("MutatingWebhookConfiguration").remove(0)).unwrap();
    let v = &validating.webhooks.as_ref().unwrap()[0];
    let m = &mutating.webhooks.as_ref().unwrap()[0];
    let common = [
        (
            &v.admission_review_versions,
            &v.side_effects,
            v.timeout_seconds,
            &v.failure_policy,
            &v.rules,
            &v.match_conditions,
            &v.client_config,
            "/validate",
        ),
        (
            &m.admission_review_versions,
            &m.side_effects,
            m.timeout_seconds,
            &m.failure_policy,
            &m.rules,
            &m.match_conditions,
            &m.client_config,
            "/mutate",
        ),
    ];
    for (versions, side_effects, timeout, policy, rules, conditions, client, path) in common {
        assert_eq!(versions, &["v1"], "{path}");
        assert_eq!(side_effects, "None", "{path}");
        assert_eq!(timeout, Some(5), "{path}");
        assert_eq!(policy.as_deref(), Some("Fail"), "{path}");
        let rules = rules.as_ref().unwrap();
        assert_eq!(rules.len(), 1, "{path}");
        assert_eq!(
            rules[0].operations.as_deref().unwrap(),
            ["CREATE", "UPDATE"]
        );
        assert_eq!(
            rules[0].resources.as_deref().unwrap(),
            ["eventbus", "eventsources", "sensors"]
        );
        assert_eq!(rules[0].api_groups.as_deref().unwrap(), ["argoproj.io"]);
        assert_eq!(rules[0].api_versions.as_deref().unwrap(), ["v1alpha1"]);
        let conditions = conditions.as_ref().unwrap();
        assert_eq!(
            conditions[0].expression, "request.namespace != 'kube-system'",
            "{path}"
        );
        // Finalizer removal is an UPDATE: objects being deleted never reach either webhook.
        assert_eq!(
            conditions[1].expression, "!has(object.metadata.deletionTimestamp)",
            "{path}"
        );
        let service = client.service.as_ref().unwrap();
        assert_eq!(service.path.as_deref(), Some(path));
        assert_eq!(service.name, "events-webhook");
    }

    // Only the validating webhook skips UPDATEs keeping the generation (the mutating one runs
    // before the API server bumps it).
    let names = |c: &Option<Vec<k8s_openapi::api::admissionregistration::v1::MatchCondition>>| {
        c.iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&v.match_conditions),
        [
            "exclude-kube-system",
            "exclude-objects-being-deleted",
            "exclude-updates-keeping-the-generation"
        ]
    );
    assert_eq!(
        names(&m.match_conditions),
        ["exclude-kube-system", "exclude-objects-being-deleted"]
    );
    let generation = &v.match_conditions.as_ref().unwrap()[2].expression;
    assert!(
        generation.starts_with("request.operation != 'UPDATE' || ")
            && generation.ends_with("object.metadata.generation != oldObject.metadata.generation"),
        "{generation}"
    );
    assert!(
        !std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../manifests/webhook/webhook-configurations.yaml")
        )
        .unwrap()
        .contains("finalizer removal never depend"),
        "the comment must not claim finalizer removal bypasses the webhook"
    );

    let deployment: Deployment = serde_json::from_value(of_kind("Deployment").remove(0)).unwrap();
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pdb: PodDisruptionBudget =
        serde_json::from_value(of_kind("PodDisruptionBudget").remove(0)).unwrap();
    assert_eq!(
        pdb.spec.unwrap().min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );
    // Every environment variable the Deployment sets is one `serve` reads.
    let help = Command::new(env!("CARGO_BIN_EXE_argo-events-webhook"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let container = &spec.template.spec.as_ref().unwrap().containers[0];
    for env in container.env.as_ref().unwrap() {
        assert!(
            help.contains(&format!("[env: {}=", env.name)),
            "{}",
            env.name
        );
    }

    // The namespace comes from the pod's own.
    let namespace = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "NAMESPACE")
        .unwrap();
    assert_eq!(
        namespace
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("metadata.namespace")
    );
    // Self-signed, shared through the Secret, CA written into both configurations; every flag
    // is one `serve` has.
    let args = container.args.as_deref().unwrap();
    assert_eq!(
        args,
        [
            "serve",
            "--policies",
            "/etc/argo-events/policies",
            "--self-signed",
            "--cert-secret",
            "events-webhook-certs",
            "--webhook-config",
            "validating:webhook.argo-events.argoproj.io",
            "--webhook-config",
            "mutating:mutate.argo-events.argoproj.io"
        ]
    );
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let listed = help.lines().any(|line| {
            let line = line.trim_start();
            line == flag || line.starts_with(&format!("{flag} "))
        });
        assert!(listed, "{flag}");
    }
    // No certificate files: nothing but the policies is mounted.
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.volumes.as_ref().map(Vec::len), Some(1));
    assert_eq!(container.volume_mounts.as_ref().map(Vec::len), Some(1));
    // The policy bundle is mounted from its ConfigMap where --policies reads it.
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/etc/argo-events/policies")
        .unwrap();
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    assert_eq!(
        volume.config_map.as_ref().unwrap().name,
        "argo-events-webhook-policies"
    );

    // Least privilege: read-only on the three kinds, create on SubjectAccessReviews, get and
    // patch of exactly the two webhook configurations, nothing else.
    let role: ClusterRole = serde_json::from_value(of_kind("ClusterRole").remove(0)).unwrap();
    let mut seen: Vec<String> = Vec::new();
    for rule in role.rules.unwrap() {
        let verbs = rule.verbs.join(",");
        let resources = rule.resources.clone().unwrap_or_default().join(",");
        let names = rule.resource_names.clone().unwrap_or_default().join(",");
        let group = rule.api_groups.clone().unwrap_or_default().join(",");
        seen.push(format!("{group} {resources} [{names}] {verbs}"));
    }
    assert_eq!(
        seen,
        [
            "argoproj.io eventbus,eventsources,sensors [] get,list,watch",
            "authorization.k8s.io subjectaccessreviews [] create",
            "admissionregistration.k8s.io validatingwebhookconfigurations [webhook.argo-events.argoproj.io] get,patch",
            "admissionregistration.k8s.io mutatingwebhookconfigurations [mutate.argo-events.argoproj.io] get,patch",
        ]
    );
    // The Secret: get and update by name, create (which RBAC cannot limit by name), in
    // argo-events, bound to the webhook's ServiceAccount.
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let role: Role = serde_json::from_value(of_kind("Role").remove(0)).unwrap();
    assert_eq!(role.metadata.namespace.as_deref(), Some("argo-events"));
    let rules: Vec<String> = role
        .rules
        .unwrap()
        .iter()
        .map(|rule| {
            format!(
                "{:?} {:?} {:?} {:?}",
                rule.api_groups.clone().unwrap_or_default(),
                rule.resources.clone().unwrap_or_default(),
                rule.resource_names.clone().unwrap_or_default(),
                rule.verbs
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            r#"[""] ["secrets"] ["events-webhook-certs"] ["get", "update"]"#,
            r#"[""] ["secrets"] [] ["create"]"#,
        ]
    );
    let binding: RoleBinding = serde_json::from_value(of_kind("RoleBinding").remove(0)).unwrap();
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(binding.role_ref.name, role.metadata.name.unwrap());
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str()),
        ("ServiceAccount", "argo-events-webhook-sa")
    );
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("argo-events-webhook-sa")
    );

    assert_eq!(
        validating.metadata.name.as_deref(),
        Some("webhook.argo-events.argoproj.io")
    );
    assert_eq!(
        mutating.metadata.name.as_deref(),
        Some("mutate.argo-events.argoproj.io")
    );
}

/// `--policies DIR` (a mounted ConfigMap: flat files and kubelet's `..data` entries) replaces
/// the default bundle; its deny policies deny, its warn policies warn. A bundle that does not
/// load stops the server with the file and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_bundle_is_loaded_from_policies() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(policies.join("..data")).unwrap();
    std::fs::write(
        policies.join("owner.yaml"),
        "apiVersion: argo-events-rs.io/v1alpha1\nkind: Policy\nmetadata: {name: owner}\n\
         spec: {description: Sensors name an owner, action: deny, match: {kinds: [Sensor]},\n\
         rule: {name: required-labels, params: {labels: [owner]}}}\n",
    )
    .unwrap();
    std::fs::write(
        policies.join("https.yaml"),
        "apiVersion: argo-events-rs.io/v1alpha1\nkind: Policy\nmetadata: {name: https}\n\
         spec: {description: HTTPS only, action: warn,\n\
         rule: {name: http-url-allow-list, params: {prefixes: [\"https://\"]}}}\n",
    )
    .unwrap();
    let ca_path = dir.path().join("ca.pem");
    let args: Vec<std::ffi::OsString> = vec![
        "--self-signed".into(),
        "--write-ca".into(),
        ca_path.clone().into(),
        "--policies".into(),
        policies.clone().into(),
    ];
    let mut server = spawn(dir, &args).await;
    server.ca = std::fs::read(&ca_path).unwrap();
    let client = server.tls_client();
    let validate = |object: Value| {
        let request = client
            .post(server.url("/validate"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&review("CREATE", object)).unwrap())
            .send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };

    let v = validate(sensor("github")).await;
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert_eq!(
        v["response"]["status"]["message"],
        "invalid Sensor: metadata.labels.owner: Sensors name an owner: label \"owner\" is missing or empty [policy:owner]"
    );

    let mut owned = sensor("github");
    owned["metadata"]["labels"] = json!({"owner": "team-a"});
    owned["spec"]["triggers"] =
        json!([{"template": {"name": "t", "http": {"url": "http://x.example/"}}}]);
    let v = validate(owned).await;
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert_eq!(
        v["response"]["warnings"],
        json!([
            "spec.triggers[0].template.http.url: HTTPS only: URL \"http://x.example/\" does not start with an allowed prefix (https://) [policy:https]"
        ])
    );

    // The default bundle is replaced: a duplicate dependency name is no longer denied.
    let mut duplicate = sensor("github");
    duplicate["metadata"]["labels"] = json!({"owner": "team-a"});
    duplicate["spec"]["dependencies"] = json!([
        {"name": "push", "eventSourceName": "github", "eventName": "push"},
        {"name": "push", "eventSourceName": "github", "eventName": "tag"},
    ]);
    let v = validate(duplicate.clone()).await;
    assert_eq!(v["response"]["allowed"], true, "{v}");

    // Without --policies the compiled-in default bundle denies it.
    drop(server);
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let args: Vec<std::ffi::OsString> = vec![
        "--self-signed".into(),
        "--write-ca".into(),
        ca_path.clone().into(),
    ];
    let mut server = spawn(dir, &args).await;
    server.ca = std::fs::read(&ca_path).unwrap();
    let v = server
        .tls_client()
        .post(server.url("/validate"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&review("CREATE", duplicate)).unwrap())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let message = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("[policy:sensor-unique-dependency-names]"),
        "{message}"
    );

    // A bundle that does not load: the server does not start and says why.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("bad.yaml"),
        "apiVersion: argo-events-rs.io/v1alpha1\nkind: Policy\nmetadata: {name: bad}\n\
         spec: {description: d, action: deny, schema: {type: 12}}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_argo-events-webhook"))
        .args([
            "serve",
            "--self-signed",
            "--addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .arg("--policies")
        .arg(bad.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("spec.schema is not a valid JSON Schema"),
        "{stderr}"
    );
}

/// A loopback Kubernetes API double for `serve` without `--snapshot`: lists of the three
/// kinds (held back until `open` is sent), idle watches, SubjectAccessReviews (create allowed,
/// anything else denied), the two webhook configurations, and Secrets in argo-events (get,
/// create with 409 when it exists, update with a resourceVersion check).
struct FakeCluster {
    addr: SocketAddr,
    open: tokio::sync::watch::Sender<bool>,
    sar_calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    patches: std::sync::Arc<std::sync::Mutex<Vec<Patched>>>,
    /// Secrets by name, and how many creates were answered 201.
    secrets: std::sync::Arc<std::sync::Mutex<(std::collections::BTreeMap<String, Value>, usize)>>,
}

/// A PATCH the fake cluster received: path, Content-Type, body.
type Patched = (String, Option<String>, Value);

impl FakeCluster {
    async fn start() -> FakeCluster {
        use axum::extract::Request;
        use std::sync::atomic::Ordering;
        let (open, gate) = tokio::sync::watch::channel(false);
        let sar_calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let patches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        type Secrets = (std::collections::BTreeMap<String, Value>, usize);
        let secrets: std::sync::Arc<std::sync::Mutex<Secrets>> = std::sync::Arc::default();
        let (calls, recorded, stored) = (sar_calls.clone(), patches.clone(), secrets.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let (mut gate, calls, recorded) = (gate.clone(), calls.clone(), recorded.clone());
            let stored = stored.clone();
            async move {
                let path = req.uri().path().to_owned();
                let watch = req.uri().query().unwrap_or("").contains("watch=true");
                let method = req.method().clone();
                let content_type = req
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let list = |kind: &str, items: Value| {
                    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": format!("{kind}List"),
                        "metadata": {"resourceVersion": "10"}, "items": items})
                };
                let config = |kind: &str, name: &str| {
                    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                        "metadata": {"name": name},
                        "webhooks": [{"name": format!("{name}.example"), "admissionReviewVersions": ["v1"],
                            "sideEffects": "None", "clientConfig": {"service": {"name": "s", "namespace": NS}}}]})
                };
                let answer = |code: u16, v: Value| {
                    (
                        axum::http::StatusCode::from_u16(code).unwrap(),
                        [("content-type", "application/json")],
                        v.to_string(),
                    )
                };
                let argo = "/apis/argoproj.io/v1alpha1/";
                if let Some(plural) = path.strip_prefix(argo) {
                    if watch {
                        std::future::pending::<()>().await;
                    }
                    gate.wait_for(|open| *open).await.unwrap();
                    let items = match plural {
                        "eventbus" => json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
                            "metadata": {"name": "default", "namespace": NS, "resourceVersion": "1"},
                            "spec": {"jetstream": {"version": "latest"}}}]),
                        "eventsources" => json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
                            "metadata": {"name": "github", "namespace": NS, "resourceVersion": "2"},
                            "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}}]),
                        "sensors" => json!([]),
                        _ => return answer(404, json!({"kind": "Status", "apiVersion": "v1",
                            "status": "Failure", "reason": "NotFound", "code": 404})),
                    };
                    let kind = match plural {
                        "eventbus" => "EventBus",
                        "eventsources" => "EventSource",
                        _ => "Sensor",
                    };
                    return answer(200, list(kind, items));
                }
                let secrets_path = format!("/api/v1/namespaces/{NS}/secrets");
                if let Some(rest) = path.strip_prefix(&secrets_path) {
                    let mut stored = stored.lock().unwrap();
                    let (store, creates) = &mut *stored;
                    let conflict = |reason: &str| {
                        answer(409, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "reason": reason, "code": 409, "message": reason}))
                    };
                    let not_found = || answer(404, json!({"kind": "Status", "apiVersion": "v1",
                        "status": "Failure", "reason": "NotFound", "code": 404}));
                    match (method.as_str(), rest.strip_prefix('/')) {
                        ("GET", Some(name)) => {
                            return store.get(name).map_or_else(not_found, |s| answer(200, s.clone()));
                        }
                        ("POST", None) => {
                            let name = body["metadata"]["name"].as_str().unwrap().to_owned();
                            if store.contains_key(&name) {
                                return conflict("AlreadyExists");
                            }
                            *creates += 1;
                            let mut body = body;
                            body["metadata"]["resourceVersion"] = json!(format!("c{creates}"));
                            store.insert(name, body.clone());
                            return answer(201, body);
                        }
                        ("PUT", Some(name)) => {
                            let Some(current) = store.get(name) else { return not_found() };
                            if current["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"] {
                                return conflict("Conflict");
                            }
                            let mut body = body;
                            body["metadata"]["resourceVersion"] = json!(format!("{}+", current["metadata"]["resourceVersion"].as_str().unwrap_or("")));
                            store.insert(name.to_owned(), body.clone());
                            return answer(200, body);
                        }
                        _ => return not_found(),
                    }
                }
                if path == "/apis/authorization.k8s.io/v1/subjectaccessreviews" {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let allowed = body["spec"]["resourceAttributes"]["verb"] == "create";
                    let mut reply = body.clone();
                    reply["status"] = json!({"allowed": allowed});
                    return answer(201, reply);
                }
                let admission = "/apis/admissionregistration.k8s.io/v1/";
                let (kind, name) = match path.strip_prefix(admission) {
                    Some("validatingwebhookconfigurations/v") => ("ValidatingWebhookConfiguration", "v"),
                    Some("mutatingwebhookconfigurations/m") => ("MutatingWebhookConfiguration", "m"),
                    _ => return answer(404, json!({"kind": "Status", "code": 404})),
                };
                if method == axum::http::Method::PATCH {
                    recorded.lock().unwrap().push((path.clone(), content_type, body));
                }
                answer(200, config(kind, name))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeCluster {
            addr,
            open,
            sar_calls,
            patches,
            secrets,
        }
    }

    fn kubeconfig(&self, path: &Path) {
        std::fs::write(
            path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"http://{}\"}}\n\
                 users:\n- name: u\n  user: {{}}\ncontexts:\n- name: c\n  context: {{cluster: fake, user: u, namespace: default}}\n\
                 current-context: c\n",
                self.addr
            ),
        )
        .unwrap();
    }
}

/// Without `--snapshot` the server watches the cluster: /ready only once the caches hold their
/// lists, the rules see the cached EventSources, RBAC goes through (cached)
/// SubjectAccessReviews, and the self-signed certificate is patched into both webhook
/// configurations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_the_cluster() {
    use std::sync::atomic::Ordering;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.kubeconfig(&kubeconfig);
    let ca_path = dir.path().join("ca.pem");
    let (port, admin_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_argo-events-webhook"))
        .args([
            "serve",
            "--self-signed",
            "--dns-name",
            "localhost",
            "--write-ca",
        ])
        .arg(&ca_path)
        .args([
            "--webhook-config",
            "validating:v",
            "--webhook-config",
            "mutating:m",
        ])
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--admin-addr")
        .arg(format!("127.0.0.1:{admin_port}"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        port,
        admin_port,
        _dir: dir,
        ca: Vec::new(),
    };
    let http = reqwest::Client::new();
    let admin = |path: &str| format!("http://127.0.0.1:{admin_port}{path}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the admin port never answered");
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the server exited"
        );
        if let Ok(r) = http.get(admin("/live")).send().await
            && r.status() == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The caches have no lists yet: not ready.
    let ready = http.get(admin("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    // The CA is written into both configurations meanwhile.
    server.ca = std::fs::read(&ca_path).unwrap();
    let bundle = base64::engine::general_purpose::STANDARD.encode(&server.ca);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.patches.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the caBundle was not patched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut patches = cluster.patches.lock().unwrap().clone();
    patches.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, content_type, body) in &patches {
        assert_eq!(
            content_type.as_deref(),
            Some("application/strategic-merge-patch+json")
        );
        let name = path.rsplit('/').next().unwrap();
        assert_eq!(
            body,
            &json!({"webhooks": [{"name": format!("{name}.example"), "clientConfig": {"caBundle": bundle}}]}),
            "{path}"
        );
    }

    cluster.open.send(true).unwrap();
    assert!(wait_ready(&mut server).await, "the server exited");

    let client = server.tls_client();
    let validate = |object: Value| {
        let request = client
            .post(server.url("/validate"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&review("CREATE", object)).unwrap())
            .send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    // Facts from the caches.
    let v = validate(sensor("githb")).await;
    assert_eq!(
        v["response"]["status"]["message"],
        "invalid Sensor: spec.dependencies[0].eventSourceName: no EventSource \"githb\"; EventSources in argo-events: github",
        "{v}"
    );
    assert_eq!(cluster.sar_calls.load(Ordering::SeqCst), 0);
    // RBAC by SubjectAccessReview: submit (create) allowed, suspend (patch) denied.
    let mut rbac = sensor("github");
    rbac["spec"]["template"] = json!({"serviceAccountName": "runner"});
    let wf = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}});
    rbac["spec"]["triggers"] = json!([
        {"template": {"name": "submit", "argoWorkflow": {"operation": "submit", "source": {"resource": wf}}}},
        {"template": {"name": "suspend", "argoWorkflow": {"operation": "suspend", "source": {"resource": wf}}}},
    ]);
    for _ in 0..2 {
        let v = validate(rbac.clone()).await;
        assert_eq!(
            v["response"]["status"]["message"],
            "invalid Sensor: spec.triggers[1].template.argoWorkflow: ServiceAccount argo-events/runner may not patch workflows.argoproj.io in namespace argo-events (trigger suspend)",
            "{v}"
        );
    }
    // The second review was answered from the cache.
    assert_eq!(cluster.sar_calls.load(Ordering::SeqCst), 2);
}

/// The ConfigMap of the default policy bundle, as `manifests/webhook/policies-configmap.yaml`
/// holds it: one key `<name>.yaml` per `policies/default/<name>/policy.yaml` (the flat layout
/// `--policies` reads from a mounted ConfigMap).
fn policies_configmap() -> (String, Vec<(String, String)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/default");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("policy.yaml").is_file())
        .collect();
    dirs.sort();
    let mut text = String::from(
        "# Generated from policies/default/ by the webhook's tests; do not edit. Regenerate with\n\
         # `UPDATE_MANIFESTS=1 cargo test -p argo-events-webhook --test server policies_configmap`.\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argo-events-webhook-policies\n  \
         namespace: argo-events\n  labels:\n    app.kubernetes.io/name: argo-events-webhook\ndata:\n",
    );
    let mut files = Vec::new();
    for dir in dirs {
        let key = format!("{}.yaml", dir.file_name().unwrap().to_str().unwrap());
        let content = std::fs::read_to_string(dir.join("policy.yaml")).unwrap();
        text.push_str(&format!("  {key}: |\n"));
        for line in content.lines() {
            if line.is_empty() {
                text.push('\n');
            } else {
                text.push_str(&format!("    {line}\n"));
            }
        }
        files.push((key, content));
    }
    (text, files)
}

/// `manifests/webhook/policies-configmap.yaml` is the default bundle, key for key and byte for
/// byte; `kubectl kustomize manifests/webhook` builds (when kubectl is installed).
#[test]
fn policies_configmap_matches_the_default_bundle_and_kustomize_builds() {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/webhook");
    let path = manifests.join("policies-configmap.yaml");
    let (text, files) = policies_configmap();
    if std::env::var_os("UPDATE_MANIFESTS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is out of date; regenerate with `UPDATE_MANIFESTS=1 cargo test -p argo-events-webhook --test server policies_configmap`",
        path.display()
    );
    let (docs, errors) = argo_events_api::manifest::load(&[path]).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let data = docs[0].value["data"].as_object().unwrap();
    assert_eq!(data.len(), files.len());
    for (key, content) in &files {
        assert_eq!(data[key].as_str(), Some(content.as_str()), "{key}");
    }
    // The bundle loads from the flat layout the mount gives.
    let mounted = tempfile::tempdir().unwrap();
    for (key, content) in &files {
        std::fs::write(mounted.path().join(key), content).unwrap();
    }
    let loaded = argo_events_webhook::policy::load_bundle(mounted.path()).unwrap();
    assert_eq!(loaded.len(), files.len());

    match Command::new("kubectl")
        .arg("kustomize")
        .arg(&manifests)
        .output()
    {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains("name: argo-events-webhook-policies"),
                "{stdout}"
            );
            assert!(stdout.contains("kind: ValidatingWebhookConfiguration"));
        }
        Err(e) => eprintln!("kubectl not runnable ({e}); kustomize build not checked"),
    }
}

/// Two replicas with `--self-signed --cert-secret` (as the default install runs them) against
/// one cluster: one creates the Secret, the other reads it; both serve the same certificate,
/// signed by the CA they both write into caBundle; a restart reuses the Secret. When the
/// Secret changes (another replica renewed it), each replica serves the new certificate and
/// writes the new CA into caBundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_certificate_through_a_secret() {
    use rustls::pki_types::pem::PemObject as _;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.kubeconfig(&kubeconfig);
    let snapshot = dir.path().join("snapshot");
    write_snapshot(&snapshot);
    let replica = |n: usize| {
        let ca_path = dir.path().join(format!("ca-{n}.pem"));
        let (port, admin_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_argo-events-webhook"))
            .args([
                "serve",
                "--self-signed",
                "--cert-secret",
                "events-webhook-certs",
            ])
            .args([
                "--webhook-config",
                "validating:v",
                "--webhook-config",
                "mutating:m",
            ])
            .args(["--cert-secret-check-interval", "1"])
            .arg("--snapshot")
            .arg(&snapshot)
            .arg("--write-ca")
            .arg(&ca_path)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{admin_port}"))
            .env("KUBECONFIG", &kubeconfig)
            .env("NAMESPACE", NS)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        (
            Server {
                child,
                port,
                admin_port,
                _dir: tempfile::tempdir().unwrap(),
                ca: Vec::new(),
            },
            ca_path,
        )
    };
    let mut servers = Vec::new();
    for n in 0..2 {
        servers.push(replica(n));
    }
    // A third start once both run: a restart.
    for (server, _) in &mut servers {
        assert!(wait_ready(server).await, "a replica exited");
    }
    servers.push(replica(2));
    assert!(
        wait_ready(&mut servers[2].0).await,
        "the restarted replica exited"
    );

    let (store, creates) = cluster.secrets.lock().unwrap().clone();
    assert_eq!(creates, 1, "one replica created the Secret");
    let secret = &store["events-webhook-certs"];
    let key = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"][k].as_str().unwrap())
            .unwrap()
    };
    let (ca, cert) = (key("ca-cert.pem"), key("server-cert.pem"));
    assert!(!key("server-key.pem").is_empty());
    for (server, ca_path) in &mut servers {
        server.ca = std::fs::read(&*ca_path).unwrap();
        assert_eq!(server.ca, ca, "every replica uses the stored CA");
        // The CA verifies the served certificate (for localhost, a --dns-name default).
        let response = server
            .tls_client()
            .get(server.url("/validate"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
    }
    // All serve the stored certificate.
    let served = |port: u16| {
        let ca = ca.clone();
        async move {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
                roots.add(c.unwrap()).unwrap();
            }
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
                .await
                .unwrap()
                .unwrap();
            tls.get_ref().1.peer_certificates().unwrap()[0]
                .as_ref()
                .to_vec()
        }
    };
    let stored_der = rustls::pki_types::CertificateDer::pem_slice_iter(&cert)
        .next()
        .unwrap()
        .unwrap();
    for (server, _) in &servers {
        assert_eq!(served(server.port).await, stored_der.as_ref());
    }
    // Every replica wrote the same CA into both configurations.
    let bundle = base64::engine::general_purpose::STANDARD.encode(&ca);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.patches.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the caBundle was not patched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (path, _, body) in cluster.patches.lock().unwrap().iter() {
        assert_eq!(
            body.pointer("/webhooks/0/clientConfig/caBundle"),
            Some(&json!(bundle)),
            "{path}"
        );
    }
    // Another replica renews: the Secret now holds another certificate (a self-signed one,
    // which is its own CA).
    let (new_cert, new_key) = cert_pair();
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    {
        let mut stored = cluster.secrets.lock().unwrap();
        let secret = stored.0.get_mut("events-webhook-certs").unwrap();
        secret["data"] = json!({"server-key.pem": b64(&new_key),
            "server-cert.pem": b64(&new_cert), "ca-cert.pem": b64(&new_cert)});
        secret["metadata"]["resourceVersion"] = json!("renewed");
    }
    let new_der = rustls::pki_types::CertificateDer::from_pem_slice(new_cert.as_bytes()).unwrap();
    // The patched caBundle trusts the new CA first and still the old one (a replica that has
    // not switched yet keeps being trusted); it is patched before the new one is served.
    let trusts_both = |bundle: Option<&Value>| {
        bundle
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|b| {
                b.starts_with(new_cert.trim()) && b.contains(String::from_utf8_lossy(&ca).trim())
            })
    };
    for (server, _) in &mut servers {
        server.ca = new_cert.clone().into_bytes();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = true;
        for (server, _) in &servers {
            all &= server
                .tls_client()
                .get(server.url("/validate"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 405);
        }
        let patched = cluster
            .patches
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, body)| trusts_both(body.pointer("/webhooks/0/clientConfig/caBundle")))
            .count();
        if all && patched >= 2 * servers.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up ({patched} patches)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (server, _) in &servers {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(new_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
            .await
            .unwrap()
            .unwrap();
        let served = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        assert_eq!(served, new_der);
    }
    // Nobody overwrote it.
    let stored = cluster.secrets.lock().unwrap();
    assert_eq!(
        stored.0["events-webhook-certs"]["metadata"]["resourceVersion"],
        "renewed"
    );
}

/// How many slow connections the open-file limit allows, at most `wanted`: this process and
/// the server each hold one descriptor per connection, plus their own (the server keeps 64
/// free of connections).
fn slow_connection_count(wanted: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            let line = l
                .lines()
                .find(|l| l.starts_with("Max open files"))?
                .to_owned();
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
    match soft {
        Some(soft) if soft.saturating_sub(128) < wanted => {
            let n = soft.saturating_sub(128).max(8);
            eprintln!("note: RLIMIT_NOFILE is {soft}: {n} slow connections instead of {wanted}");
            n
        }
        _ => wanted,
    }
}

/// How a slow-body connection ended.
#[derive(Debug, PartialEq, Eq)]
enum SlowEnd {
    /// Answered with this status line.
    Answered(String),
    /// Closed (or reset) without an answer.
    Closed,
}

/// Slow bodies hold no review permit (they are taken after the body is read) and are cut off
/// at the body deadline. N TLS connections (300, fewer under a low open-file limit) each send
/// a whole head with `Content-Length: 1000`, then one body byte every 2 s, with fewer review
/// permits than connections; meanwhile a valid review is answered, allowed, with its uid,
/// before any slow connection ends; then every slow connection is answered 408 or closed
/// (the body deadline is 8 s here, 2 s by default). Before permits moved after the body, the
/// review waited behind the slow bodies until its request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_is_answered_while_slow_bodies_are_held_then_they_get_408() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let n = slow_connection_count(300);
    let permits = (n / 2).clamp(1, 256).to_string();
    let server = start_with(&[
        "--body-read-timeout-ms",
        "8000",
        "--max-concurrent-reviews",
        &permits,
    ])
    .await;

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&server.ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    // All connect first, then send their heads together, so their deadlines start together.
    let heads = Arc::new(tokio::sync::Barrier::new(n + 1));
    let ended = Arc::new(AtomicUsize::new(0));
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (connector, heads, ended) = (connector.clone(), heads.clone(), ended.clone());
        slow.spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            heads.wait().await;
            tls.write_all(
                b"POST /validate HTTP/1.1\r\nHost: localhost\r\n\
                  Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
            )
            .await
            .unwrap();
            tls.flush().await.unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            let end = loop {
                tokio::select! {
                    r = tls.read(&mut buf) => match r {
                        Ok(0) | Err(_) => break if answer.is_empty() {
                            SlowEnd::Closed
                        } else {
                            SlowEnd::Answered(String::from_utf8_lossy(&answer).into_owned())
                        },
                        Ok(k) => {
                            answer.extend_from_slice(&buf[..k]);
                            if let Some(i) = answer.windows(2).position(|w| w == b"\r\n") {
                                let line = String::from_utf8_lossy(&answer[..i]).into_owned();
                                break SlowEnd::Answered(line);
                            }
                        }
                    },
                    () = tokio::time::sleep(Duration::from_secs(2)) => {
                        // A write into a closed connection fails; the read then tells how.
                        let _ = tls.write_all(b" ").await;
                        let _ = tls.flush().await;
                    }
                }
            };
            ended.fetch_add(1, Ordering::SeqCst);
            end
        });
    }
    tokio::time::timeout(Duration::from_secs(60), heads.wait())
        .await
        .expect("the slow connections did not all connect");

    // A valid review, on its own connection, while they trickle.
    let r = server
        .tls_client()
        .post(server.url("/validate"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&review("CREATE", sensor("github"))).unwrap())
        .send()
        .await
        .unwrap();
    let still_open = n - ended.load(Ordering::SeqCst);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert_eq!(v["response"]["uid"], "u-1", "{v}");
    assert_eq!(
        still_open, n,
        "the review was answered after slow connections ended"
    );

    // Past the body deadline each slow connection is answered 408 or closed.
    let mut answered_408 = 0;
    let mut closed = 0;
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(end) = slow.join_next().await {
            match end.unwrap() {
                SlowEnd::Answered(line) if line.starts_with("HTTP/1.1 408") => answered_408 += 1,
                SlowEnd::Closed => closed += 1,
                other => panic!("a slow connection ended with {other:?}"),
            }
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "slow connections still open after the deadline"
    );
    eprintln!("{n} slow connections: {answered_408} answered 408, {closed} closed");
    assert_eq!(answered_408 + closed, n);
}
