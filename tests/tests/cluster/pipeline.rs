//! Case 5: the pods the controller creates, run by the kubelet stand-in. The controller (the
//! namespace install's, with its RBAC) turns an EventBus, an EventSource and a Sensor into
//! Deployments; the stand-in adopts the Pods their ReplicaSets made and runs their containers
//! on the host with exactly their environment and volumes, the bus address alone pointed at a
//! local nats-server. That server runs with the
//! configuration the controller generated for the bus (its accounts, passwords and TLS
//! certificate from the Secret `eventbus-<bus>-js-server`), so the pods authenticate with the
//! credentials the controller mounted for them. An event POSTed to the EventSource makes the
//! Sensor's k8s trigger create a ConfigMap and its argoWorkflow trigger submit a Workflow in the
//! real API server, as the Sensor's ServiceAccount.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::controller::{owned_deployment, start_controller, wait_ready};
use crate::harness::{Namespace, Proc, WAIT, cluster, free_port, wait_for};
use crate::install::namespace_install_into;
use crate::kubelet::{Pod, pod_port, secret_data};

pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "pipeline::controller_pods_fire_k8s_and_argo_workflow_triggers",
        || {
            pipeline();
            Ok(())
        },
    )]
}

/// The Workflow CRD stand-in (tests/cluster/crds/workflow.yaml), once per suite.
pub fn install_workflow_crd() {
    let c = cluster();
    c.must(&[
        "apply",
        "--server-side",
        "-f",
        "tests/cluster/crds/workflow.yaml",
    ]);
    c.must(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/workflows.argoproj.io",
    ]);
}

/// nats-server with JetStream on a free loopback port, configured from the bus's server Secret
/// as the StatefulSet's pods would be (client TLS with the generated certificate, the `js`
/// account's user); stopped when dropped.
fn bus_server(ns: &Namespace, dir: &Path) -> (Proc, u16) {
    let secret = secret_data(&ns.name, "eventbus-default-js-server");
    let get = |key: &str| {
        secret
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the bus Secret has no key {key}"))
    };
    std::fs::create_dir_all(dir.join("store")).expect("creating the store");
    for (key, file) in [
        ("cert", "server-cert.pem"),
        ("private-key", "server-key.pem"),
        ("ca-cert", "ca-cert.pem"),
    ] {
        std::fs::write(dir.join(file), get(key)).expect("writing a bus certificate");
    }
    let auth = get("auth").replace("/etc/nats-config/", &format!("{}/", dir.display()));
    std::fs::write(dir.join("auth.conf"), auth).expect("writing auth.conf");
    let port = free_port();
    let config = format!(
        "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\ninclude ./auth.conf\n",
        dir.join("store").display()
    );
    std::fs::write(dir.join("nats.conf"), config).expect("writing nats.conf");
    let mut cmd = Command::new("nats-server");
    cmd.arg("-c").arg(dir.join("nats.conf")).current_dir(dir);
    let mut proc = Proc::spawn(&format!("nats-{}", ns.name), cmd);
    wait_for("nats-server to listen", WAIT, || {
        proc.assert_running();
        Ok(std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ()))
    });
    (proc, port)
}

/// `EVENTBUS_CONFIG` of a Deployment with only the JetStream URL changed.
fn bus_config_at(deployment: &Value, url: &str) -> String {
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("the container has env");
    let b64 = env
        .iter()
        .find(|e| e["name"] == "EVENTBUS_CONFIG")
        .and_then(|e| e["value"].as_str())
        .expect("EVENTBUS_CONFIG is set");
    let engine = base64::engine::general_purpose::STANDARD;
    let mut config: Value =
        serde_json::from_slice(&engine.decode(b64).expect("base64")).expect("JSON");
    assert!(
        config["jetstream"]["url"].is_string(),
        "a JetStream bus config: {config}"
    );
    config["jetstream"]["url"] = Value::from(url);
    engine.encode(config.to_string())
}

fn pipeline() {
    install_workflow_crd();
    let c = cluster();
    let ns = c.namespace("pipeline");
    namespace_install_into(&ns);
    // One bus server here, so the install's bus becomes a single node whose stream has one
    // replica (upstream allows 1 or at least 3).
    ns.must(&[
        "patch",
        "eventbus",
        "default",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"jetstream":{"replicas":1,"streamConfig":"replicas: 1\n"}}}"#,
    ]);
    let mut ctl = start_controller(&ns, "controller-manager-0");
    wait_ready(
        &ns,
        "eventbus",
        "default",
        &["Configured", "Deployed"],
        &mut ctl,
    );

    // The Sensor's ServiceAccount may create exactly what its triggers create.
    ns.must(&["create", "serviceaccount", "pipeline-sa"]);
    ns.must(&[
        "create",
        "role",
        "pipeline",
        "--verb=create",
        "--resource=configmaps,workflows.argoproj.io",
    ]);
    ns.must(&[
        "create",
        "rolebinding",
        "pipeline",
        "--role=pipeline",
        &format!("--serviceaccount={}:pipeline-sa", ns.name),
    ]);
    let port = pod_port();
    ns.must_apply(
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "hooks"},
            "spec": {"webhook": {"push": {"port": port.to_string(), "endpoint": "/push", "method": "POST"}}}})
        .to_string(),
    );
    ns.must_apply(&json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
        "metadata": {"name": "on-push"},
        "spec": {
            "template": {"serviceAccountName": "pipeline-sa"},
            "dependencies": [{"name": "push", "eventSourceName": "hooks", "eventName": "push"}],
            "triggers": [
                {"template": {"name": "record", "k8s": {"operation": "create", "source": {"resource": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"generateName": "push-"},
                    "data": {"commit": "placeholder"}}},
                    "parameters": [{"src": {"dependencyName": "push", "dataKey": "body.after"}, "dest": "data.commit"}]}}},
                {"template": {"name": "build", "argoWorkflow": {"operation": "submit", "source": {"resource": {
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                    "metadata": {"generateName": "build-"},
                    "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "commit", "value": "placeholder"}]}}}},
                    "parameters": [{"src": {"dependencyName": "push", "dataKey": "body.after"}, "dest": "spec.arguments.parameters.0.value"}]}}},
            ],
        },
    }).to_string());
    let es = owned_deployment(&ns, "eventsource-name", "hooks", &mut ctl);
    let sensor = owned_deployment(&ns, "sensor-name", "on-push", &mut ctl);

    let bus_dir = c.scratch.path().join(format!("bus-{}", ns.name));
    let (mut nats, nats_port) = bus_server(&ns, &bus_dir);
    let url = format!("nats://127.0.0.1:{nats_port}");
    // The Pods the ReplicaSet controller made for the two Deployments, run by the kubelet
    // stand-in on its Node; their admin servers on ports of their own, at the pod IP.
    let start = |deployment: &Value| {
        Pod::adopt(deployment)
            .env("EVENTBUS_CONFIG", &bus_config_at(deployment, &url))
            .env("METRICS_ADDR", &format!("0.0.0.0:{}", pod_port()))
            .start()
    };
    let mut sensor_pod = start(&sensor);
    let mut es_pod = start(&es);

    // The EventSource answers 200 once the bus holds the event; until the pods are up, retry.
    let commit = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let body = json!({"ref": "refs/heads/main", "after": commit}).to_string();
    wait_for("the EventSource to accept the event", WAIT, || {
        es_pod.assert_running();
        sensor_pod.assert_running();
        nats.assert_running();
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5"])
            .args([
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                &body,
            ])
            .arg(format!("http://127.0.0.1:{port}/push"))
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        let code = String::from_utf8_lossy(&out.stdout).into_owned();
        if code == "200" {
            Ok(Some(()))
        } else {
            Err(format!("answered {code:?}"))
        }
    });

    let selector = "events.argoproj.io/sensor=on-push";
    let cm = wait_for(
        "the k8s trigger's ConfigMap",
        Duration::from_secs(30),
        || {
            sensor_pod.assert_running();
            Ok(ns.list("configmaps", Some(selector)).into_iter().next())
        },
    );
    assert_eq!(
        cm["data"]["commit"], commit,
        "the ConfigMap carries the commit"
    );
    assert_eq!(
        cm["metadata"]["labels"]["events.argoproj.io/trigger"], "record",
        "upstream's trigger label"
    );
    let wf = wait_for(
        "the argoWorkflow trigger's Workflow",
        Duration::from_secs(30),
        || {
            sensor_pod.assert_running();
            Ok(ns.list("workflows", None).into_iter().next())
        },
    );
    assert_eq!(
        wf["spec"]["arguments"]["parameters"][0]["value"], commit,
        "the Workflow carries the commit: {wf}"
    );
    assert!(
        wf["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("build-")),
        "generated name build-…: {}",
        wf["metadata"]
    );
    es_pod.assert_running();
}
