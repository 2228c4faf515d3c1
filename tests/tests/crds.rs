//! The committed CRDs under `manifests/crds/` are exactly what the types generate.

use argo_events_tests::workspace_root;

const REGENERATE: &str = "cargo run -p argo-events-kubectl -- crds --output-dir manifests/crds";

#[test]
fn committed_crds_match_the_types() {
    let dir = workspace_root().join("manifests/crds");
    let generated = argo_events_api::crd::all_crds_yaml();
    let mut drifted = Vec::new();
    for (name, yaml) in &generated {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == *yaml => {}
            Ok(_) => drifted.push(format!("{} differs", path.display())),
            Err(e) => drifted.push(format!("{} cannot be read: {e}", path.display())),
        }
    }
    let expected: Vec<&str> = generated.iter().map(|(n, _)| n.as_str()).collect();
    let entries = std::fs::read_dir(&dir).map(|rd| {
        rd.filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("argoproj.io_") && !expected.contains(&n.as_str()))
            .collect::<Vec<_>>()
    });
    for stale in entries.unwrap_or_default() {
        drifted.push(format!("{stale} is no longer generated"));
    }
    assert!(
        drifted.is_empty(),
        "the CRDs under manifests/crds drifted from the types:\n  {}\nregenerate them with:\n  {REGENERATE}",
        drifted.join("\n  ")
    );
}

#[test]
fn committed_crds_parse_as_crds() {
    let dir = workspace_root().join("manifests/crds");
    let (docs, errors) =
        argo_events_api::manifest::load(&[dir]).expect("manifests/crds is readable");
    assert!(errors.is_empty(), "{errors:?}");
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d.kind()).collect();
    assert!(
        kinds
            .iter()
            .all(|k| *k == "CustomResourceDefinition" || *k == "Kustomization"),
        "{kinds:?}"
    );
    let names: Vec<&str> = docs.iter().filter_map(|d| d.name()).collect();
    for name in [
        "eventbus.argoproj.io",
        "eventsources.argoproj.io",
        "sensors.argoproj.io",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}
