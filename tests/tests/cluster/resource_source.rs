//! The `resource` EventSource against the real API server, publishing to a real
//! `nats-server -js`: the pod binary `argo-events eventsource run`, with the environment the
//! controller's Deployment gives it (`EVENTSOURCE_OBJECT`, `EVENTBUS_CONFIG`, …), started
//! either as that pod (the kubelet stand-in: in-cluster config, its ServiceAccount's RBAC) or
//! locally with a `KUBECONFIG`. Each case reads the CloudEvents from a durable consumer on the
//! bus and compares them, attributes and data, with what upstream would publish; the objects'
//! bodies are compared with the API server's own copy (`kubectl get -o json`).
//!
//! Cases: ConfigMaps in one namespace (ADD for what exists at start, UPDATE, DELETE, a label
//! selector); a CRD of the test's own watched across namespaces (only ADD and DELETE); the
//! `afterStart`, `prefix` and `fields` filters; the API server unreachable at start and cut
//! off mid-watch (through a relay), without losing or repeating a change, then the bus down
//! while a change waits for it.

mod relay;
pub(crate) mod support;

use std::time::Duration;

use libtest_mimic::Trial;
use serde_json::json;

use crate::harness::{WAIT, cluster, free_port, wait_for};
use crate::kubelet::Pod;
use relay::Relay;
use support::{
    Bus, Crd, assert_data, assert_deleted, assert_event, body_name, create_configmap, data,
    deployment_of, event_source, object, run_local, text, widget,
};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "resource_source::configmaps_in_one_namespace_as_a_pod",
            || {
                configmaps_in_one_namespace();
                Ok(())
            },
        ),
        Trial::test(
            "resource_source::custom_resources_in_all_namespaces",
            || {
                custom_resources_in_all_namespaces();
                Ok(())
            },
        ),
        Trial::test("resource_source::after_start_prefix_and_fields", || {
            after_start_prefix_and_fields();
            Ok(())
        }),
        Trial::test("resource_source::api_server_outages", || {
            api_server_outages();
            Ok(())
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// ConfigMaps of one namespace, label-selected, from a pod authenticating as a ServiceAccount
/// that may only read ConfigMaps in that namespace.
fn configmaps_in_one_namespace() {
    let ns = cluster().namespace("res-cm");
    let other = cluster().namespace("res-cm-other");
    ns.must_apply(&format!(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {{name: watcher}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: read-configmaps}}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: watcher-reads-configmaps}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-configmaps}}
subjects: [{{kind: ServiceAccount, name: watcher, namespace: {}}}]
"#,
        ns.name
    ));
    // Exists before the source starts: upstream's informer lists it as an ADD.
    create_configmap(&ns, "before", &[("app", "web")], &[("k", "v0")]);
    let before = object(&ns, "configmap", "before");
    create_configmap(&ns, "unlabelled-before", &[], &[("k", "v")]);

    let bus = Bus::start();
    let es = event_source(
        &ns,
        "cm-source",
        json!({
            "template": {"serviceAccountName": "watcher"},
            "resource": {"cms": {
                "namespace": ns.name,
                "version": "v1",
                "resource": "configmaps",
                "eventTypes": ["ADD", "UPDATE", "DELETE"],
                "filter": {"labels": [{"key": "app", "operation": "==", "value": "web"}]},
                "metadata": {"origin": "cluster-suite", "html": "<b>"},
            }},
        }),
    );
    let mut events = bus.events("cm-source", "cms");
    let deployment = deployment_of(&es, &bus.url());
    let mut source = Pod::of(&deployment, "cm-source-eventsource-pod")
        .env("METRICS_ADDR", &format!("127.0.0.1:{}", free_port()))
        .start();
    let want_meta = json!({"html": "<b>", "origin": "cluster-suite"});

    let first = events.next(&mut source);
    assert_event(&first, "cm-source", "cms");
    assert_data(
        &first,
        "ADD",
        &before,
        None,
        ("", "v1", "configmaps"),
        Some(&want_meta),
    );

    // Not selected: another label, another namespace.
    create_configmap(&ns, "db", &[("app", "db")], &[("k", "v")]);
    create_configmap(&other, "web-elsewhere", &[("app", "web")], &[("k", "v")]);

    create_configmap(&ns, "cm1", &[("app", "web")], &[("k", "v1")]);
    let created = object(&ns, "configmap", "cm1");
    let added = events.next(&mut source);
    assert_data(
        &added,
        "ADD",
        &created,
        None,
        ("", "v1", "configmaps"),
        Some(&want_meta),
    );

    ns.must(&["patch", "configmap", "cm1", "-p", r#"{"data":{"k":"v2"}}"#]);
    let patched = object(&ns, "configmap", "cm1");
    let updated = events.next(&mut source);
    assert_data(
        &updated,
        "UPDATE",
        &patched,
        Some(&created),
        ("", "v1", "configmaps"),
        Some(&want_meta),
    );

    ns.must(&["delete", "configmap", "cm1"]);
    let deleted = events.next(&mut source);
    assert_deleted(
        &deleted,
        &patched,
        ("", "v1", "configmaps"),
        Some(&want_meta),
    );

    // Nothing else came: the next event is the sentinel's.
    create_configmap(&ns, "zz-end", &[("app", "web")], &[("k", "end")]);
    let end = events.next(&mut source);
    assert_eq!(body_name(&end), "zz-end", "{}", text(&end));
    source.assert_running();
    assert!(
        !source.output().contains("forbidden"),
        "the source needed more than its Role:\n{}",
        source.output()
    );
}

/// A CRD of the test's own, watched in all namespaces with the admin kubeconfig; only ADD and
/// DELETE are asked for.
fn custom_resources_in_all_namespaces() {
    let group = format!(
        "p{}.resource-source.test.argo-events-rs.io",
        std::process::id()
    );
    let crd = Crd::create(&group);
    let ns1 = cluster().namespace("res-crd-a");
    let ns2 = cluster().namespace("res-crd-b");
    ns1.must_apply(&widget(&group, "w0", json!({"size": 1})));
    let w0 = object(&ns1, &crd.resource(), "w0");

    let bus = Bus::start();
    let es = event_source(
        &ns1,
        "widgets",
        json!({"resource": {"widget-changes": {
            "group": group,
            "version": "v1",
            "resource": "widgets",
            "eventTypes": ["ADD", "DELETE"],
        }}}),
    );
    let mut events = bus.events("widgets", "widget-changes");
    let mut source = run_local(&es, &bus, &cluster().kubeconfig);
    let gvr = (group.as_str(), "v1", "widgets");

    let first = events.next(&mut source);
    assert_event(&first, "widgets", "widget-changes");
    assert_data(&first, "ADD", &w0, None, gvr, None);
    assert!(text(&first).ends_with(&format!(
        r#","group":"{group}","version":"v1","resource":"widgets"}}"#
    )));

    // Numbers as the API server's unstructured decoding leaves them: integers stay integers.
    // (The bus's CloudEvent codec re-encodes `data`, so escapes such as `\u003c` are not
    // kept on the wire; the exact Go encoding is tested in the eventsource crate.)
    ns2.must_apply(&widget(
        &group,
        "w1",
        json!({"size": 1.5, "big": 1e21, "text": "<a&b>", "count": 7}),
    ));
    let w1 = object(&ns2, &crd.resource(), "w1");
    let added = events.next(&mut source);
    assert_data(&added, "ADD", &w1, None, gvr, None);
    let raw = text(&added);
    for part in [r#""count":7"#, r#""size":1.5"#] {
        assert!(raw.contains(part), "{part} missing in {raw}");
    }
    let spec = &data(&added)["body"]["spec"];
    assert_eq!(spec["big"].as_f64(), Some(1e21), "{raw}");
    assert_eq!(spec["text"], "<a&b>", "{raw}");

    // UPDATE is not among the event types.
    ns2.must(&[
        "patch",
        &crd.resource(),
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"count":8}}"#,
    ]);
    let w1_patched = object(&ns2, &crd.resource(), "w1");
    ns2.must(&["delete", &crd.resource(), "w1"]);
    let deleted = events.next(&mut source);
    assert_deleted(&deleted, &w1_patched, gvr, None);

    ns1.must_apply(&widget(&group, "zz-end", json!({})));
    let end = events.next(&mut source);
    assert_eq!(body_name(&end), "zz-end", "{}", text(&end));
    source.assert_running();
}

/// `afterStart` (by creation, by the latest Update in managedFields), `prefix` and `fields`.
fn after_start_prefix_and_fields() {
    let ns = cluster().namespace("res-filter");
    ns.must(&["create", "configmap", "cm-old", "--from-literal=color=red"]);

    let bus = Bus::start();
    let es = event_source(
        &ns,
        "filtered",
        json!({"resource": {"colors": {
            "namespace": ns.name,
            "version": "v1",
            "resource": "configmaps",
            "eventTypes": ["ADD", "UPDATE"],
            "filter": {
                "prefix": "cm-",
                "afterStart": true,
                "fields": [
                    {"key": "data.color", "operation": "==", "value": "^(red|blue)$"},
                    {"key": "metadata.name", "operation": "!=", "value": "-skip$"},
                ],
            },
        }}}),
    );
    let mut events = bus.events("filtered", "colors");
    let mut source = run_local(&es, &bus, &cluster().kubeconfig);
    wait_for("the source to start watching", WAIT, || {
        source.assert_running();
        Ok(source
            .output()
            .contains("watching Kubernetes objects")
            .then_some(()))
    });
    // Timestamps have whole seconds: what is created from now on is after the start.
    std::thread::sleep(Duration::from_millis(1200));

    // A server-side apply is an Apply in managedFields: the UPDATE keeps the time of the
    // Update that created the object, before the start, and is dropped.
    ns.must_apply(&format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"cm-old\",\"namespace\":\"{}\"}},\"data\":{{\"extra\":\"1\"}}}}",
        ns.name
    ));
    let applied = object(&ns, "configmap", "cm-old");
    // A patch is an Update: this change counts.
    ns.must(&[
        "patch",
        "configmap",
        "cm-old",
        "-p",
        r#"{"data":{"color":"blue"}}"#,
    ]);
    let patched = object(&ns, "configmap", "cm-old");
    for (name, color) in [
        ("cm-green", "green"),
        ("cm-x-skip", "red"),
        ("other", "red"),
        ("cm-new", "blue"),
    ] {
        ns.must(&[
            "create",
            "configmap",
            name,
            &format!("--from-literal=color={color}"),
        ]);
    }
    let new = object(&ns, "configmap", "cm-new");
    // DELETE is not among the event types.
    ns.must(&["delete", "configmap", "cm-new"]);
    ns.must(&[
        "create",
        "configmap",
        "cm-zz-end",
        "--from-literal=color=red",
    ]);

    let gvr = ("", "v1", "configmaps");
    let update = events.next(&mut source);
    assert_event(&update, "filtered", "colors");
    assert_data(&update, "UPDATE", &patched, Some(&applied), gvr, None);
    let add = events.next(&mut source);
    assert_data(&add, "ADD", &new, None, gvr, None);
    let end = events.next(&mut source);
    assert_eq!(body_name(&end), "cm-zz-end", "{}", text(&end));
    source.assert_running();
}

/// The API server unreachable when the source starts, then cut off mid-watch: the source keeps
/// retrying, and once through again publishes what changed meanwhile, each change once. Then
/// the bus down for a while: the change is published once it is back.
fn api_server_outages() {
    let ns = cluster().namespace("res-outage");
    let mut relay = Relay::new();
    let kubeconfig = relay.kubeconfig(&ns.name);
    create_configmap(&ns, "a", &[], &[("k", "1")]);
    let a = object(&ns, "configmap", "a");

    let bus = Bus::start();
    let es = event_source(
        &ns,
        "outage",
        json!({"resource": {"all": {
            "namespace": ns.name,
            "version": "v1",
            "resource": "configmaps",
            "eventTypes": ["ADD", "UPDATE", "DELETE"],
        }}}),
    );
    let mut events = bus.events("outage", "all");
    let mut source = run_local(&es, &bus, &kubeconfig);
    wait_for(
        "the source to report the API server unreachable",
        WAIT,
        || {
            source.assert_running();
            Ok(source
                .output()
                .contains("looking up the resource failed")
                .then_some(()))
        },
    );
    relay.open();
    let first = events.next(&mut source);
    assert_data(&first, "ADD", &a, None, ("", "v1", "configmaps"), None);

    relay.cut();
    let failures = source
        .output()
        .matches("watching Kubernetes objects failed")
        .count();
    wait_for("the source to notice the outage", WAIT, || {
        source.assert_running();
        Ok((source
            .output()
            .matches("watching Kubernetes objects failed")
            .count()
            > failures)
            .then_some(()))
    });
    create_configmap(&ns, "b", &[], &[("k", "1")]);
    let b = object(&ns, "configmap", "b");
    ns.must(&["patch", "configmap", "a", "-p", r#"{"data":{"k":"2"}}"#]);
    let a2 = object(&ns, "configmap", "a");
    relay.open();

    let gvr = ("", "v1", "configmaps");
    let added = events.next(&mut source);
    assert_data(&added, "ADD", &b, None, gvr, None);
    let updated = events.next(&mut source);
    assert_data(&updated, "UPDATE", &a2, Some(&a), gvr, None);

    // The bus down: the change waits for it instead of being dropped.
    bus.stop_server();
    create_configmap(&ns, "c", &[], &[("k", "1")]);
    let c = object(&ns, "configmap", "c");
    wait_for("the source to retry publishing", WAIT, || {
        source.assert_running();
        Ok(source.output().contains("publishing failed").then_some(()))
    });
    bus.restart_server();
    let added = events.next(&mut source);
    assert_data(&added, "ADD", &c, None, gvr, None);
    create_configmap(&ns, "zz-end", &[], &[("k", "1")]);
    let end = events.next(&mut source);
    assert_eq!(body_name(&end), "zz-end", "{}", text(&end));
    source.assert_running();
    assert!(
        source
            .output()
            .contains("watching Kubernetes objects again"),
        "the recovery is logged:\n{}",
        source.output()
    );
}
