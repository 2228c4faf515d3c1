//! The stand-in as a kubelet, seen only through the API server with plain `kubectl`. A
//! StatefulSet runs `nats-server -js` (the bus) and a Deployment the webhook EventSource (as the
//! controller builds it, pointed at the bus pod's IP); the real StatefulSet, deployment and
//! ReplicaSet controllers make their Pods, which the stand-in adopts. Then both owners count
//! their pod ready (readiness probes), `kubectl logs` (whole, `--tail`, `--timestamps`,
//! `--since`, `-f`, `--previous`) reads the EventSource's output through the Node's kubelet
//! port, the pod proxy and the service proxy (Endpoints from the endpoint controller) reach its
//! ports at the pod IP, an event POSTed through the service proxy is published on the bus, a
//! kill shows in the status as a termination and then a restart, and `kubectl delete pod` stops
//! it with SIGTERM before the object goes.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use argo_events_api::{EventSource, gocompat};
use libtest_mimic::Trial;
use serde_json::{Value, json};

use super::node::{NODE_NAME, node};
use super::{Pod, RunningPod, pod_ip, pod_port};
use crate::harness::{Namespace, WAIT, cluster, wait_for};
use crate::resource_source::support::deployment_of;

pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "kubelet::pod_logs_and_status_through_the_api_server",
        || {
            pod_logs_and_status_through_the_api_server();
            Ok(())
        },
    )]
}

/// A child process's stdout, line by line, on a channel (so reads can be bounded).
struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Lines {
    fn spawn(mut cmd: Command) -> Lines {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting kubectl");
        let out = child.stdout.take().expect("a piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { child, lines }
    }

    /// The lines until one satisfies `done` (returned last), within `timeout`.
    fn until(&self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = done(&line);
                    seen.push(line);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!(
                    "{what}: not within {timeout:?}; the lines so far:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kubectl get pod -w -o json`: each version of the Pod as the API server stores it.
struct PodWatch {
    child: Child,
    objects: mpsc::Receiver<Value>,
}

impl PodWatch {
    fn start(ns: &Namespace, pod: &str) -> PodWatch {
        let mut child = cluster()
            .kubectl_command(&["get", "pod", pod, "-n", &ns.name, "-w", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting kubectl get -w");
        let out = child.stdout.take().expect("a piped stdout");
        let (tx, objects) = mpsc::channel();
        std::thread::spawn(move || {
            for object in serde_json::Deserializer::from_reader(out).into_iter::<Value>() {
                let Ok(object) = object else { return };
                if tx.send(object).is_err() {
                    return;
                }
            }
        });
        let watch = PodWatch { child, objects };
        // The first object is the one listed: the watch runs from there on.
        watch.next_matching("the watch's first object", |_| true);
        watch
    }

    /// The first Pod version (from now on) whose first container status satisfies `want`.
    fn next_matching(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut last = Value::Null;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.objects.recv_timeout(left) {
                Ok(pod) => {
                    if want(&pod["status"]["containerStatuses"][0]) {
                        return pod;
                    }
                    last = pod;
                }
                Err(_) => panic!(
                    "the Pod's status never showed {what}; last: {}",
                    last["status"]
                ),
            }
        }
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bus: a StatefulSet of one `nats-server -js` pod, adopted and Ready (its monitor's
/// `/healthz` as readiness probe); the URL the EventSource uses, at the pod IP.
fn bus(ns: &Namespace) -> (RunningPod, String) {
    let (client, monitor) = (pod_port(), pod_port());
    ns.must_apply(
        &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "bus"},
            "spec": {"serviceName": "bus", "replicas": 1,
                "selector": {"matchLabels": {"app": "bus"}},
                "template": {"metadata": {"labels": {"app": "bus"}}, "spec": {
                    "containers": [{"name": "main", "image": "nats:2.11",
                        "command": ["nats-server"],
                        "args": ["-js", "-a", "0.0.0.0", "-p", client.to_string(),
                            "-m", monitor.to_string(), "-sd", "/tmp/jetstream"],
                        "ports": [{"name": "client", "containerPort": client},
                            {"name": "monitor", "containerPort": monitor}],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "monitor"},
                            "periodSeconds": 1},
                        "volumeMounts": [{"name": "data", "mountPath": "/tmp/jetstream"}]}],
                    "volumes": [{"name": "data", "emptyDir": {}}]}}}})
        .to_string(),
    );
    let set = ns.get("statefulset", "bus").expect("the StatefulSet");
    let mut pod = Pod::adopt(&set).ordinal(0).start();
    assert_eq!(pod.name, "bus-0");
    pod.wait_ready();
    wait_for("the StatefulSet to count 1 ready replica", WAIT, || {
        let out = ns.must(&[
            "get",
            "statefulset",
            "bus",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ]);
        Ok((out.trim() == "1").then_some(()))
    });
    let url = format!("nats://{}:{client}", pod.ip);
    (pod, url)
}

fn pod_logs_and_status_through_the_api_server() {
    let ns = cluster().namespace("kubelet");
    let started = Instant::now();
    let (_bus, bus_url) = bus(&ns);
    let (http, admin) = (pod_port(), pod_port());

    // The EventSource is stored so its Deployment's owner exists (else the garbage collector
    // deletes the Deployment); no controller runs here: the test applies the Deployment the
    // controller would, with a readiness probe on the admin port and ports of its own.
    ns.must_apply(
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "hooks"},
            "spec": {"webhook": {"push": {"port": http.to_string(), "endpoint": "/push", "method": "POST"}}}})
        .to_string(),
    );
    let stored = ns.get("eventsource", "hooks").expect("the EventSource");
    let es: EventSource = gocompat::from_value(&stored)
        .unwrap_or_else(|e| panic!("the stored EventSource decodes: {e}"))
        .value;
    let mut deployment = deployment_of(&es, &bus_url);
    let container = &mut deployment["spec"]["template"]["spec"]["containers"][0];
    container["ports"] = json!([
        {"name": "http", "containerPort": http},
        {"name": "admin", "containerPort": admin},
    ]);
    container["readinessProbe"] =
        json!({"httpGet": {"path": "/ready", "port": "admin"}, "periodSeconds": 1});
    // The controller's Deployment has a generated name: created, not applied.
    let created = cluster()
        .kubectl_stdin(
            &["create", "-n", &ns.name, "-o", "json", "-f", "-"],
            Some(&deployment.to_string()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let created: Value =
        serde_json::from_str(&created).expect("kubectl create -o json prints JSON");
    let name = created["metadata"]["name"]
        .as_str()
        .expect("the Deployment's name")
        .to_string();
    ns.must_apply(
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hooks"},
            "spec": {"selector": {"eventsource-name": "hooks"},
                "ports": [{"name": "http", "port": 80, "targetPort": http}]}})
        .to_string(),
    );

    let stored = ns.get("deployment", &name).expect("the Deployment");
    let adopted = Instant::now();
    // The admin server on every address of the host (the pod IP among them), on a port of
    // its own.
    let mut pod = Pod::adopt(&stored)
        .env("METRICS_ADDR", &format!("0.0.0.0:{admin}"))
        .start();
    pod.wait_ready();
    let ready_in = adopted.elapsed();

    // The Pod as the API server has it: bound to the Node, at the pod IP, Running and Ready.
    let object = ns.get("pod", &pod.name).expect("the Pod");
    assert_eq!(object["spec"]["nodeName"], NODE_NAME, "{}", object["spec"]);
    assert_eq!(object["status"]["podIP"], pod_ip().to_string());
    assert_eq!(object["status"]["phase"], "Running");
    let status = &object["status"]["containerStatuses"][0];
    assert_eq!(
        (
            &status["ready"],
            &status["started"],
            &status["restartCount"]
        ),
        (&json!(true), &json!(true), &json!(0)),
        "{status}"
    );
    assert!(
        status["state"]["running"]["startedAt"].is_string(),
        "{status}"
    );
    assert_eq!(status["image"], "argo-events-rs:test");

    // The real deployment controller counts it.
    wait_for("the Deployment to count 1 ready replica", WAIT, || {
        let out = ns.must(&[
            "get",
            "deployment",
            &name,
            "-o",
            "jsonpath={.status.readyReplicas}",
        ]);
        Ok((out.trim() == "1").then_some(()))
    });

    // Logs through the API server and the Node's kubelet port.
    let target = format!("pod/{}", pod.name);
    let logs = wait_for("the listener's start in kubectl logs", WAIT, || {
        pod.assert_running();
        let out = ns.kubectl(&["logs", &target])?;
        Ok(out.contains("HTTP listener started").then_some(out))
    });
    assert!(
        pod.output().starts_with(&logs),
        "kubectl logs returns what the process wrote:\n{logs}\n---\n{}",
        pod.output()
    );
    let tail = ns.must(&["logs", &target, "--tail=1"]);
    assert_eq!(tail.lines().count(), 1, "--tail=1: {tail:?}");
    assert!(
        pod.output().contains(&tail),
        "--tail=1 is one of its lines: {tail:?}"
    );
    let stamped = ns.must(&["logs", &target, "--tail=1", "--timestamps"]);
    let (time, line) = stamped.split_once(' ').expect("a timestamp and the line");
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.len() == 30,
        "an RFC 3339 timestamp with nanoseconds: {stamped:?}"
    );
    assert!(pod.output().contains(line.trim_end()), "{stamped:?}");
    let since = ns.must(&["logs", &target, "--since=1h"]);
    assert!(
        since.contains("HTTP listener started"),
        "--since=1h: {since}"
    );

    // The pod proxy reaches the admin port at the pod IP.
    let base = format!(
        "/api/v1/namespaces/{}/pods/{}:{admin}/proxy",
        ns.name, pod.name
    );
    assert_eq!(
        ns.must(&["get", "--raw", &format!("{base}/live")]).trim(),
        "OK"
    );
    let metrics = ns.must(&["get", "--raw", &format!("{base}/metrics")]);
    assert!(metrics.contains("argo_events_build_info"), "{metrics}");

    // The endpoint controller puts the ready pod behind the Service; the service proxy
    // reaches it.
    wait_for("the Service's Endpoints to name the pod", WAIT, || {
        let Some(endpoints) = ns.get("endpoints", "hooks") else {
            return Ok(None);
        };
        let address = &endpoints["subsets"][0]["addresses"][0];
        let here = address["ip"] == pod_ip().to_string()
            && address["targetRef"]["name"] == pod.name.as_str();
        Ok(here.then_some(()))
    });
    let service = format!("/api/v1/namespaces/{}/services/hooks:http/proxy", ns.name);
    assert_eq!(
        ns.must(&["get", "--raw", &format!("{service}/health")])
            .trim(),
        "OK"
    );

    // `kubectl logs -f` streams what the process writes after it started: the event POSTed
    // through the service proxy is published and logged.
    let follow = Lines::spawn(
        cluster().kubectl_command(&["logs", "-f", "--tail=0", &target, "-n", &ns.name]),
    );
    // The stream is open once the API server forwarded it (nothing to read before).
    std::thread::sleep(Duration::from_millis(500));
    let body = cluster()
        .scratch
        .path()
        .join(format!("push-{}.json", ns.name));
    std::fs::write(&body, r#"{"ref":"refs/heads/main"}"#).expect("writing the event body");
    // "success" once the bus holds the event.
    let answer = ns.must(&[
        "create",
        "--raw",
        &format!("{service}/push"),
        "-f",
        &body.to_string_lossy(),
    ]);
    assert_eq!(
        answer.trim(),
        "success",
        "the EventSource answered {answer:?}"
    );
    let streamed = follow.until("the published event in kubectl logs -f", WAIT, |l| {
        l.contains("event published")
    });
    assert!(
        streamed
            .iter()
            .all(|l| !l.contains("HTTP listener started")),
        "--tail=0 -f starts at the end: {streamed:?}"
    );
    drop(follow);

    // A kill: the status shows the termination, then the restart.
    let watch = PodWatch::start(&ns, &pod.name);
    pod.kill();
    let killed = watch.next_matching("the terminated container", |c| {
        c["state"]["terminated"]["exitCode"] == 137
    });
    let c = &killed["status"]["containerStatuses"][0];
    assert_eq!(c["state"]["terminated"]["reason"], "Error", "{c}");
    assert!(c["state"]["terminated"]["finishedAt"].is_string(), "{c}");
    assert_eq!(c["ready"], false, "{c}");
    let ready = killed["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ready["status"], "False", "{}", killed["status"]);
    let restarted = watch.next_matching("the restarted container", |c| {
        c["restartCount"] == 1 && c["state"]["running"].is_object()
    });
    let c = &restarted["status"]["containerStatuses"][0];
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 137, "{c}");
    assert_eq!(pod.restart_count("main"), 1);
    drop(watch);
    pod.wait_ready();
    let previous = ns.must(&["logs", &target, "--previous"]);
    assert!(
        previous.contains("event published"),
        "--previous is the killed run's: {previous}"
    );
    let current = wait_for("the new run's start in kubectl logs", WAIT, || {
        let out = ns.kubectl(&["logs", &target])?;
        Ok(out.contains("HTTP listener started").then_some(out))
    });
    assert!(
        !current.contains("event published"),
        "the current run's only: {current}"
    );
    let restarts = ns.must(&["get", "pod", &pod.name, "--no-headers"]);
    assert!(
        restarts.split_whitespace().nth(3) == Some("1"),
        "kubectl get pod shows 1 restart: {restarts}"
    );

    // A pod the stand-in does not run: 404 from the kubelet port itself.
    let port = node().port;
    let missing = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!(
            "https://127.0.0.1:{port}/containerLogs/{}/no-such-pod/main",
            ns.name
        ))
        .output()
        .expect("running curl");
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "404");

    // `kubectl delete pod`: SIGTERM (the process shuts down), then the object goes.
    ns.must(&["delete", "pod", &pod.name, "--timeout=60s"]);
    let out = pod.output();
    assert!(
        out.contains("shutting down"),
        "the process was asked to stop (SIGTERM):\n{out}"
    );
    eprintln!(
        "kubelet::pod_logs_and_status: adopted and Ready in {:.1} s, whole case {:.1} s",
        ready_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
