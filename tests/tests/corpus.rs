//! Every document of upstream's examples decodes as upstream decodes it and survives
//! decode → encode → decode unchanged.

use std::collections::BTreeMap;

use argo_events_api::gocompat;
use argo_events_api::manifest::{self, DocKind, Object};
use argo_events_tests::{corpus_dir, corpus_files};
use argo_events_webhook::lint::{self, Severity};

/// Upstream examples upstream itself cannot decode: (file relative to the corpus, document,
/// why). None today: every example decodes. The README lists this table too.
const BROKEN_UPSTREAM: &[(&str, usize, &str)] = &[];

/// Fields the examples carry that upstream's decoder ignores, so they have no effect there
/// either; `lint` warns on each. (file, path, why). The README lists this table too.
const EXPECTED_UNKNOWN: &[(&str, &str, &str)] = &[
    (
        "event-sources/stripe.yaml",
        "spec.stripe.example.namespace",
        "StripeEventSource has no namespace",
    ),
    (
        "sensors/trigger-with-atleast-once-semantics.yaml",
        "spec.triggers[0].template.atLeastOnce",
        "atLeastOnce belongs to the trigger, not its template",
    ),
    (
        "sensors/trigger-with-policy.yaml",
        "spec.triggers[0].template.policy",
        "policy belongs to the trigger, not its template",
    ),
    (
        "tutorials/03-trigger-sources/sensor-cm.yaml",
        "spec.triggers[0].template.k8s.source.configmap.namespace",
        "a ConfigMap source is read from the Sensor's own namespace",
    ),
    (
        "tutorials/03-trigger-sources/sensor-git.yaml",
        "spec.triggers[0].template.k8s.source.git.sshKeyPath",
        "replaced by sshKeySecret",
    ),
    (
        "tutorials/03-trigger-sources/sensor-git.yaml",
        "spec.triggers[0].template.k8s.source.git.namespace",
        "a git source has no namespace",
    ),
    (
        "tutorials/06-trigger-conditions/minio-event-source.yaml",
        "spec.type",
        "stale field from an old API",
    ),
    (
        "tutorials/06-trigger-conditions/webhook-event-source.yaml",
        "spec.type",
        "stale field from an old API",
    ),
    (
        "tutorials/09-http-trigger/minio-event-source.yaml",
        "spec.type",
        "stale field from an old API",
    ),
    (
        "tutorials/09-http-trigger/sensor-01.yaml",
        "spec.triggers[0].template.http.serverURL",
        "the HTTP trigger's field is url",
    ),
    (
        "tutorials/09-http-trigger/sensor-02.yaml",
        "spec.triggers[0].template.http.serverURL",
        "the HTTP trigger's field is url",
    ),
];

fn relative(file: &str) -> String {
    let root = corpus_dir().display().to_string();
    file.strip_prefix(&root)
        .map(|s| s.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| file.to_owned())
}

#[test]
fn every_example_decodes_and_round_trips() {
    let (docs, parse_errors) = manifest::load(&corpus_files()).expect("corpus readable");
    assert!(parse_errors.is_empty(), "{parse_errors:?}");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut unknown = Vec::new();
    for doc in &docs {
        let DocKind::Ours(kind) = manifest::classify(&doc.value) else {
            continue;
        };
        *counts.entry(kind).or_default() += 1;
        let file = relative(&doc.file);
        let broken = BROKEN_UPSTREAM
            .iter()
            .any(|(f, i, _)| *f == file && *i == doc.index);
        let decoded = match manifest::decode_object(&doc.value) {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                if !broken {
                    failures.push(format!("{file}#{}: {e}", doc.index));
                }
                continue;
            }
            None => unreachable!("classified as ours"),
        };
        assert!(
            !broken,
            "{file}#{} is listed as broken but decodes",
            doc.index
        );
        for path in decoded.unknown_fields {
            unknown.push(format!("{file}: {path}"));
        }
        // decode → encode → decode is the identity, and the encoding has no unknown fields.
        let encoded = decoded.value.to_json();
        let again = manifest::decode_object(&encoded)
            .expect("still one of ours")
            .unwrap_or_else(|e| panic!("{file}#{}: re-decoding failed: {e}", doc.index));
        assert!(
            again.unknown_fields.is_empty(),
            "{file}: {:?}",
            again.unknown_fields
        );
        assert_eq!(
            again.value, decoded.value,
            "{file}#{} changed in a round trip",
            doc.index
        );
        assert_eq!(again.value.to_json(), encoded, "{file}#{}", doc.index);
    }
    let expected_counts = BTreeMap::from([("EventBus", 1), ("EventSource", 34), ("Sensor", 94)]);
    assert_eq!(counts, expected_counts, "objects found in the corpus");
    assert!(
        failures.is_empty(),
        "examples that do not decode:\n{}",
        failures.join("\n")
    );
    let expected: Vec<String> = EXPECTED_UNKNOWN
        .iter()
        .map(|(f, p, _)| format!("{f}: {p}"))
        .collect();
    assert_eq!(unknown, expected, "unknown fields in the examples changed");
}

/// Examples that decode but that upstream's own validation rejects: (file, path, upstream's
/// message). Upstream's controller would refuse these Sensors, and so does `lint` (rule
/// `upstream`). The README lists this table too.
const INVALID_FOR_UPSTREAM: &[(&str, &str, &str)] = &[
    (
        "tutorials/09-http-trigger/sensor-01.yaml",
        "spec.triggers[0].template.http.url",
        "template http-trigger is invalid, server URL is not specified",
    ),
    (
        "tutorials/09-http-trigger/sensor-02.yaml",
        "spec.triggers[0].template.http.url",
        "template http-trigger is invalid, server URL is not specified",
    ),
];

/// Warnings of the admission rules over the whole corpus taken as one manifest set (everything
/// lands in namespace `default`): (file, rule, path, why). Errors of those rules never fire here.
const EXPECTED_RULE_WARNINGS: &[(&str, &str, &str, &str)] = &[
    (
        "sensors/dependencies-conditions.yaml",
        "reference",
        "spec.dependencies[1].eventName",
        "event example-foo is commented out in event-sources/webhook.yaml",
    ),
    (
        "sensors/time-filter-webhook.yaml",
        "reference",
        "spec.dependencies[1].eventName",
        "event example1 is not in event-sources/webhook.yaml",
    ),
    (
        "sensors/transform.yaml",
        "reference",
        "spec.dependencies[1].eventName",
        "event example-foo is commented out in event-sources/webhook.yaml",
    ),
    (
        "sensors/filter-script.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/filter-with-data-advanced.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/filter-with-expressions.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/filter-with-multiple-data-filters-in-or.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/filter-with-multiple-expr-filters-in-or.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/filter-with-multiple-filters-in-or.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/filter-with-multiple-filters-mixed.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/filter-with-multiple-filters.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "ServiceAccount default is bound only to the executor Role (workflowtaskresults)",
    ),
    (
        "sensors/trigger-standard-k8s-resource-shortened.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "operate-workflow-sa's Role covers argoproj.io only, not pods",
    ),
    (
        "sensors/trigger-standard-k8s-resource.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "operate-workflow-sa's Role covers argoproj.io only, not pods",
    ),
    (
        "tutorials/04-standard-k8s-resources/sensor-deployment.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "no given binding for k8s-resource-sa",
    ),
    (
        "tutorials/04-standard-k8s-resources/sensor-pod.yaml",
        "rbac",
        "spec.triggers[0].template.k8s",
        "no given binding for k8s-resource-sa",
    ),
    (
        "eventbus/native.yaml",
        "pitfall",
        "spec.nats",
        "a NATS Streaming bus; upstream deprecated it for jetstream",
    ),
];

#[test]
fn lint_reports_exactly_the_upstream_errors_and_the_stale_fields() {
    let (docs, parse_errors) = manifest::load(&corpus_files()).expect("corpus readable");
    let findings = lint::lint(&docs, &parse_errors, &lint::Options::default());
    let errors: Vec<(String, String, String)> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            assert_eq!(f.rule, lint::rule::UPSTREAM, "{f:?}");
            (relative(&f.file), f.path.clone(), f.message.clone())
        })
        .collect();
    let expected_errors: Vec<(String, String, String)> = INVALID_FOR_UPSTREAM
        .iter()
        .map(|(f, p, m)| (f.to_string(), p.to_string(), m.to_string()))
        .collect();
    assert_eq!(errors, expected_errors);
    let warned: Vec<(String, String)> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning && f.rule == lint::rule::UNKNOWN_FIELD)
        .map(|f| (relative(&f.file), f.path.clone()))
        .collect();
    let expected: Vec<(String, String)> = EXPECTED_UNKNOWN
        .iter()
        .map(|(f, p, _)| (f.to_string(), p.to_string()))
        .collect();
    assert_eq!(warned, expected);
    let warned: Vec<(String, String, String)> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning && f.rule != lint::rule::UNKNOWN_FIELD)
        .map(|f| (relative(&f.file), f.rule.clone(), f.path.clone()))
        .collect();
    let expected: Vec<(String, String, String)> = EXPECTED_RULE_WARNINGS
        .iter()
        .map(|(f, r, p, _)| (f.to_string(), r.to_string(), p.to_string()))
        .collect();
    assert_eq!(warned, expected, "warnings of the admission rules changed");
}

#[test]
fn go_rules_hold_on_a_real_example() {
    // The upstream webhook example with its port written as a number, and a key in another case.
    let path = corpus_dir().join("event-sources/webhook.yaml");
    let text = std::fs::read_to_string(&path).expect("webhook example");
    let (docs, _) = manifest::parse_documents("webhook.yaml", &text);
    let mut doc = docs[0].value.clone();
    let example = &mut doc["spec"]["webhook"]["example"];
    assert_eq!(example["port"], "12000");
    let method = example["method"].take();
    if let Some(o) = example.as_object_mut() {
        o.remove("method");
        o.insert("METHOD".into(), method);
    }
    let decoded = gocompat::from_value::<argo_events_api::EventSource>(&doc).expect("decodes");
    assert!(decoded.unknown_fields.is_empty());
    assert_eq!(decoded.value.spec.webhook["example"].method, "POST");
    doc["spec"]["webhook"]["example"]["port"] = serde_json::json!(12000);
    let err = gocompat::from_value::<argo_events_api::EventSource>(&doc).unwrap_err();
    assert_eq!(err.path, "spec.webhook.example.port");
    assert_eq!(err.message, "expected a string, got 12000");
}

#[test]
fn decoded_objects_expose_typed_fields() {
    let path = corpus_dir().join("sensors/special-workflow-trigger.yaml");
    let text = std::fs::read_to_string(&path).expect("example");
    let (docs, _) = manifest::parse_documents("s.yaml", &text);
    let Some(Ok(decoded)) = manifest::decode_object(&docs[0].value) else {
        panic!("decodes");
    };
    let Object::Sensor(sensor) = decoded.value else {
        panic!("a Sensor");
    };
    let template = sensor.spec.triggers[0].template.as_ref().expect("template");
    assert_eq!(template.kind(), Some("argoWorkflow"));
    let wf = template.argo_workflow.as_ref().expect("argoWorkflow");
    assert_eq!(wf.operation, "submit");
    assert!(
        wf.source
            .as_ref()
            .and_then(|s| s.resource.as_ref())
            .is_some()
    );
}

#[test]
fn every_example_sensor_compiles_in_the_engine() {
    let (docs, _) = manifest::load(&corpus_files()).expect("corpus readable");
    let mut problems = Vec::new();
    let mut sensors = 0;
    for doc in &docs {
        let Some(Ok(decoded)) = manifest::decode_object(&doc.value) else {
            continue;
        };
        let Object::Sensor(sensor) = decoded.value else {
            continue;
        };
        sensors += 1;
        let machine = argo_events_engine::SensorMachine::new(&sensor);
        for p in machine.problems() {
            problems.push(format!("{}: {p}", relative(&doc.file)));
        }
    }
    assert_eq!(sensors, 94);
    assert!(problems.is_empty(), "{problems:#?}");
}
