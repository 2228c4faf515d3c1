//! `replay SENSOR`: re-delivers events the bus still keeps to one Sensor. The Sensor pod reads
//! them from the stream (without touching its durable consumers) and, for a replay, runs them
//! through its own trigger loops, so only that Sensor sees them again; `--dry-run` fetches
//! them and runs them through the offline engine (`simulate`) instead, changing nothing.

use std::io::Write;

use anyhow::Context as _;
use argo_events_api::Sensor;
use argo_events_api::diagnostics::{ReplayResult, StoredMessages};
use argo_events_engine::render::InlineOnly;
use chrono::Utc;
use kube::Client;

use crate::cli::{ReplayArgs, TextOrJson};
use crate::health::{self, labels};
use crate::online::{self, Object, Scope};
use crate::simulate::{self, Input};
use crate::{EXIT_FINDINGS, EXIT_OK};

/// The query selecting the events: dependency, optional trigger, start and limit.
pub fn query(dependency: &str, args: &ReplayArgs) -> anyhow::Result<String> {
    let mut q = vec![format!("dependency={}", encode(dependency))];
    if let Some(t) = &args.trigger {
        q.push(format!("trigger={}", encode(t)));
    }
    match (&args.since, args.from_seq) {
        (Some(_), Some(_)) => anyhow::bail!("--since and --from-seq exclude each other"),
        (Some(since), None) => {
            let d = argo_events_api::duration::parse_go_duration(since)
                .map_err(|e| anyhow::anyhow!("--since {since:?}: {e}"))?;
            let start =
                Utc::now() - chrono::TimeDelta::from_std(d).context("--since is too long")?;
            q.push(format!(
                "since={}",
                encode(&start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            ));
        }
        (None, Some(seq)) => q.push(format!("fromSeq={seq}")),
        (None, None) => {}
    }
    q.push(format!("limit={}", args.limit));
    Ok(q.join("&"))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The dependencies a replay concerns: `--dependency`, else every dependency (of `--trigger`).
pub fn dependencies(sensor: &Sensor, args: &ReplayArgs) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = match &args.trigger {
        Some(t) => {
            let trigger = sensor
                .spec
                .triggers
                .iter()
                .find(|x| x.template.as_ref().is_some_and(|x| x.name == *t))
                .ok_or_else(|| anyhow::anyhow!("the Sensor has no trigger {t}"))?;
            argo_events_runtime::sensor::trigger_dependencies(sensor, trigger)
        }
        None => sensor
            .spec
            .dependencies
            .iter()
            .map(|d| d.name.clone())
            .collect(),
    };
    match &args.dependency {
        Some(d) if names.contains(d) => Ok(vec![d.clone()]),
        Some(d) => anyhow::bail!(
            "the Sensor has no dependency {d}{}",
            args.trigger
                .as_ref()
                .map(|t| format!(" used by trigger {t}"))
                .unwrap_or_default()
        ),
        None => Ok(names),
    }
}

/// Runs `replay`.
pub async fn run(
    client: &Client,
    namespace: &str,
    args: &ReplayArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let view = online::fetch_view(client, &Scope::Namespace(namespace.to_string())).await?;
    let Some(object) = view.sensors.iter().find(|s| s.name() == args.sensor) else {
        writeln!(
            err,
            "Error from server (NotFound): sensors.argoproj.io \"{}\" not found in {namespace}",
            args.sensor
        )?;
        return Ok(EXIT_FINDINGS);
    };
    let sensor = decoded(object)?;
    let pods = health::pods_of(&view, namespace, labels::SENSOR, object.name());
    let Some(pod) = pods.iter().copied().find(|p| health::pod_state(p).ready) else {
        writeln!(
            err,
            "Sensor {} has no ready pod: the stream is read through it (kubectl argo events why {})",
            object.name(),
            object.name()
        )?;
        return Ok(EXIT_FINDINGS);
    };
    let mut reports = Vec::new();
    let mut inputs = Vec::new();
    for dep in dependencies(sensor, args)? {
        let q = query(&dep, args)?;
        if args.dry_run {
            let text = online::pod_proxy_call(
                client,
                http::Method::GET,
                pod,
                &format!("/bus/messages?{q}"),
            )
            .await?;
            let stored: StoredMessages =
                serde_json::from_str(&text).context("decoding /bus/messages")?;
            if stored.truncated {
                writeln!(
                    err,
                    "dependency {dep}: only the first {} stored events (--limit)",
                    stored.messages.len()
                )?;
            }
            for m in stored.messages {
                if let Some(e) = &m.error {
                    writeln!(
                        err,
                        "stored message #{} of {} skipped: {e}",
                        m.seq, stored.subject
                    )?;
                    continue;
                }
                let events = crate::sensorfile::parse_events(&m.event)
                    .with_context(|| format!("stored message #{} of {}", m.seq, stored.subject))?;
                inputs.extend(events.into_iter().map(|event| Input {
                    dependency: Some(dep.clone()),
                    event,
                }));
            }
        } else {
            let text =
                online::pod_proxy_call(client, http::Method::POST, pod, &format!("/replay?{q}"))
                    .await?;
            let result: ReplayResult = serde_json::from_str(&text).context("decoding /replay")?;
            reports.push(result);
        }
    }
    if args.dry_run {
        let report = simulate::simulate(sensor, &inputs, Utc::now(), &InlineOnly)?;
        match args.output {
            TextOrJson::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
            TextOrJson::Text => {
                writeln!(
                    out,
                    "dry run: {} stored event(s) through Sensor {} offline; nothing was delivered",
                    inputs.len(),
                    object.name()
                )?;
                simulate::write_text(&report, &inputs, false, out)?;
            }
        }
        return Ok(EXIT_OK);
    }
    match args.output {
        TextOrJson::Json => writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?,
        TextOrJson::Text => {
            for r in &reports {
                if r.triggers.is_empty() {
                    writeln!(
                        out,
                        "dependency {}: no trigger uses it; nothing re-delivered",
                        r.dependency
                    )?;
                    continue;
                }
                writeln!(
                    out,
                    "dependency {}: {} event(s) from {} re-delivered to trigger(s) {} of Sensor {}{}",
                    r.dependency,
                    r.replayed,
                    r.subject,
                    r.triggers.join(", "),
                    object.name(),
                    match (r.sequences.first(), r.sequences.last()) {
                        (Some(a), Some(b)) => format!(" (stream #{a}..#{b})"),
                        _ => String::new(),
                    }
                )?;
                if !r.skipped.is_empty() {
                    writeln!(out, "  skipped (not CloudEvents): {:?}", r.skipped)?;
                }
                if r.truncated {
                    writeln!(
                        out,
                        "  more are stored: replay again from #{}",
                        r.sequences.last().map(|s| s + 1).unwrap_or(1)
                    )?;
                }
            }
            writeln!(
                out,
                "see what they did: kubectl argo events why {} -n {namespace}",
                object.name()
            )?;
        }
    }
    Ok(EXIT_OK)
}

fn decoded(object: &Object<Sensor>) -> anyhow::Result<&Sensor> {
    object
        .watched
        .object
        .as_ref()
        .map_err(|e| anyhow::anyhow!("Sensor {}: {e}", object.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::online::fixtures;

    fn args(dep: Option<&str>, trigger: Option<&str>) -> ReplayArgs {
        ReplayArgs {
            sensor: "webhook".into(),
            dependency: dep.map(str::to_owned),
            trigger: trigger.map(str::to_owned),
            since: None,
            from_seq: Some(3),
            limit: 100,
            dry_run: true,
            output: TextOrJson::Text,
        }
    }

    #[test]
    fn the_query_names_the_dependency_start_and_limit() {
        assert_eq!(
            query("test dep", &args(None, None)).expect("ok"),
            "dependency=test%20dep&fromSeq=3&limit=100"
        );
        let mut a = args(None, Some("t/1"));
        a.from_seq = None;
        a.since = Some("1h".into());
        let q = query("d", &a).expect("ok");
        assert!(q.starts_with("dependency=d&trigger=t%2F1&since=20"), "{q}");
        a.from_seq = Some(1);
        assert!(query("d", &a).is_err(), "--since and --from-seq together");
    }

    #[test]
    fn dependencies_follow_the_flags() {
        let view = fixtures::healthy();
        let sensor = decoded(&view.sensors[0]).expect("decodes");
        assert_eq!(
            dependencies(sensor, &args(None, None)).expect("ok"),
            ["test-dep"]
        );
        assert_eq!(
            dependencies(sensor, &args(None, Some("webhook-workflow-trigger"))).expect("ok"),
            ["test-dep"]
        );
        assert!(dependencies(sensor, &args(Some("nope"), None)).is_err());
        assert!(dependencies(sensor, &args(None, Some("nope"))).is_err());
    }
}
