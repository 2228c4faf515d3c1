//! Case 1: the CRDs in `manifests/crds` on a real API server. Every EventBus, EventSource and
//! Sensor of upstream's examples is created (so it passes the server's schema validation, as
//! `kubectl apply --dry-run=server` would check) and read back: nothing the example says may be
//! missing or changed in what GET returns. A structural schema prunes fields it does not
//! declare without an error; this is where that shows.

use std::collections::BTreeMap;

use libtest_mimic::Trial;
use serde_json::Value;

use crate::harness::cluster;

const KINDS: [&str; 3] = ["EventBus", "EventSource", "Sensor"];

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "schema::every_corpus_example_is_stored_without_losing_a_field",
            || {
                every_corpus_example_round_trips();
                Ok(())
            },
        ),
        Trial::test("schema::quickstart_and_install_objects_round_trip", || {
            project_examples_round_trip();
            Ok(())
        }),
        Trial::test(
            "schema::unknown_fields_are_kept_as_upstream_keeps_them",
            || {
                unknown_fields_are_kept();
                Ok(())
            },
        ),
    ]
}

/// The example objects of the argo kinds in `files`, each renamed `<n>-<name>` so that all fit
/// in one namespace, with the file each came from.
fn objects_of(files: &[std::path::PathBuf], namespace: &str) -> Vec<(String, Value)> {
    let (docs, errors) =
        argo_events_api::manifest::load(files).unwrap_or_else(|e| panic!("reading manifests: {e}"));
    assert!(errors.is_empty(), "manifests that do not parse: {errors:?}");
    let root = argo_events_tests::workspace_root();
    let mut out = Vec::new();
    for doc in docs {
        let mut value = doc.value;
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        if value["apiVersion"] != "argoproj.io/v1alpha1" || !KINDS.contains(&kind.as_str()) {
            continue;
        }
        let n = out.len();
        let meta = value["metadata"]
            .as_object_mut()
            .unwrap_or_else(|| panic!("{}: a {kind} without metadata", doc.file));
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("unnamed")
            .to_string();
        meta.insert("name".into(), Value::from(format!("x{n}-{name}")));
        meta.insert("namespace".into(), Value::from(namespace));
        meta.remove("generateName");
        let file = std::path::Path::new(&doc.file);
        let shown = file.strip_prefix(&root).unwrap_or(file).display();
        out.push((format!("{shown}#{} {kind} {name}", doc.index), value));
    }
    out
}

fn every_corpus_example_round_trips() {
    let files = argo_events_tests::corpus_files();
    round_trip("schema-corpus", &files, 100);
}

fn project_examples_round_trip() {
    let root = argo_events_tests::workspace_root();
    let files = argo_events_api::manifest::expand_paths(&[
        root.join("manifests/examples"),
        root.join("manifests/base/eventbus"),
    ])
    .unwrap_or_else(|e| panic!("reading manifests: {e}"));
    round_trip("schema-project", &files, 1);
}

/// Creates every object of `files` in a fresh namespace and compares what GET returns with
/// what was sent; panics listing every object the server refused and every field it lost.
fn round_trip(prefix: &str, files: &[std::path::PathBuf], at_least: usize) {
    let c = cluster();
    let ns = c.namespace(prefix);
    let objects = objects_of(files, &ns.name);
    assert!(
        objects.len() >= at_least,
        "expected at least {at_least} objects of the three kinds, found {}",
        objects.len()
    );
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
    });
    let mut problems = Vec::new();
    if let Err(e) = c.kubectl_stdin(
        &["create", "-f", "-", "-o", "name"],
        Some(&list.to_string()),
    ) {
        problems.push(format!("the API server refused objects: {e}"));
    }
    let stored: BTreeMap<(String, String), Value> = ns
        .list("eventbus,eventsources,sensors", None)
        .into_iter()
        .map(|item| {
            let key = (
                item["kind"].as_str().unwrap_or_default().to_string(),
                item["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            (key, item)
        })
        .collect();
    for (origin, sent) in &objects {
        let key = (
            sent["kind"].as_str().unwrap_or_default().to_string(),
            sent["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let Some(got) = stored.get(&key) else {
            problems.push(format!("{origin}: not stored"));
            continue;
        };
        let mut lost = Vec::new();
        for part in ["spec", "status"] {
            missing_from(&sent[part], &got[part], part, &mut lost);
        }
        for part in ["labels", "annotations"] {
            missing_from(
                &sent["metadata"][part],
                &got["metadata"][part],
                &format!("metadata.{part}"),
                &mut lost,
            );
        }
        if !lost.is_empty() {
            problems.push(format!(
                "{origin}: the server lost or changed {}",
                lost.join(", ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} objects came back different:\n{}",
        problems.len(),
        objects.len(),
        problems.join("\n")
    );
}

/// Appends to `lost` the path of every value in `sent` that `got` lacks or holds differently.
/// A `null` sent is the same as a field left out (Go decodes both alike); numbers compare by
/// value (`1` and `1.0`).
fn missing_from(sent: &Value, got: &Value, path: &str, lost: &mut Vec<String>) {
    match (sent, got) {
        (Value::Null, _) => {}
        (Value::Object(s), Value::Object(g)) => {
            for (k, v) in s {
                let child = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => missing_from(v, gv, &child, lost),
                    None if v.is_null() => {}
                    None => lost.push(format!("{child} (dropped)")),
                }
            }
        }
        (Value::Array(s), Value::Array(g)) if s.len() == g.len() => {
            for (i, (sv, gv)) in s.iter().zip(g).enumerate() {
                missing_from(sv, gv, &format!("{path}[{i}]"), lost);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => lost.push(format!("{path} (sent {a}, got {b})")),
    }
}

/// Upstream's CRDs preserve unknown fields, so a manifest written for another upstream version
/// is stored whole; ours must too. Also shows that the comparison above sees a lost field.
fn unknown_fields_are_kept() {
    let c = cluster();
    let ns = c.namespace("schema-unknown");
    let sent = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": "unknown-fields", "namespace": ns.name},
        "spec": {
            "fieldFromTheFuture": {"a": [1, 2]},
            "dependencies": [{"name": "d", "eventSourceName": "es", "eventName": "e", "extra": "x"}],
            "triggers": [{"template": {"name": "t", "log": {"intervalSeconds": 1}, "unknownKind": {}}, "weird": true}],
        },
    });
    c.kubectl_stdin(&["create", "-f", "-"], Some(&sent.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    let got = ns.get("sensor", "unknown-fields").expect("stored");
    let mut lost = Vec::new();
    missing_from(&sent["spec"], &got["spec"], "spec", &mut lost);
    assert!(lost.is_empty(), "unknown fields were pruned: {lost:?}");
    let mut changed = got["spec"].clone();
    changed["dependencies"][0]
        .as_object_mut()
        .expect("a dependency object")
        .remove("extra");
    changed["triggers"][0]["weird"] = Value::from(false);
    missing_from(&sent["spec"], &changed, "spec", &mut lost);
    assert_eq!(
        lost,
        [
            "spec.dependencies[0].extra (dropped)",
            "spec.triggers[0].weird (sent true, got false)"
        ]
    );
}
