//! Upstream's structural validation of the three kinds (`pkg/reconciler/*/validate.go` and each
//! event source's `validate.go`), collecting *every* error instead of stopping at the first.
//!
//! Each rule keeps upstream's message, so a denial here reads like the condition upstream's
//! controller would set; the path says which field it is about. Where upstream stops checking
//! on purpose (an event source with `tls` set never has its `auth` or `sasl` checked, a policy
//! is only checked for the first action kind that has one) this does the same: collecting
//! every error never means reporting one upstream would not.
//!
//! Nothing here is stricter than upstream: what upstream leaves unchecked (condition names,
//! dependency references in parameters, data filter `type` values, the JSON schema's
//! `required` lists) stays unchecked. One unavoidable difference: the typed objects cannot tell
//! an absent list or map from an empty one, so an explicitly empty one (`payload: []`,
//! `labels: {}`) counts as absent, where upstream's nil checks would accept it.

mod common;
mod cron;
mod eventbus;
mod eventsource;
mod sensor;
mod sources;
mod trigger;

use std::fmt;

use argo_events_api::{EventBus, EventSource, Sensor};

/// One validation failure: the field it is about and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field inside the object, e.g. `spec.triggers[0].template.http.url`.
    pub path: String,
    /// What is wrong, in upstream's words where upstream has some.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every error upstream's EventBus validation would find, one per field.
pub fn validate_event_bus(bus: &EventBus) -> Vec<FieldError> {
    let mut errors = Errors::default();
    eventbus::validate(bus, &mut errors);
    errors.0
}

/// Every error upstream's EventSource validation would find: duplicate event names, mixed
/// update strategies, and each event's source-specific rules.
pub fn validate_event_source(es: &EventSource) -> Vec<FieldError> {
    let mut errors = Errors::default();
    eventsource::validate(es, &mut errors);
    errors.0
}

/// Every error upstream's Sensor validation would find. `bus` is the Sensor's EventBus; `None`
/// means it is not known (as in `lint` without one), and the rules that depend on it are
/// skipped (today one: a NATS Streaming bus allows each EventSource event only once).
pub fn validate_sensor(sensor: &Sensor, bus: Option<&EventBus>) -> Vec<FieldError> {
    let mut errors = Errors::default();
    sensor::validate(sensor, bus, &mut errors);
    errors.0
}

/// Collects field errors.
#[derive(Debug, Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// `base.field`.
fn at(base: &str, field: &str) -> String {
    format!("{base}.{field}")
}

/// `base[index]`.
fn idx(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

#[cfg(test)]
mod tests;
