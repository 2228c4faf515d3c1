//! Every object the controller renders (all golden examples, see `golden.rs`) and every
//! built-in object of `manifests/install.yaml` and `manifests/namespace-install.yaml` validates
//! against the Kubernetes OpenAPI schema, checked by the `kubernetes-validate` CLI (PyPI
//! package `kubernetes-validate`, which ships the schemas and works offline) in strict mode
//! (unknown fields are errors), pinned to the Kubernetes version of the workspace's k8s-openapi
//! feature.
//!
//! Instances of custom resources (`argoproj.io` kinds: the install's default EventBus) are
//! skipped: kubernetes-validate only knows the built-in kinds. Our CRDs themselves
//! (`apiextensions.k8s.io/v1` CustomResourceDefinition) are built-in objects and are validated.
//!
//! The validator runs once over all objects, one file per object in a temp dir. A missing
//! `kubernetes-validate` fails the test with an install hint; it never skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use argo_events_api::manifest;
use argo_events_tests::workspace_root;
use serde_json::{Value, json};

use crate::golden;

/// The Kubernetes version validated against: the workspace's k8s-openapi feature is `v1_33`.
const KUBERNETES_VERSION: &str = "1.33.0";

/// The install manifests whose built-in objects are validated.
const INSTALL_MANIFESTS: [&str; 2] = ["manifests/install.yaml", "manifests/namespace-install.yaml"];

/// One object to validate.
pub struct Item {
    /// Where it comes from: an example name or an install manifest.
    source: String,
    kind: String,
    name: String,
    /// Whether the validator must reject it (the canary).
    must_fail: bool,
}

/// The validator, found on PATH; panics with an install hint when it is missing.
fn kubernetes_validate() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("kubernetes-validate"))
        .find(|p| p.is_file())
        .expect(
            "kubernetes-validate is needed to check rendered objects against the Kubernetes \
             OpenAPI schema: `pip install kubernetes-validate`, or run the README's test command \
             (`bash scripts/test`), which installs it",
        )
}

/// Whether `apiVersion` names a built-in API group (core, `apps`, `policy`, `*.k8s.io`…), the
/// only ones kubernetes-validate has schemas for.
fn is_built_in(api_version: &str) -> bool {
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

fn name_of(obj: &Value) -> String {
    let meta = &obj["metadata"];
    meta["name"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| meta["generateName"].as_str().map(|g| format!("{g}*")))
        .unwrap_or_else(|| "<unnamed>".to_owned())
}

/// kubernetes-validate names each object by `metadata.name` and crashes ("could not be
/// validated: 'name'") on objects that only have `generateName`, as the controller's
/// Deployments do. The copy handed to it gets a name; the schema accepts both.
fn for_validator(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if obj.pointer("/metadata/name").is_none()
        && let Some(generate) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .map(str::to_owned)
        && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert(
            "name".to_owned(),
            Value::String(format!("{generate}golden")),
        );
    }
    obj
}

/// An object the validator must reject in strict mode (a Deployment with an unknown field): if
/// it passes, the run proves nothing.
fn canary() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "canary"},
        "spec": {
            "selector": {"matchLabels": {"app": "canary"}},
            "template": {
                "metadata": {"labels": {"app": "canary"}},
                "spec": {"containers": [{"name": "main", "image": "busybox", "notAField": 1}]}
            }
        }
    })
}

/// Runs `kubernetes-validate --strict` once over `items` and the canary (which it must
/// reject): `Err` lists every object that did not get the verdict it should, with the
/// validator's words.
pub fn run_validator(mut items: Vec<(Item, Value)>) -> Result<(), String> {
    let validator = kubernetes_validate();
    items.push((
        Item {
            source: "canary (must be rejected)".to_owned(),
            kind: "Deployment".to_owned(),
            name: "canary".to_owned(),
            must_fail: true,
        },
        canary(),
    ));

    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (i, (_, obj)) in items.iter().enumerate() {
        let path = dir.path().join(format!("{i:04}.json"));
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&for_validator(obj))
                .expect("invariant: JSON values serialize"),
        )
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        files.push(path);
    }
    let out = Command::new(&validator)
        .arg("--strict")
        .args(["-k", KUBERNETES_VERSION])
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", validator.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    // Lines look like `LEVEL FILE message`; group them by file.
    let mut lines: BTreeMap<&Path, Vec<&str>> = BTreeMap::new();
    for line in stdout.lines() {
        let file = line.split_whitespace().nth(1).map(Path::new);
        if let Some(f) = file.filter(|f| files.iter().any(|p| p == f)) {
            lines.entry(f).or_default().push(line);
        }
    }
    let mut failures = Vec::new();
    for ((item, _), file) in items.iter().zip(&files) {
        let got = lines.get(file.as_path()).cloned().unwrap_or_default();
        let passed = got.len() == 1 && got[0].starts_with("INFO ") && got[0].contains(" passed ");
        if passed == item.must_fail {
            let said = if got.is_empty() {
                "no verdict from the validator".to_owned()
            } else {
                got.join("\n      ")
            };
            failures.push(format!(
                "{} ({}): {} {}: {}{said}",
                item.source,
                file.display(),
                item.kind,
                item.name,
                if item.must_fail {
                    "was accepted, so strict validation is not working: "
                } else {
                    ""
                },
            ));
        }
    }
    let exit_ok = out.status.code() == Some(1); // 1: the canary was rejected, nothing worse.
    if failures.is_empty() && exit_ok {
        return Ok(());
    }
    Err(format!(
        "kubernetes-validate --strict -k {KUBERNETES_VERSION} ({}): {} of {} object(s) failed:\n  {}\n\
         stdout:\n{stdout}\nstderr:\n{stderr}",
        out.status,
        failures.len(),
        items.len(),
        failures.join("\n  ")
    ))
}

/// Validates built-in objects from `source` (a render, a file), skipping custom resources (the
/// validator has no schema for them): how many were validated, or every failure.
pub fn validate_built_in(source: &str, objects: &[Value]) -> Result<usize, String> {
    let items: Vec<(Item, Value)> = objects
        .iter()
        .filter(|o| is_built_in(o["apiVersion"].as_str().unwrap_or_default()))
        .map(|o| {
            (
                Item {
                    source: source.to_owned(),
                    kind: o["kind"].as_str().unwrap_or_default().to_owned(),
                    name: name_of(o),
                    must_fail: false,
                },
                o.clone(),
            )
        })
        .collect();
    let count = items.len();
    run_validator(items).map(|()| count)
}

#[test]
fn rendered_and_install_objects_validate_against_the_kubernetes_schema() {
    let mut items: Vec<(Item, Value)> = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut rendered = 0usize;
    for example in golden::examples() {
        for obj in &example.rendered.objects {
            let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
            let api_version = obj["apiVersion"].as_str().unwrap_or_default();
            assert!(
                is_built_in(api_version),
                "{}: rendered {kind} has a non-built-in apiVersion {api_version}",
                example.name
            );
            rendered += 1;
            items.push((
                Item {
                    source: example.name.clone(),
                    kind,
                    name: name_of(obj),
                    must_fail: false,
                },
                obj.clone(),
            ));
        }
    }
    let mut install = 0usize;
    for file in INSTALL_MANIFESTS {
        let (docs, errors) = manifest::load(&[workspace_root().join(file)])
            .unwrap_or_else(|e| panic!("reading {file}: {e}"));
        assert!(errors.is_empty(), "{file}: {errors:?}");
        for doc in docs {
            let api_version = doc.api_version().unwrap_or_default();
            let kind = doc.kind().unwrap_or_default().to_owned();
            if !is_built_in(api_version) {
                *skipped.entry(format!("{api_version} {kind}")).or_default() += 1;
                continue;
            }
            install += 1;
            items.push((
                Item {
                    source: file.to_owned(),
                    name: name_of(&doc.value),
                    kind,
                    must_fail: false,
                },
                doc.value,
            ));
        }
    }
    run_validator(items).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rendered > 100,
        "only {rendered} rendered objects were validated"
    );
    assert!(
        install > 10,
        "only {install} install objects were validated"
    );
    eprintln!(
        "kubernetes-validate --strict -k {KUBERNETES_VERSION}: {rendered} rendered and {install} \
         install object(s) valid; skipped custom resources (no schema in kubernetes-validate): \
         {skipped:?}"
    );
}

#[test]
fn built_in_groups_are_told_from_custom_ones() {
    for (api_version, built_in) in [
        ("v1", true),
        ("apps/v1", true),
        ("policy/v1", true),
        ("rbac.authorization.k8s.io/v1", true),
        ("apiextensions.k8s.io/v1", true),
        ("argoproj.io/v1alpha1", false),
        ("argo-events-rs.io/v1alpha1", false),
    ] {
        assert_eq!(is_built_in(api_version), built_in, "{api_version}");
    }
}
