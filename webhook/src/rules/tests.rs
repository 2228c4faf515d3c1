use argo_events_api::manifest::Document;
use serde_json::{Value, json};

use super::*;

fn snapshot(values: Vec<Value>) -> Snapshot {
    let docs: Vec<Document> = values
        .into_iter()
        .enumerate()
        .map(|(index, value)| Document {
            file: "f.yaml".into(),
            index,
            value,
        })
        .collect();
    Snapshot::from_documents(&docs, None)
}

fn summary(issues: &[Issue]) -> Vec<(usize, Severity, &'static str, String, String)> {
    issues
        .iter()
        .map(|i| (i.doc, i.severity, i.rule, i.path.clone(), i.message.clone()))
        .collect()
}

const NS: &str = "argo-events";

fn bus(name: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
        "metadata": {"name": name, "namespace": NS}, "spec": {"jetstream": {"version": "latest"}}})
}

fn webhook_source() -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
    "metadata": {"name": "github-eventsource", "namespace": NS},
    "spec": {"webhook": {
        "push": {"port": "12000", "endpoint": "/push", "method": "POST"},
        "pr": {"port": "12000", "endpoint": "/pr", "method": "POST"},
    }}})
}

fn role(verbs: &[&str], resources: &[&str]) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "operate-workflow-role", "namespace": NS},
        "rules": [{"apiGroups": ["argoproj.io"], "verbs": verbs, "resources": resources}]})
}

fn role_binding() -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "operate-workflow", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operate-workflow-role"},
        "subjects": [{"kind": "ServiceAccount", "name": "operate-workflow-sa"}]})
}

fn workflow(name_key: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {name_key: "build-"}, "spec": {"entrypoint": "main"}})
}

fn sensor(source: &str, trigger: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": "build", "namespace": NS},
    "spec": {
        "template": {"serviceAccountName": "operate-workflow-sa"},
        "dependencies": [{"name": "push", "eventSourceName": source, "eventName": "push"}],
        "triggers": [{"template": trigger}],
    }})
}

fn submit() -> Value {
    json!({"name": "build", "argoWorkflow": {"operation": "submit",
        "source": {"resource": workflow("generateName")}}})
}

fn k8s(operation: &str, resource: Value) -> Value {
    json!({"name": "build", "k8s": {"operation": operation, "source": {"resource": resource}}})
}

fn seed(sensor: Value) -> Vec<Value> {
    vec![
        role(&["create"], &["workflows"]),
        role_binding(),
        bus("default"),
        webhook_source(),
        sensor,
    ]
}

#[test]
fn the_issues_seed_lints_clean() {
    let snap = snapshot(seed(sensor("github-eventsource", submit())));
    assert_eq!(snap.roles.len(), 1);
    assert_eq!(snap.role_bindings.len(), 1);
    assert_eq!(summary(&check(&snap)), vec![]);
}

#[test]
fn a_mistyped_event_source_is_an_error_naming_what_exists() {
    let snap = snapshot(seed(sensor("github-eventsource-typo", submit())));
    assert_eq!(
        summary(&check(&snap)),
        vec![(
            4,
            Severity::Error,
            rule::REFERENCE,
            "spec.dependencies[0].eventSourceName".into(),
            "no EventSource \"github-eventsource-typo\"; EventSources in argo-events: github-eventsource".into()
        )]
    );
}

#[test]
fn references_are_checked_only_against_given_event_sources() {
    // A name nothing like the given ones: GitOps may apply it later.
    let snap = snapshot(seed(sensor("calendar", submit())));
    let issues = check(&snap);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].severity, Severity::Warning);
    assert_eq!(
        issues[0].message,
        "EventSource \"calendar\" is not among the given manifests; GitOps may apply it later"
    );
    // No EventSource in that namespace at all: nothing to check against.
    let mut docs = seed(sensor("github-eventsource-typo", submit()));
    docs[3]["metadata"]["namespace"] = json!("other");
    assert_eq!(summary(&check(&snapshot(docs))), vec![]);
    // The source exists but lacks the event.
    let mut s = sensor("github-eventsource", submit());
    s["spec"]["dependencies"][0]["eventName"] = json!("tag");
    let issues = check(&snapshot(seed(s)));
    assert_eq!(
        summary(&issues),
        vec![(
            4,
            Severity::Warning,
            rule::REFERENCE,
            "spec.dependencies[0].eventName".into(),
            "EventSource \"github-eventsource\" has no event \"tag\"; its events: pr, push".into()
        )]
    );
}

#[test]
fn near_misses() {
    assert!(near_miss("github-eventsource-typo", "github-eventsource"));
    assert!(near_miss("githb", "github"));
    assert!(!near_miss("calendar", "github-eventsource"));
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

#[test]
fn the_event_bus_must_be_among_the_given_ones() {
    let mut s = sensor("github-eventsource", submit());
    s["spec"]["eventBusName"] = json!("jetstream");
    let issues = check(&snapshot(seed(s.clone())));
    assert_eq!(
        summary(&issues),
        vec![(
            4,
            Severity::Error,
            rule::EVENT_BUS,
            "spec.eventBusName".into(),
            "no EventBus \"jetstream\" in argo-events; EventBuses there: default".into()
        )]
    );
    // No EventBus in the namespace: unknown, no finding.
    let docs = vec![webhook_source(), s];
    assert_eq!(summary(&check(&snapshot(docs))), vec![]);
}

#[test]
fn an_event_source_must_name_one_of_the_given_event_buses() {
    use crate::snapshot::Facts;
    let mut es = webhook_source();
    es["spec"]["eventBusName"] = json!("jetstream");
    let docs = vec![bus("default"), es.clone()];
    let issues = check(&snapshot(docs.clone()));
    let expected = vec![(
        1,
        Severity::Error,
        rule::EVENT_BUS,
        "spec.eventBusName".to_string(),
        "no EventBus \"jetstream\" in argo-events; EventBuses there: default".to_string(),
    )];
    assert_eq!(summary(&issues), expected);
    // The admission path finds the same, and names the absent bus for a live read.
    let facts = Facts::new(snapshot(vec![bus("default")]));
    let snap = snapshot(docs);
    let incoming = Obj::of(&snap.event_sources[0]);
    let one = check_incoming(
        &facts,
        Incoming::EventSource(incoming),
        RbacEvidence::Static,
    );
    assert_eq!(summary(&one), expected);
    assert_eq!(
        incoming_source_absences(&facts, incoming),
        vec![Absent {
            kind: "EventBus",
            namespace: NS.into(),
            name: "jetstream".into()
        }]
    );
    // The default bus, and a namespace with no EventBus at all (GitOps may apply it later).
    assert_eq!(
        summary(&check(&snapshot(vec![bus("default"), webhook_source()]))),
        vec![]
    );
    assert_eq!(summary(&check(&snapshot(vec![es]))), vec![]);
}

#[test]
fn rbac_denies_a_verb_the_role_does_not_grant() {
    let snap = snapshot(seed(sensor(
        "github-eventsource",
        k8s("update", workflow("name")),
    )));
    assert_eq!(
        summary(&check(&snap)),
        vec![(
            4,
            Severity::Error,
            rule::RBAC,
            "spec.triggers[0].template.k8s".into(),
            "ServiceAccount argo-events/operate-workflow-sa may not update workflows.argoproj.io in namespace argo-events (trigger build)".into()
        )]
    );
}

#[test]
fn rbac_checks_only_where_rbac_is_given_and_warns_on_resources_nothing_mentions() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "p-"}});
    let issues = check(&snapshot(seed(sensor(
        "github-eventsource",
        k8s("create", pod.clone()),
    ))));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].severity, Severity::Warning);
    assert!(
        issues[0].message.starts_with(
            "ServiceAccount argo-events/operate-workflow-sa may not create pods in namespace argo-events (trigger build): no given Role"
        ),
        "{}",
        issues[0].message
    );
    // Without any RBAC for the namespace, nothing is known.
    let docs = vec![
        webhook_source(),
        sensor("github-eventsource", k8s("update", workflow("name"))),
    ];
    assert_eq!(summary(&check(&snapshot(docs))), vec![]);
}

#[test]
fn rbac_rules_match_verbs_groups_resources_and_names() {
    let rule = |v: Value| -> PolicyRuleForTest { serde_json::from_value(v).unwrap() };
    type PolicyRuleForTest = k8s_openapi::api::rbac::v1::PolicyRule;
    let access = |verb, name: Option<&str>| rbac::Access {
        verb,
        group: "argoproj.io".into(),
        resource: "workflows".into(),
        name: name.map(str::to_owned),
    };
    let cases = [
        (
            json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
            "create",
            None,
            true,
        ),
        (
            json!({"apiGroups": ["argoproj.io"], "resources": ["workflows/status"], "verbs": ["*"]}),
            "patch",
            None,
            false,
        ),
        (
            json!({"apiGroups": [""], "resources": ["workflows"], "verbs": ["*"]}),
            "patch",
            None,
            false,
        ),
        (
            json!({"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"], "resourceNames": ["w"]}),
            "create",
            Some("w"),
            false,
        ),
        (
            json!({"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["patch"], "resourceNames": ["w"]}),
            "patch",
            Some("w"),
            true,
        ),
        (
            json!({"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["patch"], "resourceNames": ["w"]}),
            "patch",
            Some("x"),
            false,
        ),
        (
            json!({"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["patch"], "resourceNames": ["w"]}),
            "patch",
            None,
            false,
        ),
    ];
    for (r, verb, name, want) in cases {
        assert_eq!(
            rbac::grants(&rule(r.clone()), &access(verb, name)),
            want,
            "{r} {verb} {name:?}"
        );
    }
}

/// The aggregation controller replaces an aggregated role's own rules with its parts' rules, so
/// rules written in the aggregated role itself grant nothing.
#[test]
fn rbac_ignores_the_own_rules_of_an_aggregated_cluster_role() {
    let aggregated = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "workflow-admin"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"argo/aggregate": "true"}}]},
        "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["update"]}]});
    let part = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "workflow-part", "labels": {"argo/aggregate": "true"}},
        "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["patch"]}]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "workflow-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "operate-workflow-sa", "namespace": NS}]});
    let trigger = |operation: &str| {
        json!({"name": "build", "argoWorkflow": {"operation": operation,
            "source": {"resource": workflow("name")}}})
    };
    let docs = |t: Value| {
        vec![
            aggregated.clone(),
            part.clone(),
            binding.clone(),
            sensor("", t),
        ]
    };
    // suspend needs patch: granted by the part.
    assert_eq!(summary(&check(&snapshot(docs(trigger("suspend"))))), vec![]);
    // retry needs update: only the aggregated role's own (replaced) rules name it.
    let issues = check(&snapshot(docs(trigger("retry"))));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(
        issues[0]
            .message
            .contains("may not update workflows.argoproj.io"),
        "{issues:?}"
    );
}

#[test]
fn rbac_follows_cluster_role_bindings_groups_and_aggregation() {
    let cluster_role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "workflow-admin"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"argo/aggregate": "true"}}]}});
    let part = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "workflow-part", "labels": {"argo/aggregate": "true"}},
        "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "patch"]}]});
    let binding = |subject: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "workflow-admin"},
        "subjects": [subject]})
    };
    let suspend = json!({"name": "build", "argoWorkflow": {"operation": "suspend",
        "source": {"resource": workflow("name")}}});
    let retry = json!({"name": "build", "argoWorkflow": {"operation": "retry",
        "source": {"resource": workflow("name")}}});
    for subject in [
        json!({"kind": "ServiceAccount", "name": "operate-workflow-sa", "namespace": NS}),
        json!({"kind": "Group", "name": "system:serviceaccounts"}),
        json!({"kind": "Group", "name": "system:serviceaccounts:argo-events"}),
    ] {
        let docs = vec![
            cluster_role.clone(),
            part.clone(),
            binding(subject.clone()),
            sensor("", suspend.clone()),
        ];
        assert_eq!(summary(&check(&snapshot(docs))), vec![], "{subject}");
        // retry needs update, which the aggregated rules cover only for other verbs.
        let docs = vec![
            cluster_role.clone(),
            part.clone(),
            binding(subject.clone()),
            sensor("", retry.clone()),
        ];
        let issues = check(&snapshot(docs));
        assert_eq!(issues.len(), 1, "{subject}: {issues:?}");
        assert_eq!(issues[0].severity, Severity::Error);
        assert!(
            issues[0]
                .message
                .contains("may not update workflows.argoproj.io")
        );
    }
    // A binding for a ServiceAccount of another namespace says nothing about this one.
    let docs = vec![
        cluster_role,
        part,
        binding(json!({"kind": "ServiceAccount", "name": "operate-workflow-sa", "namespace": "x"})),
        sensor("", retry),
    ];
    assert_eq!(summary(&check(&snapshot(docs))), vec![]);
}

#[test]
fn plurals() {
    for (kind, want) in [
        ("Pod", "pods"),
        ("Deployment", "deployments"),
        // gengo has no exception for it: upstream asks for `endpointses`.
        ("Endpoints", "endpointses"),
        ("Ingress", "ingresses"),
        ("NetworkPolicy", "networkpolicies"),
        ("Gateway", "gateways"),
        ("Workflow", "workflows"),
        ("Box", "boxes"),
        ("Quiz", "quizes"),
        ("Batch", "batches"),
        ("Mesh", "meshes"),
        ("Graph", "graphs"),
        ("Knife", "knives"),
        ("Leaf", "leaves"),
        ("Safe", "saves"),
        ("Key", "keys"),
        ("EventBus", "eventbus"),
        ("EventSource", "eventsources"),
        ("Sensor", "sensors"),
        ("X", "x"),
    ] {
        assert_eq!(plural(kind), want, "{kind}");
    }
}

#[test]
fn names_must_be_dns_labels_and_subject_tokens() {
    let mut s = sensor("github-eventsource", submit());
    s["metadata"]["name"] = json!("Build_1");
    s["spec"]["dependencies"][0]["name"] = json!("push.main");
    s["spec"]["dependencies"][0]["eventName"] = json!("pu sh");
    let mut es = webhook_source();
    es["spec"]["webhook"]["a.b"] = es["spec"]["webhook"]["push"].clone();
    let issues = naming_issues(&snapshot(vec![es, s]));
    let got: Vec<(usize, &str)> = issues.iter().map(|i| (i.doc, i.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (0, "spec.webhook[\"a.b\"]"),
            (1, "metadata.name"),
            (1, "spec.dependencies[0].name"),
            (1, "spec.dependencies[0].eventName"),
        ]
    );
    assert!(
        issues
            .iter()
            .all(|i| i.severity == Severity::Error && i.rule == rule::NAMING)
    );
    assert_eq!(
        issues[3].message,
        "event name \"pu sh\" cannot be a bus subject token: it contains ' '"
    );
    for (name, ok) in [
        ("a", true),
        ("a-1", true),
        ("-a", false),
        ("a-", false),
        ("A", false),
        ("", false),
        (&"a".repeat(64), false),
        (&"a".repeat(63), true),
    ] {
        assert_eq!(is_dns1123_label(name), ok, "{name}");
    }
}

#[test]
fn pitfalls_are_warnings() {
    let mut stan = bus("default");
    stan["spec"] = json!({"nats": {"native": {}}});
    let named = k8s("create", workflow("name"));
    let generated = k8s("", workflow("generateName"));
    let issues = pitfall_issues(&snapshot(vec![
        stan,
        sensor("x", named),
        sensor("x", generated),
    ]));
    assert_eq!(
        summary(&issues),
        vec![
            (
                0,
                Severity::Warning,
                rule::PITFALL,
                "spec.nats".into(),
                "NATS Streaming is deprecated; use jetstream".into()
            ),
            (
                1,
                Severity::Warning,
                rule::PITFALL,
                "spec.triggers[0].template.k8s.source.resource.metadata.name".into(),
                "fires once: the second create fails with AlreadyExists; use generateName".into()
            ),
        ]
    );
}

#[test]
fn aggregation_selectors_match_labels_and_expressions() {
    let selector = |v: Value| -> k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
        serde_json::from_value(v).unwrap()
    };
    let labels: std::collections::BTreeMap<String, String> =
        [("a".to_owned(), "1".to_owned())].into();
    for (s, want) in [
        (json!({}), true),
        (json!({"matchLabels": {"a": "1"}}), true),
        (json!({"matchLabels": {"a": "2"}}), false),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "b", "operator": "Exists"}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}),
            true,
        ),
    ] {
        assert_eq!(rbac::selects(&selector(s.clone()), &labels), want, "{s}");
    }
}

/// The rules for one incoming object over indexed facts say exactly what the whole-snapshot
/// rules say about that object (seed document 4), for every rule.
#[test]
fn check_incoming_matches_check_for_the_object() {
    use crate::snapshot::Facts;
    let mut stan = bus("stan");
    stan["spec"] = json!({"nats": {"native": {}}});
    let mut bad_bus = bus("Bad_Bus");
    bad_bus["metadata"]["name"] = json!("Bad_Bus");
    let mut dotted_source = webhook_source();
    dotted_source["metadata"]["name"] = json!("other");
    dotted_source["spec"]["webhook"] =
        json!({"a.b": {"port": "1", "endpoint": "/x", "method": "POST"}});
    let mut other_bus = sensor("github-eventsource", submit());
    other_bus["spec"]["eventBusName"] = json!("jetstream");
    let mut dotted_dep = sensor("github-eventsource", submit());
    dotted_dep["spec"]["dependencies"][0]["name"] = json!("pu.sh");
    let cluster_binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "all"}, "roleRef": {"kind": "ClusterRole", "name": "agg"},
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}]});
    let aggregated = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}});
    let part = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "part", "labels": {"a": "b"}},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]});
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
    let cases: Vec<(&str, Vec<Value>, Value)> = vec![
        ("clean", vec![], sensor("github-eventsource", submit())),
        ("typo", vec![], sensor("github-evntsource", submit())),
        ("absent", vec![], sensor("payments", submit())),
        ("missing event", vec![], {
            let mut s = sensor("github-eventsource", submit());
            s["spec"]["dependencies"][0]["eventName"] = json!("tag");
            s
        }),
        ("event bus", vec![], other_bus),
        ("naming", vec![], dotted_dep),
        (
            "rbac error",
            vec![],
            sensor("github-eventsource", k8s("update", workflow("name"))),
        ),
        (
            "rbac warning",
            vec![],
            sensor("github-eventsource", k8s("create", pod.clone())),
        ),
        (
            "aggregated",
            vec![cluster_binding.clone(), aggregated.clone(), part.clone()],
            sensor("github-eventsource", k8s("delete", pod.clone())),
        ),
        (
            "aggregated create",
            vec![cluster_binding, aggregated, part],
            sensor("github-eventsource", k8s("create", pod)),
        ),
        ("stan bus", vec![], stan),
        ("bad bus name", vec![], bad_bus),
        ("event names", vec![], dotted_source),
    ];
    for (name, extra, object) in cases {
        let mut base = seed(sensor("github-eventsource", submit()));
        base.pop();
        base.extend(extra);
        let facts = Facts::new(snapshot(base.clone()));
        let mut with = base;
        with.push(object.clone());
        let incoming_doc = with.len() - 1;
        let whole: Vec<Issue> = check(&snapshot(with.clone()))
            .into_iter()
            .filter(|i| i.doc == incoming_doc)
            .collect();
        let snap = snapshot(with);
        let one = if let Some(s) = snap.sensors.iter().find(|s| s.doc == incoming_doc) {
            check_incoming(&facts, Incoming::Sensor(Obj::of(s)), RbacEvidence::Static)
        } else if let Some(b) = snap.event_buses.iter().find(|b| b.doc == incoming_doc) {
            check_incoming(&facts, Incoming::EventBus(Obj::of(b)), RbacEvidence::Static)
        } else {
            let es = snap
                .event_sources
                .iter()
                .find(|e| e.doc == incoming_doc)
                .unwrap();
            check_incoming(
                &facts,
                Incoming::EventSource(Obj::of(es)),
                RbacEvidence::Static,
            )
        };
        assert_eq!(summary(&one), summary(&whole), "{name}");
        if name != "clean" && name != "aggregated" {
            assert!(!whole.is_empty(), "{name}: the case finds nothing");
        }
    }
}

/// An authorizer's answers: a denial is the static evaluator's error, word for word; a failed
/// review a warning that says it does not deny.
#[test]
fn decided_rbac_issues_are_worded_as_the_static_ones() {
    let snap = snapshot(seed(sensor(
        "github-eventsource",
        k8s("update", workflow("name")),
    )));
    let s = &snap.sensors[0];
    let checks = sensor_access_checks(&s.namespace, &s.value);
    assert_eq!(checks.len(), 1);
    assert_eq!(
        checks[0].user(),
        "system:serviceaccount:argo-events:operate-workflow-sa"
    );
    assert_eq!(checks[0].access.resource_name(), Some("build-"));
    let static_issue = &check(&snap)[0];
    let denied = decided_issues(s.doc, &checks, &[AccessDecision::Denied]);
    assert_eq!(
        summary(&denied),
        summary(std::slice::from_ref(static_issue))
    );
    assert_eq!(
        decided_issues(s.doc, &checks, &[AccessDecision::Allowed]),
        vec![]
    );
    let failed = decided_issues(s.doc, &checks, &[AccessDecision::Failed("timeout".into())]);
    assert_eq!(
        summary(&failed),
        vec![(
            4,
            Severity::Warning,
            rule::RBAC,
            "spec.triggers[0].template.k8s".into(),
            "cannot tell whether ServiceAccount argo-events/operate-workflow-sa may update workflows.argoproj.io in namespace argo-events (trigger build): the SubjectAccessReview failed (timeout); not denied for that".into()
        )]
    );
}

/// The namespace asked about is the trigger resource's `metadata.namespace` when set, else the
/// Sensor's; a name or namespace a parameter sets is not taken from the static object, and a
/// parameterised namespace only warns. The static evaluator asks the same question.
#[test]
fn access_checks_follow_the_resource_namespace_and_parameters() {
    let in_ns = |ns: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "w", "namespace": ns}})
    };
    let with_params = |mut trigger: Value, dests: &[&str]| {
        let params: Vec<Value> = dests
            .iter()
            .map(|d| json!({"src": {"dependencyName": "push", "dataKey": "x"}, "dest": d}))
            .collect();
        trigger["k8s"]["parameters"] = json!(params);
        trigger
    };
    // (trigger, target namespace, name asked, at fire time)
    let cases: Vec<(&str, Value, &str, Option<&str>, bool)> = vec![
        (
            "sensor's",
            k8s("update", workflow("name")),
            NS,
            Some("build-"),
            false,
        ),
        (
            "resource's",
            k8s("update", in_ns("team-b")),
            "team-b",
            Some("w"),
            false,
        ),
        (
            "name parameter",
            with_params(k8s("update", in_ns("team-b")), &["metadata.name"]),
            "team-b",
            None,
            false,
        ),
        (
            "namespace parameter",
            with_params(k8s("update", in_ns("team-b")), &["metadata.namespace"]),
            NS,
            Some("w"),
            true,
        ),
        (
            "other parameter",
            with_params(k8s("update", in_ns("team-b")), &["spec.entrypoint"]),
            "team-b",
            Some("w"),
            false,
        ),
    ];
    for (name, trigger, target, asked, fire_time) in cases {
        let snap = snapshot(vec![sensor("github-eventsource", trigger)]);
        let s = &snap.sensors[0];
        let checks = sensor_access_checks(&s.namespace, &s.value);
        assert_eq!(checks.len(), 1, "{name}");
        let c = &checks[0];
        assert_eq!(c.namespace, NS, "{name}");
        assert_eq!(c.target_namespace, target, "{name}");
        assert_eq!(c.access.resource_name(), asked, "{name}");
        assert_eq!(c.namespace_at_fire_time, fire_time, "{name}");
        assert_eq!(
            c.user(),
            "system:serviceaccount:argo-events:operate-workflow-sa",
            "{name}"
        );
    }

    // Static: the Role in argo-events grants update, but the resource lives in team-b, where a
    // Role covers workflows without update: denied there.
    let mut role_b = role(&["get"], &["workflows"]);
    role_b["metadata"]["namespace"] = json!("team-b");
    let mut binding_b = role_binding();
    binding_b["metadata"]["namespace"] = json!("team-b");
    binding_b["subjects"][0]["namespace"] = json!(NS);
    let docs = |trigger: Value| {
        vec![
            role(&["update"], &["workflows"]),
            role_binding(),
            role_b.clone(),
            binding_b.clone(),
            sensor("github-eventsource", trigger),
        ]
    };
    assert_eq!(
        summary(&check(&snapshot(docs(k8s("update", in_ns("team-b")))))),
        vec![(
            4,
            Severity::Error,
            rule::RBAC,
            "spec.triggers[0].template.k8s".into(),
            "ServiceAccount argo-events/operate-workflow-sa may not update workflows.argoproj.io in namespace team-b (trigger build)".into()
        )]
    );
    // Without a namespace on the resource: the Sensor's namespace, where it is granted.
    assert_eq!(
        summary(&check(&snapshot(docs(k8s("update", workflow("name")))))),
        vec![]
    );
    // A parameterised namespace: asked in the Sensor's namespace, a denial only warns.
    let mut deny_here = docs(with_params(
        k8s("update", in_ns("team-b")),
        &["metadata.namespace"],
    ));
    deny_here[0] = role(&["get"], &["workflows"]);
    let issues = check(&snapshot(deny_here));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].severity, Severity::Warning);
    assert!(
        issues[0].message.contains("in namespace argo-events")
            && issues[0].message.contains("decided at fire time"),
        "{}",
        issues[0].message
    );
    // An authorizer's denial of the same check is a warning worded the same.
    let snap = snapshot(vec![sensor(
        "github-eventsource",
        with_params(k8s("update", in_ns("team-b")), &["metadata.namespace"]),
    )]);
    let s = &snap.sensors[0];
    let checks = sensor_access_checks(&s.namespace, &s.value);
    let denied = decided_issues(s.doc, &checks, &[AccessDecision::Denied]);
    assert_eq!(denied[0].severity, Severity::Warning);
}

/// A `User` subject spelled as the ServiceAccount's user name binds it, as the API server's
/// authorizer matches user names; a ClusterRoleBinding with such a subject makes its namespace
/// one the snapshot gives RBAC for.
#[test]
fn rbac_binds_a_user_subject_spelled_as_the_service_account() {
    let user =
        |name: &str| json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name});
    let mut binding = role_binding();
    binding["subjects"] = json!([user(
        "system:serviceaccount:argo-events:operate-workflow-sa"
    )]);
    let docs = vec![
        role(&["create"], &["workflows"]),
        binding.clone(),
        sensor("", submit()),
    ];
    assert_eq!(summary(&check(&snapshot(docs))), vec![]);
    // Another ServiceAccount's user name does not bind this one.
    binding["subjects"] = json!([user("system:serviceaccount:argo-events:someone-else")]);
    let issues = check(&snapshot(vec![
        role(&["create"], &["workflows"]),
        binding,
        sensor("", submit()),
    ]));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(issues[0].message.starts_with(
        "ServiceAccount argo-events/operate-workflow-sa may not create workflows.argoproj.io"
    ));

    let cluster_role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "workflow-creator"},
        "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}]});
    let cluster_binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "workflow-creator"},
        "subjects": [user("system:serviceaccount:argo-events:operate-workflow-sa")]});
    let docs = |trigger: Value| {
        vec![
            cluster_role.clone(),
            cluster_binding.clone(),
            sensor("", trigger),
        ]
    };
    assert_eq!(summary(&check(&snapshot(docs(submit())))), vec![]);
    // The binding's user name gives RBAC for argo-events: what it does not grant is denied.
    let issues = check(&snapshot(docs(k8s("update", workflow("name")))));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].severity, Severity::Error);
    assert!(
        issues[0]
            .message
            .contains("may not update workflows.argoproj.io")
    );
}
