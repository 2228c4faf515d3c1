use argo_events_api::manifest::Document;
use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

const NS: &str = "argo-events";

fn snapshot(values: Vec<Value>) -> Snapshot {
    let docs: Vec<Document> = values
        .into_iter()
        .enumerate()
        .map(|(index, value)| Document {
            file: "cluster".into(),
            index,
            value,
        })
        .collect();
    Snapshot::from_documents(&docs, None)
}

fn bus(spec: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
        "metadata": {"name": "default", "namespace": NS, "generation": 1}, "spec": spec})
}

fn source() -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
        "metadata": {"name": "github", "namespace": NS, "generation": 1},
        "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}})
}

fn sensor(event_source: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": "build", "namespace": NS, "generation": 1},
    "spec": {
        "dependencies": [{"name": "push", "eventSourceName": event_source, "eventName": "push"}],
        "triggers": [{"template": {"name": "t", "log": {}}}],
    }})
}

fn request(operation: &str, object: Value, old: Option<Value>) -> Value {
    let kind = object["kind"].clone();
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or("argoproj.io/v1alpha1");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let mut req = json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": version, "kind": kind},
        "operation": operation,
        "namespace": NS,
        "object": object,
    });
    if let Some(old) = old {
        req["oldObject"] = old;
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
}

fn cluster() -> Snapshot {
    snapshot(vec![
        bus(json!({"jetstream": {"version": "latest"}})),
        source(),
    ])
}

/// (allowed, status message, warnings) of a response.
fn outcome(response: &Value) -> (bool, Option<String>, Vec<String>) {
    let r = &response["response"];
    let warnings = r["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (
        r["allowed"].as_bool().unwrap(),
        r["status"]["message"].as_str().map(str::to_owned),
        warnings,
    )
}

#[test]
fn validation_table() {
    let mut unknown = sensor("github");
    unknown["spec"]["bogus"] = json!(1);
    let mut bad_port = source();
    bad_port["spec"]["webhook"]["push"]["port"] = json!(12000);
    let mut no_endpoint = source();
    no_endpoint["spec"]["webhook"]["push"]["endpoint"] = json!("");
    let mut other_bus = sensor("github");
    other_bus["spec"]["eventBusName"] = json!("nope");
    let mut deleted_bad = sensor("githb");
    deleted_bad["metadata"]["generation"] = json!(2);
    let same_generation_bad = sensor("githb");
    let mut bumped_bad = sensor("githb");
    bumped_bad["metadata"]["generation"] = json!(2);
    let mut no_triggers = sensor("github");
    no_triggers["spec"]["triggers"] = json!([]);

    // As the API server sends it: server-set metadata and a status.
    let mut served = sensor("github");
    served["metadata"]["uid"] = json!("0b8a5c1e-52a0-4d7e-9b7a-3c1d2e4f5a6b");
    served["metadata"]["resourceVersion"] = json!("12345");
    served["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    served["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
    served["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply",
        "apiVersion": "argoproj.io/v1alpha1", "time": "2024-01-01T00:00:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]);
    served["status"] = json!({"conditions": [{"type": "Deployed", "status": "True",
        "lastTransitionTime": "2024-01-01T00:00:00Z"}]});

    type Case = (
        &'static str,
        Value,
        bool,
        Option<&'static str>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "valid sensor",
            request("CREATE", sensor("github"), None),
            true,
            None,
            vec![],
        ),
        (
            "valid source",
            request("CREATE", source(), None),
            true,
            None,
            vec![],
        ),
        (
            "reference error with path",
            request("CREATE", sensor("githb"), None),
            false,
            Some(
                "invalid Sensor: spec.dependencies[0].eventSourceName: no EventSource \"githb\"; EventSources in argo-events: github",
            ),
            vec![],
        ),
        (
            "all errors joined",
            request("CREATE", no_triggers, None),
            false,
            Some("invalid Sensor: spec.triggers: no triggers found"),
            vec![],
        ),
        (
            "missing event bus",
            request("CREATE", other_bus, None),
            false,
            Some(
                "invalid Sensor: spec.eventBusName: no EventBus \"nope\" in argo-events; EventBuses there: default",
            ),
            vec![],
        ),
        (
            "decode error",
            request("CREATE", bad_port, None),
            false,
            Some("invalid EventSource: spec.webhook.push.port: expected a string, got 12000"),
            vec![],
        ),
        (
            "upstream rule",
            request("CREATE", no_endpoint, None),
            false,
            Some("invalid EventSource: spec.webhook.push.endpoint: endpoint can't be empty"),
            vec![],
        ),
        (
            "unknown field is a warning",
            request("CREATE", unknown, None),
            true,
            None,
            vec![
                "spec.bogus: unknown field \"spec.bogus\": upstream ignores it, so it has no effect",
            ],
        ),
        (
            "deprecated bus is a warning",
            request("CREATE", bus(json!({"nats": {"native": {}}})), None),
            true,
            None,
            vec!["spec.nats: NATS Streaming is deprecated; use jetstream"],
        ),
        (
            "DELETE always allowed",
            request("DELETE", deleted_bad, None),
            true,
            None,
            vec![],
        ),
        (
            "CONNECT always allowed",
            request("CONNECT", json!({}), None),
            true,
            None,
            vec![],
        ),
        (
            "UPDATE without a generation change is allowed",
            request(
                "UPDATE",
                same_generation_bad.clone(),
                Some(same_generation_bad.clone()),
            ),
            true,
            None,
            vec![],
        ),
        (
            "UPDATE with a new generation is validated",
            request("UPDATE", bumped_bad, Some(same_generation_bad)),
            false,
            Some(
                "invalid Sensor: spec.dependencies[0].eventSourceName: no EventSource \"githb\"; EventSources in argo-events: github",
            ),
            vec![],
        ),
        (
            "other kinds are not judged",
            request(
                "CREATE",
                json!({"apiVersion": "v1", "kind": "ConfigMap"}),
                None,
            ),
            true,
            None,
            vec![],
        ),
    ];
    let snap = cluster();
    for (name, req, allowed, message, warnings) in cases {
        let resp = review(&req, &snap, false);
        assert_eq!(resp["apiVersion"], ADMISSION_API_VERSION, "{name}");
        assert_eq!(resp["kind"], "AdmissionReview", "{name}");
        assert_eq!(
            resp["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002",
            "{name}"
        );
        let (a, m, w) = outcome(&resp);
        assert_eq!(a, allowed, "{name}: {resp}");
        assert_eq!(m.as_deref(), message, "{name}: {resp}");
        assert_eq!(w, warnings, "{name}: {resp}");
        if !allowed {
            assert_eq!(resp["response"]["status"]["code"], 400, "{name}");
            assert_eq!(resp["response"]["status"]["reason"], "BadRequest", "{name}");
        }
        assert!(resp["response"].get("patch").is_none(), "{name}");
    }
}

#[test]
fn the_incoming_object_replaces_its_stored_version() {
    // The stored EventSource lacks the event the Sensor needs; the incoming one adds it, and a
    // Sensor that is checked afterwards sees the stored one only.
    let mut stored = source();
    stored["spec"]["webhook"] =
        json!({"other": {"port": "12000", "endpoint": "/o", "method": "POST"}});
    let snap = snapshot(vec![
        bus(json!({"jetstream": {"version": "latest"}})),
        stored,
        sensor("github"),
    ]);
    // The stored Sensor's reference error is not the incoming object's.
    let (allowed, message, _) = outcome(&review(&request("CREATE", source(), None), &snap, false));
    assert!(allowed, "{message:?}");
    let (allowed, _, warnings) = outcome(&review(
        &request("CREATE", sensor("github"), None),
        &snap,
        false,
    ));
    assert!(allowed);
    assert_eq!(
        warnings,
        [
            "spec.dependencies[0].eventName: EventSource \"github\" has no event \"push\"; its events: other"
        ],
        "the Sensor is checked against the stored EventSource"
    );
    // A reference to an absent EventSource is a warning (it may be applied later).
    let (allowed, _, warnings) = outcome(&review(
        &request("CREATE", sensor("elsewhere"), None),
        &snap,
        false,
    ));
    assert!(allowed);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn event_bus_update_rules() {
    let js = |stream: Option<&str>| {
        let mut spec = json!({"jetstream": {"version": "latest"}});
        if let Some(s) = stream {
            spec["jetstream"]["streamConfig"] = json!(s);
        }
        spec
    };
    let cases: Vec<(&str, Value, Value, Option<&str>)> = vec![
        ("same", js(None), js(None), None),
        (
            "implementation",
            js(None),
            json!({"kafka": {"url": "k:9092"}}),
            Some(
                "invalid EventBus: spec: Can not change event bus implementation (from jetstream to kafka)",
            ),
        ),
        (
            "native to exotic",
            json!({"nats": {"native": {}}}),
            json!({"nats": {"exotic": {"url": "nats://x", "clusterID": "c"}}}),
            Some(
                "invalid EventBus: spec.nats: Can not change NATS event bus implementation from native to exotic",
            ),
        ),
        (
            "native auth",
            json!({"nats": {"native": {}}}),
            json!({"nats": {"native": {"auth": "token"}}}),
            Some(
                "invalid EventBus: spec.nats.native.auth: \"spec.nats.native.auth\" is immutable, can not be updated (from \"none\" to \"token\")",
            ),
        ),
        (
            "nil auth is none",
            json!({"nats": {"native": {}}}),
            json!({"nats": {"native": {"auth": "none"}}}),
            None,
        ),
        (
            "exotic auth",
            json!({"nats": {"exotic": {"url": "nats://x", "clusterID": "c", "auth": "basic"}}}),
            json!({"nats": {"exotic": {"url": "nats://x", "clusterID": "c", "auth": "token"}}}),
            Some(
                "invalid EventBus: spec.nats.exotic.auth: \"spec.nats.exotic.auth\" is immutable, can not be updated (from \"basic\" to \"token\")",
            ),
        ),
        (
            "stream config added",
            js(None),
            js(Some("maxAge: 1h")),
            Some(
                "invalid EventBus: spec.jetstream.streamConfig: \"spec.jetstream.streamConfig\" is immutable, can not be updated, old value=<none>, new value='maxAge: 1h'",
            ),
        ),
        (
            "stream config changed",
            js(Some("maxAge: 1h")),
            js(Some("maxAge: 2h")),
            Some(
                "invalid EventBus: spec.jetstream.streamConfig: \"spec.jetstream.streamConfig\" is immutable, can not be updated, old value='maxAge: 1h', new value='maxAge: 2h'",
            ),
        ),
    ];
    for (name, old_spec, new_spec, message) in cases {
        let old = bus(old_spec);
        let mut new = bus(new_spec);
        new["metadata"]["generation"] = json!(2);
        let (allowed, m, _) = outcome(&review(
            &request("UPDATE", new, Some(old)),
            &Snapshot::default(),
            false,
        ));
        assert_eq!(allowed, message.is_none(), "{name}: {m:?}");
        assert_eq!(m.as_deref(), message, "{name}");
    }
}

fn review_of(request: Value) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

#[test]
fn malformed_reviews() {
    let snap = Snapshot::default();
    for (name, body) in [
        ("not an object", json!([1, 2])),
        ("no request", json!({"kind": "AdmissionReview"})),
        ("no uid", review_of(json!({"operation": "CREATE"}))),
        ("uid not a string", review_of(json!({"uid": 7}))),
        (
            "garbage apiVersion",
            json!({"apiVersion": "admission.k8s.io/v9", "kind": "AdmissionReview",
                "request": request("CREATE", sensor("webhook"), None)["request"]}),
        ),
        (
            "no apiVersion",
            json!({"kind": "AdmissionReview",
                "request": request("CREATE", sensor("webhook"), None)["request"]}),
        ),
        (
            "kind not AdmissionReview",
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "Sensor",
                "request": request("CREATE", sensor("webhook"), None)["request"]}),
        ),
    ] {
        assert!(try_review(&body, &snap, false).is_err(), "{name}");
        let (allowed, message, _) = outcome(&review(&body, &snap, false));
        assert!(!allowed, "{name}");
        assert!(
            message.unwrap().starts_with("malformed AdmissionReview: "),
            "{name}"
        );
    }
    // With a uid: a clean denial addressed to it.
    for (name, req, message) in [
        (
            "no object",
            review_of(json!({"uid": "u", "operation": "CREATE"})),
            "CREATE request without an object",
        ),
        (
            "object not an object",
            review_of(json!({"uid": "u", "operation": "UPDATE", "object": "x"})),
            "UPDATE request without an object",
        ),
        (
            "odd operation",
            review_of(json!({"uid": "u", "operation": "PATCH", "object": {}})),
            "unsupported operation \"PATCH\"",
        ),
        (
            "request.kind names another kind than the object",
            {
                let mut r = request("CREATE", sensor("webhook"), None);
                r["request"]["kind"]["kind"] = json!("ConfigMap");
                r["request"]["uid"] = json!("u");
                r
            },
            "request.kind \"argoproj.io/v1alpha1\" \"ConfigMap\" does not match the object's \
             apiVersion \"argoproj.io/v1alpha1\" and kind \"Sensor\"",
        ),
        (
            "request.kind names another version than the object",
            {
                let mut r = request("UPDATE", sensor("webhook"), Some(sensor("webhook")));
                r["request"]["kind"]["version"] = json!("v1");
                r["request"]["uid"] = json!("u");
                r
            },
            "request.kind \"argoproj.io/v1\" \"Sensor\" does not match the object's \
             apiVersion \"argoproj.io/v1alpha1\" and kind \"Sensor\"",
        ),
    ] {
        let resp = try_review(&req, &snap, false).unwrap();
        assert_eq!(resp["response"]["uid"], "u", "{name}");
        let (allowed, m, _) = outcome(&resp);
        assert!(!allowed, "{name}");
        assert_eq!(m.as_deref(), Some(message), "{name}");
    }
}

fn decoded_patch(resp: &Value) -> Option<Value> {
    let r = &resp["response"];
    let patch = r.get("patch")?.as_str().unwrap();
    assert_eq!(r["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn mutation_patches_in_upstreams_defaults() {
    let snap = Snapshot::default();
    let mut http_sensor = sensor("github");
    http_sensor["spec"]["triggers"] =
        json!([{"template": {"name": "h", "http": {"url": "http://x"}}}]);
    let mut defaulted_sensor = sensor("github");
    defaulted_sensor["spec"]["eventBusName"] = json!("default");
    defaulted_sensor["spec"]["replicas"] = json!(1);
    defaulted_sensor["spec"]["dependencies"][0]["filtersLogicalOperator"] = json!("and");
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        (
            "sensor",
            sensor("github"),
            Some(json!({"eventBusName": "default", "replicas": 1})),
        ),
        (
            "http trigger",
            http_sensor,
            Some(json!({"method": "POST", "timeout": 60})),
        ),
        ("source", source(), Some(json!({"replicas": 1}))),
        (
            "jetstream bus",
            bus(json!({"jetstream": {"version": "latest"}})),
            Some(json!({"replicas": 3})),
        ),
    ];
    for (name, object, expect) in cases {
        let resp = review(&request("CREATE", object.clone(), None), &snap, true);
        let (allowed, message, _) = outcome(&resp);
        assert!(allowed && message.is_none(), "{name}");
        let patch = decoded_patch(&resp).unwrap_or_else(|| panic!("{name}: no patch"));
        // Applied to the object as sent, the patch yields the defaulted object.
        let mut patched = object.clone();
        json_patch::patch(
            &mut patched,
            &serde_json::from_value::<json_patch::Patch>(patch.clone()).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}: {patch}"));
        let Some(expect) = expect else { continue };
        for (key, value) in expect.as_object().unwrap() {
            let found = find_key(&patched, key);
            assert_eq!(found, Some(value), "{name}: {key} in {patched}");
        }
    }
    // Already defaulted: no patch at all.
    let resp = review(&request("CREATE", defaulted_sensor, None), &snap, true);
    assert!(outcome(&resp).0);
    assert!(resp["response"].get("patch").is_none(), "{resp}");
    assert!(resp["response"].get("patchType").is_none(), "{resp}");
    // Undecodable, DELETE: allowed without a patch.
    let mut bad = source();
    bad["spec"]["webhook"]["push"]["port"] = json!(1);
    for req in [
        request("CREATE", bad, None),
        request("DELETE", sensor("x"), None),
    ] {
        let resp = review(&req, &snap, true);
        assert!(outcome(&resp).0);
        assert!(resp["response"].get("patch").is_none(), "{resp}");
    }
}

/// The first value under `key` anywhere in `v`, depth first.
fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|c| find_key(c, key))),
        Value::Array(items) => items.iter().find_map(|c| find_key(c, key)),
        _ => None,
    }
}

#[test]
fn policies_deny_or_warn_on_the_incoming_object() {
    let policy = |name: &str, action: &str, rule: &str| {
        crate::policy::parse_policy(
            "p.yaml",
            &format!(
                "apiVersion: argo-events-rs.io/v1alpha1\nkind: Policy\nmetadata: {{name: {name}}}\n\
                 spec: {{description: {name}, action: {action}, match: {{kinds: [Sensor]}}, rule: {rule}}}\n"
            ),
        )
        .unwrap()
    };
    let labels = policy(
        "labels",
        "deny",
        "{name: required-labels, params: {labels: [owner]}}",
    );
    let https = policy(
        "https",
        "warn",
        "{name: http-url-allow-list, params: {prefixes: [\"https://\"]}}",
    );
    let mut http = sensor("github");
    http["spec"]["triggers"] =
        json!([{"template": {"name": "t", "http": {"url": "http://x.example/"}}}]);
    let review = |object: Value, policies: &[Policy]| {
        outcome(
            &try_review_with_policies(
                &request("CREATE", object, None),
                &cluster(),
                false,
                policies,
            )
            .unwrap(),
        )
    };

    // Without policies (try_review) both are fine.
    let (allowed, _, warnings) =
        outcome(&try_review(&request("CREATE", http.clone(), None), &cluster(), false).unwrap());
    assert!(allowed);
    assert_eq!(warnings, Vec::<String>::new());

    // A warn policy warns.
    let (allowed, message, warnings) = review(http.clone(), std::slice::from_ref(&https));
    assert!(allowed, "{message:?}");
    assert_eq!(
        warnings,
        [
            "spec.triggers[0].template.http.url: https: URL \"http://x.example/\" does not start with an allowed prefix (https://) [policy:https]"
        ]
    );

    // A deny policy denies, with the path and the rule.
    let (allowed, message, _) = review(http.clone(), &[labels.clone(), https.clone()]);
    assert!(!allowed);
    assert_eq!(
        message.as_deref(),
        Some(
            "invalid Sensor: metadata.labels.owner: labels: label \"owner\" is missing or empty [policy:labels]"
        )
    );
    let mut labelled = http.clone();
    labelled["metadata"]["labels"] = json!({"owner": "team-a"});
    let (allowed, _, _) = review(labelled, std::slice::from_ref(&labels));
    assert!(allowed);

    // Policies select by kind; mutation and DELETE never evaluate them.
    let (allowed, _, _) = review(source(), std::slice::from_ref(&labels));
    assert!(allowed);
    let mutated = try_review_with_policies(
        &request("CREATE", http.clone(), None),
        &cluster(),
        true,
        std::slice::from_ref(&labels),
    )
    .unwrap();
    assert_eq!(mutated["response"]["allowed"], true);
    let (allowed, _, _) = outcome(
        &try_review_with_policies(&request("DELETE", http, None), &cluster(), false, &[labels])
            .unwrap(),
    );
    assert!(allowed);
}

#[test]
fn mutation_defaults_updates_whose_generation_is_not_bumped_yet() {
    // Mutating admission runs before the API server bumps metadata.generation, so an UPDATE
    // arrives with the old generation; it must still be defaulted.
    let snap = Snapshot::default();
    let old = sensor("github");
    let mut new = sensor("github");
    new["spec"]["dependencies"][0]["eventName"] = json!("pull");
    let resp = review(&request("UPDATE", new, Some(old)), &snap, true);
    assert!(outcome(&resp).0, "{resp}");
    let patch = decoded_patch(&resp).expect("an UPDATE is defaulted");
    assert!(patch.to_string().contains("eventBusName"), "{patch}");
    // Validation keeps the shortcut: an unchanged generation is allowed without checks.
    let mut broken = sensor("missing");
    broken["spec"]["eventBusName"] = json!("nope");
    let resp = review(
        &request("UPDATE", broken.clone(), Some(broken)),
        &Snapshot::default(),
        false,
    );
    assert_eq!(outcome(&resp), (true, None, vec![]));
}
