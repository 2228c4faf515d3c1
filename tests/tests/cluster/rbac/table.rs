//! The table of the RBAC case: each row's Roles, ClusterRoles and bindings, and the Sensor
//! triggers whose access they decide, with the answer the authorizer is expected to give.

use serde_json::{Value, json};

use crate::harness::{NAMESPACE_LABEL, Namespace};

const RBAC: &str = "rbac.authorization.k8s.io/v1";
/// The label the table's aggregated ClusterRole selects its parts by (value: the table's tag).
const AGGREGATE_LABEL: &str = "argo-events-rs.test/aggregate";

/// The table's aggregated ClusterRole (its rules come from the aggregation controller).
pub(super) fn aggregated_role(tag: &str) -> String {
    format!("{tag}-aggregate")
}

/// One row of the table: RBAC objects and the accesses they decide.
pub(super) struct Row {
    pub(super) name: &'static str,
    pub(super) objects: Vec<Value>,
    pub(super) cases: Vec<Case>,
}

/// A Sensor of `namespace` running as ServiceAccount `account` with one trigger, and what the
/// authorizer is expected to answer for the trigger's access.
pub(super) struct Case {
    pub(super) namespace: String,
    pub(super) account: &'static str,
    pub(super) trigger: Value,
    pub(super) allowed: bool,
}

fn allow(ns: &Namespace, account: &'static str, trigger: Value) -> Case {
    Case {
        namespace: ns.name.clone(),
        account,
        trigger,
        allowed: true,
    }
}

fn deny(ns: &Namespace, account: &'static str, trigger: Value) -> Case {
    Case {
        allowed: false,
        ..allow(ns, account, trigger)
    }
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn role(ns: &Namespace, name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": RBAC, "kind": "Role",
        "metadata": {"name": name, "namespace": ns.name}, "rules": rules})
}

/// A ClusterRole labelled with the table's tag (so it is deleted at the end).
fn cluster_role(tag: &str, name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": RBAC, "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {NAMESPACE_LABEL: tag}}, "rules": rules})
}

/// A ClusterRole the aggregated one selects.
fn part(tag: &str, name: &str, rules: Vec<Value>) -> Value {
    let mut role = cluster_role(tag, name, rules);
    role["metadata"]["labels"][AGGREGATE_LABEL] = json!(tag);
    role
}

fn role_binding(ns: &Namespace, name: &str, kind: &str, role: &str, subjects: Vec<Value>) -> Value {
    json!({"apiVersion": RBAC, "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": ns.name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": subjects})
}

fn cluster_role_binding(tag: &str, name: &str, role: &str, subjects: Vec<Value>) -> Value {
    json!({"apiVersion": RBAC, "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {NAMESPACE_LABEL: tag}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects})
}

fn account(ns: &Namespace, name: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": name, "namespace": ns.name})
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

/// An object for a trigger to act on: named `name`, or generated when `name` is empty.
fn object(api_version: &str, kind: &str, name: &str) -> Value {
    let metadata = if name.is_empty() {
        json!({"generateName": "from-sensor-"})
    } else {
        json!({"name": name})
    };
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata})
}

fn configmap(name: &str) -> Value {
    object("v1", "ConfigMap", name)
}

fn secret(name: &str) -> Value {
    object("v1", "Secret", name)
}

fn deployment(name: &str) -> Value {
    object("apps/v1", "Deployment", name)
}

fn workflow_object(name: &str) -> Value {
    object("argoproj.io/v1alpha1", "Workflow", name)
}

/// `object` placed in `ns` by its own `metadata.namespace`.
fn in_ns(mut object: Value, ns: &Namespace) -> Value {
    object["metadata"]["namespace"] = json!(ns.name);
    object
}

fn k8s(operation: &str, resource: Value) -> Value {
    json!({"name": "t", "k8s": {"operation": operation, "source": {"resource": resource}}})
}

fn workflow(operation: &str, resource: Value) -> Value {
    json!({"name": "t", "argoWorkflow": {"operation": operation, "source": {"resource": resource}}})
}

/// The whole table: `a` holds most Sensors, `b` is another namespace to act in, and each of
/// `g` has one group binding of its own (group bindings reach every ServiceAccount of a
/// namespace, or of the cluster).
pub(super) fn table(a: &Namespace, b: &Namespace, g: [&Namespace; 3], tag: &str) -> Vec<Row> {
    let mut rows = scope_rows(a, b, tag);
    rows.extend(rule_rows(a, tag));
    rows.extend(subject_rows(a, b, g, tag));
    rows.extend(builtin_rows(a, tag));
    rows
}

fn scope_rows(a: &Namespace, b: &Namespace, tag: &str) -> Vec<Row> {
    let deployer = format!("{tag}-deployer");
    let runner = format!("{tag}-runner");
    vec![
        Row {
            name: "Role through a RoleBinding",
            objects: vec![
                role(
                    a,
                    "configmap-writer",
                    vec![rule(&[""], &["configmaps"], &["create", "update"])],
                ),
                role_binding(
                    a,
                    "role-user",
                    "Role",
                    "configmap-writer",
                    vec![account(a, "role-user")],
                ),
            ],
            cases: vec![
                allow(a, "role-user", k8s("create", configmap(""))),
                allow(a, "role-user", k8s("update", configmap("c"))),
                deny(a, "role-user", k8s("delete", configmap("c"))),
                deny(a, "role-user", k8s("create", secret(""))),
                deny(a, "role-user", k8s("create", in_ns(configmap(""), b))),
            ],
        },
        Row {
            name: "ClusterRole through a RoleBinding: that namespace only",
            objects: vec![
                cluster_role(
                    tag,
                    &deployer,
                    vec![rule(&["apps"], &["deployments"], &["create", "patch"])],
                ),
                role_binding(
                    a,
                    "deployer",
                    "ClusterRole",
                    &deployer,
                    vec![account(a, "deployer")],
                ),
            ],
            cases: vec![
                allow(a, "deployer", k8s("create", deployment(""))),
                allow(a, "deployer", k8s("patch", deployment("d"))),
                deny(a, "deployer", k8s("create", in_ns(deployment(""), b))),
            ],
        },
        Row {
            name: "ClusterRole through a ClusterRoleBinding: every namespace",
            objects: vec![
                cluster_role(
                    tag,
                    &runner,
                    vec![
                        rule(&["batch"], &["jobs"], &["create", "delete"]),
                        rule(&["argoproj.io"], &["workflows"], &["create"]),
                    ],
                ),
                cluster_role_binding(tag, &runner, &runner, vec![account(a, "runner")]),
            ],
            cases: vec![
                allow(a, "runner", k8s("create", object("batch/v1", "Job", ""))),
                allow(
                    a,
                    "runner",
                    k8s("delete", in_ns(object("batch/v1", "Job", "j"), b)),
                ),
                deny(
                    a,
                    "runner",
                    k8s("update", in_ns(object("batch/v1", "Job", "j"), b)),
                ),
                allow(
                    a,
                    "runner",
                    workflow("submit", in_ns(workflow_object(""), b)),
                ),
            ],
        },
    ]
}

fn rule_rows(a: &Namespace, tag: &str) -> Vec<Row> {
    let aggregate = aggregated_role(tag);
    let widget = |name| object("example.com/v1", "Widget", name);
    let bound = |role_name: &str, rules| {
        vec![
            role(a, role_name, rules),
            role_binding(a, role_name, "Role", role_name, vec![account(a, role_name)]),
        ]
    };
    vec![
        Row {
            name: "ClusterRole aggregated from labelled ClusterRoles, through a RoleBinding",
            objects: vec![
                json!({"apiVersion": RBAC, "kind": "ClusterRole",
                    "metadata": {"name": aggregate, "labels": {NAMESPACE_LABEL: tag}},
                    "aggregationRule": {"clusterRoleSelectors": [
                        {"matchLabels": {AGGREGATE_LABEL: tag}}]}}),
                part(
                    tag,
                    &format!("{tag}-workflows"),
                    vec![rule(&["argoproj.io"], &["workflows"], &["create"])],
                ),
                part(
                    tag,
                    &format!("{tag}-services"),
                    vec![rule(&[""], &["services"], &["patch"])],
                ),
                role_binding(
                    a,
                    "aggregated",
                    "ClusterRole",
                    &aggregate,
                    vec![account(a, "aggregated")],
                ),
            ],
            cases: vec![
                allow(a, "aggregated", workflow("submit", workflow_object(""))),
                allow(a, "aggregated", k8s("patch", object("v1", "Service", "s"))),
                deny(a, "aggregated", workflow("suspend", workflow_object("w"))),
                deny(a, "aggregated", k8s("delete", object("v1", "Service", "s"))),
            ],
        },
        Row {
            name: "`*` in apiGroups",
            objects: bound("any-group", vec![rule(&["*"], &["widgets"], &["create"])]),
            cases: vec![
                allow(a, "any-group", k8s("create", widget(""))),
                allow(a, "any-group", k8s("create", object("v1", "Widget", ""))),
                deny(a, "any-group", k8s("update", widget("w"))),
            ],
        },
        Row {
            name: "`*` in resources",
            objects: bound("any-resource", vec![rule(&["apps"], &["*"], &["update"])]),
            cases: vec![
                allow(a, "any-resource", k8s("update", deployment("d"))),
                allow(
                    a,
                    "any-resource",
                    k8s("update", object("apps/v1", "StatefulSet", "s")),
                ),
                deny(a, "any-resource", k8s("update", configmap("c"))),
            ],
        },
        Row {
            name: "`*` in verbs",
            objects: bound("any-verb", vec![rule(&[""], &["configmaps"], &["*"])]),
            cases: vec![
                allow(a, "any-verb", k8s("create", configmap(""))),
                allow(a, "any-verb", k8s("update", configmap("c"))),
                allow(a, "any-verb", k8s("patch", configmap("c"))),
                allow(a, "any-verb", k8s("delete", configmap("c"))),
                deny(a, "any-verb", k8s("create", secret(""))),
            ],
        },
        Row {
            name: "resourceNames: one object, never create",
            objects: bound(
                "one-name",
                vec![json!({"apiGroups": [""], "resources": ["configmaps"],
                    "verbs": ["create", "update", "patch", "delete"], "resourceNames": ["only"]})],
            ),
            cases: vec![
                allow(a, "one-name", k8s("update", configmap("only"))),
                allow(a, "one-name", k8s("patch", configmap("only"))),
                allow(a, "one-name", k8s("delete", configmap("only"))),
                deny(a, "one-name", k8s("delete", configmap("other"))),
                deny(a, "one-name", k8s("create", configmap("only"))),
            ],
        },
    ]
}

fn subject_rows(a: &Namespace, b: &Namespace, g: [&Namespace; 3], tag: &str) -> Vec<Row> {
    let creator = format!("{tag}-configmap-creator");
    let leases = format!("{tag}-leases");
    let lease = || in_ns(object("coordination.k8s.io/v1", "Lease", ""), b);
    vec![
        Row {
            name: "Group system:serviceaccounts:<namespace>, through a RoleBinding",
            objects: vec![
                cluster_role(
                    tag,
                    &creator,
                    vec![rule(&[""], &["configmaps"], &["create"])],
                ),
                role_binding(
                    g[0],
                    "namespace-accounts",
                    "ClusterRole",
                    &creator,
                    vec![group(&format!("system:serviceaccounts:{}", g[0].name))],
                ),
            ],
            cases: vec![
                allow(g[0], "member", k8s("create", configmap(""))),
                deny(g[0], "member", k8s("create", in_ns(configmap(""), a))),
                deny(a, "outsider", k8s("create", in_ns(configmap(""), g[0]))),
            ],
        },
        Row {
            name: "Group system:serviceaccounts:<namespace>, through a ClusterRoleBinding",
            objects: vec![
                cluster_role(
                    tag,
                    &leases,
                    vec![rule(&["coordination.k8s.io"], &["leases"], &["create"])],
                ),
                cluster_role_binding(
                    tag,
                    &leases,
                    &leases,
                    vec![group(&format!("system:serviceaccounts:{}", g[0].name))],
                ),
            ],
            cases: vec![
                allow(g[0], "member", k8s("create", lease())),
                deny(a, "outsider", k8s("create", lease())),
            ],
        },
        Row {
            name: "Group system:serviceaccounts, through a RoleBinding",
            objects: vec![role_binding(
                g[1],
                "all-accounts",
                "ClusterRole",
                &creator,
                vec![group("system:serviceaccounts")],
            )],
            cases: vec![
                allow(a, "outsider", k8s("create", in_ns(configmap(""), g[1]))),
                deny(a, "outsider", k8s("update", in_ns(configmap("c"), g[1]))),
            ],
        },
        Row {
            name: "Group system:authenticated, through a RoleBinding",
            objects: vec![role_binding(
                g[2],
                "authenticated",
                "ClusterRole",
                &creator,
                vec![group("system:authenticated")],
            )],
            cases: vec![
                allow(a, "outsider", k8s("create", in_ns(configmap(""), g[2]))),
                deny(a, "outsider", k8s("create", in_ns(secret(""), g[2]))),
            ],
        },
        Row {
            name: "Group the ServiceAccount is not in",
            objects: vec![
                role(
                    a,
                    "secret-creator",
                    vec![rule(&[""], &["secrets"], &["create"])],
                ),
                role_binding(
                    a,
                    "team",
                    "Role",
                    "secret-creator",
                    vec![group(&format!("{tag}-team"))],
                ),
            ],
            cases: vec![deny(a, "outsider", k8s("create", secret("")))],
        },
        Row {
            name: "User subject spelled system:serviceaccount:<namespace>:<name>",
            objects: vec![
                role(a, "pod-creator", vec![rule(&[""], &["pods"], &["create"])]),
                role_binding(
                    a,
                    "as-user",
                    "Role",
                    "pod-creator",
                    vec![user(&format!("system:serviceaccount:{}:as-user", a.name))],
                ),
            ],
            cases: vec![
                allow(a, "as-user", k8s("create", object("v1", "Pod", ""))),
                deny(a, "not-named", k8s("create", object("v1", "Pod", ""))),
            ],
        },
    ]
}

fn builtin_rows(a: &Namespace, tag: &str) -> Vec<Row> {
    vec![
        Row {
            name: "Built-in ClusterRole edit, through a RoleBinding",
            objects: vec![role_binding(
                a,
                "editor",
                "ClusterRole",
                "edit",
                vec![account(a, "editor")],
            )],
            cases: vec![
                allow(a, "editor", k8s("create", configmap(""))),
                allow(a, "editor", k8s("create", deployment(""))),
                allow(a, "editor", k8s("patch", secret("s"))),
                deny(a, "editor", workflow("submit", workflow_object(""))),
            ],
        },
        Row {
            name: "Built-in ClusterRole view, through a RoleBinding",
            objects: vec![role_binding(
                a,
                "viewer",
                "ClusterRole",
                "view",
                vec![account(a, "viewer")],
            )],
            cases: vec![
                deny(a, "viewer", k8s("create", configmap(""))),
                deny(a, "viewer", k8s("delete", deployment("d"))),
            ],
        },
        Row {
            name: "Bindings whose role does not exist",
            objects: vec![
                role_binding(
                    a,
                    "dangling-role",
                    "Role",
                    "does-not-exist",
                    vec![account(a, "dangling")],
                ),
                role_binding(
                    a,
                    "dangling-cluster-role",
                    "ClusterRole",
                    &format!("{tag}-does-not-exist"),
                    vec![account(a, "dangling")],
                ),
            ],
            cases: vec![
                deny(a, "dangling", k8s("create", configmap(""))),
                deny(a, "dangling", workflow("submit", workflow_object(""))),
            ],
        },
    ]
}
