//! `send EVENTSOURCE EVENT`: delivers a test event the way its producer would — for
//! webhook-family sources an HTTP request to the event's listener, through the API server's
//! proxy to its Service (or, without a Service, to a ready pod); for every other source onto the
//! bus subject, published by the EventSource pod as that source would (its admin server's
//! `POST /publish`, through the pod proxy) — then shows what each Sensor listening to that
//! event decided, read from the Sensor pods' `/decisions` through the pod proxy.

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use argo_events_api::diagnostics::{self, Decisions, TriggerOutcome, Verdict};
use argo_events_api::{EventSource, Sensor};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::client::Body;
use serde_json::json;

use crate::cli::SendArgs;
use crate::health::{self, labels};
use crate::listen::{self, Listener};
use crate::online::{self, Object, View};
use crate::{EXIT_FINDINGS, EXIT_OK};

/// The API server path that reaches the listener: the Service's proxy when a Service of the
/// EventSource exposes the port, else a ready pod's.
pub fn proxy_path(
    view: &View,
    es: &Object<EventSource>,
    listener: &Listener,
) -> Result<String, String> {
    let ns = es.namespace();
    let port: i32 = listener
        .port
        .parse()
        .map_err(|_| format!("the event's port {:?} is not a number", listener.port))?;
    let service = view
        .services
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(ns))
        .find(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::EVENT_SOURCE))
                .map(String::as_str)
                == Some(es.name())
        });
    if let Some(port) = service.and_then(|s| service_port(s, port)) {
        let name = service
            .and_then(|s| s.metadata.name.as_deref())
            .unwrap_or_default();
        return Ok(format!(
            "/api/v1/namespaces/{ns}/services/{name}:{port}/proxy{}",
            listener.endpoint
        ));
    }
    let pods = health::pods_of(view, ns, labels::EVENT_SOURCE, es.name());
    let pod = pods
        .iter()
        .find(|p| health::pod_state(p).ready)
        .ok_or_else(|| {
            format!(
                "EventSource {} has no ready pod (and no Service exposing port {port})",
                es.name()
            )
        })?;
    Ok(format!(
        "/api/v1/namespaces/{ns}/pods/{}:{port}/proxy{}",
        pod.metadata.name.as_deref().unwrap_or_default(),
        listener.endpoint
    ))
}

/// The Service port whose target is the listener's port.
fn service_port(s: &Service, container_port: i32) -> Option<i32> {
    s.spec.as_ref()?.ports.as_ref()?.iter().find_map(|p| {
        let target = match &p.target_port {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i)) => *i,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(_)) => {
                return None;
            }
            None => p.port,
        };
        (target == container_port).then_some(p.port)
    })
}

/// `(sensor, dependency)` pairs reading the event: Sensors of the namespace on the EventSource's
/// bus with a dependency naming it (a Sensor on another bus never sees it).
pub fn listeners<'a>(
    view: &'a View,
    namespace: &str,
    es: &str,
    event: &str,
) -> Vec<(&'a Object<Sensor>, String)> {
    let bus = view
        .sources
        .iter()
        .find(|e| e.namespace() == namespace && e.name() == es)
        .and_then(|e| e.watched.object.as_ref().ok())
        .map(|e| health::bus_name(&e.spec.event_bus_name).to_string())
        .unwrap_or_else(|| "default".into());
    let mut out = Vec::new();
    for s in view.sensors.iter().filter(|s| s.namespace() == namespace) {
        if let Ok(sensor) = &s.watched.object {
            if health::bus_name(&sensor.spec.event_bus_name) != bus {
                continue;
            }
            for d in sensor
                .spec
                .dependencies
                .iter()
                .filter(|d| d.event_source_name == es && d.event_name == event)
            {
                out.push((s, d.name.clone()));
            }
        }
    }
    out
}

fn body_of(data: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match data {
        None => Ok(b"{}".to_vec()),
        Some(d) => match d.strip_prefix('@') {
            Some(path) => std::fs::read(path).with_context(|| format!("reading {path}")),
            None => Ok(d.as_bytes().to_vec()),
        },
    }
}

/// What one Sensor decided after the send.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorAnswer {
    /// Sensor name.
    pub sensor: String,
    /// The dependency reading the event.
    pub dependency: String,
    /// Its verdicts newer than the send.
    pub verdicts: Vec<Verdict>,
    /// Trigger outcomes newer than the send, by trigger.
    pub triggers: Vec<(String, TriggerOutcome)>,
    /// Why the Sensor could not be asked.
    pub error: Option<String>,
}

/// What is new in `decisions` for `dependency` since `sent`.
pub fn answer_since(
    sensor: &str,
    dependency: &str,
    decisions: &Decisions,
    sent: DateTime<Utc>,
) -> SensorAnswer {
    let verdicts = decisions
        .dependencies
        .iter()
        .filter(|d| d.name == dependency)
        .flat_map(|d| d.recent.iter().filter(|v| v.time >= sent).cloned())
        .collect();
    let triggers = decisions
        .triggers
        .iter()
        .flat_map(|t| {
            t.recent
                .iter()
                .filter(|o| o.time >= sent)
                .map(|o| (t.name.clone(), o.clone()))
        })
        .collect();
    SensorAnswer {
        sensor: sensor.to_string(),
        dependency: dependency.to_string(),
        verdicts,
        triggers,
        error: None,
    }
}

fn ready_pod<'a>(view: &'a View, s: &Object<Sensor>) -> Option<&'a Pod> {
    health::pods_of(view, s.namespace(), labels::SENSOR, s.name())
        .into_iter()
        .find(|p| health::pod_state(p).ready)
}

/// What was sent where, and the answer.
pub struct Delivery {
    /// The HTTP method.
    pub method: String,
    /// The API server path (through a proxy).
    pub path: String,
    /// The answer's status.
    pub status: http::StatusCode,
    /// The answer's body.
    pub text: String,
}

/// An HTTP request to the event's listener, through the Service's or a pod's proxy.
async fn to_listener(
    client: &Client,
    view: &View,
    es: &Object<EventSource>,
    listener: &Listener,
    body: Vec<u8>,
    headers: &[(String, String)],
) -> anyhow::Result<Delivery> {
    let path = proxy_path(view, es, listener).map_err(anyhow::Error::msg)?;
    let mut request = http::Request::builder()
        .method(listener.method.as_str())
        .uri(&path);
    for (k, v) in headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let request = request
        .body(Body::from(body))
        .context("building the request")?;
    let response = client
        .send(request)
        .await
        .with_context(|| format!("{} {path}", listener.method))?;
    let status = response.status();
    let text = response
        .into_body()
        .collect_bytes()
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(Delivery {
        method: listener.method.clone(),
        path,
        status,
        text,
    })
}

/// Onto the bus subject, as the source would publish it: the EventSource pod's
/// `POST /publish?event=NAME` (through the pod proxy), on the first ready pod that runs the
/// events (a standby under leader election answers 409: the next one is asked).
async fn onto_the_bus(
    client: &Client,
    view: &View,
    es: &Object<EventSource>,
    event: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> anyhow::Result<Delivery> {
    let pods: Vec<&Pod> = health::pods_of(view, es.namespace(), labels::EVENT_SOURCE, es.name())
        .into_iter()
        .filter(|p| health::pod_state(p).ready)
        .collect();
    if pods.is_empty() {
        anyhow::bail!(
            "EventSource {} has no ready pod to publish through",
            es.name()
        );
    }
    let path = format!(
        "{}?event={}",
        diagnostics::PUBLISH_PATH,
        crate::replay::encode(event)
    );
    let mut last = None;
    for pod in pods {
        let (status, text) = online::pod_proxy_send(
            client,
            http::Method::POST,
            pod,
            &path,
            body.clone(),
            content_type,
        )
        .await?;
        let full = format!(
            "/api/v1/namespaces/{}/pods/{}:{}/proxy{path}",
            es.namespace(),
            pod.metadata.name.as_deref().unwrap_or_default(),
            online::admin_port(pod)
        );
        let delivery = Delivery {
            method: "POST".into(),
            path: full,
            status,
            text,
        };
        if status != http::StatusCode::CONFLICT {
            return Ok(delivery);
        }
        last = Some(delivery);
    }
    Ok(last.expect("invariant: at least one pod was asked"))
}

/// Runs `send`.
pub async fn run(
    client: &Client,
    namespace: &str,
    args: &SendArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let wait = argo_events_api::duration::parse_go_duration(&args.wait)
        .map_err(|e| anyhow::anyhow!("--wait {:?}: {e}", args.wait))?;
    let view = online::fetch_view(client, &online::Scope::Namespace(namespace.to_string())).await?;
    let Some(es) = view.sources.iter().find(|e| e.name() == args.event_source) else {
        writeln!(
            err,
            "Error from server (NotFound): eventsources.argoproj.io \"{}\" not found in {namespace}",
            args.event_source
        )?;
        return Ok(EXIT_FINDINGS);
    };
    let spec = es
        .watched
        .object
        .as_ref()
        .map_err(|e| anyhow::anyhow!("EventSource {}: {e}", es.name()))?;
    let body = body_of(args.data.as_deref())?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("-H {h:?}: expected K:V"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let sent = Utc::now();
    let delivery = match listen::listener_of(&spec.spec, &args.event) {
        Some(listener) => to_listener(client, &view, es, &listener, body, &headers).await?,
        None => {
            if listen::kind_of(&spec.spec, &args.event).is_none() {
                writeln!(err, "EventSource {} has no event {}", es.name(), args.event)?;
                return Ok(EXIT_FINDINGS);
            }
            let content_type = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.as_str());
            onto_the_bus(client, &view, es, &args.event, body, content_type).await?
        }
    };
    let Delivery {
        method,
        path,
        status,
        text,
    } = delivery;
    let ok = status.is_success();

    let mut answers = Vec::new();
    if ok {
        let readers = listeners(&view, namespace, es.name(), &args.event);
        let deadline = tokio::time::Instant::now() + wait;
        for (sensor, dep) in readers {
            let answer = match ready_pod(&view, sensor) {
                None => SensorAnswer {
                    sensor: sensor.name().into(),
                    dependency: dep.clone(),
                    verdicts: Vec::new(),
                    triggers: Vec::new(),
                    error: Some("no ready pod".into()),
                },
                Some(pod) => poll(client, pod, sensor.name(), &dep, sent, deadline).await,
            };
            answers.push(answer);
        }
    }
    if args.output == crate::cli::TextOrJson::Json {
        let doc = json!({
            "request": {"method": method, "path": path},
            "response": {"status": status.as_u16(), "body": text},
            "sensors": answers,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        writeln!(
            out,
            "{} {} → {}{}",
            method,
            path,
            status,
            if text.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", text.trim())
            }
        )?;
        for a in &answers {
            print_answer(a, out)?;
        }
        if ok && answers.is_empty() {
            writeln!(
                out,
                "no Sensor in {namespace} depends on {}/{}",
                es.name(),
                args.event
            )?;
        }
    }
    Ok(if ok && answers.iter().all(|a| a.error.is_none()) {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// Polls a Sensor pod until its dependency has a verdict newer than `sent` and every trigger
/// it reached has an outcome, or until `deadline`.
async fn poll(
    client: &Client,
    pod: &Pod,
    sensor: &str,
    dependency: &str,
    sent: DateTime<Utc>,
    deadline: tokio::time::Instant,
) -> SensorAnswer {
    let mut last;
    loop {
        match online::pod_admin_json::<Decisions>(client, pod, diagnostics::DECISIONS_PATH).await {
            Ok(d) => {
                let a = answer_since(sensor, dependency, &d, sent);
                let settled = !a.verdicts.is_empty()
                    && (a.verdicts.iter().all(|v| !v.passed) || !a.triggers.is_empty());
                if settled {
                    return a;
                }
                last = Some(a);
            }
            Err(e) => {
                last = Some(SensorAnswer {
                    sensor: sensor.into(),
                    dependency: dependency.into(),
                    verdicts: Vec::new(),
                    triggers: Vec::new(),
                    error: Some(format!("{e:#}")),
                })
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let mut a = last.unwrap_or_else(|| SensorAnswer {
                sensor: sensor.into(),
                dependency: dependency.into(),
                verdicts: Vec::new(),
                triggers: Vec::new(),
                error: None,
            });
            if a.verdicts.is_empty() && a.error.is_none() {
                a.error = Some("no decision within --wait".into());
            }
            return a;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print_answer(a: &SensorAnswer, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "Sensor {} (dependency {}):", a.sensor, a.dependency)?;
    if let Some(e) = &a.error {
        writeln!(out, "  could not tell: {e}")?;
    }
    for v in &a.verdicts {
        writeln!(
            out,
            "  dependency {}: {} — {}",
            a.dependency,
            if v.passed { "passed" } else { "rejected" },
            v.reason
        )?;
    }
    for (t, o) in &a.triggers {
        let word = match o.result {
            diagnostics::TriggerResult::Succeeded => "succeeded",
            diagnostics::TriggerResult::Failed => "failed",
            diagnostics::TriggerResult::NotFired => "did not fire",
        };
        writeln!(out, "  trigger {t}: {word} — {}", o.message)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
