use std::path::{Path, PathBuf};

use argo_events_api::manifest::{self, Document};
use serde_json::json;

use super::*;
use crate::lint::{self, Options};

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Document> {
    let text = std::fs::read_to_string(path).unwrap();
    let (docs, err) = manifest::parse_documents(&path.display().to_string(), &text);
    assert!(err.is_none(), "{}: {err:?}", path.display());
    assert!(!docs.is_empty(), "{}: no documents", path.display());
    docs
}

fn namespace(doc: &Document) -> &str {
    doc.namespace().unwrap_or("default")
}

#[test]
fn every_policy_passes_its_pass_fixtures_and_fails_its_fail_fixtures() {
    let mut checked = 0;
    for set in ["default", "optional"] {
        for dir in bundle_files(&policies_dir().join(set)).unwrap() {
            let dir = dir.parent().unwrap().to_owned();
            let text = std::fs::read_to_string(dir.join("policy.yaml")).unwrap();
            let policy = parse_policy(&dir.display().to_string(), &text).unwrap();
            assert_eq!(
                dir.file_name().unwrap().to_str(),
                Some(policy.name.as_str()),
                "a policy's directory is named after it"
            );
            let rule = format!("policy:{}", policy.name);
            let policies = [policy];
            let (pass, fail) = (yaml_files(&dir.join("pass")), yaml_files(&dir.join("fail")));
            assert!(!pass.is_empty(), "{}: no pass fixture", dir.display());
            assert!(!fail.is_empty(), "{}: no fail fixture", dir.display());
            for file in &pass {
                for doc in documents(file) {
                    let v = evaluate(&policies, &doc.value, namespace(&doc));
                    assert_eq!(v, Vec::new(), "{}", file.display());
                    // The fixtures are otherwise clean: only the policy decides.
                    let findings = lint::lint(&[doc], &[], &Options::default());
                    assert_eq!(findings, Vec::new(), "{}", file.display());
                }
            }
            for file in &fail {
                let docs = documents(file);
                let v: Vec<Violation> = docs
                    .iter()
                    .flat_map(|doc| evaluate(&policies, &doc.value, namespace(doc)))
                    .collect();
                assert!(!v.is_empty(), "{}: no violation", file.display());
                assert!(v.iter().all(|v| v.rule == rule), "{v:?}");
                // Through lint, with the policy in the options, the finding carries the rule.
                let opts = Options {
                    policies: policies.to_vec(),
                    ..Options::default()
                };
                let findings = lint::lint(&docs, &[], &opts);
                assert!(
                    findings.iter().any(|f| f.rule == rule),
                    "{}: {findings:?}",
                    file.display()
                );
                // The fixtures are otherwise clean: only the policy finds something.
                assert!(
                    findings.iter().all(|f| f.rule == rule),
                    "{}: {findings:?}",
                    file.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} fail fixtures");
}

#[test]
fn the_compiled_in_default_bundle_is_the_default_directory() {
    let mut on_disk: Vec<String> = bundle_files(&policies_dir().join("default"))
        .unwrap()
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(policies_dir()).unwrap();
            rel.to_str().unwrap().replace('\\', "/")
        })
        .collect();
    on_disk.sort();
    let compiled: Vec<&str> = DEFAULT_BUNDLE.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        compiled, on_disk,
        "update DEFAULT_BUNDLE in webhook/src/policy.rs"
    );
    for (file, text) in DEFAULT_BUNDLE {
        let disk = std::fs::read_to_string(policies_dir().join(file)).unwrap();
        assert_eq!(*text, disk);
    }
    let bundle = default_bundle().unwrap();
    assert_eq!(bundle.len(), DEFAULT_BUNDLE.len());
    // The loader reads the same bundle from the directory.
    let loaded = load_bundle(&policies_dir().join("default")).unwrap();
    let names = |b: &[Policy]| b.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&loaded), names(&bundle));
}

#[test]
fn the_default_bundle_passes_every_upstream_example() {
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/argo-events-examples");
    let (docs, _) = manifest::load(&[corpus]).unwrap();
    assert!(docs.len() > 100, "{} documents", docs.len());
    let bundle = default_bundle().unwrap();
    let violations: Vec<(String, Violation)> = docs
        .iter()
        .filter(|d| matches!(manifest::classify(&d.value), manifest::DocKind::Ours(_)))
        .flat_map(|d| {
            evaluate(&bundle, &d.value, namespace(d))
                .into_iter()
                .map(|v| (d.file.clone(), v))
        })
        .collect();
    assert_eq!(violations, Vec::new());
}

fn policy_text(spec: &str) -> String {
    format!(
        "apiVersion: argo-events-rs.io/v1alpha1\nkind: Policy\nmetadata: {{name: p}}\nspec:\n  description: d\n{spec}"
    )
}

#[test]
fn invalid_policies_are_refused_with_the_reason() {
    let cases = [
        ("  action: deny\n", "exactly one of schema and rule"),
        (
            "  action: deny\n  schema: {}\n  rule: {name: required-labels, params: {labels: [a]}}\n",
            "exactly one of schema and rule",
        ),
        ("  action: block\n  schema: {}\n", "unknown variant `block`"),
        (
            "  action: deny\n  rule: {name: no-such-rule}\n",
            "unknown built-in rule \"no-such-rule\"",
        ),
        (
            "  action: deny\n  rule: {name: required-labels, params: {labels: []}}\n",
            "non-empty list",
        ),
        (
            "  action: deny\n  rule: {name: http-url-allow-list, params: {prefix: [x]}}\n",
            "unknown field `prefix`",
        ),
        (
            "  action: deny\n  match: {kinds: [Pod]}\n  schema: {}\n",
            "\"Pod\" is not one of",
        ),
        (
            "  action: deny\n  match: {kind: [Sensor]}\n  schema: {}\n",
            "unknown field `kind`",
        ),
        (
            "  action: deny\n  schema: {type: 12}\n",
            "spec.schema is not a valid JSON Schema",
        ),
        (
            "  action: deny\n  schema: {$ref: \"https://example.com/s.json\"}\n",
            "spec.schema is not a valid JSON Schema",
        ),
        (
            "  action: deny\n  schema: {}\n  extra: 1\n",
            "unknown field `extra`",
        ),
    ];
    for (spec, want) in cases {
        let err = parse_policy("p.yaml", &policy_text(spec)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("policy file p.yaml: "), "{msg}");
        assert!(msg.contains(want), "{spec}: {msg}");
    }
    let err = parse_policy(
        "p.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\nspec: {description: d, action: warn, schema: {}}\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("expected apiVersion"), "{err}");
}

#[test]
fn duplicate_names_and_empty_directories_are_errors() {
    let text = policy_text("  action: warn\n  schema: {}\n");
    let err =
        parse_bundle(&[("a.yaml".into(), text.clone()), ("b.yaml".into(), text)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy \"p\" is defined twice: in a.yaml and in b.yaml"
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_bundle(dir.path()),
        Err(PolicyError::Empty { .. })
    ));
    assert!(matches!(
        load_bundle(&dir.path().join("missing")),
        Err(PolicyError::Read { .. })
    ));
}

#[test]
fn a_configmap_mount_is_read_as_flat_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        policy_text("  action: warn\n  schema: {}\n"),
    )
    .unwrap();
    // kubelet's bookkeeping entries are skipped.
    std::fs::create_dir(dir.path().join("..data")).unwrap();
    std::fs::write(dir.path().join("..data/p.yaml"), "not a policy").unwrap();
    let bundle = load_bundle(dir.path()).unwrap();
    assert_eq!(bundle.len(), 1);
    assert_eq!(bundle[0].action, Action::Warn);
}

#[test]
fn schema_violations_carry_the_instance_path_and_the_action_severity() {
    let text = policy_text(
        "  action: warn\n  schema:\n    properties:\n      spec:\n        properties:\n          triggers:\n            items: {required: [policy]}\n",
    );
    let policies = [parse_policy("p.yaml", &text).unwrap()];
    let object = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor", "metadata": {"name": "s"},
        "spec": {"triggers": [{"policy": {}}, {"template": {}}]},
    });
    let v = evaluate(&policies, &object, "default");
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].rule, "policy:p");
    assert_eq!(v[0].severity, Severity::Warning);
    assert_eq!(v[0].path, "spec.triggers[1]");
    assert!(v[0].message.starts_with("d: "), "{}", v[0].message);
    assert!(
        v[0].message.contains("\"policy\" is a required property"),
        "{}",
        v[0].message
    );
}

#[test]
fn match_selects_by_kind_namespace_and_labels() {
    let m = Match {
        kinds: vec!["Sensor".into()],
        namespaces: vec!["team-a".into()],
        labels: [("tier".to_owned(), "prod".to_owned())].into(),
    };
    let labels = |v: serde_json::Value| v.as_object().unwrap().clone();
    let prod = labels(json!({"tier": "prod", "x": "y"}));
    let cases = [
        ("Sensor", "team-a", prod.clone(), true),
        ("EventSource", "team-a", prod.clone(), false),
        ("Sensor", "team-b", prod.clone(), false),
        ("Sensor", "team-a", labels(json!({"tier": "dev"})), false),
        ("Sensor", "team-a", labels(json!({})), false),
    ];
    for (kind, ns, l, want) in cases {
        assert_eq!(m.selects(kind, ns, &l), want, "{kind} {ns} {l:?}");
    }
    assert!(Match::default().selects("EventBus", "any", &labels(json!({}))));
}

#[test]
fn builtin_rules_report_each_offending_field() {
    let rule = builtin::Rule::parse(
        "http-url-allow-list",
        json!({"prefixes": ["https://a.example/", "https://b.example/"]}),
    )
    .unwrap();
    let sensor = json!({"spec": {"triggers": [
        {"template": {"http": {"url": "https://a.example/x"}}},
        {"template": {"http": {"url": "https://c.example/x",
            "parameters": [{"dest": "url"}, {"dest": "payload"}]}}},
        {"template": {"log": {}}},
        {"template": {"http": {"url": "https://b.example/"}},
         "dlqTrigger": {"template": {"http": {"url": "http://b.example/"}}}},
    ]}});
    let paths: Vec<String> = rule.check(&sensor).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "spec.triggers[1].template.http.url",
            "spec.triggers[1].template.http.parameters[0].dest",
            "spec.triggers[3].dlqTrigger.template.http.url",
        ]
    );

    let rule = builtin::Rule::parse(
        "required-labels",
        json!({"labels": ["owner", "app.kubernetes.io/part-of"]}),
    )
    .unwrap();
    let found = rule.check(&json!({"metadata": {"labels": {"owner": "me"}}}));
    assert_eq!(
        found,
        [(
            "metadata.labels[\"app.kubernetes.io/part-of\"]".to_owned(),
            "label \"app.kubernetes.io/part-of\" is missing or empty".to_owned()
        )]
    );

    let rule = builtin::Rule::parse(
        "unique-field",
        json!({"items": "/spec/dependencies", "field": "name"}),
    )
    .unwrap();
    let found = rule.check(&json!({"spec": {"dependencies": [
        {"name": "a"}, {"name": "b"}, {"name": "a"}, {}, {}
    ]}}));
    assert_eq!(
        found,
        [(
            "spec.dependencies[2].name".to_owned(),
            "name \"a\" is already used by item 0".to_owned()
        )]
    );
}
