//! The admission rules beyond upstream's validation, as pure functions over a [`Snapshot`]:
//! naming, references between the kinds, RBAC of trigger ServiceAccounts and known pitfalls.
//!
//! Each rule reports facts the given objects contradict as errors and facts that are missing as
//! warnings. Absent objects are only reported when the snapshot holds objects of that kind in
//! that namespace (the user gave the set): a set of independent examples stays quiet.

mod rbac;

use std::sync::Arc;

use argo_events_api::{EventBus, EventSource, Sensor};

use crate::lint::{Severity, rule};
use crate::snapshot::{Entry, Facts, Snapshot};

pub(crate) use rbac::RbacIndex;
pub use rbac::{
    Access, AccessCheck, AccessDecision, access_review, decided_issues, decision_of, plural,
    rbac_issues, sensor_access_checks, service_account,
};

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
    /// For an error that rests only on an object's absence from the facts: that object. A
    /// cluster's facts come from a watch cache that lags, so the server confirms the absence
    /// with a live read before denying ([`confirm_absences`]).
    pub absent: Option<Absent>,
}

/// An object looked up by the rules and not found among the facts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Absent {
    /// `EventSource` or `EventBus`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// What a live read of an [`Absent`] object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// It does not exist: the error stands.
    Missing,
    /// It exists (the facts lag): no finding.
    Exists,
    /// The read failed or timed out: the error becomes a warning.
    Unknown(String),
}

/// The objects whose absence the errors in `issues` rest on, each once.
pub fn absences(issues: &[Issue]) -> Vec<Absent> {
    let mut out: Vec<Absent> = Vec::new();
    for a in issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .filter_map(|i| i.absent.as_ref())
    {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    out
}

/// `issues` after live reads of the objects they say are absent: an error about an object that
/// [`Presence::Exists`] is dropped, one whose read failed becomes a warning saying so; errors
/// without an answer in `presence` (lint, `--snapshot`) stay as they are.
pub fn confirm_absences(issues: Vec<Issue>, presence: &[(Absent, Presence)]) -> Vec<Issue> {
    if presence.is_empty() {
        return issues;
    }
    let mut out = Vec::with_capacity(issues.len());
    for mut i in issues {
        let answer = i
            .absent
            .as_ref()
            .filter(|_| i.severity == Severity::Error)
            .and_then(|a| presence.iter().find(|(p, _)| p == a))
            .map(|(_, p)| p);
        match answer {
            Some(Presence::Exists) => continue,
            Some(Presence::Unknown(error)) => {
                i.severity = Severity::Warning;
                i.message = format!(
                    "{} (the cluster cache lags and a live read to confirm it failed: {error}; not denied for that)",
                    i.message
                );
            }
            Some(Presence::Missing) | None => {}
        }
        out.push(i);
    }
    out
}

/// The reference and EventBus errors about an incoming Sensor that rest on an object's absence
/// from `facts` (what a server confirms with live reads before answering).
pub fn incoming_absences(facts: &Facts, s: Obj<'_, Sensor>) -> Vec<Absent> {
    let mut issues = sensor_reference_issues(s, facts.event_sources_in(s.namespace));
    issues.extend(sensor_event_bus_issues(
        s,
        facts.event_buses_in(s.namespace),
    ));
    absences(&issues)
}

/// The EventBus error about an incoming EventSource that rests on the bus's absence from
/// `facts`, for a server to confirm with a live read.
pub fn incoming_source_absences(facts: &Facts, es: Obj<'_, EventSource>) -> Vec<Absent> {
    absences(&event_source_event_bus_issues(
        es,
        facts.event_buses_in(es.namespace),
    ))
}

/// Every issue of every rule over `snap`, in rule order.
pub fn check(snap: &Snapshot) -> Vec<Issue> {
    let facts = Facts::new(snap.clone());
    let mut out = naming_issues(snap);
    for s in &snap.sensors {
        out.extend(sensor_reference_issues(
            Obj::of(s),
            facts.event_sources_in(&s.namespace),
        ));
    }
    for es in &snap.event_sources {
        out.extend(event_source_event_bus_issues(
            Obj::of(es),
            facts.event_buses_in(&es.namespace),
        ));
    }
    for s in &snap.sensors {
        out.extend(sensor_event_bus_issues(
            Obj::of(s),
            facts.event_buses_in(&s.namespace),
        ));
    }
    for s in &snap.sensors {
        out.extend(rbac::static_issues(
            &facts.rbac,
            s.doc,
            &s.namespace,
            &s.value,
        ));
    }
    out.extend(pitfall_issues(snap));
    out
}

/// The object under admission, with its namespace and name (its document index tells its
/// findings apart).
#[derive(Debug, Clone, Copy)]
pub enum Incoming<'a> {
    /// An EventBus.
    EventBus(Obj<'a, EventBus>),
    /// An EventSource.
    EventSource(Obj<'a, EventSource>),
    /// A Sensor.
    Sensor(Obj<'a, Sensor>),
}

/// Where the `rbac` rule's answer for an incoming Sensor comes from.
#[derive(Debug, Clone, Copy)]
pub enum RbacEvidence<'a> {
    /// The static evaluator over the facts' Roles and bindings (as `lint`).
    Static,
    /// An authorizer's answers (SubjectAccessReviews) to [`sensor_access_checks`] of the
    /// incoming Sensor, one per check in the same order.
    Decided(&'a [AccessCheck], &'a [AccessDecision]),
}

/// Every issue of every rule about the incoming object alone, in rule order: what [`check`]
/// reports for it over the facts with it placed in, looking up only what it refers to.
pub fn check_incoming(facts: &Facts, incoming: Incoming<'_>, rbac: RbacEvidence<'_>) -> Vec<Issue> {
    match incoming {
        Incoming::EventBus(b) => {
            let mut out: Vec<Issue> = name_issue(b, "EventBus").into_iter().collect();
            out.extend(bus_pitfall(b));
            out
        }
        Incoming::EventSource(es) => {
            let mut out = event_source_naming_issues(es);
            out.extend(event_source_event_bus_issues(
                es,
                facts.event_buses_in(es.namespace),
            ));
            out
        }
        Incoming::Sensor(s) => {
            let mut out = sensor_naming_issues(s);
            out.extend(sensor_reference_issues(
                s,
                facts.event_sources_in(s.namespace),
            ));
            out.extend(sensor_event_bus_issues(
                s,
                facts.event_buses_in(s.namespace),
            ));
            match rbac {
                RbacEvidence::Static => out.extend(rbac::static_issues(
                    &facts.rbac,
                    s.doc,
                    s.namespace,
                    s.value,
                )),
                RbacEvidence::Decided(checks, decisions) => {
                    out.extend(decided_issues(s.doc, checks, decisions));
                }
            }
            out.extend(create_once(s.doc, s.value));
            out
        }
    }
}

/// An object the rules look at, borrowed: its document index, namespace, name and value.
#[derive(Debug)]
pub struct Obj<'a, T> {
    /// Index of its document (see [`Entry::doc`]).
    pub doc: usize,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its `metadata.name`.
    pub name: &'a str,
    /// The object.
    pub value: &'a T,
}

impl<T> Clone for Obj<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Obj<'_, T> {}

impl<'a, T> Obj<'a, T> {
    /// A snapshot entry, borrowed.
    pub fn of(e: &'a Entry<T>) -> Self {
        Obj {
            doc: e.doc,
            namespace: &e.namespace,
            name: &e.name,
            value: &e.value,
        }
    }
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
        absent: None,
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

fn name_issue<T>(e: Obj<'_, T>, kind: &str) -> Option<Issue> {
    (!e.name.is_empty() && !is_dns1123_label(e.name)).then(|| {
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
            .filter_map(|e| name_issue(Obj::of(e), "EventBus")),
    );
    for es in &snap.event_sources {
        out.extend(event_source_naming_issues(Obj::of(es)));
    }
    for s in &snap.sensors {
        out.extend(sensor_naming_issues(Obj::of(s)));
    }
    out
}

fn event_source_naming_issues(es: Obj<'_, EventSource>) -> Vec<Issue> {
    let mut out: Vec<Issue> = name_issue(es, "EventSource").into_iter().collect();
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
    out
}

fn sensor_naming_issues(s: Obj<'_, Sensor>) -> Vec<Issue> {
    let mut out: Vec<Issue> = name_issue(s, "Sensor").into_iter().collect();
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
    let facts = Facts::new(snap.clone());
    snap.sensors
        .iter()
        .flat_map(|s| sensor_reference_issues(Obj::of(s), facts.event_sources_in(&s.namespace)))
        .collect()
}

/// [`reference_issues`] of one Sensor, against the EventSources of its namespace.
fn sensor_reference_issues(s: Obj<'_, Sensor>, sources: &[Arc<Entry<EventSource>>]) -> Vec<Issue> {
    let mut out = Vec::new();
    if sources.is_empty() {
        return out;
    }
    for (i, dep) in s.value.spec.dependencies.iter().enumerate() {
        let path = format!("spec.dependencies[{i}]");
        if dep.event_source_name.is_empty() {
            continue;
        }
        match sources.iter().find(|es| es.name == dep.event_source_name) {
            Some(es) => {
                if dep.event_name.is_empty() {
                    continue;
                }
                let names = es.value.spec.event_names();
                if names.iter().any(|(_, e)| *e == dep.event_name) {
                    continue;
                }
                let events: Vec<&str> = names.into_iter().map(|(_, e)| e).collect();
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
            None => {
                let near = sources
                    .iter()
                    .any(|es| near_miss(&dep.event_source_name, &es.name));
                let path = format!("{path}.eventSourceName");
                if !near {
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
                    out.push(Issue {
                        absent: Some(Absent {
                            kind: "EventSource",
                            namespace: s.namespace.to_owned(),
                            name: dep.event_source_name.clone(),
                        }),
                        ..issue(
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
                        )
                    });
                }
            }
        }
    }
    out
}

/// Rule [`rule::EVENT_BUS`]: a Sensor's EventBus exists among the snapshot's EventBuses of its
/// namespace (checked only when it holds some).
pub fn event_bus_issues(snap: &Snapshot) -> Vec<Issue> {
    let facts = Facts::new(snap.clone());
    let sources = snap.event_sources.iter().flat_map(|es| {
        event_source_event_bus_issues(Obj::of(es), facts.event_buses_in(&es.namespace))
    });
    sources
        .chain(
            snap.sensors.iter().flat_map(|s| {
                sensor_event_bus_issues(Obj::of(s), facts.event_buses_in(&s.namespace))
            }),
        )
        .collect()
}

/// [`event_bus_issues`] of one Sensor, against the EventBuses of its namespace.
fn sensor_event_bus_issues(s: Obj<'_, Sensor>, buses: &[Arc<Entry<EventBus>>]) -> Vec<Issue> {
    bus_presence_issues(
        s.doc,
        s.namespace,
        s.value.spec.effective_event_bus_name(),
        buses,
    )
}

/// [`event_bus_issues`] of one EventSource, against the EventBuses of its namespace.
fn event_source_event_bus_issues(
    es: Obj<'_, EventSource>,
    buses: &[Arc<Entry<EventBus>>],
) -> Vec<Issue> {
    bus_presence_issues(
        es.doc,
        es.namespace,
        es.value.spec.effective_event_bus_name(),
        buses,
    )
}

/// The EventBus `name` an object of document `doc` in `namespace` uses is among `buses`
/// (checked only when there are some: GitOps may apply the bus later).
fn bus_presence_issues(
    doc: usize,
    namespace: &str,
    name: &str,
    buses: &[Arc<Entry<EventBus>>],
) -> Vec<Issue> {
    if buses.is_empty() || buses.iter().any(|b| b.name == name) {
        return Vec::new();
    }
    let names: Vec<&str> = buses.iter().map(|b| b.name.as_str()).collect();
    vec![Issue {
        absent: Some(Absent {
            kind: "EventBus",
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }),
        ..issue(
            doc,
            Severity::Error,
            rule::EVENT_BUS,
            "spec.eventBusName".into(),
            format!(
                "no EventBus {name:?} in {namespace}; EventBuses there: {}",
                names.join(", ")
            ),
        )
    }]
}

/// Rule [`rule::PITFALL`]: accepted, but not what the author meant.
pub fn pitfall_issues(snap: &Snapshot) -> Vec<Issue> {
    let mut out: Vec<Issue> = snap
        .event_buses
        .iter()
        .filter_map(|b| bus_pitfall(Obj::of(b)))
        .collect();
    for s in &snap.sensors {
        out.extend(create_once(s.doc, &s.value));
    }
    out
}

/// A NATS Streaming EventBus.
fn bus_pitfall(b: Obj<'_, EventBus>) -> Option<Issue> {
    b.value.spec.nats.is_some().then(|| {
        issue(
            b.doc,
            Severity::Warning,
            rule::PITFALL,
            "spec.nats".into(),
            "NATS Streaming is deprecated; use jetstream".into(),
        )
    })
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
