//! In-process cost of one AdmissionReview by phase, without TLS and HTTP: reading the JSON
//! body, decoding and reading the review ([`Review::parse`]), answering it over indexed facts
//! with the default policy bundle ([`Review::answer`]) and writing the response. Complements
//! `benches/admission.rs` (end to end over TLS) when looking for where the time goes.
//!
//! `cargo bench -p argo-events-webhook --bench review`; `BENCH_ITERS` (default 20000).
//! Prints one JSON object on stdout.

use std::hint::black_box;
use std::time::{Duration, Instant};

use argo_events_api::manifest::Document;
use argo_events_webhook::admission::Review;
use argo_events_webhook::policy;
use argo_events_webhook::snapshot::{Facts, Snapshot};
use serde_json::{Value, json};

const NS: &str = "argo-events";

fn main() -> anyhow::Result<()> {
    let iters: u32 = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
        .max(1);
    let facts = Facts::new(snapshot());
    let policies = policy::default_bundle()?;
    let mut out = serde_json::Map::new();
    for (name, body) in bodies() {
        let value: Value = serde_json::from_slice(&body)?;
        let parsed_once = Review::parse(value.clone(), false)?;
        let response = parsed_once.answer(&facts, &policies, None);
        let per = |d: Duration| round3(d.as_secs_f64() * 1e6 / f64::from(iters));
        let time = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            per(t.elapsed())
        };
        let read_json = time(&mut || {
            black_box(serde_json::from_slice::<Value>(black_box(&body)).ok());
        });
        let clone = time(&mut || {
            black_box(value.clone());
        });
        let parse = time(&mut || {
            black_box(Review::parse(value.clone(), false).ok());
        });
        let parse_answer = time(&mut || {
            if let Ok(r) = Review::parse(value.clone(), false) {
                black_box(r.answer(&facts, &policies, None));
            }
        });
        let write = time(&mut || {
            black_box(serde_json::to_vec(&response).ok());
        });
        let total = time(&mut || {
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return;
            };
            if let Ok(r) = Review::parse(v, false) {
                black_box(serde_json::to_vec(&r.answer(&facts, &policies, None)).ok());
            }
        });
        out.insert(
            name.to_owned(),
            json!({
                "body_bytes": body.len(),
                "us_read_json": read_json,
                "us_parse_review (decode, minus clone)": round3(parse - clone),
                "us_answer (rules, policies, response value)": round3(parse_answer - parse),
                "us_write_json": write,
                "us_total": total,
                "allowed": response["response"]["allowed"],
            }),
        );
    }
    out.insert("iterations".into(), json!(iters));
    println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(())
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": NS})
}

/// The facts: an EventBus, three EventSources, RBAC for the Sensor's ServiceAccount.
fn snapshot() -> Snapshot {
    let docs = [
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
            "metadata": meta("default"), "spec": {"jetstream": {"version": "latest"}}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": meta("webhook"),
            "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": meta("calendar"),
            "spec": {"calendar": {"nightly": {"schedule": "0 2 * * *"}}}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": meta("operate-workflow-role"),
        "rules": [
            {"apiGroups": ["argoproj.io"], "verbs": ["create"], "resources": ["workflows"]},
            {"apiGroups": ["argoproj.io"], "verbs": ["patch"], "resources": ["workflows"], "resourceNames": ["nightly"]},
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": meta("operate-workflow"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operate-workflow-role"},
            "subjects": [{"kind": "ServiceAccount", "name": "operate-workflow-sa"}]}),
    ];
    let docs: Vec<Document> = docs
        .into_iter()
        .enumerate()
        .map(|(index, value)| Document {
            file: "bench.json".into(),
            index,
            value,
        })
        .collect();
    Snapshot::from_documents(&docs, None)
}

fn workflow(name_key: &str, name: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {name_key: name},
        "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "commit", "value": "x"}]},
            "templates": [{"name": "main", "container": {"image": "alpine:3.20", "command": ["sh", "-c"], "args": ["echo {{workflow.parameters.commit}}"]}}]}})
}

/// The Sensor of `benches/admission.rs` ("full-allowed"), and the same with a typo'd
/// EventSource (denied).
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let sensor = |source: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
        "metadata": {"name": "build-on-push", "namespace": NS, "generation": 1},
        "spec": {
            "eventBusName": "default",
            "template": {"serviceAccountName": "operate-workflow-sa"},
            "dependencies": [
                {"name": "push", "eventSourceName": source, "eventName": "push",
                 "filters": {
                    "data": [
                        {"path": "body.ref", "type": "string", "value": ["^refs/heads/main$", "^refs/heads/release-.*$"]},
                        {"path": "body.commits.#", "type": "number", "value": ["0"], "comparator": ">"},
                    ],
                    "exprs": [{"expr": "a == \"push\" && b > 0", "fields": [
                        {"name": "a", "path": "headers.X-Github-Event.0"},
                        {"name": "b", "path": "body.size"},
                    ]}],
                    "dataLogicalOperator": "and",
                 }},
                {"name": "nightly", "eventSourceName": "calendar", "eventName": "nightly"},
            ],
            "triggers": [
                {"template": {"name": "build", "conditions": "push", "argoWorkflow": {"operation": "submit",
                    "source": {"resource": workflow("generateName", "build-")}}},
                 "parameters": [{"src": {"dependencyName": "push", "dataKey": "body.after"},
                    "dest": "spec.arguments.parameters.0.value"}]},
                {"template": {"name": "notify", "conditions": "push || nightly", "http": {
                    "url": "https://hooks.example.invalid/notify", "method": "POST",
                    "payload": [{"src": {"dependencyName": "push", "dataKey": "body.ref"}, "dest": "ref"}],
                    "timeout": 5}}},
                {"template": {"name": "resume-nightly", "conditions": "nightly", "argoWorkflow": {"operation": "suspend",
                    "source": {"resource": workflow("name", "nightly")}}}},
            ],
        }})
    };
    let review = |object: Value| {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "u", "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Sensor"},
            "resource": {"group": "argoproj.io", "version": "v1alpha1", "resource": "sensors"},
            "name": "build-on-push", "namespace": NS, "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:argo-cd:argocd-application-controller",
                "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": object, "dryRun": false}})
        .to_string()
        .into_bytes()
    };
    vec![
        ("full-allowed", review(sensor("webhook"))),
        ("reference-typo", review(sensor("webhok"))),
    ]
}
