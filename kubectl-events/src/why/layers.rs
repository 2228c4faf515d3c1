//! The six layers of `why`, each a pure function of the gathered [`Evidence`] returning what it
//! saw ([`Findings`]); [`super::ladder`] orders them and stops at the first broken one.

use argo_events_api::diagnostics::{TriggerResult, reasons};
use argo_events_api::{EventDependency, EventSource, Sensor};

use super::{Evidence, event_line, is_forbidden, pod_line, sensor_events};
use crate::health::{self, Health, labels};
use crate::online::Object;

/// What one layer saw.
pub(super) struct Findings {
    /// The evidence lines.
    pub evidence: Vec<String>,
    /// The fix, when the layer is broken.
    pub broken: Option<String>,
    /// Something could not be checked.
    pub unknown: bool,
}

/// What every layer looks at.
pub(super) struct Cx<'a> {
    /// The gathered evidence.
    pub ev: &'a Evidence<'a>,
    /// The decoded Sensor.
    pub sensor: &'a Sensor,
    /// Its namespace.
    pub ns: &'a str,
    /// The dependencies in scope (of `--trigger`, else all).
    pub deps: Vec<String>,
}

impl<'a> Cx<'a> {
    fn deps_in_scope(&self) -> Vec<&'a EventDependency> {
        self.sensor
            .spec
            .dependencies
            .iter()
            .filter(|d| self.deps.contains(&d.name))
            .collect()
    }
}

/// Layer 1: the EventSources the dependencies name exist, publish those events, and run; the
/// ones found, for layer 2.
pub(super) fn event_sources<'a>(cx: &Cx<'a>) -> (Findings, Vec<&'a Object<EventSource>>) {
    let (ev, ns) = (cx.ev, cx.ns);
    let deps_in_scope = cx.deps_in_scope();
    let mut evidence = Vec::new();
    let mut broken: Option<String> = None;
    let mut sources: Vec<&Object<EventSource>> = Vec::new();
    for d in &deps_in_scope {
        match ev
            .view
            .sources
            .iter()
            .find(|e| e.namespace() == ns && e.name() == d.event_source_name)
        {
            None => {
                evidence.push(format!(
                    "dependency {}: no EventSource {} in namespace {ns}",
                    d.name, d.event_source_name
                ));
                broken.get_or_insert(format!(
                    "create the EventSource {}, or correct dependency {}'s eventSourceName",
                    d.event_source_name, d.name
                ));
            }
            Some(es) => {
                if let Ok(spec) = &es.watched.object
                    && !spec
                        .spec
                        .event_names()
                        .iter()
                        .any(|(_, n)| *n == d.event_name)
                {
                    let mut names: Vec<&str> = spec
                        .spec
                        .event_names()
                        .into_iter()
                        .map(|(_, n)| n)
                        .collect();
                    names.sort_unstable();
                    evidence.push(format!(
                        "dependency {}: EventSource {} has no event {} (it has: {})",
                        d.name,
                        es.name(),
                        d.event_name,
                        names.join(", ")
                    ));
                    broken.get_or_insert(format!(
                        "correct dependency {}'s eventName, or add event {} to EventSource {}",
                        d.name,
                        d.event_name,
                        es.name()
                    ));
                    continue;
                }
                if !sources.iter().any(|s| s.name() == es.name()) {
                    sources.push(es);
                }
            }
        }
    }
    for es in &sources {
        let v = health::event_source_verdict(ev.view, es);
        let d = health::deployment_of(ev.view, ns, labels::EVENT_SOURCE, es.name());
        let pods = health::pods_of(ev.view, ns, labels::EVENT_SOURCE, es.name());
        evidence.push(format!(
            "EventSource {}: Deployment {}",
            es.name(),
            d.map(|d| format!(
                "{} {} ready",
                d.metadata.name.as_deref().unwrap_or_default(),
                health::deployment_replicas(d)
            ))
            .unwrap_or_else(|| "none".into())
        ));
        evidence.extend(pods.iter().map(|p| pod_line(p)));
        for e in sensor_events(ev, "EventSource", es.name())
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
        {
            evidence.push(event_line(e));
        }
        if v.health != Health::Healthy {
            // The pods' lines above already say what is wrong with them.
            if health::event_source_conditions(es).health != Health::Healthy || pods.is_empty() {
                evidence.push(format!(
                    "EventSource {}: {}",
                    es.name(),
                    v.message.clone().unwrap_or_default()
                ));
            }
            broken.get_or_insert(format!(
                "read its logs: kubectl argo events logs eventsource {} -n {ns}",
                es.name()
            ));
        }
    }
    (
        Findings {
            evidence,
            broken,
            unknown: false,
        },
        sources,
    )
}

/// Layer 2: the EventBus exists, is ready, and is the one the EventSources publish to.
pub(super) fn event_bus(cx: &Cx<'_>, sources: &[&Object<EventSource>]) -> Findings {
    let (ev, ns) = (cx.ev, cx.ns);
    let bus = health::bus_name(&cx.sensor.spec.event_bus_name);
    let mut evidence = Vec::new();
    let mut broken = None;
    match ev
        .view
        .buses
        .iter()
        .find(|b| b.namespace() == ns && b.name() == bus)
    {
        None => {
            evidence.push(format!("no EventBus {bus} in namespace {ns}"));
            broken = Some(format!(
                "create the EventBus {bus} in {ns} (the Sensor's spec.eventBusName)"
            ));
        }
        Some(b) => {
            let v = health::event_bus_verdict(ev.view, b);
            let kind = b
                .watched
                .object
                .as_ref()
                .ok()
                .and_then(|o| o.spec.kind())
                .unwrap_or("<none>");
            let sts = health::statefulset_of(ev.view, ns, bus);
            evidence.push(format!(
                "EventBus {bus} ({kind}): {}{}",
                if v.health == Health::Healthy {
                    "ready".to_string()
                } else {
                    v.message.clone().unwrap_or_default()
                },
                sts.map(|s| format!(
                    ", StatefulSet {} {} ready",
                    s.metadata.name.as_deref().unwrap_or_default(),
                    health::statefulset_replicas(s)
                ))
                .unwrap_or_default()
            ));
            if v.health != Health::Healthy {
                broken = Some(format!(
                    "the EventBus is not ready: kubectl argo events logs eventbus {bus} -n {ns}"
                ));
            }
        }
    }
    for es in sources {
        if let Ok(spec) = &es.watched.object {
            let es_bus = health::bus_name(&spec.spec.event_bus_name);
            if es_bus != bus {
                evidence.push(format!("EventSource {} publishes to EventBus {es_bus}, the Sensor reads EventBus {bus}", es.name()));
                broken.get_or_insert(format!(
                    "set the same spec.eventBusName on EventSource {} and the Sensor",
                    es.name()
                ));
            }
        }
    }
    Findings {
        evidence,
        broken,
        unknown: false,
    }
}

/// Layer 3: the events reached the bus, and the Sensor runs and reads them.
pub(super) fn bus_delivery(cx: &Cx<'_>) -> Findings {
    let (ev, ns, deps, sensor) = (cx.ev, cx.ns, &cx.deps, cx.sensor);
    let sensor_pods = health::pods_of(ev.view, ns, labels::SENSOR, ev.sensor.name());
    let sensor_verdict = health::sensor_verdict(ev.view, ev.sensor);
    let mut evidence: Vec<String> = sensor_pods.iter().map(|p| pod_line(p)).collect();
    let mut broken = None;
    let mut unknown = false;
    if sensor_verdict.health != Health::Healthy {
        evidence.push(format!(
            "Sensor {}: {}",
            ev.sensor.name(),
            sensor_verdict.message.clone().unwrap_or_default()
        ));
        broken = Some(format!(
            "the Sensor is not running: kubectl argo events logs sensor {} -n {ns}",
            ev.sensor.name()
        ));
    }
    match &ev.bus {
        Err(e) => {
            evidence.push(format!("the Sensor pod could not be asked: {e}"));
            unknown = true;
        }
        Ok(report) => {
            for s in report
                .subscriptions
                .iter()
                .filter(|s| deps.contains(&s.dependency))
                .filter(|s| ev.trigger.is_none_or(|t| t == s.trigger))
            {
                let who = format!("trigger {} / dependency {}", s.trigger, s.dependency);
                if let Some(e) = &s.error {
                    evidence.push(format!("{who}: the bus could not be asked: {e}"));
                    unknown = true;
                    continue;
                }
                match s.messages {
                    Some(0) => {
                        evidence.push(format!("{who}: no message on subject {}", s.subject));
                        broken.get_or_insert(format!(
                            "nothing reached the bus on {}: the EventSource has not published this event (send one: kubectl argo events send {} -n {ns})",
                            s.subject,
                            sensor.spec.dependencies.iter().find(|d| d.name == s.dependency).map(|d| format!("{} {}", d.event_source_name, d.event_name)).unwrap_or_default()
                        ));
                    }
                    Some(n) => {
                        evidence.push(format!("{who}: {n} message(s) on subject {}", s.subject))
                    }
                    None => evidence.push(format!("{who}: message count on {} unknown", s.subject)),
                }
                match &s.state {
                    None => {
                        evidence.push(format!("{who}: durable consumer {} does not exist", s.consumer));
                        broken.get_or_insert("the Sensor has not subscribed: check its pod's logs".into());
                    }
                    Some(c) => evidence.push(format!(
                        "{who}: consumer {}: {} pending, {} awaiting ack, {} redelivered, delivered up to #{}",
                        s.consumer, c.pending, c.ack_pending, c.redelivered, c.delivered_stream_seq
                    )),
                }
            }
        }
    }
    Findings {
        evidence,
        broken,
        unknown,
    }
}

/// Layer 4: each dependency's recent filter verdicts.
pub(super) fn filters(cx: &Cx<'_>) -> Findings {
    let (ev, deps) = (cx.ev, &cx.deps);
    let mut evidence = Vec::new();
    let mut broken = None;
    let mut unknown = false;
    match &ev.decisions {
        Err(e) => {
            evidence.push(format!("the Sensor pod could not be asked: {e}"));
            unknown = true;
        }
        Ok(decisions) => {
            for d in decisions
                .dependencies
                .iter()
                .filter(|d| deps.contains(&d.name))
            {
                let recent: Vec<_> = d.recent.iter().filter(|v| v.time >= ev.since).collect();
                if recent.is_empty() {
                    evidence.push(format!(
                        "dependency {}: no event since {} ({} seen since the pod started)",
                        d.name,
                        ev.since.format("%H:%M:%S"),
                        d.seen
                    ));
                    unknown = true;
                    continue;
                }
                let passed = recent.iter().filter(|v| v.passed).count();
                evidence.push(format!(
                    "dependency {}: {passed} of the last {} event(s) passed",
                    d.name,
                    recent.len()
                ));
                if passed == 0 {
                    if let Some(last) = recent.last() {
                        evidence.push(format!(
                            "dependency {}: event {} rejected: {}",
                            d.name, last.event_id, last.reason
                        ));
                    }
                    broken.get_or_insert(format!(
                        "dependency {}'s filters reject the events: compare them with the event data (kubectl argo events simulate)",
                        d.name
                    ));
                }
            }
        }
    }
    for e in sensor_events(ev, "Sensor", ev.sensor.name())
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reasons::DEPENDENCY_FILTER_FAILED))
        .rev()
        .take(3)
    {
        evidence.push(event_line(e));
    }
    Findings {
        evidence,
        broken,
        unknown,
    }
}

/// Layer 5: each trigger's recent outcomes; a refusal for want of RBAC is layer 6's when that
/// one is broken (`rbac_broken`).
pub(super) fn triggers(cx: &Cx<'_>, rbac_broken: bool) -> Findings {
    let (ev, ns) = (cx.ev, cx.ns);
    let mut evidence = Vec::new();
    let mut broken = None;
    let mut unknown = false;
    match &ev.decisions {
        Err(e) => {
            evidence.push(format!("the Sensor pod could not be asked: {e}"));
            unknown = true;
        }
        Ok(decisions) => {
            for t in decisions
                .triggers
                .iter()
                .filter(|t| ev.trigger.is_none_or(|x| x == t.name))
            {
                let Some(last) = t.recent.iter().rev().find(|o| o.time >= ev.since) else {
                    evidence.push(format!(
                        "trigger {}: nothing happened since {}",
                        t.name,
                        ev.since.format("%H:%M:%S")
                    ));
                    unknown = true;
                    continue;
                };
                match last.result {
                    TriggerResult::Succeeded => evidence.push(format!(
                        "trigger {}: succeeded at {}: {}",
                        t.name,
                        last.time.format("%H:%M:%S"),
                        last.message
                    )),
                    TriggerResult::NotFired => {
                        evidence.push(format!(
                            "trigger {}: did not fire: {}",
                            t.name, last.message
                        ));
                        broken.get_or_insert(format!("trigger {}'s conditions are not met yet: check which dependencies it waits for", t.name));
                    }
                    TriggerResult::Failed if is_forbidden(&last.message) && rbac_broken => {
                        evidence.push(format!(
                            "trigger {}: refused by the API server: {} (RBAC: see layer 6)",
                            t.name, last.message
                        ));
                        unknown = true;
                    }
                    TriggerResult::Failed => {
                        evidence.push(format!(
                            "trigger {}: failed at {}: {}",
                            t.name,
                            last.time.format("%H:%M:%S"),
                            last.message
                        ));
                        broken.get_or_insert(format!("trigger {} fails: fix what the error names (kubectl argo events logs sensor {} -n {ns})", t.name, ev.sensor.name()));
                    }
                }
            }
        }
    }
    for e in sensor_events(ev, "Sensor", ev.sensor.name())
        .into_iter()
        .filter(|e| {
            matches!(
                e.reason.as_deref(),
                Some(
                    reasons::TRIGGER_FAILED
                        | reasons::TRIGGER_RETRIED
                        | reasons::TRIGGER_SENT_TO_DLQ
                )
            )
        })
        .rev()
        .take(3)
    {
        evidence.push(event_line(e));
    }
    Findings {
        evidence,
        broken,
        unknown,
    }
}
