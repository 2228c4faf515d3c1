use std::sync::Arc;
use std::time::Duration;

use argo_events_webhook::admission::Review;
use argo_events_webhook::rules::sensor_access_checks;
use argo_events_webhook::snapshot::Facts;
use k8s_openapi::api::authorization::v1::SubjectAccessReviewStatus;
use serde_json::{Value, json};

use super::*;
use crate::fake_api::{self, Seen};

const NS: &str = "argo-events";

/// A Sensor whose three triggers need create, patch and update of Workflows.
fn sensor() -> Value {
    let wf = |name: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": name}})
    };
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": "s", "namespace": NS, "generation": 1},
    "spec": {
        "template": {"serviceAccountName": "runner"},
        "dependencies": [{"name": "d", "eventSourceName": "es", "eventName": "e"}],
        "triggers": [
            {"template": {"name": "submit", "argoWorkflow": {"operation": "submit",
                "source": {"resource": wf("w")}}}},
            {"template": {"name": "suspend", "argoWorkflow": {"operation": "suspend",
                "source": {"resource": wf("nightly")}}}},
            {"template": {"name": "retry", "argoWorkflow": {"operation": "retry",
                "source": {"resource": wf("w")}}}},
        ]}})
}

fn review_of(object: Value) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Sensor"},
        "operation": "CREATE", "namespace": NS, "object": object}})
}

/// The fake authorizer: create allowed, patch denied, update an API error.
fn authorizer_api() -> fake_api::Handler {
    Arc::new(|req: &Seen| {
        let verb = req.body["spec"]["resourceAttributes"]["verb"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let status = match verb.as_str() {
            "create" => json!({"allowed": true}),
            "patch" => json!({"allowed": false, "reason": "no RBAC policy matched"}),
            _ => return Some((500, fake_api::status(500, "InternalError", "etcd is down"))),
        };
        let mut answer = req.body.clone();
        answer["status"] = status;
        Some((201, answer))
    })
}

fn checks() -> Vec<AccessCheck> {
    let sensor: argo_events_api::Sensor = argo_events_api::gocompat::from_value(&sensor())
        .unwrap()
        .value;
    sensor_access_checks(NS, &sensor)
}

#[tokio::test]
async fn allowed_denied_and_failed_reviews_and_the_cache() {
    let (client, seen) = fake_api::client(authorizer_api());
    let authorizer = Authorizer::new(client, Duration::from_secs(30), 16, Duration::from_secs(5));
    let checks = checks();
    let decisions = tokio::time::timeout(Duration::from_secs(10), authorizer.decide(&checks))
        .await
        .unwrap();
    assert_eq!(decisions[0], AccessDecision::Allowed);
    assert_eq!(decisions[1], AccessDecision::Denied);
    let AccessDecision::Failed(error) = &decisions[2] else {
        panic!("{decisions:?}");
    };
    assert!(error.contains("etcd is down"), "{error}");

    // What was asked: the ServiceAccount as a user with its groups, and the attributes.
    let mut bodies: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.body.clone())
        .collect();
    bodies.sort_by_key(|b| b["spec"]["resourceAttributes"]["verb"].to_string());
    assert_eq!(seen.lock().unwrap().len(), 3);
    for s in seen.lock().unwrap().iter() {
        assert_eq!(s.method, http::Method::POST);
        assert!(
            s.uri
                .starts_with("/apis/authorization.k8s.io/v1/subjectaccessreviews"),
            "{}",
            s.uri
        );
    }
    assert_eq!(
        bodies[0],
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {"user": "system:serviceaccount:argo-events:runner",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:argo-events", "system:authenticated"],
                "resourceAttributes": {"verb": "create", "group": "argoproj.io",
                    "resource": "workflows", "namespace": NS}}})
    );
    // patch names the object; create does not.
    assert_eq!(bodies[1]["spec"]["resourceAttributes"]["name"], "nightly");

    // A second review within the TTL asks only what failed (failures are not cached).
    let again = authorizer.decide(&checks).await;
    assert_eq!(again[..2], decisions[..2]);
    assert_eq!(seen.lock().unwrap().len(), 4);

    // The admission answer: the denial worded as the static evaluator's, the failure a warning
    // that says it does not deny.
    let parsed = Review::parse(review_of(sensor()), false).unwrap();
    assert_eq!(parsed.access_checks(), checks.as_slice());
    let response = parsed.answer(&Facts::default(), &[], Some(&decisions));
    assert_eq!(response["response"]["allowed"], false, "{response}");
    assert_eq!(
        response["response"]["status"]["message"],
        "invalid Sensor: spec.triggers[1].template.argoWorkflow: ServiceAccount argo-events/runner may not patch workflows.argoproj.io in namespace argo-events (trigger suspend)"
    );
    let warnings = response["response"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.starts_with("spec.triggers[2].template.argoWorkflow: cannot tell whether ServiceAccount argo-events/runner may update workflows.argoproj.io in namespace argo-events (trigger retry): the SubjectAccessReview failed (API error: "),
        "{warning}"
    );
    assert!(warning.ends_with("; not denied for that"), "{warning}");
}

#[tokio::test]
async fn a_review_without_an_answer_in_time_is_a_failure_not_a_denial() {
    let (client, _seen) = fake_api::client(Arc::new(|_: &Seen| None));
    let authorizer = Authorizer::new(
        client,
        Duration::from_secs(30),
        16,
        Duration::from_millis(50),
    );
    let decisions =
        tokio::time::timeout(Duration::from_secs(10), authorizer.decide(&checks()[..1]))
            .await
            .unwrap();
    assert_eq!(
        decisions,
        [AccessDecision::Failed("no answer within 50 ms".into())]
    );
}

#[test]
fn decisions_of_statuses() {
    let status = |v: Value| -> SubjectAccessReviewStatus { serde_json::from_value(v).unwrap() };
    let cases = [
        (json!({"allowed": true}), AccessDecision::Allowed),
        (json!({"allowed": false}), AccessDecision::Denied),
        (
            json!({"allowed": false, "denied": true, "evaluationError": "x"}),
            AccessDecision::Denied,
        ),
        // The RBAC authorizer's ordinary denial when a binding names a missing Role.
        (
            json!({"allowed": false, "evaluationError": "clusterrole.rbac.authorization.k8s.io \"gone\" not found"}),
            AccessDecision::Denied,
        ),
    ];
    for (s, want) in cases {
        assert_eq!(decision_of(Some(&status(s.clone()))), want, "{s}");
    }
    assert!(matches!(decision_of(None), AccessDecision::Failed(_)));
}

#[test]
fn the_cache_expires_and_stays_bounded() {
    let key = |n: usize| Key {
        user: format!("u{n}"),
        verb: "create",
        group: String::new(),
        resource: "pods".into(),
        name: None,
        namespace: "ns".into(),
    };
    let mut cache = Cache {
        ttl: Duration::from_secs(30),
        denied_ttl: DENIED_TTL,
        capacity: 2,
        entries: HashMap::new(),
    };
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    cache.insert(key(0), AccessDecision::Allowed, t0);
    cache.insert(key(1), AccessDecision::Denied, at(1));
    // Allowed: 30 s; denied: 5 s; failures: never kept.
    assert_eq!(cache.get(&key(0), at(29)), Some(AccessDecision::Allowed));
    assert_eq!(cache.get(&key(0), at(30)), None);
    assert_eq!(cache.get(&key(1), at(5)), Some(AccessDecision::Denied));
    assert_eq!(cache.get(&key(1), at(6)), None);
    cache.insert(key(9), AccessDecision::Failed("x".into()), at(1));
    assert_eq!(cache.get(&key(9), at(1)), None);
    // Full: the one expiring soonest goes (the denial), not the older allowed one.
    cache.insert(key(2), AccessDecision::Allowed, at(2));
    assert_eq!(cache.entries.len(), 2);
    assert_eq!(cache.get(&key(1), at(3)), None);
    assert_eq!(cache.get(&key(0), at(3)), Some(AccessDecision::Allowed));
    // Expired entries go first: key 0 (expired), not key 2 (valid).
    cache.insert(key(3), AccessDecision::Allowed, at(31));
    assert_eq!(cache.entries.len(), 2);
    assert!(cache.get(&key(2), at(31)).is_some());
    assert!(!cache.entries.contains_key(&key(0)));
}

/// Identical checks in one review are asked once; a denial is asked again after 5 s, an
/// allowed answer is not.
#[tokio::test]
async fn identical_checks_are_asked_once_and_denials_are_cached_briefly() {
    let (client, seen) = fake_api::client(authorizer_api());
    let authorizer = Authorizer::new(client, Duration::from_secs(30), 16, Duration::from_secs(5));
    let all = checks();
    // submit (create w) twice, suspend (patch nightly, denied) twice.
    let doubled = vec![
        all[0].clone(),
        all[1].clone(),
        all[0].clone(),
        all[1].clone(),
    ];
    let decisions = tokio::time::timeout(Duration::from_secs(10), authorizer.decide(&doubled))
        .await
        .unwrap();
    assert_eq!(
        decisions,
        [
            AccessDecision::Allowed,
            AccessDecision::Denied,
            AccessDecision::Allowed,
            AccessDecision::Denied
        ]
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
    // Age the cached answers by 6 s: the denial has expired, the allowed answer has not.
    authorizer.with_cache(|c| {
        for (_, expires) in c.entries.values_mut() {
            *expires -= Duration::from_secs(6);
        }
    });
    let again = authorizer.decide(&doubled).await;
    assert_eq!(again, decisions);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].body["spec"]["resourceAttributes"]["verb"], "patch");
}
