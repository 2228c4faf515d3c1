//! Case 3: the controller binary on the host, started by the kubelet stand-in from the
//! namespace install's own Deployment, so it runs with that install's RBAC (its ServiceAccount
//! and Role, not admin) and its mounted configuration.

use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use serde_json::Value;

use crate::harness::{Namespace, Proc, WAIT, cluster, free_port, wait_for};
use crate::install::namespace_install_into;
use crate::kubelet::Pod;

const QUICKSTART_ES: &str = "manifests/examples/quickstart/eventsource.yaml";
const QUICKSTART_SENSOR: &str = "manifests/examples/quickstart/sensor.yaml";

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "controller::reconciles_the_three_kinds_with_its_install_rbac",
            || {
                reconciles_with_install_rbac();
                Ok(())
            },
        ),
        Trial::test("controller::a_standby_takes_the_lease_after_kill_9", || {
            standby_takes_over();
            Ok(())
        }),
    ]
}

/// A controller pod of the namespace install in `ns`, on free host ports.
pub fn start_controller(ns: &Namespace, pod: &str) -> Proc {
    let deployment = ns
        .get("deployment", "controller-manager")
        .expect("the namespace install's controller Deployment");
    Pod::of(&deployment, pod)
        .env("ARGO_EVENTS_METRICS_PORT", &free_port().to_string())
        .env("ARGO_EVENTS_HEALTH_PORT", &free_port().to_string())
        .start()
}

/// The status condition `kind` of an object, as (status, reason, message).
pub fn condition(object: &Value, kind: &str) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (field("status"), field("reason"), field("message"))
        })
}

/// Waits until every condition in `kinds` of `kind`/`name` is True.
pub fn wait_ready(ns: &Namespace, kind: &str, name: &str, kinds: &[&str], proc: &mut Proc) {
    wait_for(&format!("{kind} {name}: {kinds:?} True"), WAIT, || {
        proc.assert_running();
        let Some(object) = ns.get(kind, name) else {
            return Err("not found".into());
        };
        let all = kinds
            .iter()
            .all(|k| matches!(condition(&object, k), Some((s, _, _)) if s == "True"));
        if all {
            Ok(Some(()))
        } else {
            Err(format!("status {}", object["status"]))
        }
    })
}

/// The one Deployment labelled `label=name`, once it exists.
pub fn owned_deployment(ns: &Namespace, label: &str, name: &str, proc: &mut Proc) -> Value {
    wait_for(&format!("the Deployment of {label}={name}"), WAIT, || {
        proc.assert_running();
        let found = ns.list("deployments", Some(&format!("{label}={name}")));
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            n => Err(format!("{n} Deployments")),
        }
    })
}

fn reconciles_with_install_rbac() {
    let ns = cluster().namespace("controller");
    namespace_install_into(&ns);
    let mut ctl = start_controller(&ns, "controller-manager-0");

    // The install's EventBus `default` (JetStream, 3 replicas).
    wait_ready(
        &ns,
        "eventbus",
        "default",
        &["Configured", "Deployed"],
        &mut ctl,
    );
    for (kind, name) in [
        ("statefulset", "eventbus-default-js"),
        ("service", "eventbus-default-js-svc"),
        ("configmap", "eventbus-default-js-config"),
        ("secret", "eventbus-default-js-server"),
        ("secret", "eventbus-default-js-client-auth"),
        ("poddisruptionbudget", "eventbus-default-js"),
    ] {
        let object = ns
            .get(kind, name)
            .unwrap_or_else(|| panic!("{kind} {name} was not created"));
        let owner = &object["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                owner["kind"].as_str(),
                owner["name"].as_str(),
                owner["controller"].as_bool()
            ),
            (Some("EventBus"), Some("default"), Some(true)),
            "{kind} {name} is owned by its EventBus"
        );
        assert_eq!(
            object["metadata"]["labels"]["eventbus-name"], "default",
            "{kind} {name} labels"
        );
    }
    let bus = ns.get("eventbus", "default").expect("the EventBus");
    assert!(
        bus["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "eventbus-controller")),
        "the EventBus carries the controller's finalizer: {}",
        bus["metadata"]
    );

    // The quickstart EventSource and Sensor.
    ns.apply_file(QUICKSTART_ES);
    ns.apply_file(QUICKSTART_SENSOR);
    wait_ready(
        &ns,
        "eventsource",
        "webhook",
        &["SourcesProvided", "Deployed"],
        &mut ctl,
    );
    wait_ready(
        &ns,
        "sensor",
        "build-on-push",
        &["DependenciesProvided", "TriggersProvided", "Deployed"],
        &mut ctl,
    );
    // An EventSource with a service gets the Service upstream names `<es>-eventsource-svc`.
    ns.must_apply(
        &serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "hooks"},
            "spec": {"service": {"ports": [{"port": 12000, "targetPort": 12000}]},
                "webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}})
        .to_string(),
    );
    let service = wait_for("the Service hooks-eventsource-svc", WAIT, || {
        ctl.assert_running();
        Ok(ns.get("service", "hooks-eventsource-svc"))
    });
    assert_eq!(
        (
            &service["metadata"]["labels"]["eventsource-name"],
            &service["spec"]["ports"][0]["port"],
            &service["spec"]["selector"]["eventsource-name"],
        ),
        (
            &serde_json::json!("hooks"),
            &serde_json::json!(12000),
            &serde_json::json!("hooks")
        ),
        "the EventSource's Service: {service}"
    );
    owned_deployment(&ns, "eventsource-name", "hooks", &mut ctl);
    let es = owned_deployment(&ns, "eventsource-name", "webhook", &mut ctl);
    let sensor = owned_deployment(&ns, "sensor-name", "build-on-push", &mut ctl);
    for (deployment, prefix, controller) in [
        (&es, "webhook-eventsource-", "eventsource-controller"),
        (&sensor, "build-on-push-sensor-", "sensor-controller"),
    ] {
        let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
        assert!(
            name.starts_with(prefix) && name.len() == prefix.len() + 5,
            "upstream's generateName shape {prefix}xxxxx, got {name}"
        );
        assert_eq!(deployment["metadata"]["labels"]["controller"], controller);
        assert!(
            deployment["metadata"]["annotations"]["resource-spec-hash"].is_string(),
            "{name} carries resource-spec-hash"
        );
    }

    // A spec change rolls the pod template (EVENTSOURCE_OBJECT changes with it).
    let before = es["spec"]["template"].clone();
    ns.must(&[
        "patch",
        "eventsource",
        "webhook",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"template":{"metadata":{"labels":{"rolled":"yes"}}}}}"#,
    ]);
    let es_name = es["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    wait_for("the EventSource's pod template to change", WAIT, || {
        ctl.assert_running();
        let now = ns.get("deployment", &es_name).ok_or("Deployment gone")?;
        let template = &now["spec"]["template"];
        if template != &before && template["metadata"]["labels"]["rolled"] == "yes" {
            Ok(Some(()))
        } else {
            Ok(None)
        }
    });

    // Deleting the EventBus waits for its users; then the finalizer is removed.
    ns.must(&["delete", "eventbus", "default", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(2));
    let held = ns
        .get("eventbus", "default")
        .expect("held by its finalizer");
    assert!(
        held["metadata"]["deletionTimestamp"].is_string(),
        "the EventBus is being deleted"
    );
    ns.must(&["delete", "sensor", "build-on-push", "--timeout=30s"]);
    ns.must(&["delete", "eventsource", "webhook", "--timeout=30s"]);
    ns.must(&["delete", "eventsource", "hooks", "--timeout=30s"]);
    wait_for("the EventBus to be deleted", WAIT, || {
        ctl.assert_running();
        Ok(ns.get("eventbus", "default").is_none().then_some(()))
    });
    ctl.assert_running();
}

fn lease_holder(ns: &Namespace) -> Option<String> {
    ns.get("lease", "argo-events-controller")
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
}

fn standby_takes_over() {
    let ns = cluster().namespace("lease");
    namespace_install_into(&ns);
    let mut first = start_controller(&ns, "controller-manager-a");
    let holder = wait_for("the first controller to hold the Lease", WAIT, || {
        first.assert_running();
        Ok(lease_holder(&ns))
    });
    assert!(
        holder.contains("controller-manager-a"),
        "holder {holder:?} is the first controller"
    );
    wait_ready(
        &ns,
        "eventbus",
        "default",
        &["Configured", "Deployed"],
        &mut first,
    );
    let mut second = start_controller(&ns, "controller-manager-b");
    std::thread::sleep(Duration::from_secs(3));
    second.assert_running();
    assert_eq!(
        lease_holder(&ns).as_deref(),
        Some(holder.as_str()),
        "the standby does not take a held Lease"
    );
    first.kill();
    let killed = Instant::now();
    let new = wait_for(
        "the standby to take the Lease",
        Duration::from_secs(60),
        || {
            second.assert_running();
            Ok(lease_holder(&ns).filter(|h| h.contains("controller-manager-b")))
        },
    );
    eprintln!(
        "controller::lease: {new} took over {:.1} s after kill -9 of the leader",
        killed.elapsed().as_secs_f64()
    );
    // The new leader reconciles: a new Sensor gets its Deployment.
    ns.apply_file(QUICKSTART_SENSOR);
    owned_deployment(&ns, "sensor-name", "build-on-push", &mut second);
}
