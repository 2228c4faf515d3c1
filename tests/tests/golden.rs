//! Golden files of the children the controller renders: for every upstream example in the
//! corpus that holds an EventBus, EventSource or Sensor (read in place, never copied), and for
//! `manifests/examples/quickstart`, the objects `argo_events_controller::render` builds with a
//! fixed [`ControllerConfig`] and the placeholder JetStream configuration are compared with the
//! committed YAML under `tests/golden/` (one file per example, mirroring its path). The default
//! EventBus of `manifests/install.yaml` is rendered too, with the controller configuration that
//! file ships, since the corpus holds no JetStream EventBus.
//!
//! `UPDATE_GOLDEN=1 cargo test -p argo-events-tests golden` rewrites them (and removes golden
//! files whose example is gone). Rendering must be deterministic: nothing random, no Secrets.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use argo_events_api::manifest::{self, DocKind, Document};
use argo_events_controller::desired::ControllerConfig;
use argo_events_controller::desired::eventbus::JetStreamGlobalConfig;
use argo_events_controller::render::{
    Rendered, parse_controller_config, placeholder_global_config, render,
};
use argo_events_tests::{corpus_dir, corpus_files, workspace_root};
use serde_json::Value;

/// Namespace given to the examples that have none.
pub(crate) const NAMESPACE: &str = "argo-events";

/// The command that rewrites the golden files.
const UPDATE: &str = "UPDATE_GOLDEN=1 cargo test -p argo-events-tests golden";

/// The controller settings every golden file is rendered with (the CLI's defaults).
pub(crate) fn controller_config() -> ControllerConfig {
    ControllerConfig::new("quay.io/argoproj/argo-events:latest")
}

/// One example and what the controller renders for it.
pub(crate) struct Example {
    /// The example's path as people know it: `argo-events-examples/<path in the corpus>` or
    /// `manifests/examples/quickstart`.
    pub(crate) name: String,
    /// Its golden file, relative to `tests/golden/`.
    pub(crate) golden: PathBuf,
    /// Which JetStream configuration it was rendered with.
    pub(crate) jetstream_config: &'static str,
    /// The rendered children and notes.
    pub(crate) rendered: Rendered,
}

/// How the examples' JetStream configuration is described in their golden files.
const PLACEHOLDER: &str = "the placeholder JetStream configuration";

/// `tests/golden/`.
fn golden_dir() -> PathBuf {
    workspace_root().join("tests/golden")
}

fn has_our_kinds(docs: &[Document]) -> bool {
    docs.iter()
        .any(|d| matches!(manifest::classify(&d.value), DocKind::Ours(_)))
}

fn load(paths: &[PathBuf], name: &str) -> Vec<Document> {
    let (docs, errors) =
        manifest::load(paths).unwrap_or_else(|e| panic!("{name}: reading failed: {e}"));
    assert!(errors.is_empty(), "{name}: {errors:?}");
    docs
}

fn render_docs(docs: &[Document], name: &str, global: &JetStreamGlobalConfig) -> Rendered {
    render(docs, NAMESPACE, &controller_config(), global)
        .unwrap_or_else(|e| panic!("{name}: rendering failed: {e}"))
}

/// The controller configuration shipped in an install manifest (its ConfigMap
/// `argo-events-controller-config`, key `controller-config.yaml`).
fn shipped_global_config(docs: &[Document], name: &str) -> JetStreamGlobalConfig {
    let text = docs
        .iter()
        .find(|d| {
            d.kind() == Some("ConfigMap") && d.name() == Some("argo-events-controller-config")
        })
        .and_then(|d| d.value.pointer("/data/controller-config.yaml"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| {
            panic!("{name}: no ConfigMap argo-events-controller-config with controller-config.yaml")
        });
    parse_controller_config(text)
        .unwrap_or_else(|e| panic!("{name}: its controller configuration: {e}"))
}

/// Every example with objects of our kinds, rendered one example file (or the quickstart
/// folder) at a time, in path order, then the quickstart and the install manifest.
pub(crate) fn examples() -> Vec<Example> {
    let root = corpus_dir();
    let mut out = Vec::new();
    for file in corpus_files() {
        let rel = file
            .strip_prefix(&root)
            .unwrap_or_else(|_| panic!("{} is outside the corpus", file.display()))
            .to_path_buf();
        let name = format!("argo-events-examples/{}", rel.display());
        let docs = load(std::slice::from_ref(&file), &name);
        if !has_our_kinds(&docs) {
            continue;
        }
        let rendered = render_docs(&docs, &name, &placeholder_global_config());
        out.push(Example {
            golden: Path::new("argo-events-examples").join(&rel),
            name,
            jetstream_config: PLACEHOLDER,
            rendered,
        });
    }
    let quickstart = "manifests/examples/quickstart";
    let docs = load(&[workspace_root().join(quickstart)], quickstart);
    assert!(has_our_kinds(&docs), "{quickstart} holds no object of ours");
    out.push(Example {
        name: quickstart.to_owned(),
        golden: PathBuf::from("manifests/examples/quickstart.yaml"),
        jetstream_config: PLACEHOLDER,
        rendered: render_docs(&docs, quickstart, &placeholder_global_config()),
    });
    // The install's default EventBus: the corpus's only EventBus is a NATS Streaming one, so
    // this is where the JetStream children (ConfigMap, Service, StatefulSet, PDB) are covered.
    let install = "manifests/install.yaml";
    let docs = load(&[workspace_root().join(install)], install);
    assert!(has_our_kinds(&docs), "{install} holds no object of ours");
    out.push(Example {
        name: install.to_owned(),
        golden: PathBuf::from(install),
        jetstream_config: "the controller configuration shipped in the install's ConfigMap",
        rendered: render_docs(&docs, install, &shipped_global_config(&docs, install)),
    });
    out
}

/// The golden text of an example: a header naming it, the notes as comments, then one YAML
/// document per object.
fn golden_text(example: &Example) -> String {
    let mut text = format!(
        "# Children the controller renders for {}\n# with namespace {NAMESPACE}, image {} and \
         {}.\n# Regenerate: {UPDATE}\n",
        example.name,
        controller_config().image,
        example.jetstream_config,
    );
    for note in &example.rendered.notes {
        text.push_str(&format!("# note: {note}\n"));
    }
    for obj in &example.rendered.objects {
        text.push_str("---\n");
        text.push_str(
            &serde_yaml_ng::to_string(obj)
                .unwrap_or_else(|e| panic!("{}: encoding YAML: {e}", example.name)),
        );
    }
    text
}

/// `None` when equal, else a message naming the first differing line.
fn first_difference(name: &str, golden: &Path, expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    if e == a {
        return Some(format!(
            "{name}: rendered output differs from {} only in line endings or the final newline",
            golden.display()
        ));
    }
    let line = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let show = |v: &[&str]| {
        v.get(line)
            .map_or("<end of file>".to_owned(), |l| l.to_string())
    };
    let context: Vec<String> = a[line.saturating_sub(3)..line]
        .iter()
        .map(|l| format!("    {l}"))
        .collect();
    Some(format!(
        "{name}: rendered output differs from {} at line {}:\n{}\n  - golden:   {}\n  + rendered: {}",
        golden.display(),
        line + 1,
        context.join("\n"),
        show(&e),
        show(&a),
    ))
}

/// Golden files present on disk, relative to `tests/golden/`.
fn committed_golden_files() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.insert(rel.to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    let root = golden_dir();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn rendered_children_match_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let examples = examples();
    let dir = golden_dir();
    let mut problems = Vec::new();
    for example in &examples {
        let text = golden_text(example);
        let path = dir.join(&example.golden);
        if update {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
            }
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&path, &text)
                    .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                eprintln!("golden: wrote {}", path.display());
            }
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) => problems.extend(first_difference(
                &example.name,
                &Path::new("tests/golden").join(&example.golden),
                &committed,
                &text,
            )),
            Err(e) => problems.push(format!(
                "{}: golden file {} cannot be read: {e}",
                example.name,
                path.display()
            )),
        }
    }
    let expected: BTreeSet<&Path> = examples.iter().map(|e| e.golden.as_path()).collect();
    for stale in committed_golden_files() {
        if expected.contains(stale.as_path()) {
            continue;
        }
        let path = dir.join(&stale);
        if update {
            std::fs::remove_file(&path)
                .unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
            eprintln!("golden: removed {}", path.display());
        } else {
            problems.push(format!(
                "tests/golden/{} belongs to no example (the example is gone or no longer renders)",
                stale.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} golden file(s) do not match:\n\n{}\n\nIf the change is intended, rewrite them with:\n  {UPDATE}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The golden test only means something if rendering is a function of its inputs: rendering
/// twice gives the same objects, no Secret (generated credentials) is ever rendered, and no
/// object carries fields the API server or a random source fills in.
#[test]
fn rendering_is_deterministic_and_secret_free() {
    let first = examples();
    let second = examples();
    assert_eq!(first.len(), second.len());
    let server_filled = [
        "/metadata/uid",
        "/metadata/resourceVersion",
        "/metadata/creationTimestamp",
        "/metadata/generation",
        "/metadata/managedFields",
        "/status",
    ];
    let mut objects = 0;
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.name, b.name);
        assert_eq!(
            a.rendered.objects, b.rendered.objects,
            "{}: two renderings differ",
            a.name
        );
        assert_eq!(
            a.rendered.notes, b.rendered.notes,
            "{}: notes differ",
            a.name
        );
        for obj in &a.rendered.objects {
            objects += 1;
            let kind = obj["kind"].as_str().unwrap_or_default();
            assert_ne!(kind, "Secret", "{}: a Secret was rendered", a.name);
            for pointer in server_filled {
                assert!(
                    obj.pointer(pointer).is_none_or(is_empty),
                    "{}: {kind} carries {pointer}: {}",
                    a.name,
                    obj.pointer(pointer).unwrap_or(&Value::Null)
                );
            }
        }
    }
    assert!(objects > 0, "nothing was rendered");
}

/// Whether a value carries no information (k8s-openapi leaves some empty objects behind).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[test]
fn the_first_difference_is_named() {
    let msg = first_difference("ex", Path::new("g.yaml"), "a\nb\nc\n", "a\nB\nc\n").unwrap();
    assert!(
        msg.contains("ex: rendered output differs from g.yaml at line 2"),
        "{msg}"
    );
    assert!(
        msg.contains("- golden:   b") && msg.contains("+ rendered: B"),
        "{msg}"
    );
    let msg = first_difference("ex", Path::new("g.yaml"), "a\n", "a\nb\n").unwrap();
    assert!(
        msg.contains("at line 2") && msg.contains("- golden:   <end of file>"),
        "{msg}"
    );
    assert!(first_difference("ex", Path::new("g.yaml"), "a\n", "a\n").is_none());
}
