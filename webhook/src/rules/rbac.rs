//! Rule `rbac`: a static evaluator of Kubernetes RBAC over the snapshot's Roles, ClusterRoles
//! and bindings, asking whether each Sensor's ServiceAccount may do what its `k8s` and
//! `argoWorkflow` triggers do.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Issue, issue};
use crate::lint::{Severity, rule};
use crate::snapshot::{Entry, Snapshot};

/// The resource plural Kubernetes uses for `kind` (lower-case plus `s`, with the usual
/// irregulars: `Endpoints`, `*y` → `*ies`, `*s` → `*ses`).
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower == "endpoints" {
        lower
    } else if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// What a trigger needs: verb, API group, resource and (when known) object name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Access {
    pub(super) verb: &'static str,
    pub(super) group: String,
    pub(super) resource: String,
    pub(super) name: Option<String>,
}

impl Access {
    /// `workflows.argoproj.io`, or `pods` for the core group.
    fn resource_display(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

fn object_name(resource: Option<&serde_json::Value>) -> Option<String> {
    resource?
        .get("metadata")?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// The access a trigger template needs, when it can be known statically (a `k8s` trigger's
/// object must be inline under `source.resource`).
fn trigger_access(template: &argo_events_api::TriggerTemplate) -> Option<Access> {
    if let Some(k8s) = &template.k8s {
        let verb = match k8s.operation.as_str() {
            "" | "create" => "create",
            "update" => "update",
            "patch" => "patch",
            "delete" => "delete",
            _ => return None,
        };
        let resource = k8s.source.as_ref()?.resource.as_ref()?;
        let api_version = resource.get("apiVersion")?.as_str()?;
        let kind = resource.get("kind")?.as_str()?;
        let group = match api_version.split_once('/') {
            Some((group, _)) => group.to_owned(),
            None => String::new(),
        };
        return Some(Access {
            verb,
            group,
            resource: plural(kind),
            name: object_name(Some(resource)),
        });
    }
    let wf = template.argo_workflow.as_ref()?;
    let verb = match wf.operation.as_str() {
        "submit" | "submit-from" | "resubmit" => "create",
        "suspend" | "resume" | "terminate" | "stop" => "patch",
        "retry" => "update",
        _ => return None,
    };
    Some(Access {
        verb,
        group: "argoproj.io".into(),
        resource: "workflows".into(),
        name: object_name(wf.source.as_ref().and_then(|s| s.resource.as_ref())),
    })
}

fn contains(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

/// Whether `rule` is about the access's group and resource (whatever its verbs and names).
fn covers(rule: &PolicyRule, access: &Access) -> bool {
    contains(
        rule.api_groups.as_deref().unwrap_or_default(),
        &access.group,
    ) && contains(
        rule.resources.as_deref().unwrap_or_default(),
        &access.resource,
    )
}

/// Whether `rule` grants the access.
pub(super) fn grants(rule: &PolicyRule, access: &Access) -> bool {
    if !covers(rule, access) || !contains(&rule.verbs, access.verb) {
        return false;
    }
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(_) if access.verb == "create" => false,
        Some(names) => access.name.as_ref().is_some_and(|n| names.contains(n)),
    }
}

/// The rules of a ClusterRole, with those it aggregates from the snapshot's ClusterRoles.
fn cluster_role_rules<'a>(snap: &'a Snapshot, role: &'a Entry<ClusterRole>) -> Vec<&'a PolicyRule> {
    let mut rules: Vec<&PolicyRule> = role.value.rules.iter().flatten().collect();
    let selectors = role
        .value
        .aggregation_rule
        .as_ref()
        .and_then(|a| a.cluster_role_selectors.as_ref());
    for selector in selectors.into_iter().flatten() {
        for other in &snap.cluster_roles {
            let labels = other.value.metadata.labels.clone().unwrap_or_default();
            if other.name != role.name && selects(selector, &labels) {
                rules.extend(other.value.rules.iter().flatten());
            }
        }
    }
    rules
}

/// Whether a label selector selects an object with `labels` (an empty selector selects all).
pub(super) fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// Whether a binding subject is the ServiceAccount `ns/sa`; `binding_ns` is where a
/// RoleBinding lives (a ServiceAccount subject without a namespace is in it).
fn subject_is(subject: &Subject, binding_ns: Option<&str>, ns: &str, sa: &str) -> bool {
    match subject.kind.as_str() {
        "ServiceAccount" => {
            let subject_ns = subject.namespace.as_deref().or(binding_ns);
            subject.name == sa && subject_ns == Some(ns)
        }
        "Group" => {
            subject.name == "system:serviceaccounts"
                || subject.name == format!("system:serviceaccounts:{ns}")
                || subject.name == "system:authenticated"
        }
        _ => false,
    }
}

/// Whether a subject is some ServiceAccount of `ns`.
fn subject_in(subject: &Subject, binding_ns: Option<&str>, ns: &str) -> bool {
    match subject.kind.as_str() {
        "ServiceAccount" => subject.namespace.as_deref().or(binding_ns) == Some(ns),
        "Group" => subject_is(subject, binding_ns, ns, ""),
        _ => false,
    }
}

/// Whether the snapshot holds RBAC that speaks about ServiceAccounts of `ns`: a Role or
/// RoleBinding there, or a ClusterRoleBinding with a subject there.
fn rbac_given_for(snap: &Snapshot, ns: &str) -> bool {
    snap.roles.iter().any(|r| r.namespace == ns)
        || snap.role_bindings.iter().any(|b| b.namespace == ns)
        || snap.cluster_role_bindings.iter().any(|b| {
            b.value
                .subjects
                .iter()
                .flatten()
                .any(|s| subject_in(s, None, ns))
        })
}

/// Every policy rule bound to ServiceAccount `ns/sa` that applies in `ns`.
fn rules_for<'a>(snap: &'a Snapshot, ns: &str, sa: &str) -> Vec<&'a PolicyRule> {
    let cluster_role = |name: &str| snap.cluster_roles.iter().find(|r| r.name == name);
    let mut rules = Vec::new();
    for b in snap.role_bindings.iter().filter(|b| b.namespace == ns) {
        let bound = b
            .value
            .subjects
            .iter()
            .flatten()
            .any(|s| subject_is(s, Some(ns), ns, sa));
        if !bound {
            continue;
        }
        let role_ref = &b.value.role_ref;
        match role_ref.kind.as_str() {
            "Role" => {
                if let Some(role) = snap
                    .roles
                    .iter()
                    .find(|r| r.namespace == ns && r.name == role_ref.name)
                {
                    rules.extend(role.value.rules.iter().flatten());
                }
            }
            "ClusterRole" => {
                if let Some(role) = cluster_role(&role_ref.name) {
                    rules.extend(cluster_role_rules(snap, role));
                }
            }
            _ => {}
        }
    }
    for b in &snap.cluster_role_bindings {
        let bound = b
            .value
            .subjects
            .iter()
            .flatten()
            .any(|s| subject_is(s, None, ns, sa));
        if bound
            && b.value.role_ref.kind == "ClusterRole"
            && let Some(role) = cluster_role(&b.value.role_ref.name)
        {
            rules.extend(cluster_role_rules(snap, role));
        }
    }
    rules
}

/// Rule [`rule::RBAC`]: each `k8s` and `argoWorkflow` trigger's access, for the Sensor's
/// ServiceAccount (`spec.template.serviceAccountName`, else `default`) in its namespace.
///
/// Only checked when the snapshot holds RBAC for that namespace. Denied when a rule bound to
/// the ServiceAccount is about the resource but grants neither the verb nor the object: an
/// error. Denied when nothing bound to it is about the resource at all: a warning, since RBAC
/// outside the given manifests may grant it.
pub fn rbac_issues(snap: &Snapshot) -> Vec<Issue> {
    let mut out = Vec::new();
    for s in &snap.sensors {
        let ns = s.namespace.as_str();
        if !rbac_given_for(snap, ns) {
            continue;
        }
        let sa = s
            .value
            .spec
            .template
            .as_ref()
            .map(|t| t.service_account_name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        let rules = rules_for(snap, ns, sa);
        for (i, t) in s.value.spec.triggers.iter().enumerate() {
            let Some(template) = &t.template else {
                continue;
            };
            let Some(access) = trigger_access(template) else {
                continue;
            };
            if rules.iter().any(|r| grants(r, &access)) {
                continue;
            }
            let denied = format!(
                "ServiceAccount {ns}/{sa} may not {} {} in namespace {ns} (trigger {})",
                access.verb,
                access.resource_display(),
                template.name
            );
            let kind = if template.k8s.is_some() {
                "k8s"
            } else {
                "argoWorkflow"
            };
            let path = format!("spec.triggers[{i}].template.{kind}");
            if rules.iter().any(|r| covers(r, &access)) {
                out.push(issue(s.doc, Severity::Error, rule::RBAC, path, denied));
            } else {
                out.push(issue(
                    s.doc,
                    Severity::Warning,
                    rule::RBAC,
                    path,
                    format!(
                        "{denied}: no given Role or ClusterRole bound to it is about {}; RBAC outside the given manifests may grant it",
                        access.resource_display()
                    ),
                ));
            }
        }
    }
    out
}
