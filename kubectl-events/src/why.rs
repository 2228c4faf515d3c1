//! `why SENSOR`: the six-layer ladder a user walks by hand when a Sensor does not fire, walked
//! automatically, stopping at the first broken layer with its evidence and a fix:
//!
//! 1. the EventSources the dependencies name exist, publish those events, and run;
//! 2. the EventBus exists, is ready, and is the one the EventSources publish to;
//! 3. the events reached the bus and the Sensor reads them: messages on each subject, each
//!    durable consumer with its pending / ack-pending / redelivered counts (asked by the Sensor
//!    pod, through the API server's pod proxy), the Sensor's pods running;
//! 4. each dependency's recent filter verdicts;
//! 5. each trigger's recent outcomes;
//! 6. RBAC: a SubjectAccessReview for the Sensor's ServiceAccount per trigger action, and
//!    Forbidden Events.
//!
//! Gathering is the async shell ([`gather`]); the ladder itself is [`ladder`], pure over the
//! gathered [`Evidence`]. A trigger refused by the API server for lack of RBAC shows as
//! layer 5 "unknown" and layer 6 "broken": the fix is the binding, not the trigger.

use std::io::Write;

use argo_events_api::Sensor;
use argo_events_api::diagnostics::{self, BusReport, Decisions};
use argo_events_webhook::rules::{
    AccessCheck, AccessDecision, access_review, decision_of, sensor_access_checks,
};
use chrono::{DateTime, Utc};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::PostParams;
use kube::{Api, Client};
use serde::Serialize;

use crate::get::event_time;
use crate::health::{self, labels};
use crate::online::{self, Object, View};

/// A layer's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and fine.
    Ok,
    /// Checked and broken: the reason the Sensor did not fire.
    Broken,
    /// Could not be checked (or was not, after a broken layer).
    Unknown,
}

/// One layer of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    /// 1 to 6.
    pub layer: u8,
    /// What it checks.
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was seen.
    pub evidence: Vec<String>,
    /// The fix, when broken.
    pub hint: Option<String>,
}

/// The report: `{"sensor": …, "layers": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `namespace/name`.
    pub sensor: String,
    /// The six layers, in order.
    pub layers: Vec<Layer>,
}

impl Report {
    /// The first broken layer.
    pub fn broken(&self) -> Option<&Layer> {
        self.layers.iter().find(|l| l.status == Status::Broken)
    }
}

/// Layer names, as the report prints them.
pub const NAMES: [&str; 6] = [
    "EventSource",
    "EventBus",
    "events on the bus",
    "dependency filters",
    "triggers",
    "RBAC",
];

/// Everything the ladder decides on.
pub struct Evidence<'a> {
    /// The namespace's objects.
    pub view: &'a View,
    /// The Sensor.
    pub sensor: &'a Object<Sensor>,
    /// `--trigger`.
    pub trigger: Option<&'a str>,
    /// `now - --since`.
    pub since: DateTime<Utc>,
    /// `GET /bus` of a running Sensor pod, or why it could not be asked.
    pub bus: Result<BusReport, String>,
    /// `GET /decisions` of a running Sensor pod, or why it could not be asked.
    pub decisions: Result<Decisions, String>,
    /// Each access the triggers need and the API server's answer.
    pub access: Vec<(AccessCheck, AccessDecision)>,
}

struct Ladder {
    layers: Vec<Layer>,
}

impl Ladder {
    fn push(&mut self, status: Status, evidence: Vec<String>, hint: Option<String>) {
        let n = self.layers.len();
        self.layers.push(Layer {
            layer: n as u8 + 1,
            name: NAMES[n],
            status,
            evidence,
            hint,
        });
    }
}

fn sensor_events<'a>(ev: &'a Evidence<'_>, kind: &str, name: &str) -> Vec<&'a KubeEvent> {
    let mut out: Vec<&KubeEvent> = ev
        .view
        .events
        .iter()
        .filter(|e| e.metadata.namespace.as_deref() == Some(ev.sensor.namespace()))
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .filter(|e| event_time(e).is_none_or(|t| t >= ev.since))
        .collect();
    out.sort_by_key(|e| event_time(e));
    out
}

fn event_line(e: &KubeEvent) -> String {
    let count = e.series.as_ref().map(|s| s.count).unwrap_or(1);
    let times = if count > 1 {
        format!(" (×{count})")
    } else {
        String::new()
    };
    format!(
        "Event {} {}{times}: {}",
        e.type_.as_deref().unwrap_or("Normal"),
        e.reason.as_deref().unwrap_or_default(),
        e.note.as_deref().unwrap_or_default()
    )
}

/// The dependencies `--trigger` concerns (all when unset).
fn dependencies_in_scope(ev: &Evidence<'_>, sensor: &Sensor) -> Vec<String> {
    match ev.trigger {
        None => sensor
            .spec
            .dependencies
            .iter()
            .map(|d| d.name.clone())
            .collect(),
        Some(t) => sensor
            .spec
            .triggers
            .iter()
            .find(|tr| tr.template.as_ref().is_some_and(|x| x.name == t))
            .map(|tr| argo_events_runtime::sensor::trigger_dependencies(sensor, tr))
            .unwrap_or_default(),
    }
}

fn is_forbidden(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("forbidden") || m.contains("403")
}

/// Walks the ladder.
pub fn ladder(ev: &Evidence<'_>) -> Report {
    let name = format!("{}/{}", ev.sensor.namespace(), ev.sensor.name());
    let mut l = Ladder { layers: Vec::new() };
    let sensor = match &ev.sensor.watched.object {
        Ok(s) => s,
        Err(e) => {
            l.push(
                Status::Broken,
                vec![format!("the Sensor cannot be decoded: {e}")],
                Some("fix the Sensor's spec (kubectl argo events lint)".into()),
            );
            return finish(name, l);
        }
    };
    let cx = layers::Cx {
        ev,
        sensor,
        ns: ev.sensor.namespace(),
        deps: dependencies_in_scope(ev, sensor),
    };
    let (found, sources) = layers::event_sources(&cx);
    push_findings(&mut l, found);
    push_findings(&mut l, layers::event_bus(&cx, &sources));
    push_findings(&mut l, layers::bus_delivery(&cx));
    push_findings(&mut l, layers::filters(&cx));
    // 6 is needed to judge 5: a trigger refused for lack of RBAC is layer 6's.
    let rbac = rbac_layer(ev);
    push_findings(&mut l, layers::triggers(&cx, rbac.1.is_some()));
    push_status(&mut l, rbac.0, rbac.1, rbac.2);
    finish(name, l)
}

fn rbac_layer(ev: &Evidence<'_>) -> (Vec<String>, Option<String>, bool) {
    let mut evidence = Vec::new();
    let mut denied = Vec::new();
    let mut unknown = false;
    for (check, decision) in ev
        .access
        .iter()
        .filter(|(c, _)| ev.trigger.is_none_or(|t| t == c.trigger_name))
    {
        match decision {
            AccessDecision::Allowed => evidence.push(format!(
                "ServiceAccount {}/{} may {} {} in {} (trigger {})",
                check.namespace,
                check.service_account,
                check.access.verb,
                check.access.resource_display(),
                check.target_namespace,
                check.trigger_name
            )),
            AccessDecision::Denied => {
                evidence.push(check.denied_message());
                denied.push(check);
            }
            AccessDecision::Failed(e) => {
                evidence.push(format!(
                    "trigger {}: the SubjectAccessReview failed: {e}",
                    check.trigger_name
                ));
                unknown = true;
            }
        }
    }
    if ev.access.is_empty() {
        evidence.push("no trigger acts on Kubernetes resources".into());
    }
    for e in sensor_events(ev, "Sensor", ev.sensor.name())
        .into_iter()
        .filter(|e| e.note.as_deref().is_some_and(is_forbidden))
        .rev()
        .take(3)
    {
        evidence.push(event_line(e));
    }
    let hint = (!denied.is_empty()).then(|| crate::cani::fix_commands(&denied).join("; "));
    (evidence, hint, unknown)
}

fn pod_line(p: &Pod) -> String {
    let s = health::pod_state(p);
    let mut line = format!(
        "pod {}: {}{}, {} restart(s)",
        s.name,
        s.status,
        if s.ready { ", ready" } else { ", not ready" },
        s.restarts
    );
    if let Some(e) = s.last_error {
        line.push_str(&format!("; last termination {e}"));
    }
    line
}

fn push_findings(l: &mut Ladder, f: layers::Findings) {
    push_status(l, f.evidence, f.broken, f.unknown);
}

fn push_status(l: &mut Ladder, evidence: Vec<String>, broken: Option<String>, unknown: bool) {
    let status = match (&broken, unknown) {
        (Some(_), _) => Status::Broken,
        (None, true) => Status::Unknown,
        (None, false) => Status::Ok,
    };
    l.push(status, evidence, broken);
}

/// After the first broken layer, the rest are not the reason: reported as not checked.
fn finish(sensor: String, mut l: Ladder) -> Report {
    if let Some(first) = l.layers.iter().position(|x| x.status == Status::Broken) {
        let at = first + 1;
        for layer in l.layers.iter_mut().skip(at) {
            layer.status = Status::Unknown;
            layer.evidence = vec![format!("not checked: layer {at} is broken")];
            layer.hint = None;
        }
    }
    while l.layers.len() < NAMES.len() {
        let at = l
            .layers
            .iter()
            .position(|x| x.status == Status::Broken)
            .map(|i| i + 1)
            .unwrap_or(0);
        l.push(
            Status::Unknown,
            vec![format!("not checked: layer {at} is broken")],
            None,
        );
    }
    Report {
        sensor,
        layers: l.layers,
    }
}

/// Asks each access of the Sensor's triggers as a SubjectAccessReview.
pub async fn review_access(
    client: &Client,
    namespace: &str,
    sensor: &Sensor,
) -> Vec<(AccessCheck, AccessDecision)> {
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let mut out = Vec::new();
    for check in sensor_access_checks(namespace, sensor) {
        let decision = match api
            .create(&PostParams::default(), &access_review(&check))
            .await
        {
            Ok(answer) => decision_of(answer.status.as_ref()),
            Err(e) => AccessDecision::Failed(e.to_string()),
        };
        out.push((check, decision));
    }
    out
}

/// The first ready pod among `pods`, else the first one.
pub fn pick_pod<'a>(pods: &[&'a Pod]) -> Option<&'a Pod> {
    pods.iter()
        .copied()
        .find(|p| health::pod_state(p).ready)
        .or_else(|| pods.first().copied())
}

/// Fetches what the ladder needs.
pub async fn gather(
    client: &Client,
    view: &View,
    sensor: &Object<Sensor>,
) -> (
    Result<BusReport, String>,
    Result<Decisions, String>,
    Vec<(AccessCheck, AccessDecision)>,
) {
    let pods = health::pods_of(view, sensor.namespace(), labels::SENSOR, sensor.name());
    let ready: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| health::pod_state(p).ready)
        .collect();
    let (bus, decisions) = match ready.first() {
        None => {
            let why = if pods.is_empty() {
                "the Sensor has no pod".to_string()
            } else {
                "no pod of the Sensor is ready".to_string()
            };
            (Err(why.clone()), Err(why))
        }
        Some(pod) => {
            let bus = online::pod_admin_json::<BusReport>(client, pod, diagnostics::BUS_PATH)
                .await
                .map_err(|e| format!("{e:#}"));
            let decisions =
                online::pod_admin_json::<Decisions>(client, pod, diagnostics::DECISIONS_PATH)
                    .await
                    .map_err(|e| format!("{e:#}"));
            (bus, decisions)
        }
    };
    let access = match &sensor.watched.object {
        Ok(s) => review_access(client, sensor.namespace(), s).await,
        Err(_) => Vec::new(),
    };
    (bus, decisions, access)
}

/// Prints the report.
pub fn print(
    report: &Report,
    json: bool,
    colour_on: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
        return Ok(());
    }
    writeln!(out, "Sensor {}", report.sensor)?;
    for layer in &report.layers {
        let (mark, col) = match layer.status {
            Status::Ok => ("✔ ok", "\x1b[32m"),
            Status::Broken => ("✖ broken", "\x1b[31m"),
            Status::Unknown => ("? unknown", "\x1b[33m"),
        };
        let mark = if colour_on {
            format!("{col}{mark}\x1b[0m")
        } else {
            mark.to_string()
        };
        writeln!(out, "{}. {:<20} {mark}", layer.layer, layer.name)?;
        for e in &layer.evidence {
            writeln!(out, "     {e}")?;
        }
        if let Some(h) = &layer.hint {
            writeln!(out, "   → fix: {h}")?;
        }
    }
    match report.broken() {
        Some(l) => writeln!(
            out,
            "\nThe Sensor is stuck at layer {} ({}).",
            l.layer, l.name
        )?,
        None => writeln!(out, "\nNo broken layer found.")?,
    }
    Ok(())
}

mod layers;

#[cfg(test)]
mod tests;
