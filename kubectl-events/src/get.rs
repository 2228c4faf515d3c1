//! `get eventbus|eventsources|sensors [NAME]`: one row per object with the columns a user
//! wants (readiness judged by [`crate::health`], the failing condition's or pod's message, event
//! names, dependency and trigger counts, the last trigger Event), as `table`, `wide`, `json` or
//! `yaml`; `--watch` prints a row again whenever one of them changes.

use std::io::Write;

use argo_events_api::diagnostics::reasons;
use argo_events_api::{EventBus, EventSource, Sensor};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::DynamicObject;
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::cli::{GetArgs, Kind, OutputFormat};
use crate::health::{self, Verdict, labels};
use crate::online::{self, Object, Scope, View};
use crate::table::{Table, age};
use crate::{EXIT_FINDINGS, EXIT_OK};

/// One row's facts, before formatting.
struct Row {
    namespace: String,
    name: String,
    cells: Vec<String>,
    wide: Vec<String>,
    verdict: Verdict,
    created: Option<DateTime<Utc>>,
}

/// The table of `kind` in `view` (every object, or only `name`), and whether any is broken.
pub fn table(
    view: &View,
    kind: Kind,
    name: Option<&str>,
    wide: bool,
    all_namespaces: bool,
) -> (Table, bool) {
    let (headers, wide_headers): (&[&str], &[&str]) = match kind {
        Kind::EventBus => (
            &["NAME", "READY", "TYPE", "REPLICAS", "AGE"],
            &["STATEFULSET", "RESTARTS"],
        ),
        Kind::EventSource => (
            &["NAME", "READY", "EVENTBUS", "EVENTS", "PODS", "AGE"],
            &["TYPES", "RESTARTS", "SERVICE"],
        ),
        Kind::Sensor => (
            &[
                "NAME",
                "READY",
                "EVENTBUS",
                "DEPENDENCIES",
                "TRIGGERS",
                "PODS",
                "LAST TRIGGER",
                "AGE",
            ],
            &["DEPENDENCY NAMES", "TRIGGER NAMES", "RESTARTS"],
        ),
    };
    let rows: Vec<Row> = match kind {
        Kind::EventBus => view.buses.iter().map(|b| bus_row(view, b)).collect(),
        Kind::EventSource => view.sources.iter().map(|e| source_row(view, e)).collect(),
        Kind::Sensor => view.sensors.iter().map(|s| sensor_row(view, s)).collect(),
    };
    let mut t = Table::default();
    if all_namespaces {
        t.headers.push("NAMESPACE".into());
    }
    t.headers.extend(headers.iter().map(|h| h.to_string()));
    if wide {
        t.headers.extend(wide_headers.iter().map(|h| h.to_string()));
    }
    t.headers.push("MESSAGE".into());
    let mut broken = false;
    for row in rows
        .into_iter()
        .filter(|r| name.is_none_or(|n| n == r.name))
    {
        broken |= row.verdict.health.is_broken();
        let mut cells = Vec::new();
        if all_namespaces {
            cells.push(row.namespace.clone());
        }
        cells.push(row.name.clone());
        cells.push(row.verdict.health.ready_word().to_string());
        cells.extend(row.cells);
        cells.push(age(row.created, view.now));
        if wide {
            cells.extend(row.wide);
        }
        cells.push(row.verdict.message.clone().unwrap_or_default());
        t.rows.push(cells);
    }
    (t, broken)
}

fn restarts(pods: &[&k8s_openapi::api::core::v1::Pod]) -> String {
    pods.iter()
        .map(|p| health::pod_state(p).restarts)
        .sum::<i32>()
        .to_string()
}

fn bus_row(view: &View, bus: &Object<EventBus>) -> Row {
    let verdict = health::event_bus_verdict(view, bus);
    let kind = bus
        .watched
        .object
        .as_ref()
        .ok()
        .and_then(|b| b.spec.kind())
        .unwrap_or("<none>");
    let sts = health::statefulset_of(view, bus.namespace(), bus.name());
    let pods = health::pods_of(view, bus.namespace(), labels::EVENT_BUS, bus.name());
    Row {
        namespace: bus.namespace().into(),
        name: bus.name().into(),
        cells: vec![
            kind.into(),
            sts.map(|s| health::statefulset_replicas(s).to_string())
                .unwrap_or_else(|| "-".into()),
        ],
        wide: vec![
            sts.and_then(|s| s.metadata.name.clone())
                .unwrap_or_else(|| "-".into()),
            restarts(&pods),
        ],
        verdict,
        created: bus.created(),
    }
}

fn source_row(view: &View, es: &Object<EventSource>) -> Row {
    let verdict = health::event_source_verdict(view, es);
    let (bus, events, types) = match &es.watched.object {
        Ok(e) => {
            let mut names: Vec<&str> = e.spec.event_names().into_iter().map(|(_, n)| n).collect();
            names.sort_unstable();
            let mut kinds: Vec<&str> = e.spec.event_names().into_iter().map(|(k, _)| k).collect();
            kinds.sort_unstable();
            kinds.dedup();
            (
                health::bus_name(&e.spec.event_bus_name).to_string(),
                names.join(","),
                kinds.join(","),
            )
        }
        Err(_) => ("-".into(), "-".into(), "-".into()),
    };
    let d = health::deployment_of(view, es.namespace(), labels::EVENT_SOURCE, es.name());
    let pods = health::pods_of(view, es.namespace(), labels::EVENT_SOURCE, es.name());
    let service = view
        .services
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(es.namespace()))
        .find(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::EVENT_SOURCE))
                .map(String::as_str)
                == Some(es.name())
        })
        .and_then(|s| s.metadata.name.clone())
        .unwrap_or_else(|| "<none>".into());
    Row {
        namespace: es.namespace().into(),
        name: es.name().into(),
        cells: vec![
            bus,
            events,
            d.map(|d| health::deployment_replicas(d).to_string())
                .unwrap_or_else(|| "-".into()),
        ],
        wide: vec![types, restarts(&pods), service],
        verdict,
        created: es.created(),
    }
}

/// The newest trigger Event regarding a Sensor: its time and whether it was a success.
pub fn last_trigger_event<'a>(
    events: &'a [KubeEvent],
    namespace: &str,
    sensor: &str,
) -> Option<(&'a KubeEvent, DateTime<Utc>)> {
    events
        .iter()
        .filter(|e| e.metadata.namespace.as_deref() == Some(namespace))
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("Sensor") && r.name.as_deref() == Some(sensor)
            })
        })
        .filter(|e| {
            matches!(
                e.reason.as_deref(),
                Some(
                    reasons::TRIGGER_SUCCEEDED
                        | reasons::TRIGGER_FAILED
                        | reasons::TRIGGER_SENT_TO_DLQ
                )
            )
        })
        .filter_map(|e| event_time(e).map(|t| (e, t)))
        .max_by_key(|(_, t)| *t)
}

/// When an Event last happened: its series' last observation, else its time.
pub fn event_time(e: &KubeEvent) -> Option<DateTime<Utc>> {
    e.series
        .as_ref()
        .and_then(|s| online::chrono_time(&s.last_observed_time.0))
        .or_else(|| {
            e.event_time
                .as_ref()
                .and_then(|t| online::chrono_time(&t.0))
        })
        .or_else(|| {
            e.deprecated_last_timestamp
                .as_ref()
                .and_then(|t| online::chrono_time(&t.0))
        })
        .or_else(|| {
            e.metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| online::chrono_time(&t.0))
        })
}

fn sensor_row(view: &View, sensor: &Object<Sensor>) -> Row {
    let verdict = health::sensor_verdict(view, sensor);
    let (bus, deps, triggers, dep_names, trigger_names) = match &sensor.watched.object {
        Ok(s) => (
            health::bus_name(&s.spec.event_bus_name).to_string(),
            s.spec.dependencies.len().to_string(),
            s.spec.triggers.len().to_string(),
            s.spec
                .dependencies
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            s.spec
                .triggers
                .iter()
                .filter_map(|t| t.template.as_ref().map(|t| t.name.as_str()))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Err(_) => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
    };
    let d = health::deployment_of(view, sensor.namespace(), labels::SENSOR, sensor.name());
    let pods = health::pods_of(view, sensor.namespace(), labels::SENSOR, sensor.name());
    let last = match last_trigger_event(&view.events, sensor.namespace(), sensor.name()) {
        Some((e, t)) => format!(
            "{} ago ({})",
            age(Some(t), view.now),
            if e.reason.as_deref() == Some(reasons::TRIGGER_SUCCEEDED) {
                "ok"
            } else {
                "failed"
            }
        ),
        None => "<none>".into(),
    };
    Row {
        namespace: sensor.namespace().into(),
        name: sensor.name().into(),
        cells: vec![
            bus,
            deps,
            triggers,
            d.map(|d| health::deployment_replicas(d).to_string())
                .unwrap_or_else(|| "-".into()),
            last,
        ],
        wide: vec![dep_names, trigger_names, restarts(&pods)],
        verdict,
        created: sensor.created(),
    }
}

/// The objects of `kind` as stored: one object when `name` is given, else a kubectl `List`.
pub fn documents(view: &View, kind: Kind, name: Option<&str>) -> Option<Value> {
    let raws: Vec<(&str, &Value)> = match kind {
        Kind::EventBus => view.buses.iter().map(|o| (o.name(), &o.raw)).collect(),
        Kind::EventSource => view.sources.iter().map(|o| (o.name(), &o.raw)).collect(),
        Kind::Sensor => view.sensors.iter().map(|o| (o.name(), &o.raw)).collect(),
    };
    match name {
        Some(n) => raws
            .into_iter()
            .find(|(name, _)| *name == n)
            .map(|(_, v)| v.clone()),
        None => Some(json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": raws.into_iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "metadata": {"resourceVersion": ""},
        })),
    }
}

/// Prints a document as JSON or YAML.
pub fn print_document(
    value: &Value,
    format: OutputFormat,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Yaml => write!(out, "{}", serde_yaml_ng::to_string(value)?)?,
        _ => writeln!(out, "{}", serde_json::to_string_pretty(value)?)?,
    }
    Ok(())
}

fn not_found(kind: Kind, name: &str) -> String {
    format!(
        "Error from server (NotFound): {}.argoproj.io \"{name}\" not found",
        kind.plural()
    )
}

/// Runs `get`.
pub async fn run(
    client: &Client,
    scope: &Scope,
    args: &GetArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let view = online::fetch_view(client, scope).await?;
    let name = args.name.as_deref();
    let all = matches!(scope, Scope::All);
    let broken = match args.output {
        OutputFormat::Json | OutputFormat::Yaml => match documents(&view, args.kind, name) {
            Some(doc) => {
                print_document(&doc, args.output, out)?;
                table(&view, args.kind, name, false, all).1
            }
            None => {
                writeln!(err, "{}", not_found(args.kind, name.unwrap_or_default()))?;
                return Ok(EXIT_FINDINGS);
            }
        },
        OutputFormat::Table | OutputFormat::Wide => {
            let (t, broken) = table(
                &view,
                args.kind,
                name,
                args.output == OutputFormat::Wide,
                all,
            );
            if t.rows.is_empty() {
                match name {
                    Some(n) => {
                        writeln!(err, "{}", not_found(args.kind, n))?;
                        return Ok(EXIT_FINDINGS);
                    }
                    None => writeln!(
                        err,
                        "No resources found{}.",
                        scope
                            .namespace()
                            .map(|n| format!(" in {n} namespace"))
                            .unwrap_or_default()
                    )?,
                }
            } else {
                write!(out, "{}", t.render(true))?;
            }
            broken
        }
    };
    out.flush()?;
    if args.watch {
        watch(client, scope, args, out).await?;
    }
    Ok(if broken { EXIT_FINDINGS } else { EXIT_OK })
}

/// What a watch event is about: the namespace and name of an object of the kind.
type Key = (String, String);

/// Prints a row again whenever an object of the kind, or the workload running it, changes
/// (and the row with it), until interrupted.
async fn watch(
    client: &Client,
    scope: &Scope,
    args: &GetArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let resource = match args.kind {
        Kind::EventBus => online::api_resource::<EventBus>(),
        Kind::EventSource => online::api_resource::<EventSource>(),
        Kind::Sensor => online::api_resource::<Sensor>(),
    };
    let objects: Api<DynamicObject> = match scope {
        Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        Scope::All => Api::all_with(client.clone(), &resource),
    };
    let label = match args.kind {
        Kind::EventBus => labels::EVENT_BUS,
        Kind::EventSource => labels::EVENT_SOURCE,
        Kind::Sensor => labels::SENSOR,
    };
    let key_of = |meta: &kube::api::ObjectMeta, by_label: bool| -> Option<Key> {
        let name = if by_label {
            meta.labels.as_ref()?.get(label)?.clone()
        } else {
            meta.name.clone()?
        };
        Some((meta.namespace.clone().unwrap_or_default(), name))
    };
    let selector = watcher::Config::default().labels(label);
    let own = changes(
        watcher(objects, watcher::Config::default()),
        move |o: &DynamicObject| key_of(&o.metadata, false),
    );
    let workloads = match args.kind {
        Kind::EventBus => changes(
            watcher(scoped::<StatefulSet>(client, scope), selector),
            move |o: &StatefulSet| key_of(&o.metadata, true),
        ),
        _ => changes(
            watcher(scoped::<Deployment>(client, scope), selector),
            move |o: &Deployment| key_of(&o.metadata, true),
        ),
    };
    let mut stream = futures::stream::select(own, workloads);
    let all = matches!(scope, Scope::All);
    let mut printed: std::collections::HashMap<Key, Vec<String>> = std::collections::HashMap::new();
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(item) = next else { return Ok(()) };
        let Some((namespace, name)) = item? else {
            continue;
        };
        if args.name.as_ref().is_some_and(|n| *n != name) {
            continue;
        }
        let view = online::fetch_view(client, &Scope::Namespace(namespace.clone())).await?;
        let (mut t, _) = table(
            &view,
            args.kind,
            Some(&name),
            args.output == OutputFormat::Wide,
            all,
        );
        if all {
            for row in &mut t.rows {
                row[0] = namespace.clone();
            }
        }
        let Some(row) = t.rows.first().cloned() else {
            continue;
        };
        let key = (namespace, name.clone());
        if printed.get(&key) == Some(&row) {
            continue;
        }
        printed.insert(key, row);
        if matches!(args.output, OutputFormat::Json | OutputFormat::Yaml) {
            let doc = documents(&view, args.kind, Some(&name)).unwrap_or(Value::Null);
            print_document(&doc, args.output, out)?;
        } else {
            write!(out, "{}", t.render(false))?;
        }
        out.flush()?;
    }
}

fn scoped<K>(client: &Client, scope: &Scope) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match scope {
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        Scope::All => Api::all(client.clone()),
    }
}

/// The keys of objects changed after the watch's initial listing (which `get` already printed).
fn changes<K, S>(
    stream: S,
    key: impl Fn(&K) -> Option<Key> + Send + 'static,
) -> futures::stream::BoxStream<'static, Result<Option<Key>, watcher::Error>>
where
    K: Send + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let mut synced = false;
    stream
        .map(move |event| {
            Ok(match event? {
                watcher::Event::InitDone => {
                    synced = true;
                    None
                }
                watcher::Event::Apply(o) | watcher::Event::Delete(o) if synced => key(&o),
                _ => None,
            })
        })
        .boxed()
}

#[cfg(test)]
mod tests;
