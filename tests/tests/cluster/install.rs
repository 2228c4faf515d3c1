//! Case 2: `manifests/install.yaml` and `manifests/namespace-install.yaml` apply cleanly on a
//! real API server. Deployments are stored; their Pods stay Pending (no scheduler, and the
//! kubelet stand-in adopts only the pods a case asks it to).
//!
//! The install's webhook configurations are checked with `--dry-run=server` only: once stored,
//! with `failurePolicy: Fail` and no webhook pod to answer, they would refuse every EventBus,
//! EventSource and Sensor write of the other cases running beside this one. The webhook itself
//! is registered for real, for its own namespace, in the webhook case.

use libtest_mimic::Trial;
use serde_json::Value;

use crate::harness::{Namespace, cluster};

const WEBHOOK_KINDS: [&str; 2] = [
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("install::install_yaml_applies_cleanly", || {
            install_applies();
            Ok(())
        }),
        Trial::test("install::namespace_install_yaml_applies_cleanly", || {
            let ns = cluster().namespace("ns-install");
            let applied = namespace_install_into(&ns);
            for (kind, name) in applied {
                assert!(
                    ns.get(&kind, &name).is_some(),
                    "{kind} {name} of namespace-install.yaml is not stored"
                );
            }
            Ok(())
        }),
    ]
}

/// The documents of a committed install manifest, as JSON.
pub fn documents(file: &str) -> Vec<Value> {
    let path = argo_events_tests::workspace_root().join(file);
    let (docs, errors) =
        argo_events_api::manifest::load(&[path]).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    assert!(errors.is_empty(), "{file}: {errors:?}");
    docs.into_iter().map(|d| d.value).collect()
}

fn list_of(items: Vec<Value>) -> String {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn install_applies() {
    let c = cluster();
    let docs = documents("manifests/install.yaml");
    let (webhooks, rest): (Vec<Value>, Vec<Value>) = docs
        .into_iter()
        .partition(|d| WEBHOOK_KINDS.contains(&d["kind"].as_str().unwrap_or_default()));
    assert_eq!(
        webhooks.len(),
        2,
        "install.yaml has both webhook configurations"
    );
    let expected: Vec<(String, String, Option<String>)> = rest.iter().map(identity).collect();
    c.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "install",
            "-f",
            "-",
        ],
        Some(&list_of(rest)),
    )
    .unwrap_or_else(|e| panic!("applying install.yaml: {e}"));
    c.kubectl_stdin(
        // Forced: the webhook case registers configurations of the same names meanwhile.
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            "-",
        ],
        Some(&list_of(webhooks)),
    )
    .unwrap_or_else(|e| panic!("install.yaml's webhook configurations (dry run): {e}"));
    for (kind, name, namespace) in expected {
        let mut args = vec!["get", kind.as_str(), name.as_str(), "-o", "name"];
        if let Some(ns) = &namespace {
            args.extend(["-n", ns.as_str()]);
        }
        c.kubectl(&args)
            .unwrap_or_else(|e| panic!("{kind} {name} of install.yaml is not stored: {e}"));
    }
    // Stored; their Pods stay unscheduled: nothing runs them here.
    let deployments = c.list("argo-events", "deployments", None);
    let names: Vec<&str> = deployments
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"controller-manager") && names.contains(&"events-webhook"),
        "the install's Deployments: {names:?}"
    );
}

fn identity(doc: &Value) -> (String, String, Option<String>) {
    (
        doc["kind"].as_str().unwrap_or_default().to_string(),
        doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        doc["metadata"]["namespace"].as_str().map(str::to_string),
    )
}

/// Applies `manifests/namespace-install.yaml` into `ns` (its namespaced objects moved there, as
/// `kustomize edit set namespace` would; the CRDs are the suite's own) and returns the kind and
/// name of each object applied. The controller's ServiceAccount is `argo-events-controller`.
pub fn namespace_install_into(ns: &Namespace) -> Vec<(String, String)> {
    let mut applied = Vec::new();
    let mut items = Vec::new();
    for mut doc in documents("manifests/namespace-install.yaml") {
        if doc["kind"] == "CustomResourceDefinition" {
            continue;
        }
        doc["metadata"]["namespace"] = Value::from(ns.name.as_str());
        if let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut) {
            for subject in subjects {
                if subject.get("namespace").is_some() {
                    subject["namespace"] = Value::from(ns.name.as_str());
                }
            }
        }
        let (kind, name, _) = identity(&doc);
        applied.push((kind, name));
        items.push(doc);
    }
    ns.must_apply(&list_of(items));
    applied
}
