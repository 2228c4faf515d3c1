//! Case 4: the admission webhook as the API server calls it. `argo-events-webhook serve` runs on
//! the host as the install's ServiceAccount (its ClusterRole: watch the three kinds, create
//! SubjectAccessReviews, patch its two configurations by name), with a self-signed
//! certificate for `localhost`. The install's own webhook configurations (rules and
//! matchConditions as shipped) are registered with `url: https://localhost:PORT/…` instead of
//! the Service and a namespaceSelector limiting them to this case's namespace; the server
//! writes its CA into their caBundle itself. Everything else goes through plain `kubectl`.

use std::process::Command;
use std::time::Duration;

use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::harness::{
    NAMESPACE_LABEL, Namespace, Proc, WAIT, cluster, free_port, wait_for, workspace_bin,
};
use crate::install::documents;

const VALIDATING: &str = "webhook.argo-events.argoproj.io";
const MUTATING: &str = "mutate.argo-events.argoproj.io";
const WEBHOOK_SA: &str = "argo-events-webhook-sa";
const LABEL_VALUE: &str = "webhook";

pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "webhook::admission_through_the_api_server",
        || {
            admission_through_the_api_server();
            Ok(())
        },
    )]
}

/// The webhook server on the host, as its install ServiceAccount.
struct Server {
    proc: Proc,
    admin: u16,
}

impl Server {
    fn start(port: u16) -> Server {
        let c = cluster();
        let kubeconfig = c.service_account_kubeconfig("argo-events", WEBHOOK_SA);
        let admin = free_port();
        let mut cmd = Command::new(workspace_bin("argo-events-webhook"));
        cmd.args(["serve", "--self-signed", "--dns-name", "localhost"])
            .args(["--webhook-config", &format!("validating:{VALIDATING}")])
            .args(["--webhook-config", &format!("mutating:{MUTATING}")])
            .env("KUBECONFIG", &kubeconfig)
            .env("WEBHOOK_ADDR", format!("127.0.0.1:{port}"))
            .env("WEBHOOK_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
            .env("NAMESPACE", "argo-events");
        let mut server = Server {
            proc: Proc::spawn("webhook-server", cmd),
            admin,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let url = format!("http://127.0.0.1:{}/ready", self.admin);
        wait_for("the webhook's /ready", WAIT, || {
            self.proc.assert_running();
            let ok = Command::new("curl")
                .args(["-sf", "-m", "2", &url])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            Ok(ok.then_some(()))
        });
    }
}

/// The install's webhook RBAC (ServiceAccount, ClusterRole and bindings) and namespace.
fn apply_webhook_rbac() {
    let items: Vec<Value> = documents("manifests/install.yaml")
        .into_iter()
        .filter(|d| {
            d["kind"] == "Namespace"
                || (d["metadata"]["labels"]["app.kubernetes.io/name"] == "argo-events-webhook"
                    && [
                        "ServiceAccount",
                        "ClusterRole",
                        "ClusterRoleBinding",
                        "Role",
                        "RoleBinding",
                    ]
                    .contains(&d["kind"].as_str().unwrap_or_default()))
        })
        .collect();
    assert!(items.len() >= 4, "the install's webhook RBAC: {items:?}");
    cluster().apply_objects("cluster-suite", items);
}

/// The install's two webhook configurations, pointed at `localhost:port` and limited to the
/// namespaces this case labels.
fn register(port: u16) {
    let mut items = Vec::new();
    for mut doc in documents("manifests/install.yaml") {
        let path = match doc["kind"].as_str() {
            Some("ValidatingWebhookConfiguration") => "/validate",
            Some("MutatingWebhookConfiguration") => "/mutate",
            _ => continue,
        };
        for webhook in doc["webhooks"].as_array_mut().into_iter().flatten() {
            webhook["clientConfig"] = json!({"url": format!("https://localhost:{port}{path}")});
            webhook["namespaceSelector"] = json!({"matchLabels": {NAMESPACE_LABEL: LABEL_VALUE}});
        }
        items.push(doc);
    }
    // Replaced, not merged, so the install case's dry run and this case never share a config.
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let _ = cluster().kubectl(&[
        "delete",
        "validatingwebhookconfiguration",
        VALIDATING,
        "--ignore-not-found",
    ]);
    let _ = cluster().kubectl(&[
        "delete",
        "mutatingwebhookconfiguration",
        MUTATING,
        "--ignore-not-found",
    ]);
    cluster()
        .kubectl_stdin(&["create", "-f", "-"], Some(&list.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The caBundle of the first webhook of configuration `kind`/`name`, if set.
pub fn ca_bundle(kind: &str, name: &str) -> Option<String> {
    let out = cluster()
        .kubectl(&[
            "get",
            kind,
            name,
            "-o",
            "jsonpath={.webhooks[0].clientConfig.caBundle}",
        ])
        .ok()?;
    (!out.trim().is_empty()).then(|| out.trim().to_string())
}

/// Waits until both configurations carry a caBundle other than `previous`.
fn wait_ca_bundle(server: &mut Server, previous: Option<&str>) -> String {
    wait_for("the server to write its CA into caBundle", WAIT, || {
        server.proc.assert_running();
        let v = ca_bundle("validatingwebhookconfiguration", VALIDATING);
        let m = ca_bundle("mutatingwebhookconfiguration", MUTATING);
        match (v, m) {
            (Some(v), Some(m)) if v == m && Some(v.as_str()) != previous => Ok(Some(v)),
            other => Err(format!("caBundle {other:?}")),
        }
    })
}

fn sensor(name: &str, source: &str, account: Option<&str>, trigger: Value) -> Value {
    let mut template = json!({});
    if let Some(account) = account {
        template["serviceAccountName"] = json!(account);
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": name},
        "spec": {
            "template": template,
            "dependencies": [{"name": "push", "eventSourceName": source, "eventName": "push"}],
            "triggers": [{"template": trigger}],
        },
    })
}

fn log_trigger() -> Value {
    json!({"name": "log", "log": {}})
}

fn configmap_trigger() -> Value {
    json!({"name": "make-cm", "k8s": {"operation": "create", "source": {"resource": {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "from-sensor-"},
        "data": {"k": "v"}}}}})
}

fn apply_json(ns: &Namespace, object: &Value) -> Result<String, String> {
    ns.apply(&object.to_string())
}

fn expect_denied(ns: &Namespace, object: &Value, needle: &str) {
    match apply_json(ns, object) {
        Ok(out) => panic!(
            "{} {} was admitted ({out}); expected a denial saying {needle:?}",
            object["kind"], object["metadata"]["name"]
        ),
        Err(e) => assert!(
            e.contains("denied the request") && e.contains(needle),
            "expected the webhook's denial saying {needle:?}, got: {e}"
        ),
    }
}

fn admission_through_the_api_server() {
    let c = cluster();
    apply_webhook_rbac();
    let ns = c.namespace("webhook");
    ns.must_apply(
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
            "metadata": {"name": "default"}, "spec": {"jetstream": {"version": "2.10.29"}}})
        .to_string(),
    );
    ns.apply_file("manifests/examples/quickstart/eventsource.yaml");
    // Only this namespace is sent to the webhook.
    c.must(&[
        "label",
        "namespace",
        &ns.name,
        &format!("{NAMESPACE_LABEL}={LABEL_VALUE}"),
        "--overwrite",
    ]);

    let port = free_port();
    register(port);
    let mut server = Server::start(port);
    let first_ca = wait_ca_bundle(&mut server, None);

    // Defaults are mutated in (the API server calls /mutate first).
    let plain = sensor("plain", "webhook", None, log_trigger());
    wait_for("the first Sensor to be admitted", WAIT, || {
        apply_json(&ns, &plain).map(Some)
    });
    let got = ns.get("sensor", "plain").expect("stored");
    assert_eq!(
        (&got["spec"]["eventBusName"], &got["spec"]["replicas"]),
        (&json!("default"), &json!(1)),
        "upstream's defaults written in by /mutate: {}",
        got["spec"]
    );

    // A typo'd eventSourceName is denied with the near-miss message.
    expect_denied(
        &ns,
        &sensor("typo", "webhok", None, log_trigger()),
        "no EventSource \"webhok\"",
    );

    // An EventSource on a missing EventBus.
    let mut es = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
        "metadata": {"name": "elsewhere"},
        "spec": {"eventBusName": "jetstream", "webhook": {"push": {"port": "12001", "endpoint": "/p", "method": "POST"}}}});
    expect_denied(&ns, &es, "no EventBus \"jetstream\"");
    es["spec"]["eventBusName"] = json!("default");
    apply_json(&ns, &es).unwrap_or_else(|e| panic!("the same EventSource on its bus: {e}"));

    // RBAC through a real SubjectAccessReview: denied, then allowed once a RoleBinding grants it.
    ns.must(&["create", "serviceaccount", "trigger-sa"]);
    let rbac = sensor("rbac", "webhook", Some("trigger-sa"), configmap_trigger());
    expect_denied(&ns, &rbac, "trigger-sa");
    ns.must(&[
        "create",
        "role",
        "make-configmaps",
        "--verb=create",
        "--resource=configmaps",
    ]);
    ns.must(&[
        "create",
        "rolebinding",
        "make-configmaps",
        "--role=make-configmaps",
        &format!("--serviceaccount={}:trigger-sa", ns.name),
    ]);
    // A denial is reused for at most 5 s.
    wait_for(
        "the Sensor to be admitted once the RoleBinding grants it",
        Duration::from_secs(20),
        || apply_json(&ns, &rbac).map(Some),
    );

    // With the webhook down and failurePolicy Fail, writes are refused with the API server's
    // message; deletes are never blocked.
    server.proc.kill();
    let down = sensor("while-down", "webhook", None, log_trigger());
    match apply_json(&ns, &down) {
        Ok(out) => panic!("a Sensor was admitted while the webhook was down: {out}"),
        Err(e) => assert!(
            e.contains("failed calling webhook"),
            "the API server's failurePolicy Fail message, got: {e}"
        ),
    }
    ns.kubectl(&["delete", "sensor", "plain", "--timeout=20s"])
        .unwrap_or_else(|e| panic!("a delete was blocked while the webhook was down: {e}"));
    ns.kubectl(&["delete", "eventsource", "elsewhere", "--timeout=20s"])
        .unwrap_or_else(|e| panic!("a delete was blocked while the webhook was down: {e}"));

    // Back again (a new self-signed CA, patched in by the server): writes pass.
    let mut server = Server::start(port);
    wait_ca_bundle(&mut server, Some(&first_ca));
    wait_for("writes to pass once the webhook is back", WAIT, || {
        apply_json(&ns, &down).map(Some)
    });
    server.proc.assert_running();
}
