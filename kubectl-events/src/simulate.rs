//! `simulate`: feed events to a Sensor offline, with the runtime's engine, and say what each
//! dependency and trigger made of them.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use argo_events_api::Sensor;
use argo_events_engine::machine::{DependencyVerdict, TriggerVerdict};
use argo_events_engine::render::SourceLoader;
use argo_events_engine::{Event, SensorMachine, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::cli::{SimulateArgs, TextOrJson};
use crate::sensorfile::{self, FileSourceLoader};

/// One input event, optionally pinned to a dependency.
#[derive(Debug, Clone)]
pub struct Input {
    /// `DEP=` given on the command line.
    pub dependency: Option<String>,
    /// The event.
    pub event: Event,
}

/// The report `simulate -o json` prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// One entry per input event, in order.
    pub events: Vec<EventReport>,
    /// One entry per trigger of the Sensor, in order.
    pub triggers: Vec<TriggerVerdict>,
}

/// What the dependencies made of one event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventReport {
    /// 0-based position of the event.
    pub index: usize,
    /// Verdicts of the dependencies the event was routed to.
    pub dependencies: Vec<DependencyVerdict>,
}

/// Runs events through a Sensor. An event without `time` gets `now`; the engine's clock for
/// each event is the event's time, so time filters and resets behave as they would live.
pub fn simulate(
    sensor: &Sensor,
    inputs: &[Input],
    now: DateTime<Utc>,
    loader: &dyn SourceLoader,
) -> anyhow::Result<Report> {
    let machine = SensorMachine::new(sensor);
    let mut state = State::default();
    let names: Vec<String> = machine
        .trigger_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut last: Vec<Option<TriggerVerdict>> = vec![None; names.len()];
    let mut fired: Vec<Option<TriggerVerdict>> = vec![None; names.len()];
    let mut events = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let mut event = input.event.clone();
        let at = *event.time.get_or_insert(now);
        let outcome = machine
            .on_event(&mut state, &event, input.dependency.as_deref(), at, loader)
            .with_context(|| format!("event {index}"))?;
        for v in outcome.triggers {
            if let Some(i) = names.iter().position(|n| *n == v.name) {
                if v.fired {
                    fired[i] = Some(v.clone());
                }
                last[i] = Some(v);
            }
        }
        let mut dependencies = outcome.dependencies;
        if dependencies.is_empty() {
            dependencies.push(DependencyVerdict {
                name: String::new(),
                matched: false,
                reason: format!(
                    "no dependency listens to eventSourceName {:?} / eventName {:?}",
                    event.source, event.subject
                ),
            });
        }
        events.push(EventReport {
            index,
            dependencies,
        });
    }
    let problems = machine.problems();
    let triggers = names
        .iter()
        .enumerate()
        .map(|(i, name)| match (&fired[i], &last[i]) {
            (Some(f), Some(l)) if !l.fired => TriggerVerdict {
                reason: format!("{}; afterwards: {}", f.reason, l.reason),
                ..f.clone()
            },
            (Some(f), _) => f.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => TriggerVerdict {
                name: name.clone(),
                fired: false,
                rendered: None,
                reason: problems
                    .iter()
                    .find(|p| p.starts_with(&format!("trigger {name:?}")))
                    .cloned()
                    .unwrap_or_else(|| {
                        "no event passed the dependencies its conditions name".into()
                    }),
            },
        })
        .collect();
    Ok(Report { events, triggers })
}

/// Splits `DEP=FILE`; `DEP=` counts only when DEP is a dependency of the Sensor, so paths
/// holding `=` still work.
pub fn split_event_arg<'a>(arg: &'a str, sensor: &Sensor) -> (Option<&'a str>, &'a str) {
    if let Some((dep, file)) = arg.split_once('=')
        && sensor.spec.dependencies.iter().any(|d| d.name == dep)
    {
        return (Some(dep), file);
    }
    (None, arg)
}

/// Runs `simulate`.
pub fn run(args: &SimulateArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    let sensor = sensorfile::load_sensor(&args.file)?;
    let mut inputs = Vec::new();
    for arg in &args.events {
        let (dep, file) = split_event_arg(arg, &sensor);
        for event in sensorfile::load_events(Path::new(file))? {
            inputs.push(Input {
                dependency: dep.map(str::to_owned),
                event,
            });
        }
    }
    let now = match &args.now {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--now {t:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let loader = FileSourceLoader {
        base: args
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let report = simulate(&sensor, &inputs, now, &loader)?;
    match args.output {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        TextOrJson::Text => {
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            write_text(&report, &inputs, colour, out)?;
        }
    }
    Ok(crate::EXIT_OK)
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// The text form: one line per verdict, rendered actions as indented YAML.
pub fn write_text(
    report: &Report,
    inputs: &[Input],
    colour: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for (e, input) in report.events.iter().zip(inputs) {
        writeln!(
            out,
            "event {} ({}/{}):",
            e.index, input.event.source, input.event.subject
        )?;
        for d in &e.dependencies {
            let mark = if d.matched {
                paint(colour, "32", "✓")
            } else {
                paint(colour, "31", "✗")
            };
            let name = if d.name.is_empty() {
                "-"
            } else {
                d.name.as_str()
            };
            writeln!(out, "  {mark} dependency {name}: {}", d.reason)?;
        }
    }
    for t in &report.triggers {
        let mark = if t.fired {
            paint(colour, "32", "FIRED")
        } else {
            paint(colour, "33", "not fired")
        };
        writeln!(out, "trigger {}: {mark}: {}", t.name, t.reason)?;
        if let Some(rendered) = &t.rendered {
            let yaml = match rendered {
                Value::String(s) => s.clone(),
                other => serde_yaml_ng::to_string(other).unwrap_or_else(|_| other.to_string()),
            };
            for line in yaml.lines() {
                writeln!(out, "    {line}")?;
            }
        }
    }
    Ok(())
}
