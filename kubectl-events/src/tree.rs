//! `tree`: EventBus → its workload and the EventSources and Sensors on it; each EventSource →
//! its workload and its events, each event → the Sensor dependencies reading it; each Sensor →
//! its workload, its dependencies (a dependency no EventSource publishes is shown in place, as
//! missing) and its triggers. Every node carries its health, a parent the worst of its own and
//! its children's. `-o json` prints the same graph.

use std::io::Write;

use argo_events_api::{EventSource, Sensor};
use serde::Serialize;

use crate::health::{self, Health, Verdict, labels};
use crate::listen;
use crate::online::{Object, View};

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// `EventBus`, `EventSource`, `Sensor`, `StatefulSet`, `Deployment`, `Pod`, `Event`,
    /// `Dependency`, `Trigger`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Namespace, on the three kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its health, children included.
    pub health: Health,
    /// Why it is not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Facts for people: replicas, endpoint, restarts, what a dependency reads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Children.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// The message names a child's problem (the text shows it only at the child).
    #[serde(skip)]
    pub inherited: bool,
}

impl Node {
    fn new(kind: &'static str, name: impl Into<String>, verdict: Verdict) -> Self {
        Node {
            kind,
            name: name.into(),
            namespace: None,
            health: verdict.health,
            message: verdict.message,
            details: Vec::new(),
            children: Vec::new(),
            inherited: false,
        }
    }

    fn healthy(kind: &'static str, name: impl Into<String>) -> Self {
        Node::new(
            kind,
            name,
            Verdict {
                health: Health::Healthy,
                message: None,
            },
        )
    }

    fn detail(mut self, d: impl Into<String>) -> Self {
        self.details.push(d.into());
        self
    }

    fn child(mut self, c: Node) -> Self {
        // Something missing below makes the parent degraded, not missing.
        let health = c.health.min(Health::Degraded);
        if health > self.health {
            self.health = health;
            if self.message.is_none() || self.inherited {
                let why = c
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", c.health).to_lowercase());
                self.message = Some(format!("{} {}: {why}", c.kind, c.name));
                self.inherited = true;
            }
        }
        self.children.push(c);
        self
    }

    fn in_namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.to_string());
        self
    }
}

fn pod_nodes(view: &View, namespace: &str, key: &str, name: &str) -> Vec<Node> {
    health::pods_of(view, namespace, key, name)
        .into_iter()
        .map(|p| {
            let s = health::pod_state(p);
            let health = if s.ready {
                Health::Healthy
            } else if s.restarts > 0 || s.last_error.is_some() {
                Health::Degraded
            } else {
                Health::Progressing
            };
            let mut n = Node::new(
                "Pod",
                s.name.clone(),
                Verdict {
                    health,
                    message: (!s.ready)
                        .then(|| s.last_error.clone().unwrap_or_else(|| s.status.clone())),
                },
            )
            .detail(s.status.clone());
            n = n.detail(format!("restarts {}", s.restarts));
            n
        })
        .collect()
}

fn workload_node(view: &View, namespace: &str, key: &str, name: &str, bus: bool) -> Option<Node> {
    let (kind, wname, replicas) = if bus {
        let s = health::statefulset_of(view, namespace, name)?;
        (
            "StatefulSet",
            s.metadata.name.clone().unwrap_or_default(),
            health::statefulset_replicas(s),
        )
    } else {
        let d = health::deployment_of(view, namespace, key, name)?;
        (
            "Deployment",
            d.metadata.name.clone().unwrap_or_default(),
            health::deployment_replicas(d),
        )
    };
    // The replicas alone: the pods below say why they are not ready.
    let health = if replicas.ready >= replicas.desired && replicas.desired > 0 {
        Health::Healthy
    } else {
        Health::Progressing
    };
    let mut node = Node::new(
        kind,
        wname,
        Verdict {
            health,
            message: None,
        },
    )
    .detail(format!("{replicas} ready"));
    for p in pod_nodes(view, namespace, key, name) {
        node = node.child(p);
    }
    Some(node)
}

/// Who reads `(event source, event)`: `(sensor, dependency)` pairs in the namespace.
fn readers<'a>(view: &'a View, namespace: &str, es: &str, event: &str) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for s in view.sensors.iter().filter(|s| s.namespace() == namespace) {
        if let Ok(sensor) = &s.watched.object {
            for d in &sensor.spec.dependencies {
                if d.event_source_name == es && d.event_name == event {
                    out.push((s.name(), d.name.as_str()));
                }
            }
        }
    }
    out
}

/// The EventSource subtree.
pub fn event_source_node(view: &View, es: &Object<EventSource>) -> Node {
    let mut node = Node::new(
        "EventSource",
        es.name(),
        health::event_source_conditions(es),
    )
    .in_namespace(es.namespace());
    node = match workload_node(view, es.namespace(), labels::EVENT_SOURCE, es.name(), false) {
        Some(w) => node.child(w),
        None => node.child(missing_workload("Deployment")),
    };
    match &es.watched.object {
        Ok(e) => {
            let mut names: Vec<(&str, &str)> = e.spec.event_names();
            names.sort_by_key(|(_, n)| *n);
            for (kind, name) in names {
                let detail = match listen::listener_of(&e.spec, name) {
                    Some(l) => format!("{kind} {l}"),
                    None => kind.to_string(),
                };
                let mut ev = Node::healthy("Event", name).detail(detail);
                for (sensor, dep) in readers(view, es.namespace(), es.name(), name) {
                    ev = ev.child(
                        Node::healthy("Dependency", dep).detail(format!("of Sensor {sensor}")),
                    );
                }
                node = node.child(ev);
            }
        }
        Err(err) => {
            node = node.child(Node::new(
                "Spec",
                "invalid",
                Verdict {
                    health: Health::Degraded,
                    message: Some(err.to_string()),
                },
            ))
        }
    }
    node
}

fn missing_workload(kind: &'static str) -> Node {
    Node::new(
        kind,
        "<none>",
        Verdict {
            health: Health::Missing,
            message: Some(format!("no {kind}: the controller has not created it")),
        },
    )
}

/// The Sensor subtree.
pub fn sensor_node(view: &View, s: &Object<Sensor>) -> Node {
    let mut node =
        Node::new("Sensor", s.name(), health::sensor_conditions(s)).in_namespace(s.namespace());
    node = match workload_node(view, s.namespace(), labels::SENSOR, s.name(), false) {
        Some(w) => node.child(w),
        None => node.child(missing_workload("Deployment")),
    };
    match &s.watched.object {
        Ok(sensor) => {
            for d in &sensor.spec.dependencies {
                let published = view
                    .sources
                    .iter()
                    .find(|e| e.namespace() == s.namespace() && e.name() == d.event_source_name);
                let reads = format!("reads {}/{}", d.event_source_name, d.event_name);
                let dep = match published.map(|e| &e.watched.object) {
                    None => Node::new(
                        "Dependency",
                        &d.name,
                        Verdict {
                            health: Health::Missing,
                            message: Some(format!(
                                "no EventSource {} in {}",
                                d.event_source_name,
                                s.namespace()
                            )),
                        },
                    ),
                    Some(Ok(es))
                        if !es
                            .spec
                            .event_names()
                            .iter()
                            .any(|(_, n)| *n == d.event_name) =>
                    {
                        Node::new(
                            "Dependency",
                            &d.name,
                            Verdict {
                                health: Health::Missing,
                                message: Some(format!(
                                    "EventSource {} publishes no event {}",
                                    d.event_source_name, d.event_name
                                )),
                            },
                        )
                    }
                    Some(_) => Node::healthy("Dependency", &d.name),
                };
                node = node.child(dep.detail(reads));
            }
            for t in &sensor.spec.triggers {
                let Some(template) = &t.template else {
                    continue;
                };
                let deps = argo_events_runtime::sensor::trigger_dependencies(sensor, t);
                let mut tn = Node::healthy("Trigger", &template.name)
                    .detail(template.kind().unwrap_or("<no action>"));
                if !deps.is_empty() {
                    tn = tn.detail(format!("on {}", deps.join(", ")));
                }
                node = node.child(tn);
            }
        }
        Err(err) => {
            node = node.child(Node::new(
                "Spec",
                "invalid",
                Verdict {
                    health: Health::Degraded,
                    message: Some(err.to_string()),
                },
            ))
        }
    }
    node
}

/// Every EventBus in the view with what runs on it; EventSources and Sensors naming a bus that
/// does not exist hang under a missing EventBus node.
pub fn forest(view: &View) -> Vec<Node> {
    let mut roots = Vec::new();
    let mut keys: Vec<(String, String)> = view
        .buses
        .iter()
        .map(|b| (b.namespace().to_string(), b.name().to_string()))
        .collect();
    for (ns, bus) in view
        .sources
        .iter()
        .map(|e| {
            (
                e.namespace(),
                e.watched
                    .object
                    .as_ref()
                    .map(|o| health::bus_name(&o.spec.event_bus_name))
                    .unwrap_or("default"),
            )
        })
        .chain(view.sensors.iter().map(|s| {
            (
                s.namespace(),
                s.watched
                    .object
                    .as_ref()
                    .map(|o| health::bus_name(&o.spec.event_bus_name))
                    .unwrap_or("default"),
            )
        }))
    {
        let key = (ns.to_string(), bus.to_string());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (ns, bus) in keys {
        roots.push(bus_node(view, &ns, &bus));
    }
    roots
}

/// One bus and everything on it.
pub fn bus_node(view: &View, namespace: &str, bus: &str) -> Node {
    let object = view
        .buses
        .iter()
        .find(|b| b.namespace() == namespace && b.name() == bus);
    let mut node = match object {
        Some(b) => {
            let kind = b
                .watched
                .object
                .as_ref()
                .ok()
                .and_then(|o| o.spec.kind())
                .unwrap_or("<none>");
            let n = Node::new("EventBus", bus, health::event_bus_conditions(b))
                .in_namespace(namespace)
                .detail(kind);
            match workload_node(view, namespace, labels::EVENT_BUS, bus, true) {
                Some(w) => n.child(w),
                None if health::is_managed(b) => n.child(missing_workload("StatefulSet")),
                None => n,
            }
        }
        None => Node::new(
            "EventBus",
            bus,
            Verdict {
                health: Health::Missing,
                message: Some(format!("no EventBus {bus} in {namespace}")),
            },
        )
        .in_namespace(namespace),
    };
    let on_bus = |name: &str| health::bus_name(name) == bus;
    for es in view.sources.iter().filter(|e| e.namespace() == namespace) {
        if es
            .watched
            .object
            .as_ref()
            .map(|o| on_bus(&o.spec.event_bus_name))
            .unwrap_or(bus == "default")
        {
            node = node.child(event_source_node(view, es));
        }
    }
    for s in view.sensors.iter().filter(|s| s.namespace() == namespace) {
        if s.watched
            .object
            .as_ref()
            .map(|o| on_bus(&o.spec.event_bus_name))
            .unwrap_or(bus == "default")
        {
            node = node.child(sensor_node(view, s));
        }
    }
    node
}

fn symbol(h: Health) -> &'static str {
    match h {
        Health::Healthy => "✔",
        Health::Progressing => "◌",
        Health::Degraded => "✖",
        Health::Missing => "⚠",
    }
}

fn colour(h: Health) -> &'static str {
    match h {
        Health::Healthy => "\x1b[32m",
        Health::Progressing => "\x1b[33m",
        Health::Degraded | Health::Missing => "\x1b[31m",
    }
}

/// Renders the graph as an indented tree.
pub fn render(roots: &[Node], colour_on: bool) -> String {
    let mut out = String::new();
    for root in roots {
        line(&mut out, root, "", "", colour_on);
    }
    out
}

fn line(out: &mut String, node: &Node, lead: &str, child_lead: &str, colour_on: bool) {
    let word = format!("{} {:?}", symbol(node.health), node.health);
    let word = if colour_on {
        format!("{}{word}\x1b[0m", colour(node.health))
    } else {
        word
    };
    let name = match &node.namespace {
        Some(ns) if node.kind == "EventBus" => {
            format!("{}/{} (namespace {ns})", node.kind, node.name)
        }
        _ => format!("{}/{}", node.kind, node.name),
    };
    out.push_str(&format!("{lead}{name}  {word}"));
    if !node.details.is_empty() {
        out.push_str(&format!("  {}", node.details.join("  ")));
    }
    // A parent's message repeats its child's; only the node where it starts shows it.
    if let Some(m) = node.message.as_ref().filter(|_| !node.inherited) {
        out.push_str(&format!("  — {m}"));
    }
    out.push('\n');
    let count = node.children.len();
    for (i, c) in node.children.iter().enumerate() {
        let last = i + 1 == count;
        let (branch, next) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        line(
            out,
            c,
            &format!("{child_lead}{branch}"),
            &format!("{child_lead}{next}"),
            colour_on,
        );
    }
}

/// Writes the graph as text or JSON; returns whether anything is broken.
pub fn print(
    roots: &[Node],
    json: bool,
    colour_on: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    if json {
        let doc = if roots.len() == 1 {
            serde_json::to_value(&roots[0])?
        } else {
            serde_json::to_value(roots)?
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        write!(out, "{}", render(roots, colour_on))?;
    }
    Ok(roots.iter().any(|r| r.health.is_broken()))
}

#[cfg(test)]
mod tests;
