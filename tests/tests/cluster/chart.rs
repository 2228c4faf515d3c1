//! The Helm chart (`manifests/helm/argo-events-rs`) on the test API server, with a real `helm`
//! built from its Go module (`scripts/test-tools`); its render is checked offline in
//! `tests/tests/chart.rs`.
//!
//! The cases run beside the others, each in a namespace of its own, so the chart's
//! cluster-scoped objects are handled so as never to disturb them:
//!
//! - **lifecycle**: `helm install` in namespaced mode (`controller.rbac.namespaced=true`: a Role,
//!   no webhook, nothing cluster-scoped) with `crds.install=false` (the suite's CRDs serve), then
//!   `helm upgrade` changing the controller's replicas and memory limit (seen on the stored
//!   Deployment), `helm rollback` to the first revision (the first values back), and
//!   `helm uninstall` (every object of the release gone).
//! - **fresh cluster**: the default, cluster-wide chart on an API server of its own (started
//!   like the suite's, so its CRDs, ClusterRoles and webhook configurations disturb no other
//!   case): `helm install --create-namespace` creates the CRDs and everything else but the
//!   EventBus (not served yet when the release was mapped; NOTES.txt says so), `helm upgrade`
//!   creates the EventBus, `helm uninstall` removes everything but the CRDs (crds.keep) and the
//!   namespace (Helm's, not the release's).
//! - **server dry run**: the cluster-wide renders (defaults, and every option of
//!   `ci/all-options-values.yaml`), CRDs, ClusterRoles and webhook configurations included, sent
//!   with `kubectl apply --server-side --dry-run=server`: the API server validates and admits
//!   every object (webhook configurations' CEL matchConditions compiled) and stores none. The
//!   install case stores install.yaml, which is the default render (tests/tests/chart.rs).

use std::path::PathBuf;
use std::time::Instant;

use argo_events_tests::tools::{self, Output};
use libtest_mimic::Trial;
use serde_json::Value;

use crate::harness::{Namespace, WAIT, cluster, wait_for};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("chart::install_upgrade_rollback_uninstall", || {
            lifecycle();
            Ok(())
        }),
        Trial::test(
            "chart::fresh_cluster_install_upgrade_uninstall_keeps_the_crds",
            || {
                fresh_cluster();
                Ok(())
            },
        ),
        Trial::test("chart::cluster_wide_renders_pass_a_server_dry_run", || {
            server_dry_run();
            Ok(())
        }),
    ]
}

/// helm against the suite's API server, with homes of its own in the suite's scratch space.
struct Helm {
    home: PathBuf,
    kubeconfig: PathBuf,
}

impl Helm {
    fn new(case: &str) -> Helm {
        Helm {
            home: cluster().scratch.path().join(format!("helm-{case}")),
            kubeconfig: cluster().kubeconfig.clone(),
        }
    }

    fn run(&self, args: &[&str]) -> Result<Output, String> {
        let mut cmd = tools::helm_command(&self.home);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        tools::run(cmd, &format!("helm {}", args.join(" ")))
    }

    fn must(&self, args: &[&str]) -> Output {
        self.run(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The objects of a release's manifest (`helm get manifest`).
    fn manifest(&self, release: &str, ns: &str) -> Vec<Value> {
        let out = self.must(&["get", "manifest", release, "-n", ns]);
        documents(&out.stdout, "helm get manifest")
    }

    /// `helm history -o json`: (revision, status, description) of each revision.
    fn history(&self, release: &str, ns: &str) -> Vec<(i64, String, String)> {
        let out = self.must(&["history", release, "-n", ns, "-o", "json"]);
        let revisions: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("helm history -o json: {e}: {}", out.stdout));
        revisions
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["revision"].as_i64().unwrap_or_default(),
                            r["status"].as_str().unwrap_or_default().to_owned(),
                            r["description"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn chart() -> String {
    tools::chart_dir().to_string_lossy().into_owned()
}

fn documents(text: &str, name: &str) -> Vec<Value> {
    let (docs, errors) = argo_events_api::manifest::parse_documents(name, text);
    assert!(errors.is_none(), "{name}: {errors:?}");
    docs.into_iter().map(|d| d.value).collect()
}

fn identity(obj: &Value) -> (String, String) {
    (
        obj["kind"].as_str().unwrap_or_default().to_owned(),
        obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The controller Deployment's replicas and memory limit, as stored.
fn controller_shape(ns: &Namespace) -> (i64, String) {
    let d = ns
        .get("deployment", "controller-manager")
        .expect("the release's Deployment controller-manager is stored");
    (
        d["spec"]["replicas"].as_i64().unwrap_or_default(),
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn lifecycle() {
    let c = cluster();
    let ns = c.namespace("chart-life");
    let helm = Helm::new("lifecycle");
    let release = "events";
    let started = Instant::now();

    // Revision 1: namespaced, the suite's CRDs.
    helm.must(&[
        "install",
        release,
        &chart(),
        "-n",
        &ns.name,
        "--set",
        "controller.rbac.namespaced=true,crds.install=false",
    ]);
    let objects = helm.manifest(release, &ns.name);
    let names: Vec<(String, String)> = objects.iter().map(identity).collect();
    for kind in [
        "ServiceAccount",
        "ConfigMap",
        "Role",
        "RoleBinding",
        "Deployment",
        "EventBus",
    ] {
        assert!(
            names.iter().any(|(k, _)| k == kind),
            "the release has no {kind}: {names:?}"
        );
    }
    for obj in &objects {
        let (kind, name) = identity(obj);
        assert_eq!(
            obj["metadata"]["namespace"].as_str(),
            Some(ns.name.as_str()),
            "{kind} {name} is not in the release's namespace (namespaced mode renders nothing \
             cluster-scoped without the CRDs)"
        );
        let stored = ns
            .get(&kind, &name)
            .unwrap_or_else(|| panic!("{kind} {name} of the release is not stored"));
        assert_eq!(
            stored["metadata"]["annotations"]["meta.helm.sh/release-name"], release,
            "{kind} {name} is not owned by the release"
        );
    }
    let deployment = ns
        .get("deployment", "controller-manager")
        .expect("the Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["args"],
        serde_json::json!(["run", "--namespaced"])
    );
    assert_eq!(controller_shape(&ns), (1, "256Mi".to_owned()));
    let role = ns.get("role", "argo-events-controller").expect("the Role");
    assert!(
        role["rules"].as_array().is_some_and(|r| r.len() > 5),
        "{role}"
    );

    // Revision 2: more replicas and memory, on the stored Deployment.
    helm.must(&[
        "upgrade",
        release,
        &chart(),
        "-n",
        &ns.name,
        "--reuse-values",
        "--set",
        "controller.replicas=2,controller.resources.limits.memory=512Mi",
    ]);
    assert_eq!(controller_shape(&ns), (2, "512Mi".to_owned()));

    // Revision 3: back to revision 1's values.
    helm.must(&["rollback", release, "1", "-n", &ns.name]);
    assert_eq!(controller_shape(&ns), (1, "256Mi".to_owned()));
    let history = helm.history(release, &ns.name);
    let revisions: Vec<(i64, &str)> = history.iter().map(|(r, s, _)| (*r, s.as_str())).collect();
    assert_eq!(
        revisions,
        [(1, "superseded"), (2, "superseded"), (3, "deployed")],
        "{history:?}"
    );
    assert_eq!(history[2].2, "Rollback to 1", "{history:?}");

    // Uninstalled: nothing of the release is left.
    helm.must(&["uninstall", release, "-n", &ns.name]);
    wait_for("the release's objects to be deleted", WAIT, || {
        let left: Vec<String> = objects
            .iter()
            .map(identity)
            .filter(|(kind, name)| ns.get(kind, name).is_some())
            .map(|(kind, name)| format!("{kind} {name}"))
            .collect();
        if left.is_empty() {
            Ok(Some(()))
        } else {
            Err(format!("still there: {left:?}"))
        }
    });
    let list = helm.must(&["list", "-n", &ns.name, "-q"]);
    assert!(list.stdout.trim().is_empty(), "{}", list.stdout);
    eprintln!(
        "chart: install, upgrade, rollback and uninstall in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

const CRDS: [&str; 3] = [
    "eventbus.argoproj.io",
    "eventsources.argoproj.io",
    "sensors.argoproj.io",
];

/// An API server of this case's own (`scripts/test-cluster start`), stopped when dropped.
struct OwnCluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

impl OwnCluster {
    fn start(name: &str) -> OwnCluster {
        let dir = cluster().scratch.path().join(name);
        let script = argo_events_tests::workspace_root().join("scripts/test-cluster");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        let own = OwnCluster {
            kubeconfig: dir.join("kubeconfig"),
            kubectl: std::fs::read_to_string(dir.join("bin"))
                .map(|b| PathBuf::from(b.trim()).join("kubectl"))
                .unwrap_or_default(),
            dir,
        };
        assert!(
            status.success(),
            "scripts/test-cluster start failed ({status})"
        );
        own
    }

    fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = std::process::Command::new(&self.kubectl);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        argo_events_tests::run_kubectl(cmd, args, None)
    }

    /// An object as JSON (`-n NAMESPACE` unless empty); `None` when it does not exist.
    fn get(&self, namespace: &str, kind: &str, name: &str) -> Option<Value> {
        let mut args = vec!["get", kind, name, "-o", "json", "--ignore-not-found"];
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        let out = self.kubectl(&args).unwrap_or_else(|e| panic!("{e}"));
        if out.trim().is_empty() {
            return None;
        }
        Some(
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl get {kind} {name}: {e}")),
        )
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(argo_events_tests::workspace_root().join("scripts/test-cluster"))
            .arg("stop")
            .arg(&self.dir)
            .stdin(std::process::Stdio::null())
            .status();
    }
}

fn fresh_cluster() {
    let own = OwnCluster::start("chart-fresh-cluster");
    let started = Instant::now();
    let helm = Helm {
        home: cluster().scratch.path().join("helm-fresh"),
        kubeconfig: own.kubeconfig.clone(),
    };
    let ns = "argo-events";
    // failurePolicy Ignore: no webhook pod runs here to admit the EventBus of the upgrade.
    let installed = helm.must(&[
        "install",
        "argo-events",
        &chart(),
        "-n",
        ns,
        "--create-namespace",
        "--set",
        "webhook.failurePolicy=Ignore",
    ]);
    assert!(
        installed
            .stdout
            .contains("The EventBus default was not created"),
        "NOTES.txt does not say the EventBus waits:\n{}",
        installed.stdout
    );
    let manifest = helm.manifest("argo-events", ns);
    let kinds: Vec<String> = manifest.iter().map(|o| identity(o).0).collect();
    assert!(
        !kinds.iter().any(|k| k == "EventBus" || k == "Namespace"),
        "{kinds:?}"
    );
    for kind in [
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "PodDisruptionBudget",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} in the release: {kinds:?}"
        );
    }
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    let crd_args: Vec<String> = CRDS.iter().map(|n| format!("crd/{n}")).collect();
    wait.extend(crd_args.iter().map(String::as_str));
    own.kubectl(&wait).unwrap_or_else(|e| panic!("{e}"));
    let uids: Vec<String> = CRDS
        .iter()
        .map(|n| {
            let crd = own.get("", "crd", n).expect("the release's CRD");
            assert_eq!(
                crd["metadata"]["annotations"]["meta.helm.sh/release-name"],
                "argo-events"
            );
            assert_eq!(
                crd["metadata"]["annotations"]["helm.sh/resource-policy"],
                "keep"
            );
            crd["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let hook = own
        .get(
            "",
            "validatingwebhookconfiguration",
            "webhook.argo-events.argoproj.io",
        )
        .expect("the validating webhook configuration");
    assert_eq!(hook["webhooks"][0]["failurePolicy"], "Ignore");
    assert_eq!(
        hook["webhooks"][0]["clientConfig"]["service"]["namespace"],
        ns
    );

    // The CRDs are served now: the upgrade creates the EventBus.
    let upgraded = helm.must(&[
        "upgrade",
        "argo-events",
        &chart(),
        "-n",
        ns,
        "--reuse-values",
    ]);
    assert!(
        upgraded.stdout.contains("get eventbus default"),
        "{}",
        upgraded.stdout
    );
    let bus = own
        .get(ns, "eventbus", "default")
        .expect("the EventBus after the upgrade");
    assert_eq!(bus["spec"]["jetstream"]["version"], "2.10.29");

    // Uninstalled: the CRDs (crds.keep) and the namespace stay, nothing else.
    let out = helm.must(&["uninstall", "argo-events", "-n", ns]);
    let said = format!("{}\n{}", out.stdout, out.stderr);
    assert!(said.contains("kept due to the resource policy"), "{said}");
    let after: Vec<String> = CRDS
        .iter()
        .map(|n| {
            own.get("", "crd", n)
                .and_then(|c| c["metadata"]["uid"].as_str().map(str::to_owned))
                .unwrap_or_else(|| panic!("{n} was deleted by the uninstall"))
        })
        .collect();
    assert_eq!(uids, after, "the CRDs were recreated");
    assert!(
        own.get("", "namespace", ns).is_some(),
        "the namespace went with the release"
    );
    wait_for("the release's other objects to be deleted", WAIT, || {
        let left: Vec<String> = [
            (ns, "deployment", "controller-manager"),
            (ns, "deployment", "events-webhook"),
            (ns, "eventbus", "default"),
            ("", "clusterrole", "argo-events-controller"),
            (
                "",
                "validatingwebhookconfiguration",
                "webhook.argo-events.argoproj.io",
            ),
            (
                "",
                "mutatingwebhookconfiguration",
                "mutate.argo-events.argoproj.io",
            ),
        ]
        .into_iter()
        .filter(|(n, k, name)| own.get(n, k, name).is_some())
        .map(|(_, k, name)| format!("{k} {name}"))
        .collect();
        if left.is_empty() {
            Ok(Some(()))
        } else {
            Err(format!("still there: {left:?}"))
        }
    });
    eprintln!(
        "chart: fresh cluster install, upgrade and uninstall in {:.1} s (its API server's start \
         not counted)",
        started.elapsed().as_secs_f64()
    );
}

fn server_dry_run() {
    let c = cluster();
    let ns = c.namespace("chart-dry");
    let home = Helm::new("dry-run");
    let values = tools::chart_dir()
        .join("ci/all-options-values.yaml")
        .to_string_lossy()
        .into_owned();
    let started = Instant::now();
    let chart = chart();
    for (what, extra) in [
        ("the defaults", vec![]),
        ("every option", vec!["-f", values.as_str()]),
    ] {
        // For a cluster serving the CRDs (it does), so the example EventBus is in.
        let mut args = vec![
            "template",
            "argo-events",
            chart.as_str(),
            "-n",
            &ns.name,
            "--api-versions",
            "argoproj.io/v1alpha1/EventBus",
        ];
        args.extend(extra);
        let out = home.must(&args);
        // ServiceMonitor's CRD (Prometheus Operator) is not installed here.
        let objects: Vec<Value> = documents(&out.stdout, "helm template")
            .into_iter()
            .filter(|o| o["kind"] != "ServiceMonitor")
            .collect();
        let cluster_scoped = objects
            .iter()
            .filter(|o| o["metadata"]["namespace"].is_null())
            .count();
        assert!(
            cluster_scoped >= 8,
            "{what}: {cluster_scoped} cluster-scoped objects"
        );
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
        // Forced: other cases own objects of the same names (the CRDs, the install's RBAC and
        // webhook configurations); a dry run changes nothing of theirs.
        let applied = c
            .kubectl_stdin(
                &[
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "--field-manager",
                    "chart-dry-run",
                    "--dry-run=server",
                    "-f",
                    "-",
                ],
                Some(&list.to_string()),
            )
            .unwrap_or_else(|e| panic!("{what}: the API server refuses the chart's render: {e}"));
        let lines = applied
            .lines()
            .filter(|l| l.contains("(server dry run)"))
            .count();
        assert_eq!(
            lines,
            objects.len(),
            "{what}: not every object was dry-run applied:\n{applied}"
        );
    }
    // Nothing was stored.
    assert!(
        cluster_get("clusterrole", "argo-events-aggregate-to-view").is_none(),
        "a dry run stored a ClusterRole"
    );
    assert!(ns.get("configmap", "extra").is_none());
    eprintln!(
        "chart: server dry runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A cluster-scoped object as JSON; `None` when it does not exist.
fn cluster_get(kind: &str, name: &str) -> Option<Value> {
    let out = cluster().must(&["get", kind, name, "-o", "json", "--ignore-not-found"]);
    if out.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl get {kind} {name}: {e}")))
}
