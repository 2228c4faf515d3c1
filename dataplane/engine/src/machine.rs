//! The Sensor as a state machine: events in, verdicts and commands out. It performs no I/O;
//! time is a parameter and the condition state is a serializable value the caller keeps.

use std::collections::BTreeMap;

use argo_events_api::{EventDependency, Sensor, Trigger};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conditions::Conditions;
use crate::filter::{self, CompiledFilters};
use crate::jq::JqProgram;
use crate::lua::LuaScript;
use crate::render::{self, Rendered, SourceLoader};
use crate::timefilter::parse_timezone;
use argo_events_api::cloudevent::Event;

/// What the caller must do after an event or a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Execute a trigger with these events (dependency name → event), rendered as given.
    Fire {
        /// Trigger name.
        trigger: String,
        /// The events that satisfied its conditions.
        events: BTreeMap<String, Event>,
        /// The rendered action.
        rendered: Box<Rendered>,
    },
    /// The trigger's conditions were met but it cannot be rendered; count it as a failed run.
    Fail {
        /// Trigger name.
        trigger: String,
        /// Why.
        error: String,
    },
    /// The trigger's stored condition state changed; persist [`State`].
    Persist {
        /// Trigger name.
        trigger: String,
    },
    /// Stored condition state of a trigger was dropped by `conditionsReset`.
    Reset {
        /// Trigger name.
        trigger: String,
        /// Which schedule did it.
        reason: String,
    },
    /// The event is fully handled once the commands before this one have been carried out.
    Ack,
}

/// Stored partial state of every trigger (dependency name → latest passing event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Per trigger name.
    pub triggers: BTreeMap<String, TriggerState>,
}

/// Stored partial state of one trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerState {
    /// Latest passing event per dependency, with when it was stored.
    pub events: BTreeMap<String, StoredEvent>,
}

/// An event held until the rest of a trigger's conditions are met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The event (after its dependency's transform).
    pub event: Event,
    /// When it was stored.
    pub stored_at: DateTime<Utc>,
}

/// What one dependency made of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DependencyVerdict {
    /// Dependency name.
    pub name: String,
    /// Whether the event passed its transform and filters.
    pub matched: bool,
    /// Why, for people.
    pub reason: String,
}

/// What happened to a trigger on one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerVerdict {
    /// Trigger name.
    pub name: String,
    /// Whether it fired.
    pub fired: bool,
    /// The rendered action when it fired.
    pub rendered: Option<Value>,
    /// Why, for people.
    pub reason: String,
}

/// The result of one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// One verdict per dependency the event was routed to.
    pub dependencies: Vec<DependencyVerdict>,
    /// One verdict per trigger the event concerned.
    pub triggers: Vec<TriggerVerdict>,
    /// What the caller must do, in order; always ends with [`Command::Ack`].
    pub commands: Vec<Command>,
}

/// An event that cannot be routed as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no dependency named {name:?}; the Sensor's dependencies are: {known}")]
pub struct UnknownDependency {
    /// The name asked for.
    pub name: String,
    /// The names that exist.
    pub known: String,
}

enum Transform {
    Jq(JqProgram),
    Lua(LuaScript),
}

struct CompiledDependency {
    spec: EventDependency,
    transform: Result<Option<Transform>, String>,
    filters: Result<Option<CompiledFilters>, String>,
}

struct ResetSchedule {
    cron: argo_events_api::cron::CronSchedule,
    tz: Tz,
    text: String,
}

struct CompiledTrigger {
    name: String,
    spec: Trigger,
    expression: String,
    conditions: Result<Conditions, String>,
    resets: Result<Vec<ResetSchedule>, String>,
}

/// One Sensor, compiled: filters, transforms, conditions and schedules are parsed once.
pub struct SensorMachine {
    dependencies: Vec<CompiledDependency>,
    triggers: Vec<CompiledTrigger>,
}

impl SensorMachine {
    /// Compiles a Sensor. Problems do not stop compilation: a dependency or trigger that does
    /// not compile rejects every event with the reason (see [`SensorMachine::problems`]).
    pub fn new(sensor: &Sensor) -> SensorMachine {
        let dependencies = sensor
            .spec
            .dependencies
            .iter()
            .map(|d| CompiledDependency {
                spec: d.clone(),
                transform: compile_transform(d),
                filters: filter::compile(d),
            })
            .collect();
        let dep_names: Vec<&str> = sensor
            .spec
            .dependencies
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        let triggers = sensor
            .spec
            .triggers
            .iter()
            .enumerate()
            .map(|(i, t)| compile_trigger(i, t, &dep_names))
            .collect();
        SensorMachine {
            dependencies,
            triggers,
        }
    }

    /// Everything that did not compile, as `what: why` lines.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.dependencies {
            if let Err(e) = &d.transform {
                out.push(format!("dependency {:?}: transform: {e}", d.spec.name));
            }
            if let Err(e) = &d.filters {
                out.push(format!("dependency {:?}: {e}", d.spec.name));
            }
        }
        for t in &self.triggers {
            if let Err(e) = &t.conditions {
                out.push(format!("trigger {:?}: {e}", t.name));
            }
            if let Err(e) = &t.resets {
                out.push(format!("trigger {:?}: conditionsReset: {e}", t.name));
            }
        }
        out
    }

    /// Names of the triggers, in order.
    pub fn trigger_names(&self) -> Vec<&str> {
        self.triggers.iter().map(|t| t.name.as_str()).collect()
    }

    /// Handles one event at `now`. With `dependency` the event goes to that dependency only;
    /// without, to every dependency whose `eventSourceName`/`eventName` equal its
    /// `source`/`subject`, as the bus routes it.
    pub fn on_event(
        &self,
        state: &mut State,
        event: &Event,
        dependency: Option<&str>,
        now: DateTime<Utc>,
        loader: &dyn SourceLoader,
    ) -> Result<Outcome, UnknownDependency> {
        let targets: Vec<&CompiledDependency> = match dependency {
            Some(name) => vec![
                self.dependencies
                    .iter()
                    .find(|d| d.spec.name == name)
                    .ok_or_else(|| UnknownDependency {
                        name: name.to_owned(),
                        known: self
                            .dependencies
                            .iter()
                            .map(|d| d.spec.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?,
            ],
            None => self
                .dependencies
                .iter()
                .filter(|d| {
                    d.spec.event_source_name == event.source && d.spec.event_name == event.subject
                })
                .collect(),
        };
        let mut outcome = Outcome {
            commands: self.on_tick(state, now),
            ..Outcome::default()
        };
        for dep in targets {
            let (verdict, passed) = evaluate_dependency(dep, event);
            outcome.dependencies.push(verdict);
            if let Some(passed) = passed {
                self.advance_triggers(state, &dep.spec.name, passed, now, loader, &mut outcome);
            }
        }
        outcome.commands.push(Command::Ack);
        Ok(outcome)
    }

    /// Applies `conditionsReset` schedules: stored events older than a schedule tick that has
    /// passed by `now` are dropped (this also covers ticks missed while the Sensor was down).
    pub fn on_tick(&self, state: &mut State, now: DateTime<Utc>) -> Vec<Command> {
        let mut commands = Vec::new();
        for t in &self.triggers {
            let Ok(resets) = &t.resets else { continue };
            let Some(ts) = state.triggers.get_mut(&t.name) else {
                continue;
            };
            let mut reason = None;
            ts.events.retain(|_, stored| {
                let tick = resets.iter().find(|r| {
                    r.cron
                        .next_after(stored.stored_at, r.tz)
                        .is_some_and(|next| next <= now)
                });
                if let Some(r) = tick {
                    reason = Some(format!("conditionsReset {:?} ({}) passed", r.text, r.tz));
                }
                tick.is_none()
            });
            if let Some(reason) = reason {
                commands.push(Command::Reset {
                    trigger: t.name.clone(),
                    reason,
                });
            }
        }
        state.triggers.retain(|_, ts| !ts.events.is_empty());
        commands
    }

    fn advance_triggers(
        &self,
        state: &mut State,
        dep: &str,
        event: Event,
        now: DateTime<Utc>,
        loader: &dyn SourceLoader,
        outcome: &mut Outcome,
    ) {
        for t in &self.triggers {
            let conditions = match &t.conditions {
                Ok(c) => c,
                Err(e) => {
                    outcome
                        .triggers
                        .push(verdict(t, false, None, format!("never fires: {e}")));
                    continue;
                }
            };
            if !conditions.names().contains(&dep) {
                continue;
            }
            let events = if !conditions.has_and() {
                BTreeMap::from([(dep.to_owned(), event.clone())])
            } else {
                let ts = state.triggers.entry(t.name.clone()).or_default();
                ts.events.insert(
                    dep.to_owned(),
                    StoredEvent {
                        event: event.clone(),
                        stored_at: now,
                    },
                );
                let met = |n: &str| ts.events.contains_key(n);
                if let Some(waiting) = conditions.remaining(&met) {
                    outcome.commands.push(Command::Persist {
                        trigger: t.name.clone(),
                    });
                    let reason = format!("conditions {:?}: waiting for {waiting}", t.expression);
                    outcome.triggers.push(verdict(t, false, None, reason));
                    continue;
                }
                let taken = std::mem::take(&mut ts.events);
                state.triggers.remove(&t.name);
                outcome.commands.push(Command::Persist {
                    trigger: t.name.clone(),
                });
                taken.into_iter().map(|(k, v)| (k, v.event)).collect()
            };
            match render::render(&t.spec, &events, loader) {
                Ok(rendered) => {
                    let reason = format!(
                        "conditions {:?} met by {}",
                        t.expression,
                        events.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                    outcome
                        .triggers
                        .push(verdict(t, true, Some(rendered.output.clone()), reason));
                    outcome.commands.push(Command::Fire {
                        trigger: t.name.clone(),
                        events,
                        rendered: Box::new(rendered),
                    });
                }
                Err(error) => {
                    let reason = format!(
                        "conditions {:?} met, but the trigger cannot be rendered: {error}",
                        t.expression
                    );
                    outcome.triggers.push(verdict(t, false, None, reason));
                    outcome.commands.push(Command::Fail {
                        trigger: t.name.clone(),
                        error,
                    });
                }
            }
        }
    }
}

fn verdict(
    t: &CompiledTrigger,
    fired: bool,
    rendered: Option<Value>,
    reason: String,
) -> TriggerVerdict {
    TriggerVerdict {
        name: t.name.clone(),
        fired,
        rendered,
        reason,
    }
}

fn compile_transform(dep: &EventDependency) -> Result<Option<Transform>, String> {
    let Some(t) = &dep.transform else {
        return Ok(None);
    };
    if !t.jq.is_empty() {
        return JqProgram::compile(&t.jq).map(|p| Some(Transform::Jq(p)));
    }
    if !t.script.is_empty() {
        return LuaScript::compile(&t.script).map(|s| Some(Transform::Lua(s)));
    }
    Ok(None)
}

fn compile_trigger(index: usize, trigger: &Trigger, deps: &[&str]) -> CompiledTrigger {
    let template = trigger.template.as_ref();
    let name = template
        .map(|t| t.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("triggers[{index}]"));
    let written = template.map(|t| t.conditions.trim()).unwrap_or_default();
    let (expression, conditions) = if written.is_empty() {
        let all =
            Conditions::all_of(deps).ok_or_else(|| "the Sensor has no dependencies".to_owned());
        (deps.join(" && "), all)
    } else {
        let parsed = Conditions::parse(written).map_err(|e| e.to_string()).and_then(|c| {
            c.resolve(deps).map_err(|unknown| {
                format!(
                    "conditions {written:?} name {unknown:?}, which is not a dependency of this Sensor ({})",
                    deps.join(", ")
                )
            })
        });
        (written.to_owned(), parsed)
    };
    let resets = template
        .map(|t| t.conditions_reset.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.by_time.as_ref())
        .map(|by_time| {
            let cron = argo_events_api::cron::CronSchedule::parse(&by_time.cron)
                .map_err(|e| format!("cron {:?}: {e}", by_time.cron))?;
            let tz = parse_timezone(&by_time.timezone)?;
            Ok(ResetSchedule {
                cron,
                tz,
                text: by_time.cron.clone(),
            })
        })
        .collect();
    CompiledTrigger {
        name,
        spec: trigger.clone(),
        expression,
        conditions,
        resets,
    }
}

/// Runs a dependency's transform and filters; returns the verdict and, when it passed, the
/// (transformed) event.
fn evaluate_dependency(
    dep: &CompiledDependency,
    event: &Event,
) -> (DependencyVerdict, Option<Event>) {
    let name = dep.spec.name.clone();
    let reject = |reason: String| {
        (
            DependencyVerdict {
                name: name.clone(),
                matched: false,
                reason,
            },
            None,
        )
    };
    let event = match &dep.transform {
        Err(e) => return reject(format!("transform does not compile: {e}")),
        Ok(None) => event.clone(),
        Ok(Some(t)) => match apply_transform(t, event) {
            Ok(e) => e,
            Err(e) => return reject(format!("transform failed: {e}")),
        },
    };
    let verdict = match &dep.filters {
        Err(e) => return reject(format!("filters do not compile: {e}")),
        Ok(None) => filter::Verdict {
            passed: true,
            reasons: Vec::new(),
        },
        Ok(Some(f)) => f.evaluate(&event),
    };
    if !verdict.passed {
        return reject(verdict.reasons.join("; "));
    }
    let reason = if verdict.reasons.is_empty() {
        if dep.filters.as_ref().is_ok_and(Option::is_some) {
            "passed its filters".to_owned()
        } else {
            "no filters".to_owned()
        }
    } else {
        format!("passed ({})", verdict.reasons.join("; "))
    };
    (
        DependencyVerdict {
            name,
            matched: true,
            reason,
        },
        Some(event),
    )
}

fn apply_transform(t: &Transform, event: &Event) -> Result<Event, String> {
    let data: Value =
        serde_json::from_slice(&event.data).map_err(|e| format!("event data is not JSON: {e}"))?;
    let out = match t {
        Transform::Jq(p) => p.apply(&data)?,
        Transform::Lua(s) => s.transform(&data)?,
    };
    let mut transformed = event.clone();
    transformed.data = serde_json::to_vec(&out).map_err(|e| e.to_string())?;
    Ok(transformed)
}

#[cfg(test)]
mod tests;
