//! Every container the install manifests ship starts and serves its probes: each Deployment of
//! `install.yaml` and `namespace-install.yaml` is run by the kubelet stand-in exactly as
//! shipped (command, args, env, volumes, ServiceAccount; nothing overridden), and each of its
//! readiness and liveness probes must answer 200 on the port and path it names.
//!
//! These run alone, one at a time, before the other cases (the exclusive phase of `main`): the install's
//! controller watches every namespace, its webhook patches the cluster's webhook
//! configurations, and both listen on the fixed ports of their manifests.

use std::process::Command;
use std::time::Duration;

use libtest_mimic::Trial;
use serde_json::Value;

use crate::harness::{cluster, wait_for};
use crate::install::{documents, namespace_install_into};
use crate::kubelet::Pod;
use crate::webhook::ca_bundle;

const WEBHOOK_CONFIGS: [(&str, &str); 2] = [
    (
        "validatingwebhookconfiguration",
        "webhook.argo-events.argoproj.io",
    ),
    (
        "mutatingwebhookconfiguration",
        "mutate.argo-events.argoproj.io",
    ),
];

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "containers::install_yaml_containers_start_and_serve_their_probes",
            || {
                install_containers_start();
                Ok(())
            },
        ),
        Trial::test(
            "containers::namespace_install_containers_start_and_serve_their_probes",
            || {
                let ns = cluster().namespace("ns-install-start");
                namespace_install_into(&ns);
                containers_start(&ns.name, &[]);
                Ok(())
            },
        ),
    ]
}

fn install_containers_start() {
    let c = cluster();
    // The same field manager as the install case, which applies the same objects later.
    c.apply_objects("install", documents("manifests/install.yaml"));
    // The webhook configurations stay only while this case runs: with failurePolicy Fail and
    // no webhook pod behind their Service, they would refuse the other cases' writes.
    let _cleanup = DeleteOnDrop;
    containers_start("argo-events", &["controller-manager", "events-webhook"]);
    // The webhook wrote its CA into both configurations, as the install expects.
    for (kind, name) in WEBHOOK_CONFIGS {
        assert!(
            ca_bundle(kind, name).is_some(),
            "{kind} {name} has no caBundle after the webhook started"
        );
    }
}

struct DeleteOnDrop;

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        for (kind, name) in WEBHOOK_CONFIGS {
            let _ = cluster().kubectl(&["delete", kind, name, "--ignore-not-found"]);
        }
    }
}

/// Starts every Deployment of `namespace` (at least those named in `expect`) and checks its
/// probes; all of them run at once, as in the cluster.
fn containers_start(namespace: &str, expect: &[&str]) {
    let deployments = cluster().list(namespace, "deployments", None);
    let names: Vec<&str> = deployments
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    for want in expect {
        assert!(names.contains(want), "Deployment {want} in {names:?}");
    }
    assert!(!deployments.is_empty(), "no Deployment in {namespace}");
    let image = image_binaries();
    let mut pods = Vec::new();
    for d in &deployments {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        let pod = Pod::of(d, &format!("{name}-0"));
        let program = pod.argv()[0].clone();
        assert!(
            image.contains(&program),
            "{name} runs {program:?}, which the Dockerfile does not put in the image ({image:?})"
        );
        let probes = probes(d);
        assert!(!probes.is_empty(), "{name} has no HTTP probe");
        pods.push((name.to_string(), pod.start(), probes));
    }
    for (name, proc, probes) in &mut pods {
        for (kind, port, path) in probes.iter() {
            let url = format!("http://127.0.0.1:{port}{path}");
            wait_for(
                &format!("{name}'s {kind} probe {url}"),
                Duration::from_secs(60),
                || {
                    proc.assert_running();
                    let code = Command::new("curl")
                        .args([
                            "-s",
                            "-o",
                            "/dev/null",
                            "-w",
                            "%{http_code}",
                            "-m",
                            "2",
                            &url,
                        ])
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                        .unwrap_or_default();
                    if code == "200" {
                        Ok(Some(()))
                    } else {
                        Err(format!("answered {code:?}"))
                    }
                },
            );
        }
    }
}

/// `(probe kind, port, path)` of every HTTP probe of the first container, the port resolved
/// from its name through the container's ports.
fn probes(deployment: &Value) -> Vec<(String, u16, String)> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut out = Vec::new();
    for kind in ["readinessProbe", "livenessProbe", "startupProbe"] {
        let get = &container[kind]["httpGet"];
        if get.is_null() {
            continue;
        }
        let port = match &get["port"] {
            Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Value::String(named) => container["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == named.as_str())
                .and_then(|p| p["containerPort"].as_u64())
                .and_then(|p| u16::try_from(p).ok()),
            _ => None,
        }
        .unwrap_or_else(|| panic!("{kind} port {} names no container port", get["port"]));
        let path = get["path"].as_str().unwrap_or("/").to_string();
        out.push((kind.to_string(), port, path));
    }
    out
}

/// The binaries the Dockerfile copies into the image (`cp target/release/NAME …`).
fn image_binaries() -> Vec<String> {
    let path = argo_events_tests::workspace_root().join("Dockerfile");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let names: Vec<String> = text
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("target/release/"))
        .map(str::to_string)
        .collect();
    assert!(!names.is_empty(), "no binary copied in the Dockerfile");
    names
}
