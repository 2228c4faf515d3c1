//! Rule `rbac`: a static evaluator of Kubernetes RBAC over the snapshot's Roles, ClusterRoles
//! and bindings, asking whether each Sensor's ServiceAccount may do what its `k8s` and
//! `argoWorkflow` triggers do.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use argo_events_api::Sensor;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Issue, issue};
use crate::lint::{Severity, rule};
use crate::snapshot::{Entry, Snapshot};

/// The resource plural upstream derives from `kind` for a `k8s` trigger: gengo's all-lowercase
/// plural namer (`…s`/`…x`/`…z`/`…ch`/`…sh` → `+es`, consonant + `y` → `ies`, `…fe`/`…f` →
/// `ves`, else `+s`; a name shorter than two characters unchanged) with upstream's one
/// exception, `EventBus` → `eventbus`.
pub fn plural(kind: &str) -> String {
    if kind == "EventBus" {
        return "eventbus".to_owned();
    }
    let chars: Vec<char> = kind.chars().collect();
    let [.., before, last] = chars[..] else {
        return kind.to_lowercase();
    };
    let stem: String = chars[..chars.len() - 1].iter().collect();
    let plural = match last {
        's' | 'x' | 'z' => format!("{kind}es"),
        'y' if "bcdfghjklmnpqrstvwxyz".contains(before) => format!("{stem}ies"),
        'h' if before == 'c' || before == 's' => format!("{kind}es"),
        'e' if before == 'f' => {
            format!("{}ves", chars[..chars.len() - 2].iter().collect::<String>())
        }
        'f' => format!("{stem}ves"),
        _ => format!("{kind}s"),
    };
    plural.to_lowercase()
}

/// What a trigger needs: verb, API group, resource and (when known) object name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    /// The verb (`create`, `update`, `patch`, `delete`).
    pub verb: &'static str,
    /// The API group (empty for the core group).
    pub group: String,
    /// The resource (plural).
    pub resource: String,
    /// The object's name, when the trigger names it.
    pub name: Option<String>,
}

impl Access {
    /// `workflows.argoproj.io`, or `pods` for the core group.
    pub fn resource_display(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// The object name an authorizer should be asked about: none for `create` (a
    /// `resourceNames` rule never grants create, so the name does not matter).
    pub fn resource_name(&self) -> Option<&str> {
        (self.verb != "create")
            .then_some(self.name.as_deref())
            .flatten()
    }
}

/// One access a Sensor's trigger needs, for the Sensor's ServiceAccount in its namespace: the
/// question both the static evaluator ([`rbac_issues`]) and a SubjectAccessReview answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessCheck {
    /// Index of the trigger in `spec.triggers`.
    pub trigger: usize,
    /// `spec.triggers[i].template.name`.
    pub trigger_name: String,
    /// `k8s` or `argoWorkflow`.
    pub trigger_kind: &'static str,
    /// The Sensor's namespace: where its ServiceAccount lives.
    pub namespace: String,
    /// Where the access happens: the trigger resource's `metadata.namespace` when set
    /// (upstream acts there), else the Sensor's namespace.
    pub target_namespace: String,
    /// A trigger parameter sets `metadata.namespace`: the real namespace is decided when the
    /// trigger fires, so a denial in [`AccessCheck::target_namespace`] is only a warning.
    pub namespace_at_fire_time: bool,
    /// The ServiceAccount (`spec.template.serviceAccountName`, else `default`).
    pub service_account: String,
    /// What is needed.
    pub access: Access,
}

impl AccessCheck {
    /// The user name the API server gives the ServiceAccount:
    /// `system:serviceaccount:<namespace>:<name>`.
    pub fn user(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }

    /// The groups the API server gives the ServiceAccount.
    pub fn groups(&self) -> [String; 3] {
        [
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{}", self.namespace),
            "system:authenticated".to_owned(),
        ]
    }

    /// Field path of the trigger: `spec.triggers[i].template.k8s` or `…argoWorkflow`.
    pub fn path(&self) -> String {
        format!(
            "spec.triggers[{}].template.{}",
            self.trigger, self.trigger_kind
        )
    }

    /// `ServiceAccount <ns>/<sa> may not <verb> <resource> in namespace <target> (trigger <t>)`,
    /// plus a note when a parameter decides the namespace at fire time.
    pub fn denied_message(&self) -> String {
        let mut message = format!(
            "ServiceAccount {}/{} may not {} {} in namespace {} (trigger {})",
            self.namespace,
            self.service_account,
            self.access.verb,
            self.access.resource_display(),
            self.target_namespace,
            self.trigger_name,
        );
        if self.namespace_at_fire_time {
            message.push_str(
                "; a trigger parameter sets metadata.namespace, so the namespace is decided at fire time and this is only a warning",
            );
        }
        message
    }

    /// How a denial of this check is reported: an error, or a warning when the namespace is
    /// decided at fire time.
    pub fn denial_severity(&self) -> Severity {
        if self.namespace_at_fire_time {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

/// The ServiceAccount a Sensor's triggers run as: `spec.template.serviceAccountName`, else
/// `default`.
pub fn service_account(sensor: &Sensor) -> &str {
    sensor
        .spec
        .template
        .as_ref()
        .map(|t| t.service_account_name.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

/// Every access the `k8s` and `argoWorkflow` triggers of `sensor` (in `namespace`) need that can
/// be known statically, in trigger order.
pub fn sensor_access_checks(namespace: &str, sensor: &Sensor) -> Vec<AccessCheck> {
    let sa = service_account(sensor);
    let mut out = Vec::new();
    for (i, t) in sensor.spec.triggers.iter().enumerate() {
        let Some(template) = &t.template else {
            continue;
        };
        let Some(target) = trigger_access(template) else {
            continue;
        };
        out.push(AccessCheck {
            trigger: i,
            trigger_name: template.name.clone(),
            trigger_kind: if template.k8s.is_some() {
                "k8s"
            } else {
                "argoWorkflow"
            },
            namespace: namespace.to_owned(),
            target_namespace: target.namespace.unwrap_or_else(|| namespace.to_owned()),
            namespace_at_fire_time: target.namespace_at_fire_time,
            service_account: sa.to_owned(),
            access: target.access,
        });
    }
    out
}

/// What an authorizer (a SubjectAccessReview) answered for one [`AccessCheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    /// Allowed.
    Allowed,
    /// Denied.
    Denied,
    /// The question could not be answered (API error, timeout): never a denial.
    Failed(String),
}

/// Rule [`rule::RBAC`] from an authorizer's answers, one per check (same order): a denial is an
/// error worded as the static evaluator's, a failed review a warning that says it did not deny.
pub fn decided_issues(
    doc: usize,
    checks: &[AccessCheck],
    decisions: &[AccessDecision],
) -> Vec<Issue> {
    let mut out = Vec::new();
    for (check, decision) in checks.iter().zip(decisions) {
        match decision {
            AccessDecision::Allowed => {}
            AccessDecision::Denied => out.push(issue(
                doc,
                check.denial_severity(),
                rule::RBAC,
                check.path(),
                check.denied_message(),
            )),
            AccessDecision::Failed(error) => out.push(issue(
                doc,
                Severity::Warning,
                rule::RBAC,
                check.path(),
                format!(
                    "cannot tell whether ServiceAccount {}/{} may {} {} in namespace {} (trigger {}): the SubjectAccessReview failed ({error}); not denied for that",
                    check.namespace,
                    check.service_account,
                    check.access.verb,
                    check.access.resource_display(),
                    check.target_namespace,
                    check.trigger_name,
                ),
            )),
        }
    }
    out
}

/// The access a trigger needs and where: the resource's static `metadata.namespace`, if any.
struct Target {
    access: Access,
    namespace: Option<String>,
    namespace_at_fire_time: bool,
}

/// `metadata.<field>` of an inline trigger resource, unless a parameter sets it at fire time.
fn metadata_field(
    resource: Option<&serde_json::Value>,
    parameters: &[argo_events_api::TriggerParameter],
    field: &str,
) -> Option<String> {
    if parameterised(parameters, field) {
        return None;
    }
    resource?
        .get("metadata")?
        .get(field)?
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Whether a parameter's `dest` is `metadata.<field>`.
fn parameterised(parameters: &[argo_events_api::TriggerParameter], field: &str) -> bool {
    parameters
        .iter()
        .any(|p| p.dest.strip_prefix("metadata.") == Some(field))
}

/// The access a trigger template needs, when it can be known statically (a `k8s` trigger's
/// object must be inline under `source.resource`). A name or namespace a parameter sets is not
/// taken from the static object.
fn trigger_access(template: &argo_events_api::TriggerTemplate) -> Option<Target> {
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
        return Some(Target {
            access: Access {
                verb,
                group,
                resource: plural(kind),
                name: metadata_field(Some(resource), &k8s.parameters, "name"),
            },
            namespace: metadata_field(Some(resource), &k8s.parameters, "namespace"),
            namespace_at_fire_time: parameterised(&k8s.parameters, "namespace"),
        });
    }
    let wf = template.argo_workflow.as_ref()?;
    let verb = match wf.operation.as_str() {
        "submit" | "submit-from" | "resubmit" => "create",
        "suspend" | "resume" | "terminate" | "stop" => "patch",
        "retry" => "update",
        _ => return None,
    };
    let resource = wf.source.as_ref().and_then(|s| s.resource.as_ref());
    Some(Target {
        access: Access {
            verb,
            group: "argoproj.io".into(),
            resource: "workflows".into(),
            name: metadata_field(resource, &wf.parameters, "name"),
        },
        namespace: metadata_field(resource, &wf.parameters, "namespace"),
        namespace_at_fire_time: parameterised(&wf.parameters, "namespace"),
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

/// The namespace of a ServiceAccount user name, `system:serviceaccount:<namespace>:<name>`.
fn service_account_user_namespace(user: &str) -> Option<&str> {
    let (ns, _) = user
        .strip_prefix("system:serviceaccount:")?
        .split_once(':')?;
    Some(ns)
}

/// Whether a binding subject is the ServiceAccount `ns/sa`; `binding_ns` is where a
/// RoleBinding lives (a ServiceAccount subject without a namespace is in it). A `User` subject
/// is matched by the user name the API server gives the ServiceAccount, as the authorizer does.
fn subject_is(subject: &Subject, binding_ns: Option<&str>, ns: &str, sa: &str) -> bool {
    match subject.kind.as_str() {
        "ServiceAccount" => {
            let subject_ns = subject.namespace.as_deref().or(binding_ns);
            subject.name == sa && subject_ns == Some(ns)
        }
        "User" => subject.name == format!("system:serviceaccount:{ns}:{sa}"),
        "Group" => {
            subject.name == "system:serviceaccounts"
                || subject.name == format!("system:serviceaccounts:{ns}")
                || subject.name == "system:authenticated"
        }
        _ => false,
    }
}

/// The snapshot's RBAC, indexed once so that one Sensor's check looks up only what binds its
/// ServiceAccount: bindings by namespace, Roles by namespace and name, ClusterRoles by name
/// with their aggregated rules expanded.
#[derive(Debug, Clone, Default)]
pub(crate) struct RbacIndex {
    /// Namespaces with a Role or RoleBinding, or named by a ClusterRoleBinding subject (a
    /// ServiceAccount, its namespace's group, or a ServiceAccount's user name).
    given: HashSet<String>,
    /// A ClusterRoleBinding binds a group holding every ServiceAccount.
    given_everywhere: bool,
    role_bindings: HashMap<String, Vec<Arc<Entry<RoleBinding>>>>,
    roles: HashMap<(String, String), Arc<Entry<Role>>>,
    /// Each ClusterRole's rules, plus those of the ClusterRoles it aggregates.
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    cluster_role_bindings: Vec<Arc<Entry<ClusterRoleBinding>>>,
}

impl RbacIndex {
    pub(crate) fn new(snap: &Snapshot) -> Self {
        let mut index = RbacIndex::default();
        for r in &snap.roles {
            index.given.insert(r.namespace.clone());
            index
                .roles
                .entry((r.namespace.clone(), r.name.clone()))
                .or_insert_with(|| r.clone());
        }
        for b in &snap.role_bindings {
            index.given.insert(b.namespace.clone());
            index
                .role_bindings
                .entry(b.namespace.clone())
                .or_default()
                .push(b.clone());
        }
        for b in &snap.cluster_role_bindings {
            for s in b.value.subjects.iter().flatten() {
                match s.kind.as_str() {
                    "ServiceAccount" => {
                        if let Some(ns) = &s.namespace {
                            index.given.insert(ns.clone());
                        }
                    }
                    "User" => {
                        if let Some(ns) = service_account_user_namespace(&s.name) {
                            index.given.insert(ns.to_owned());
                        }
                    }
                    "Group" => match s.name.strip_prefix("system:serviceaccounts:") {
                        Some(ns) => {
                            index.given.insert(ns.to_owned());
                        }
                        None if s.name == "system:serviceaccounts"
                            || s.name == "system:authenticated" =>
                        {
                            index.given_everywhere = true;
                        }
                        None => {}
                    },
                    _ => {}
                }
            }
        }
        index.cluster_role_bindings = snap.cluster_role_bindings.clone();
        for role in &snap.cluster_roles {
            if index.cluster_roles.contains_key(&role.name) {
                continue;
            }
            // An aggregated role's rules are what the aggregation controller writes: the union
            // of the roles it selects, replacing any rules of its own.
            let mut rules: Vec<PolicyRule> = if role.value.aggregation_rule.is_some() {
                Vec::new()
            } else {
                role.value.rules.iter().flatten().cloned().collect()
            };
            let selectors = role
                .value
                .aggregation_rule
                .as_ref()
                .and_then(|a| a.cluster_role_selectors.as_ref());
            let empty = BTreeMap::new();
            for selector in selectors.into_iter().flatten() {
                for other in &snap.cluster_roles {
                    let labels = other.value.metadata.labels.as_ref().unwrap_or(&empty);
                    if other.name != role.name && selects(selector, labels) {
                        rules.extend(other.value.rules.iter().flatten().cloned());
                    }
                }
            }
            index.cluster_roles.insert(role.name.clone(), rules);
        }
        index
    }

    /// Whether the snapshot holds RBAC that speaks about ServiceAccounts of `ns`: a Role or
    /// RoleBinding there, or a ClusterRoleBinding with a subject there.
    pub(crate) fn given_for(&self, ns: &str) -> bool {
        self.given_everywhere || self.given.contains(ns)
    }

    /// Every policy rule bound to ServiceAccount `sa_ns/sa` that applies in `ns`.
    pub(crate) fn rules_for(&self, ns: &str, sa_ns: &str, sa: &str) -> Vec<&PolicyRule> {
        let mut rules = Vec::new();
        for b in self.role_bindings.get(ns).into_iter().flatten() {
            let bound = b
                .value
                .subjects
                .iter()
                .flatten()
                .any(|s| subject_is(s, Some(ns), sa_ns, sa));
            if !bound {
                continue;
            }
            let role_ref = &b.value.role_ref;
            match role_ref.kind.as_str() {
                "Role" => {
                    if let Some(role) = self.roles.get(&(ns.to_owned(), role_ref.name.clone())) {
                        rules.extend(role.value.rules.iter().flatten());
                    }
                }
                "ClusterRole" => {
                    rules.extend(self.cluster_roles.get(&role_ref.name).into_iter().flatten());
                }
                _ => {}
            }
        }
        for b in &self.cluster_role_bindings {
            let bound = b
                .value
                .subjects
                .iter()
                .flatten()
                .any(|s| subject_is(s, None, sa_ns, sa));
            if bound && b.value.role_ref.kind == "ClusterRole" {
                rules.extend(
                    self.cluster_roles
                        .get(&b.value.role_ref.name)
                        .into_iter()
                        .flatten(),
                );
            }
        }
        rules
    }
}

/// The static rule [`rule::RBAC`] for one Sensor (document `doc`, namespace `ns`) over an
/// indexed snapshot. See [`rbac_issues`].
pub(crate) fn static_issues(
    index: &RbacIndex,
    doc: usize,
    ns: &str,
    sensor: &Sensor,
) -> Vec<Issue> {
    let mut out = Vec::new();
    for check in sensor_access_checks(ns, sensor) {
        if !index.given_for(&check.target_namespace) {
            continue;
        }
        let rules = index.rules_for(&check.target_namespace, ns, &check.service_account);
        let access = &check.access;
        if rules.iter().any(|r| grants(r, access)) {
            continue;
        }
        let denied = check.denied_message();
        if rules.iter().any(|r| covers(r, access)) {
            out.push(issue(
                doc,
                check.denial_severity(),
                rule::RBAC,
                check.path(),
                denied,
            ));
        } else {
            out.push(issue(
                doc,
                Severity::Warning,
                rule::RBAC,
                check.path(),
                format!(
                    "{denied}: no given Role or ClusterRole bound to it is about {}; RBAC outside the given manifests may grant it",
                    access.resource_display()
                ),
            ));
        }
    }
    out
}

/// Rule [`rule::RBAC`]: each `k8s` and `argoWorkflow` trigger's access, for the Sensor's
/// ServiceAccount (`spec.template.serviceAccountName`, else `default`) in its namespace.
///
/// Only checked when the snapshot holds RBAC for that namespace. Denied when a rule bound to
/// the ServiceAccount is about the resource but grants neither the verb nor the object: an
/// error. Denied when nothing bound to it is about the resource at all: a warning, since RBAC
/// outside the given manifests may grant it.
pub fn rbac_issues(snap: &Snapshot) -> Vec<Issue> {
    let index = RbacIndex::new(snap);
    snap.sensors
        .iter()
        .flat_map(|s| static_issues(&index, s.doc, &s.namespace, &s.value))
        .collect()
}

/// The SubjectAccessReview asking whether the check's ServiceAccount may do its access in its
/// namespace (with the object name, except for `create`).
pub fn access_review(check: &AccessCheck) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(check.user()),
            groups: Some(check.groups().to_vec()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(check.access.verb.to_owned()),
                group: Some(check.access.group.clone()),
                resource: Some(check.access.resource.clone()),
                name: check.access.resource_name().map(str::to_owned),
                namespace: Some(check.target_namespace.clone()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

/// The decision a SubjectAccessReview status gives: allowed, else denied. An
/// `evaluationError` does not make it a failure: the RBAC authorizer sets one on ordinary
/// denials (a binding pointing at a missing Role), so only transport and API errors and
/// timeouts (see [`Authorizer::decide`]) are failures.
pub fn decision_of(status: Option<&SubjectAccessReviewStatus>) -> AccessDecision {
    let Some(status) = status else {
        return AccessDecision::Failed("the SubjectAccessReview came back without a status".into());
    };
    if status.allowed {
        AccessDecision::Allowed
    } else {
        AccessDecision::Denied
    }
}
