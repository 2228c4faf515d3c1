//! The Helm chart (`manifests/helm/argo-events-rs`), offline, with a real `helm` built from its
//! Go module (`scripts/test-tools`):
//!
//! - one source of truth: its default render is `manifests/install.yaml` and its namespaced
//!   render `manifests/namespace-install.yaml`, object by object (kind, namespace and name as
//!   the key, the whole parsed object equal), from the chart directory and from `helm package`;
//!   rendered for a cluster that serves the CRDs (`--api-versions`: the example EventBus waits
//!   for them) and with one exception, install.yaml's Namespace (Helm owns a release's
//!   namespace; a chart rendering it would be adopted by `--create-namespace` and deleted by
//!   `helm uninstall`);
//! - `helm lint --strict` passes with the defaults and with every option set;
//! - `values.schema.json` rejects bad values with its message, through `helm lint` and
//!   `helm template` alike;
//! - the values do what they say, on the render (the controller's config parsed by the
//!   controller's own parser);
//! - every built-in object of those renders passes `kubernetes-validate --strict`.
//!
//! Installing, upgrading, rolling back and uninstalling it runs on the test API server, in the
//! cluster suite (`tests/tests/cluster/chart.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use argo_events_tests::tools::{self, Output};
use argo_events_tests::workspace_root;
use serde_json::Value;

/// Release name and namespace under which the default render is `install.yaml`.
const RELEASE: &str = "argo-events";
const NAMESPACE: &str = "argo-events";

/// Rendering for a cluster that serves EventBus (the CRDs exist): the chart renders its example
/// EventBus only then.
const CRDS_SERVED: [&str; 2] = ["--api-versions", "argoproj.io/v1alpha1/EventBus"];

/// install.yaml's objects the chart does not render, and why.
const NOT_RENDERED: [(&str, &str); 1] = [(
    "Namespace argo-events",
    "Helm owns a release's namespace (`helm install --create-namespace`); rendered, it would be \
     adopted into the release and deleted with it",
)];

/// Values touching every option the chart has (the kitchen sink), for lint, validation and
/// the value checks below.
fn all_options_values() -> String {
    tools::chart_dir()
        .join("ci/all-options-values.yaml")
        .to_string_lossy()
        .into_owned()
}

/// Temporary helm homes; helm never touches the user's.
fn helm_home() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("argo-events-helm")
        .tempdir()
        .expect("temp dir")
}

/// Runs helm with `args`.
fn helm(home: &Path, args: &[&str]) -> Result<Output, String> {
    let mut cmd = tools::helm_command(home);
    cmd.args(args);
    tools::run(cmd, &format!("helm {}", args.join(" ")))
}

/// `helm template` of `chart` (default: the chart directory) as release argo-events in
/// argo-events, for a cluster serving the CRDs, with `args`; its objects.
fn render_chart(chart: Option<&Path>, args: &[&str]) -> Vec<Value> {
    let home = helm_home();
    let chart_dir = tools::chart_dir();
    let chart = chart.unwrap_or(&chart_dir).to_string_lossy().into_owned();
    let mut all = vec!["template", RELEASE, chart.as_str(), "-n", NAMESPACE];
    all.extend_from_slice(&CRDS_SERVED);
    all.extend_from_slice(args);
    let out = helm(home.path(), &all).unwrap_or_else(|e| panic!("{e}"));
    objects(&out.stdout, "helm template")
}

fn render(args: &[&str]) -> Vec<Value> {
    render_chart(None, args)
}

/// `render` with the kitchen-sink values.
fn render_all_options(extra: &[&str]) -> Vec<Value> {
    let values = all_options_values();
    let mut args = vec!["-f", values.as_str()];
    args.extend_from_slice(extra);
    render(&args)
}

/// The objects of a multi-document YAML text.
fn objects(text: &str, name: &str) -> Vec<Value> {
    let (docs, errors) = argo_events_api::manifest::parse_documents(name, text);
    assert!(errors.is_none(), "{name}: {errors:?}");
    docs.into_iter().map(|d| d.value).collect()
}

fn committed(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(workspace_root().join(file))
        .unwrap_or_else(|e| panic!("reading {file}: {e}"));
    objects(&text, file)
}

/// `KIND namespace/name` (or `KIND name` when cluster-scoped): the key objects are compared by.
fn key(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("<no kind>");
    let name = obj["metadata"]["name"].as_str().unwrap_or("<no name>");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn by_key(objs: &[Value], what: &str) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for obj in objs {
        if let Some(previous) = map.insert(key(obj), obj.clone()) {
            panic!("{what} holds {} twice", key(&previous));
        }
    }
    map
}

/// Where two values differ: JSON pointers with both sides (at most `limit`).
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let sub = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => differences(v, w, &sub, out, limit),
                    (Some(v), None) => out.push(format!("{sub}: only in the manifest: {v}")),
                    (None, Some(w)) => out.push(format!("{sub}: only in the chart: {w}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(v, w, &format!("{path}/{i}"), out, limit);
            }
        }
        _ => {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.len() > 200 {
                    format!("{}…", &s[..s.floor_char_boundary(200)])
                } else {
                    s
                }
            };
            out.push(format!(
                "{}: manifest {} ≠ chart {}",
                if path.is_empty() { "/" } else { path },
                short(a),
                short(b)
            ));
        }
    }
}

/// Every way `chart` differs from `manifest`, object by object, but the objects of
/// `not_rendered` (which must be in the manifest and not in the chart); empty when they are the
/// same.
fn compare(
    manifest: &[Value],
    manifest_name: &str,
    chart: &[Value],
    not_rendered: &[(&str, &str)],
) -> Vec<String> {
    let expected = by_key(manifest, manifest_name);
    let got = by_key(chart, "the chart's render");
    let mut problems = Vec::new();
    for (k, why) in not_rendered {
        if !expected.contains_key(*k) {
            problems.push(format!(
                "{k} is listed as not rendered ({why}) but is not in {manifest_name}"
            ));
        }
        if got.contains_key(*k) {
            problems.push(format!(
                "{k} is rendered, yet listed as not rendered ({why})"
            ));
        }
    }
    for (k, want) in &expected {
        if not_rendered.iter().any(|(n, _)| n == k) {
            continue;
        }
        match got.get(k) {
            None => problems.push(format!(
                "{k}: in {manifest_name}, not rendered by the chart"
            )),
            Some(have) => {
                let mut diffs = Vec::new();
                differences(want, have, "", &mut diffs, 20);
                if !diffs.is_empty() {
                    problems.push(format!("{k} differs:\n      {}", diffs.join("\n      ")));
                }
            }
        }
    }
    for k in got.keys().filter(|k| !expected.contains_key(*k)) {
        problems.push(format!(
            "{k}: rendered by the chart, not in {manifest_name}"
        ));
    }
    problems
}

fn assert_same(manifest_name: &str, chart: &[Value], how: &str) {
    let manifest = committed(manifest_name);
    let not_rendered: &[(&str, &str)] = if manifest_name == "manifests/install.yaml" {
        &NOT_RENDERED
    } else {
        &[]
    };
    let problems = compare(&manifest, manifest_name, chart, not_rendered);
    assert!(
        problems.is_empty(),
        "{how} is not {manifest_name} ({} object(s) there, {} rendered):\n  {}\n\
         Change the chart (manifests/helm/argo-events-rs) and the kustomize sources together; \
         regenerate the install manifests with `kubectl kustomize manifests/install > \
         manifests/install.yaml` and `kubectl kustomize manifests/namespace-install > \
         manifests/namespace-install.yaml`.",
        manifest.len(),
        chart.len(),
        problems.join("\n  ")
    );
}

#[test]
fn chart_default_render_is_install_yaml() {
    let chart = render(&[]);
    assert!(chart.len() > 15, "only {} objects rendered", chart.len());
    assert_same(
        "manifests/install.yaml",
        &chart,
        "`helm template argo-events manifests/helm/argo-events-rs -n argo-events --api-versions \
         argoproj.io/v1alpha1/EventBus`",
    );
}

/// For a cluster that does not serve EventBus yet (the chart's first install there creates
/// the CRDs), the example EventBus waits: Helm maps every object before it creates any.
#[test]
fn chart_renders_the_event_bus_only_where_the_crds_are_served() {
    let home = helm_home();
    let chart = tools::chart_dir().to_string_lossy().into_owned();
    let out = helm(
        home.path(),
        &["template", RELEASE, chart.as_str(), "-n", NAMESPACE],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let without = objects(&out.stdout, "helm template");
    assert!(
        kinds(&without, "EventBus").is_empty(),
        "an EventBus rendered"
    );
    assert_eq!(kinds(&without, "CustomResourceDefinition").len(), 3);
    assert_eq!(kinds(&render(&[]), "EventBus"), ["default"]);
}

#[test]
fn chart_namespaced_render_is_namespace_install_yaml() {
    let chart = render(&["--set", "controller.rbac.namespaced=true"]);
    assert_same(
        "manifests/namespace-install.yaml",
        &chart,
        "the chart with controller.rbac.namespaced=true",
    );
}

/// The package carries the linked files (CRDs, policies, controller rules) as files, and
/// renders the same objects.
#[test]
fn chart_package_renders_install_yaml() {
    let home = helm_home();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let chart_dir = tools::chart_dir();
    let out = helm(
        home.path(),
        &[
            "package",
            &chart_dir.to_string_lossy(),
            "--destination",
            &out_dir.path().to_string_lossy(),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let version = env!("CARGO_PKG_VERSION");
    let package = out_dir.path().join(format!("argo-events-rs-{version}.tgz"));
    assert!(
        package.is_file(),
        "helm package made no {}: {}",
        package.display(),
        out.stdout
    );
    let listing = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&package)
        .output()
        .expect("tar runs");
    let listing = String::from_utf8_lossy(&listing.stdout);
    for file in [
        "argo-events-rs/files/crds/argoproj.io_sensors.yaml",
        "argo-events-rs/files/webhook-policies-configmap.yaml",
        "argo-events-rs/files/controller-cluster-role.yaml",
        "argo-events-rs/values.schema.json",
        "argo-events-rs/templates/NOTES.txt",
    ] {
        assert!(
            listing.lines().any(|l| l == file),
            "{file} is not in the package:\n{listing}"
        );
    }
    assert!(
        !listing.contains("kustomization.yaml") && !listing.contains("/ci/"),
        "the CRDs' kustomization or the test values are packaged:\n{listing}"
    );
    let chart = render_chart(Some(&package), &[]);
    assert_same("manifests/install.yaml", &chart, "the packaged chart");
}

#[test]
fn chart_app_version_is_the_workspace_version() {
    let text = std::fs::read_to_string(tools::chart_dir().join("Chart.yaml")).expect("Chart.yaml");
    let chart: Value = serde_yaml_ng::from_str(&text).expect("Chart.yaml is YAML");
    assert_eq!(chart["appVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(chart["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(chart["name"], "argo-events-rs");
}

#[test]
fn chart_lints_clean_with_defaults_and_every_option() {
    let home = helm_home();
    let chart = tools::chart_dir().to_string_lossy().into_owned();
    let values = all_options_values();
    for args in [
        vec!["lint", "--strict", chart.as_str()],
        vec!["lint", "--strict", chart.as_str(), "-f", values.as_str()],
        vec![
            "lint",
            "--strict",
            chart.as_str(),
            "--set",
            "controller.rbac.namespaced=true,crds.install=false",
        ],
    ] {
        let out = helm(home.path(), &args).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.stdout.contains("1 chart(s) linted, 0 chart(s) failed"),
            "helm {}:\n{}",
            args.join(" "),
            out.stdout
        );
        assert!(
            !out.stdout.contains("[WARNING]") && !out.stdout.contains("[ERROR]"),
            "helm {}:\n{}",
            args.join(" "),
            out.stdout
        );
    }
}

/// Bad values fail `helm lint` and `helm template` with the schema's words.
#[test]
fn chart_schema_rejects_bad_values() {
    let home = helm_home();
    let chart = tools::chart_dir().to_string_lossy().into_owned();
    let cases = [
        (
            "controller.replicas=two",
            "at '/controller/replicas': got string, want integer",
        ),
        (
            "webhook.replicas=-1",
            "at '/webhook/replicas': minimum: got -1, want 0",
        ),
        (
            "webhook.failurePolicy=Sometimes",
            "at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'",
        ),
        (
            "controler.replicas=2",
            "additional properties 'controler' not allowed",
        ),
        (
            "crds.keep=maybe",
            "at '/crds/keep': got string, want boolean",
        ),
    ];
    let mut problems = Vec::new();
    for (set, message) in cases {
        for verb in ["lint", "template"] {
            let args = [verb, chart.as_str(), "--set", set];
            match helm(home.path(), &args) {
                Ok(out) => problems.push(format!(
                    "helm {} succeeded:\n{}",
                    args.join(" "),
                    out.stdout.lines().take(5).collect::<Vec<_>>().join("\n")
                )),
                Err(e) if e.contains(message) => {}
                Err(e) => problems.push(format!("expected {message:?} in: {e}")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name} rendered; rendered: {:?}",
                objs.iter().map(key).collect::<Vec<_>>()
            )
        })
}

fn kinds(objs: &[Value], kind: &str) -> Vec<String> {
    objs.iter()
        .filter(|o| o["kind"] == kind)
        .map(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Each option changes the render the way values.yaml says.
#[test]
fn chart_values_change_the_render() {
    let all = render_all_options(&[]);
    let controller = find(&all, "Deployment", "controller-manager");
    let pod = &controller["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(controller["spec"]["replicas"], 2);
    assert_eq!(controller["metadata"]["labels"]["env"], "test");
    assert_eq!(
        controller["spec"]["template"]["metadata"]["labels"]["team"],
        "events"
    );
    assert_eq!(
        controller["spec"]["template"]["metadata"]["annotations"]["example.com/team"],
        "events"
    );
    // An empty tag is the chart's appVersion; the generated pods run the same image.
    let image = format!(
        "registry.example/argo-events-rs:{}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(container["image"], image.as_str());
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    let env: Vec<(&str, &str)> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .collect();
    assert!(
        env.contains(&("ARGO_EVENTS_IMAGE", image.as_str())),
        "{env:?}"
    );
    assert!(env.contains(&("RUST_LOG", "debug")), "{env:?}");
    assert_eq!(
        container["args"],
        serde_json::json!([
            "run",
            "--managed-namespace",
            "events",
            "--leader-election=true"
        ])
    );
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["key"],
        "kubernetes.io/arch"
    );
    assert_eq!(pod["topologySpreadConstraints"][0]["maxSkew"], 1);
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["imagePullSecrets"][0]["name"], "pull");
    // The component's pod security context over global.securityContext; values merge into
    // the defaults as Helm merges maps (null removes a default key).
    assert_eq!(
        pod["securityContext"],
        serde_json::json!({"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000,
            "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        container["securityContext"],
        serde_json::json!({"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false})
    );
    assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(container["resources"]["requests"]["cpu"], "200m");
    assert_eq!(
        container["livenessProbe"],
        serde_json::json!({"httpGet": {"path": "/live", "port": "health"}, "initialDelaySeconds": 5, "periodSeconds": 20, "failureThreshold": 4})
    );
    assert_eq!(pod["volumes"][2]["name"], "extra");
    assert_eq!(container["volumeMounts"][2]["mountPath"], "/extra");
    assert_eq!(
        find(&all, "ServiceAccount", "argo-events-controller")["metadata"]["annotations"]["example.com/role"],
        "events"
    );
    let rules = find(&all, "ClusterRole", "argo-events-controller")["rules"]
        .as_array()
        .expect("rules")
        .clone();
    assert_eq!(
        rules.last().map(|r| r["resources"][0].clone()),
        Some(Value::from("nodes")),
        "controller.rbac.rules are appended"
    );

    // The controller's config, read by the controller's own parser.
    let config =
        find(&all, "ConfigMap", "argo-events-controller-config")["data"]["controller-config.yaml"]
            .as_str()
            .expect("controller-config.yaml");
    let global = argo_events_controller::render::parse_controller_config(config)
        .unwrap_or_else(|e| panic!("the chart's controller config: {e}\n{config}"));
    global
        .version("main", "2.11.4")
        .unwrap_or_else(|e| panic!("configs.jetstream.versions: {e}"));
    assert!(
        global.version("main", "2.10.29").is_err(),
        "the versions table replaces the default one"
    );
    assert!(
        config.contains("maxMsgs: 1000000\n") && config.contains("maxBytes: 1GB\n"),
        "whole numbers print without an exponent:\n{config}"
    );

    // The webhook.
    let webhook = find(&all, "Deployment", "events-webhook");
    assert_eq!(webhook["spec"]["replicas"], 3);
    assert_eq!(
        webhook["spec"]["template"]["spec"]["priorityClassName"],
        "system-cluster-critical"
    );
    assert_eq!(
        webhook["spec"]["template"]["spec"]["containers"][0]["image"],
        image.as_str()
    );
    for (kind, name) in [
        (
            "ValidatingWebhookConfiguration",
            "webhook.argo-events.argoproj.io",
        ),
        (
            "MutatingWebhookConfiguration",
            "mutate.argo-events.argoproj.io",
        ),
    ] {
        let hook = &find(&all, kind, name)["webhooks"][0];
        assert_eq!(hook["failurePolicy"], "Ignore", "{kind}");
        assert_eq!(hook["timeoutSeconds"], 10, "{kind}");
        assert_eq!(hook["clientConfig"]["service"]["port"], 8443, "{kind}");
    }
    assert_eq!(
        find(&all, "Service", "events-webhook")["spec"]["ports"][0]["port"],
        8443
    );
    let pdb = &find(&all, "PodDisruptionBudget", "events-webhook")["spec"];
    assert_eq!(pdb["maxUnavailable"], 1);
    assert!(pdb.get("minAvailable").is_none(), "{pdb}");

    // Metrics Services and the ServiceMonitors selecting exactly them.
    for (service, monitor_labels) in [
        ("controller-manager-metrics", "prometheus"),
        ("events-webhook-metrics", ""),
    ] {
        let svc = find(&all, "Service", service);
        let monitor = find(&all, "ServiceMonitor", service);
        let selector = monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .expect("matchLabels");
        for (k, v) in selector {
            assert_eq!(&svc["metadata"]["labels"][k], v, "{service}: label {k}");
        }
        assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
        if !monitor_labels.is_empty() {
            assert_eq!(monitor["metadata"]["labels"]["release"], monitor_labels);
        }
    }
    assert_eq!(
        find(&all, "ServiceMonitor", "events-webhook-metrics")["spec"]["endpoints"][0]["interval"],
        "15s"
    );

    // CRDs: no keep policy with crds.keep=false; the extra annotation and labels.
    for crd in all
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
    {
        let annotations = &crd["metadata"]["annotations"];
        assert!(
            annotations.get("helm.sh/resource-policy").is_none(),
            "{}",
            key(crd)
        );
        assert_eq!(annotations["example.com/owner"], "platform");
        assert_eq!(crd["metadata"]["labels"]["env"], "test");
        assert_eq!(
            crd["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "argo-events"
        );
    }
    // Aggregated roles.
    for role in ["view", "edit", "admin"] {
        let cr = find(
            &all,
            "ClusterRole",
            &format!("argo-events-aggregate-to-{role}"),
        );
        assert_eq!(
            cr["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{role}")],
            "true"
        );
    }
    let bus = find(&all, "EventBus", "main");
    assert_eq!(bus["spec"]["jetstream"]["version"], "2.11.4");
    assert_eq!(
        find(&all, "ConfigMap", "extra")["metadata"]["namespace"],
        NAMESPACE
    );

    // Turning parts off.
    let off = render(&[
        "--set",
        "webhook.enabled=false,crds.install=false,eventBus.enabled=false,controller.rbac.enabled=false,controller.serviceAccount.create=false,controller.serviceAccount.name=mine",
    ]);
    for kind in [
        "CustomResourceDefinition",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "EventBus",
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
        "PodDisruptionBudget",
    ] {
        assert!(
            kinds(&off, kind).is_empty(),
            "{kind}: {:?}",
            kinds(&off, kind)
        );
    }
    assert_eq!(kinds(&off, "Deployment"), ["controller-manager"]);
    assert_eq!(
        find(&off, "Deployment", "controller-manager")["spec"]["template"]["spec"]["serviceAccountName"],
        "mine"
    );

    // Namespaced mode: a Role in the managed namespace, no cluster-scoped object but the CRDs,
    // no webhook.
    let namespaced = render(&[
        "--set",
        "controller.rbac.namespaced=true,controller.rbac.managedNamespace=apps,createAggregateRoles=true",
    ]);
    let cluster_scoped: Vec<String> = namespaced
        .iter()
        .filter(|o| o["metadata"]["namespace"].is_null())
        .map(key)
        .collect();
    assert_eq!(
        cluster_scoped,
        [
            "CustomResourceDefinition eventbus.argoproj.io",
            "CustomResourceDefinition eventsources.argoproj.io",
            "CustomResourceDefinition sensors.argoproj.io"
        ]
    );
    assert_eq!(
        find(&namespaced, "Role", "argo-events-controller")["metadata"]["namespace"],
        "apps"
    );
    let binding = find(&namespaced, "RoleBinding", "argo-events-controller");
    assert_eq!(binding["metadata"]["namespace"], "apps");
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    assert_eq!(
        find(&namespaced, "Deployment", "controller-manager")["spec"]["template"]["spec"]["containers"]
            [0]["args"],
        serde_json::json!(["run", "--namespaced", "--managed-namespace", "apps"])
    );
    assert_eq!(
        find(&namespaced, "EventBus", "default")["metadata"]["namespace"],
        "apps"
    );

    // A ServiceMonitor without its Service is refused by name.
    let home = helm_home();
    let chart = tools::chart_dir().to_string_lossy().into_owned();
    let err = helm(
        home.path(),
        &[
            "template",
            chart.as_str(),
            "--set",
            "controller.metrics.serviceMonitor.enabled=true",
        ],
    )
    .err()
    .expect("a ServiceMonitor without the metrics Service is refused");
    assert!(
        err.contains("controller.metrics.serviceMonitor.enabled needs controller.metrics.enabled"),
        "{err}"
    );
}

/// Every built-in object the chart renders, with the defaults, namespaced and with every
/// option, passes kubernetes-validate --strict (ServiceMonitor and EventBus are custom
/// resources: skipped, as the validator has no schema for them).
#[test]
fn chart_renders_validate_against_the_kubernetes_schema() {
    let mut objects = Vec::new();
    objects.extend(render(&[]));
    objects.extend(render(&["--set", "controller.rbac.namespaced=true"]));
    objects.extend(render_all_options(&[]));
    let validated = crate::kubevalidate::validate_built_in("the chart's renders", &objects)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(validated > 40, "only {validated} objects validated");
    eprintln!("kubernetes-validate --strict: {validated} chart object(s) valid");
}
