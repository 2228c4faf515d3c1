//! The admission rules beyond upstream's validation, as pure functions over a [`Snapshot`]:
//! naming, references between the kinds, RBAC of trigger ServiceAccounts and known pitfalls.
//!
//! Each rule reports facts the given objects contradict as errors and facts that are missing as
//! warnings. Absent objects are only reported when the snapshot holds objects of that kind in
//! that namespace (the user gave the set): a set of independent examples stays quiet.

mod rbac;

use argo_events_api::Sensor;

use crate::lint::{Severity, rule};
use crate::snapshot::{Entry, Snapshot};

pub use rbac::{plural, rbac_issues};

/// One rule finding about one object of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Index of the document of the object (see [`Entry::doc`]).
    pub doc: usize,
    /// Error or warning.
    pub severity: Severity,
    /// Which rule (see [`rule`]).
    pub rule: &'static str,
    /// Field path inside the object.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Every issue of every rule over `snap`, in rule order.
pub fn check(snap: &Snapshot) -> Vec<Issue> {
    let mut out = naming_issues(snap);
    out.extend(reference_issues(snap));
    out.extend(event_bus_issues(snap));
    out.extend(rbac_issues(snap));
    out.extend(pitfall_issues(snap));
    out
}

fn issue(
    doc: usize,
    severity: Severity,
    rule: &'static str,
    path: String,
    message: String,
) -> Issue {
    Issue {
        doc,
        severity,
        rule,
        path,
        message,
    }
}

/// Whether `name` is a DNS-1123 label: lowercase alphanumerics and `-`, at most 63 characters,
/// starting and ending with an alphanumeric.
pub fn is_dns1123_label(name: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|&c| alnum(c) || c == b'-')
        && alnum(b[0])
        && alnum(b[b.len() - 1])
}

/// Why `name` cannot be a token of a bus subject (`.`, `*`, `>` or whitespace), if it cannot.
pub fn subject_token_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let bad: Vec<String> = name
        .chars()
        .filter(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace())
        .map(|c| format!("{c:?}"))
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "{name:?} cannot be a bus subject token: it contains {}",
            bad.join(", ")
        )
    })
}

/// Whether `name` can be used in a trigger condition (`[A-Za-z0-9_-]+`).
pub fn is_condition_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `base.key`, or `base["key"]` when the key is not a plain word (as decode paths are written).
pub(crate) fn key_path(base: &str, key: &str) -> String {
    if is_condition_name(key) {
        format!("{base}.{key}")
    } else {
        format!("{base}[{key:?}]")
    }
}

fn name_issue<T>(e: &Entry<T>, kind: &str) -> Option<Issue> {
    (!e.name.is_empty() && !is_dns1123_label(&e.name)).then(|| {
        issue(
            e.doc,
            Severity::Error,
            rule::NAMING,
            "metadata.name".into(),
            format!(
                "{kind} name {:?} is not a DNS-1123 label (lowercase alphanumerics and '-', at most 63 characters, starting and ending with an alphanumeric)",
                e.name
            ),
        )
    })
}

/// Rule [`rule::NAMING`]: object names, dependency names and event names.
pub fn naming_issues(snap: &Snapshot) -> Vec<Issue> {
    let mut out = Vec::new();
    out.extend(
        snap.event_buses
            .iter()
            .filter_map(|e| name_issue(e, "EventBus")),
    );
    for es in &snap.event_sources {
        out.extend(name_issue(es, "EventSource"));
        for (key, event) in es.value.spec.event_names() {
            if let Some(problem) = subject_token_problem(event) {
                out.push(issue(
                    es.doc,
                    Severity::Error,
                    rule::NAMING,
                    key_path(&format!("spec.{key}"), event),
                    format!("event name {problem}"),
                ));
            }
        }
    }
    for s in &snap.sensors {
        out.extend(name_issue(s, "Sensor"));
        for (i, dep) in s.value.spec.dependencies.iter().enumerate() {
            let path = format!("spec.dependencies[{i}]");
            if !dep.name.is_empty() && !is_condition_name(&dep.name) {
                out.push(issue(
                    s.doc,
                    Severity::Error,
                    rule::NAMING,
                    format!("{path}.name"),
                    format!(
                        "dependency name {:?} cannot be used in conditions or bus subjects: use only letters, digits, '_' and '-'",
                        dep.name
                    ),
                ));
            }
            if let Some(problem) = subject_token_problem(&dep.event_name) {
                out.push(issue(
                    s.doc,
                    Severity::Error,
                    rule::NAMING,
                    format!("{path}.eventName"),
                    format!("event name {problem}"),
                ));
            }
        }
    }
    out
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Whether `given` looks like a mistyped `existing`: edit distance at most 3, or one is a
/// prefix of the other.
fn near_miss(given: &str, existing: &str) -> bool {
    edit_distance(given, existing) <= 3
        || (!given.is_empty() && (given.starts_with(existing) || existing.starts_with(given)))
}

/// Rule [`rule::REFERENCE`]: each dependency's EventSource and event exist among the
/// snapshot's EventSources of the Sensor's namespace (checked only when it holds some).
///
/// An EventSource that is absent is an error when a given one has a near-miss name (edit
/// distance at most 3, or a prefix), else a warning (GitOps may apply it later). An event the
/// given EventSource lacks is a warning: upstream's own examples depend on events that are
/// commented out in the EventSource they ship, so a set of examples trips it.
pub fn reference_issues(snap: &Snapshot) -> Vec<Issue> {
    let mut out = Vec::new();
    for s in &snap.sensors {
        let sources: Vec<_> = snap
            .event_sources
            .iter()
            .filter(|es| es.namespace == s.namespace)
            .collect();
        if sources.is_empty() {
            continue;
        }
        for (i, dep) in s.value.spec.dependencies.iter().enumerate() {
            let path = format!("spec.dependencies[{i}]");
            if dep.event_source_name.is_empty() {
                continue;
            }
            match sources.iter().find(|es| es.name == dep.event_source_name) {
                Some(es) => {
                    let events: Vec<&str> = es
                        .value
                        .spec
                        .event_names()
                        .into_iter()
                        .map(|(_, e)| e)
                        .collect();
                    if !dep.event_name.is_empty() && !events.contains(&dep.event_name.as_str()) {
                        out.push(issue(
                            s.doc,
                            Severity::Warning,
                            rule::REFERENCE,
                            format!("{path}.eventName"),
                            format!(
                                "EventSource {:?} has no event {:?}; its events: {}",
                                es.name,
                                dep.event_name,
                                events.join(", ")
                            ),
                        ));
                    }
                }
                None => {
                    let near: Vec<&str> = sources
                        .iter()
                        .map(|es| es.name.as_str())
                        .filter(|n| near_miss(&dep.event_source_name, n))
                        .collect();
                    let path = format!("{path}.eventSourceName");
                    if near.is_empty() {
                        out.push(issue(
                            s.doc,
                            Severity::Warning,
                            rule::REFERENCE,
                            path,
                            format!(
                                "EventSource {:?} is not among the given manifests; GitOps may apply it later",
                                dep.event_source_name
                            ),
                        ));
                    } else {
                        let all: Vec<&str> = sources.iter().map(|es| es.name.as_str()).collect();
                        out.push(issue(
                            s.doc,
                            Severity::Error,
                            rule::REFERENCE,
                            path,
                            format!(
                                "no EventSource {:?}; EventSources in {}: {}",
                                dep.event_source_name,
                                s.namespace,
                                all.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Rule [`rule::EVENT_BUS`]: a Sensor's EventBus exists among the snapshot's EventBuses of its
/// namespace (checked only when it holds some).
pub fn event_bus_issues(snap: &Snapshot) -> Vec<Issue> {
    let mut out = Vec::new();
    for s in &snap.sensors {
        let buses: Vec<&str> = snap
            .event_buses
            .iter()
            .filter(|b| b.namespace == s.namespace)
            .map(|b| b.name.as_str())
            .collect();
        let name = s.value.spec.effective_event_bus_name();
        if !buses.is_empty() && !buses.contains(&name) {
            out.push(issue(
                s.doc,
                Severity::Error,
                rule::EVENT_BUS,
                "spec.eventBusName".into(),
                format!(
                    "no EventBus {name:?} in {}; EventBuses there: {}",
                    s.namespace,
                    buses.join(", ")
                ),
            ));
        }
    }
    out
}

/// Rule [`rule::PITFALL`]: accepted, but not what the author meant.
pub fn pitfall_issues(snap: &Snapshot) -> Vec<Issue> {
    let mut out = Vec::new();
    for b in &snap.event_buses {
        if b.value.spec.nats.is_some() {
            out.push(issue(
                b.doc,
                Severity::Warning,
                rule::PITFALL,
                "spec.nats".into(),
                "NATS Streaming is deprecated; use jetstream".into(),
            ));
        }
    }
    for s in &snap.sensors {
        out.extend(create_once(s.doc, &s.value));
    }
    out
}

/// k8s `create` triggers whose object has a fixed name.
fn create_once(doc: usize, sensor: &Sensor) -> Vec<Issue> {
    let mut out = Vec::new();
    for (i, t) in sensor.spec.triggers.iter().enumerate() {
        let Some(k8s) = t.template.as_ref().and_then(|t| t.k8s.as_ref()) else {
            continue;
        };
        if !matches!(k8s.operation.as_str(), "" | "create") {
            continue;
        }
        let Some(meta) = k8s
            .source
            .as_ref()
            .and_then(|s| s.resource.as_ref())
            .and_then(|r| r.get("metadata"))
        else {
            continue;
        };
        let named = meta.get("name").is_some_and(|n| !n.is_null());
        let generated = meta.get("generateName").is_some_and(|n| !n.is_null());
        if named && !generated {
            out.push(issue(
                doc,
                Severity::Warning,
                rule::PITFALL,
                format!("spec.triggers[{i}].template.k8s.source.resource.metadata.name"),
                "fires once: the second create fails with AlreadyExists; use generateName".into(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
