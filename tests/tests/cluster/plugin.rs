//! Case: the plugin's online commands against the API server, with the controller, a real
//! nats-server as the bus (an exotic JetStream EventBus pointing at it) and the EventSource and
//! Sensor pods the controller made, run by the kubelet stand-in. Each layer of `why` is broken
//! on purpose in turn — no EventSource, its pod not ready, no EventBus, nothing on the subject,
//! a filter that fails, a trigger that errors, a ServiceAccount without its binding — and
//! `why` must name exactly that layer; `send` delivers through the Service's proxy and shows
//! the Sensor's verdict; `can-i` prints the commands that fix the RBAC, and they do; `get`,
//! `tree` and `logs` read the same objects; kubectl finds the plugin as `kubectl argo events`.

use std::process::Command;
use std::time::Duration;

use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::controller::{owned_deployment, start_controller, wait_ready};
use crate::harness::{
    Namespace, Proc, WAIT, cluster, free_port, wait_for, workspace_bin, workspace_bin_dir,
};
use crate::install::namespace_install_into;
use crate::kubelet::{Pod, pod_port};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("plugin::why_names_each_broken_layer", || {
            why_names_each_broken_layer();
            Ok(())
        }),
        Trial::test("plugin::quickstart_tree_send_why", || {
            quickstart_tree_send_why();
            Ok(())
        }),
    ]
}

/// What one plugin run printed, and its exit code.
struct Run {
    code: i32,
    out: String,
    err: String,
}

fn plugin(ns: &Namespace, args: &[&str]) -> Run {
    let c = cluster();
    let o = Command::new(workspace_bin("kubectl-argo-events"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["-n", &ns.name])
        .env("NO_COLOR", "1")
        .output()
        .expect("the plugin runs");
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `why … -o json`: the exit code and the report.
fn why(ns: &Namespace, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["why"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let r = plugin(ns, &all);
    let report = serde_json::from_str(&r.out)
        .unwrap_or_else(|e| panic!("why {args:?}: {e}: {}{}", r.out, r.err));
    (r.code, report)
}

fn statuses(report: &Value) -> Vec<String> {
    report["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits until `why` reports `want` (one status per layer), then returns the report.
fn why_until(
    ns: &Namespace,
    args: &[&str],
    want: [&str; 6],
    procs: &mut [&mut dyn FnMut()],
) -> Value {
    wait_for(
        &format!("why {args:?} to report {want:?}"),
        Duration::from_secs(45),
        || {
            for p in procs.iter_mut() {
                p();
            }
            let (code, report) = why(ns, args);
            let got = statuses(&report);
            let broken = want.contains(&"broken");
            if got == want && code == if broken { 1 } else { 0 } {
                return Ok(Some(report));
            }
            Err(format!("exit {code}, layers {got:?}: {report}"))
        },
    )
}

fn layer(report: &Value, n: usize) -> &Value {
    &report["layers"][n - 1]
}

fn evidence(report: &Value, n: usize) -> String {
    layer(report, n)["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// nats-server with JetStream (no auth) on a free loopback port: the exotic bus.
fn nats(ns: &Namespace) -> (Proc, u16) {
    let dir = cluster().scratch.path().join(format!("nats-{}", ns.name));
    std::fs::create_dir_all(&dir).expect("creating the store");
    let port = free_port();
    let mut cmd = Command::new("nats-server");
    cmd.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&dir);
    let mut proc = Proc::spawn(&format!("nats-{}", ns.name), cmd);
    wait_for("nats-server to listen", WAIT, || {
        proc.assert_running();
        Ok(std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ()))
    });
    (proc, port)
}

/// The namespace install in `ns` with its EventBus `default` turned into an exotic JetStream
/// bus on a fresh nats-server, and the install's controller running: (the bus, the controller).
fn exotic_bus_with_controller(ns: &Namespace) -> (Proc, Proc) {
    namespace_install_into(ns);
    let (bus, bus_port) = nats(ns);
    let exotic = json!({"spec": {"jetstream": null, "jetstreamExotic": {
        "url": format!("nats://127.0.0.1:{bus_port}"), "streamConfig": "replicas: 1\n"}}});
    ns.must(&[
        "patch",
        "eventbus",
        "default",
        "--type",
        "merge",
        "-p",
        &exotic.to_string(),
    ]);
    let mut ctl = start_controller(ns, "controller-manager-0");
    wait_ready(
        ns,
        "eventbus",
        "default",
        &["Configured", "Deployed"],
        &mut ctl,
    );
    (bus, ctl)
}

fn sensor(name: &str, bus: &str, admin: u16, sink: u16) -> String {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
        "metadata": {"name": name},
        "spec": {
            "eventBusName": bus,
            "template": {
                "serviceAccountName": "plugin-sa",
                "container": {"env": [{"name": "METRICS_ADDR", "value": format!("0.0.0.0:{admin}")}]},
            },
            "dependencies": [{"name": "push", "eventSourceName": "hooks", "eventName": "push",
                "filters": {"data": [{"path": "body.ref", "type": "string", "value": ["refs/heads/main"]}]}}],
            "triggers": [
                {"template": {"name": "record", "k8s": {"operation": "create", "source": {"resource": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"generateName": "push-"},
                    "data": {"commit": "placeholder"}}},
                    "parameters": [{"src": {"dependencyName": "push", "dataKey": "body.after"}, "dest": "data.commit"}]}}},
                // Nothing listens there: this trigger always fails.
                {"template": {"name": "notify", "http": {"url": format!("http://127.0.0.1:{sink}/hook"), "method": "POST"}}},
            ],
        },
    })
    .to_string()
}

fn why_names_each_broken_layer() {
    let c = cluster();
    let ns = c.namespace("plugin");
    let (mut bus, mut ctl) = exotic_bus_with_controller(&ns);

    // The Sensor's ServiceAccount may write Events, and nothing else yet.
    ns.must(&["create", "serviceaccount", "plugin-sa"]);
    ns.must(&[
        "create",
        "role",
        "sensor-events",
        "--verb=create,patch",
        "--resource=events.events.k8s.io",
    ]);
    ns.must(&[
        "create",
        "rolebinding",
        "sensor-events",
        "--role=sensor-events",
        &format!("--serviceaccount={}:plugin-sa", ns.name),
    ]);

    // Layer 1: the Sensor names an EventSource that does not exist.
    let sink = free_port();
    ns.must_apply(&sensor("on-push", "default", pod_port(), sink));
    let sensor_deployment = owned_deployment(&ns, "sensor-name", "on-push", &mut ctl);
    let mut sensor_pod = Pod::adopt(&sensor_deployment).start();
    sensor_pod.wait_ready();
    let report = why_until(
        &ns,
        &["on-push"],
        [
            "broken", "unknown", "unknown", "unknown", "unknown", "unknown",
        ],
        &mut [],
    );
    assert!(
        evidence(&report, 1).contains("no EventSource hooks"),
        "{report}"
    );
    let tree = plugin(&ns, &["tree", "sensor", "on-push"]);
    assert_eq!(
        tree.code, 1,
        "a dangling dependency is broken: {}{}",
        tree.out, tree.err
    );
    assert!(
        tree.out
            .contains("Dependency/push  ⚠ Missing  reads hooks/push  — no EventSource hooks in"),
        "{}",
        tree.out
    );

    // Layer 1 again: the EventSource exists, its pod is not running yet.
    let port = pod_port();
    ns.must_apply(
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource", "metadata": {"name": "hooks"},
            "spec": {
                "service": {"ports": [{"port": port, "targetPort": port}]},
                "template": {"container": {"env": [{"name": "METRICS_ADDR", "value": format!("0.0.0.0:{}", pod_port())}]}},
                "webhook": {"push": {"port": port.to_string(), "endpoint": "/push", "method": "POST"}}}})
        .to_string(),
    );
    let es_deployment = owned_deployment(&ns, "eventsource-name", "hooks", &mut ctl);
    let report = why_until(
        &ns,
        &["on-push"],
        [
            "broken", "unknown", "unknown", "unknown", "unknown", "unknown",
        ],
        &mut [],
    );
    assert!(
        evidence(&report, 1).contains("Pending"),
        "the unscheduled pod is the evidence: {report}"
    );
    let mut es_pod = Pod::adopt(&es_deployment).start();
    es_pod.wait_ready();

    // Layer 2: a Sensor on an EventBus that does not exist.
    ns.must_apply(&sensor("on-other-bus", "elsewhere", pod_port(), sink));
    let report = why_until(
        &ns,
        &["on-other-bus"],
        ["ok", "broken", "unknown", "unknown", "unknown", "unknown"],
        &mut [],
    );
    assert!(
        evidence(&report, 2).contains("no EventBus elsewhere"),
        "{report}"
    );

    // Layer 3: everything runs, nothing was sent.
    let mut alive = || {
        bus.assert_running();
        ctl.assert_running();
    };
    let report = why_until(
        &ns,
        &["on-push"],
        ["ok", "ok", "broken", "unknown", "unknown", "unknown"],
        &mut [&mut alive],
    );
    let bus_evidence = evidence(&report, 3);
    assert!(bus_evidence.contains("no message on subject"), "{report}");
    assert!(
        bus_evidence.contains("consumer "),
        "the durable consumers are listed: {report}"
    );
    assert!(
        layer(&report, 3)["hint"]
            .as_str()
            .is_some_and(|h| h.contains("kubectl argo events send hooks push")),
        "{report}"
    );

    // Layer 4: `send` delivers through the Service, and the filter rejects it.
    let sent = plugin(
        &ns,
        &[
            "send",
            "hooks",
            "push",
            "-d",
            r#"{"ref":"refs/heads/feature/x","after":"0000"}"#,
        ],
    );
    assert_eq!(sent.code, 0, "{}{}", sent.out, sent.err);
    assert!(
        sent.out.contains(&format!(
            "/services/hooks-eventsource-svc:{port}/proxy/push → 200"
        )),
        "{}",
        sent.out
    );
    assert!(
        sent.out.contains("dependency push: rejected"),
        "send shows the verdict: {}",
        sent.out
    );
    let report = why_until(
        &ns,
        &["on-push"],
        ["ok", "ok", "ok", "broken", "unknown", "unknown"],
        &mut [],
    );
    assert!(
        evidence(&report, 4).contains("refs/heads/feature/x"),
        "the failing value is named: {report}"
    );

    // Layer 6: the event passes, the k8s trigger is refused for want of RBAC.
    let commit = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let body = json!({"ref": "refs/heads/main", "after": commit}).to_string();
    let sent = plugin(&ns, &["send", "hooks", "push", "-d", &body]);
    assert_eq!(sent.code, 0, "{}{}", sent.out, sent.err);
    assert!(sent.out.contains("dependency push: passed"), "{}", sent.out);
    let report = why_until(
        &ns,
        &["on-push", "--trigger", "record"],
        ["ok", "ok", "ok", "ok", "unknown", "broken"],
        &mut [],
    );
    assert!(
        evidence(&report, 6).contains("may not create configmaps"),
        "{report}"
    );
    assert!(
        evidence(&report, 5).contains("forbidden"),
        "the refusal is the evidence: {report}"
    );
    let can = plugin(&ns, &["can-i", "on-push"]);
    assert_eq!(can.code, 1, "{}{}", can.out, can.err);
    let fixes: Vec<String> = can
        .out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("kubectl create "))
        .map(str::to_string)
        .collect();
    assert_eq!(fixes.len(), 2, "a Role and its binding: {}", can.out);

    // Layer 5: the http trigger fails on its own.
    let report = why_until(
        &ns,
        &["on-push", "--trigger", "notify"],
        ["ok", "ok", "ok", "ok", "broken", "unknown"],
        &mut [],
    );
    assert!(
        evidence(&report, 5).contains("trigger notify: failed at"),
        "the trigger's error is the evidence: {report}"
    );

    // The printed fix, run as printed, makes can-i pass and the trigger fire.
    for fix in &fixes {
        let args: Vec<&str> = fix.split_whitespace().skip(1).collect();
        c.must(&args);
    }
    let can = plugin(&ns, &["can-i", "on-push"]);
    assert_eq!(can.code, 0, "{}{}", can.out, can.err);
    let sent = plugin(&ns, &["send", "hooks", "push", "-d", &body]);
    assert_eq!(sent.code, 0, "{}{}", sent.out, sent.err);
    why_until(
        &ns,
        &["on-push", "--trigger", "record"],
        ["ok", "ok", "ok", "ok", "ok", "ok"],
        &mut [],
    );
    let cm = wait_for("the k8s trigger's ConfigMap", WAIT, || {
        Ok(ns
            .list("configmaps", Some("events.argoproj.io/sensor=on-push"))
            .into_iter()
            .next())
    });
    assert_eq!(cm["data"]["commit"], commit);

    // replay: a dry run says what the stored events would do, offline; a replay re-runs them
    // through this Sensor's trigger (a ConfigMap per passing event).
    let dry = plugin(
        &ns,
        &["replay", "on-push", "--trigger", "record", "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}{}", dry.out, dry.err);
    assert!(
        dry.out.contains("dry run: 3 stored event(s)"),
        "{}",
        dry.out
    );
    assert!(
        dry.out.contains("does not match"),
        "the rejected one stays rejected: {}",
        dry.out
    );
    assert!(dry.out.contains("trigger record: FIRED"), "{}", dry.out);
    let count = || {
        ns.list("configmaps", Some("events.argoproj.io/sensor=on-push"))
            .len()
    };
    let before = count();
    let replayed = plugin(
        &ns,
        &[
            "replay",
            "on-push",
            "--trigger",
            "record",
            "--from-seq",
            "2",
        ],
    );
    assert_eq!(replayed.code, 0, "{}{}", replayed.out, replayed.err);
    assert!(
        replayed.out.contains("dependency push: 2 event(s)"),
        "{}",
        replayed.out
    );
    wait_for("the replayed events' ConfigMaps", WAIT, || {
        let now = count();
        if now >= before + 2 {
            Ok(Some(()))
        } else {
            Err(format!("{now} ConfigMaps, {before} before"))
        }
    });

    // send onto the bus: a calendar event has no listener; the EventSource pod publishes it
    // as the calendar source would, and a Sensor reading it fires.
    // (A calendar source cannot share an EventSource with a webhook: upstream's rule.) Its
    // interval never comes round within the case.
    ns.must_apply(
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource", "metadata": {"name": "clock"},
            "spec": {"template": {"container": {"env": [{"name": "METRICS_ADDR", "value": format!("0.0.0.0:{}", pod_port())}]}},
                     "calendar": {"tick": {"interval": "24h"}}}})
        .to_string(),
    );
    let mut clock_pod = Pod::adopt(&owned_deployment(
        &ns,
        "eventsource-name",
        "clock",
        &mut ctl,
    ))
    .start();
    clock_pod.wait_ready();
    ns.must_apply(
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor", "metadata": {"name": "on-tick"},
            "spec": {"template": {"serviceAccountName": "plugin-sa",
                        "container": {"env": [{"name": "METRICS_ADDR", "value": format!("0.0.0.0:{}", pod_port())}]}},
                     "dependencies": [{"name": "tick", "eventSourceName": "clock", "eventName": "tick"}],
                     "triggers": [{"template": {"name": "say", "log": {}}}]}})
        .to_string(),
    );
    let mut tick_pod =
        Pod::adopt(&owned_deployment(&ns, "sensor-name", "on-tick", &mut ctl)).start();
    tick_pod.wait_ready();
    let tick = wait_for("send onto the bus to reach on-tick", WAIT, || {
        let r = plugin(
            &ns,
            &[
                "send",
                "clock",
                "tick",
                "-d",
                r#"{"eventTime":"2026-12-06 12:00:00 +0000 UTC","metadata":{}}"#,
            ],
        );
        if r.code == 0 && r.out.contains("trigger say: succeeded") {
            Ok(Some(r))
        } else {
            Err(format!("exit {}: {}{}", r.code, r.out, r.err))
        }
    });
    assert!(
        tick.out.contains("/proxy/publish?event=tick → 200 OK"),
        "{}",
        tick.out
    );
    assert!(tick.out.contains("dependency tick: passed"), "{}", tick.out);
    tick_pod.assert_running();
    clock_pod.assert_running();

    // get, tree and logs read the same objects.
    let get = plugin(&ns, &["get", "sn", "on-push"]);
    assert_eq!(get.code, 0, "{}{}", get.out, get.err);
    let row: Vec<&str> = get
        .out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..6],
        ["on-push", "True", "default", "1", "2", "1/1"],
        "{}",
        get.out
    );
    let all = plugin(&ns, &["get", "sensors"]);
    assert_eq!(all.code, 1, "on-other-bus has no Deployment: {}", all.out);
    let es = plugin(&ns, &["get", "es", "-o", "json"]);
    let list: Value = serde_json::from_str(&es.out).expect("a JSON List");
    let names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["clock", "hooks"], "sorted by name");
    let tree = plugin(&ns, &["tree", "eventsource", "hooks", "-o", "json"]);
    assert_eq!(tree.code, 0, "{}{}", tree.out, tree.err);
    let graph: Value = serde_json::from_str(&tree.out).expect("the graph");
    assert_eq!(graph["health"], "healthy", "{graph}");
    let event = graph["children"]
        .as_array()
        .expect("children")
        .iter()
        .find(|n| n["kind"] == "Event")
        .expect("the event");
    assert_eq!(
        event["children"][0]["name"], "push",
        "the Sensor's dependency hangs under the event: {graph}"
    );
    let logs = plugin(&ns, &["logs", "eventsource", "hooks"]);
    assert_eq!(logs.code, 0, "{}", logs.err);
    assert!(
        logs.out
            .lines()
            .all(|l| l.starts_with(&format!("[{}] ", es_pod.name))),
        "{}",
        logs.out
    );
    assert!(logs.out.contains("event published"), "{}", logs.out);
    let logs = plugin(&ns, &["logs", "sensor", "on-push", "--tail", "3"]);
    assert_eq!(logs.out.lines().count(), 3, "{}", logs.out);

    // kubectl finds the plugin on PATH as `kubectl argo events`.
    let path = format!(
        "{}:{}",
        workspace_bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // (kubectl refuses flags before a plugin's name: no kubectl_command here.)
    let kubeconfig = c.kubeconfig.display().to_string();
    let o = Command::new(&c.kubectl)
        .args([
            "argo",
            "events",
            "get",
            "eventbus",
            "-n",
            &ns.name,
            "--kubeconfig",
            &kubeconfig,
        ])
        .env("PATH", path)
        .output()
        .expect("kubectl runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("default   True    jetstreamExotic")),
        "{text}"
    );

    sensor_pod.assert_running();
    es_pod.assert_running();
    bus.assert_running();

    // `logs -f` streams a line written after it started.
    let follow_out = c.scratch.path().join(format!("follow-{}.txt", ns.name));
    let file = std::fs::File::create(&follow_out).expect("creating the follow output");
    let mut follow = Command::new(workspace_bin("kubectl-argo-events"))
        .args([
            "logs",
            "eventsource",
            "hooks",
            "-f",
            "--tail",
            "0",
            "--kubeconfig",
        ])
        .arg(&c.kubeconfig)
        .args(["-n", &ns.name])
        .stdout(file)
        .spawn()
        .expect("logs -f runs");
    let published = || {
        std::fs::read_to_string(&follow_out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("event published"))
            .count()
    };
    wait_for("logs -f to stream a new line", WAIT, || {
        // (`--wait 0s`: the Sensors' answers do not matter here, only the POST's.)
        let r = plugin(&ns, &["send", "hooks", "push", "-d", &body, "--wait", "0s"]);
        if !r.out.contains("→ 200 OK") {
            return Err(format!("send: {}{}", r.out, r.err));
        }
        Ok((published() > 0).then_some(()))
    });
    let text = std::fs::read_to_string(&follow_out).unwrap_or_default();
    assert!(
        text.lines()
            .all(|l| l.starts_with(&format!("[{}] ", es_pod.name))),
        "{text}"
    );
    let _ = follow.kill();
    let _ = follow.wait();

    // `get --watch` prints the row again when the EventSource's pod goes down.
    let watch_out = c.scratch.path().join(format!("watch-{}.txt", ns.name));
    let file = std::fs::File::create(&watch_out).expect("creating the watch output");
    let mut watch = Command::new(workspace_bin("kubectl-argo-events"))
        .args(["get", "es", "--watch", "--kubeconfig"])
        .arg(&c.kubeconfig)
        .args(["-n", &ns.name])
        .stdout(file)
        .spawn()
        .expect("the watch runs");
    let rows = || {
        std::fs::read_to_string(&watch_out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("hooks "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    wait_for("the first table", WAIT, || {
        Ok((rows().len() == 1).then_some(()))
    });
    // The watch starts after its first listing: give it a moment to be established. Then the
    // pod goes for good (the stand-in kills it and deletes the Pod; its replacement stays
    // Pending), so the change cannot come and go before the watch sees it.
    std::thread::sleep(Duration::from_secs(2));
    drop(es_pod);
    let changed = wait_for("the watch to print the changed row", WAIT, || {
        // Its replacement is Pending: not ready (Unknown), 0 of 1 ready.
        let all = rows();
        match all
            .iter()
            .skip(1)
            .find(|r| r.split_whitespace().nth(4) == Some("0/1"))
        {
            Some(r) => Ok(Some(r.clone())),
            None => Err(format!("rows so far: {all:?}")),
        }
    });
    assert_eq!(
        changed.split_whitespace().nth(1),
        Some("Unknown"),
        "{changed}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
}

/// A quickstart manifest as the user applies it, in the case's namespace.
fn quickstart(file: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/../manifests/examples/quickstart/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the quickstart");
    let mut object: Value = serde_yaml_ng::from_str(&text).expect("YAML");
    if let Some(m) = object["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    object
}

/// The README's walk-through: the quickstart as shipped, on the test cluster. With
/// `ARGO_EVENTS_DEMO_OUT=FILE` the outputs of `tree`, `send` and `why` are written there (the
/// namespace renamed `argo-events`), which is what the README shows.
fn quickstart_tree_send_why() {
    crate::pipeline::install_workflow_crd();
    let c = cluster();
    let ns = c.namespace("quickstart");
    let (mut bus, mut ctl) = exotic_bus_with_controller(&ns);
    ns.must(&["create", "serviceaccount", "operate-workflow-sa"]);
    ns.must(&[
        "create",
        "role",
        "operate-workflow",
        "--verb=create",
        "--resource=workflows.argoproj.io",
    ]);
    ns.must(&[
        "create",
        "rolebinding",
        "operate-workflow",
        "--role=operate-workflow",
        &format!("--serviceaccount={}:operate-workflow-sa", ns.name),
    ]);

    // The EventSource as shipped: it listens on 12000, a port of the pod's own; on this host
    // every pod shares one address, so the port is taken from the free ones. The Sensor's admin
    // port likewise (the plugin reads it from the pod's METRICS_ADDR).
    let port = pod_port();
    let mut es = quickstart("eventsource.yaml");
    es["spec"]["webhook"]["push"]["port"] = port.to_string().into();
    let mut sensor = quickstart("sensor.yaml");
    sensor["spec"]["template"]["container"] =
        json!({"env": [{"name": "METRICS_ADDR", "value": format!("0.0.0.0:{}", pod_port())}]});
    ns.must_apply(&es.to_string());
    ns.must_apply(&sensor.to_string());
    let mut es_pod = Pod::adopt(&owned_deployment(
        &ns,
        "eventsource-name",
        "webhook",
        &mut ctl,
    ))
    .start();
    let mut sensor_pod = Pod::adopt(&owned_deployment(
        &ns,
        "sensor-name",
        "build-on-push",
        &mut ctl,
    ))
    .start();
    es_pod.wait_ready();
    sensor_pod.wait_ready();

    let tree = wait_for("a healthy tree", WAIT, || {
        let t = plugin(&ns, &["tree"]);
        if t.code == 0 {
            Ok(Some(t))
        } else {
            Err(format!("{}{}", t.out, t.err))
        }
    });
    let main =
        json!({"ref": "refs/heads/main", "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"})
            .to_string();
    let sent_main = plugin(&ns, &["send", "webhook", "push", "-d", &main]);
    assert_eq!(sent_main.code, 0, "{}{}", sent_main.out, sent_main.err);
    assert!(
        sent_main.out.contains("trigger build: succeeded"),
        "{}",
        sent_main.out
    );
    let wf = wait_for("the Workflow", WAIT, || {
        Ok(ns.list("workflows", None).into_iter().next())
    });
    assert_eq!(
        wf["spec"]["arguments"]["parameters"][0]["value"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    let feature = json!({"ref": "refs/heads/feature/x", "after": "0f0f"}).to_string();
    let sent_feature = plugin(&ns, &["send", "webhook", "push", "-d", &feature]);
    assert_eq!(
        sent_feature.code, 0,
        "{}{}",
        sent_feature.out, sent_feature.err
    );
    assert!(
        sent_feature.out.contains("dependency push: rejected"),
        "{}",
        sent_feature.out
    );
    // The last event was filtered out, the one before fired: the ladder is healthy (one of the
    // recent events passed) and says so with the evidence.
    let why = plugin(&ns, &["why", "build-on-push"]);
    assert_eq!(why.code, 0, "{}{}", why.out, why.err);
    assert!(
        why.out
            .contains("dependency push: 1 of the last 2 event(s) passed"),
        "{}",
        why.out
    );

    if let Some(path) = std::env::var_os("ARGO_EVENTS_DEMO_OUT") {
        let rename = |t: &str| t.replace(&ns.name, "argo-events");
        let text = format!(
            "$ kubectl argo events tree -n argo-events\n{}\n$ kubectl argo events send webhook push -n argo-events -d '{main}'\n{}\n$ kubectl argo events send webhook push -n argo-events -d '{feature}'\n{}\n$ kubectl argo events why build-on-push -n argo-events\n{}",
            rename(&tree.out),
            rename(&sent_main.out),
            rename(&sent_feature.out),
            rename(&why.out)
        );
        std::fs::write(&path, text).expect("writing ARGO_EVENTS_DEMO_OUT");
    }
    bus.assert_running();
    es_pod.assert_running();
    sensor_pod.assert_running();
}
