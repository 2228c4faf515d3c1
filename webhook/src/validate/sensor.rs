//! Sensor dependency rules (upstream `pkg/reconciler/sensor/validate.go`,
//! `validateDependencies` and the filter checks); the trigger rules are in [`super::trigger`].

use std::collections::BTreeSet;

use argo_events_api::{
    DataFilter, EventBus, EventDependency, EventDependencyFilter, ExprFilter, Sensor, TimeFilter,
};

use super::common::go_location;
use super::cron::parse_clock;
use super::{Errors, at, idx, trigger};

pub(super) fn validate(sensor: &Sensor, bus: Option<&EventBus>, errors: &mut Errors) {
    let deps = &sensor.spec.dependencies;
    if deps.is_empty() {
        errors.push("spec.dependencies", "no event dependencies found");
    }
    // On a NATS Streaming bus an EventSource event can back only one dependency.
    let stan = bus.is_some_and(|b| b.spec.nats.is_some());
    let mut pairs = BTreeSet::new();
    for (i, dep) in deps.iter().enumerate() {
        let path = idx("spec.dependencies", i);
        dependency(dep, &path, errors);
        if stan && !pairs.insert((dep.event_source_name.as_str(), dep.event_name.as_str())) {
            errors.push(
                path,
                format!(
                    "event '{}' from EventSource '{}' is referenced for more than one dependency in this Sensor object",
                    dep.event_name, dep.event_source_name
                ),
            );
        }
    }
    trigger::validate_all(&sensor.spec.triggers, errors);
}

fn dependency(dep: &EventDependency, path: &str, errors: &mut Errors) {
    if dep.name.is_empty() {
        errors.push(at(path, "name"), "event dependency must define a name");
    }
    if dep.event_source_name.is_empty() {
        errors.push(
            at(path, "eventSourceName"),
            "event dependency must define the EventSourceName",
        );
    }
    if dep.event_name.is_empty() {
        errors.push(
            at(path, "eventName"),
            "event dependency must define the EventName",
        );
    }
    if let Some(filters) = &dep.filters {
        filter(filters, &at(path, "filters"), errors);
    }
    logical_operator(
        &dep.filters_logical_operator,
        &at(path, "filtersLogicalOperator"),
        errors,
    );
}

fn logical_operator(op: &str, path: &str, errors: &mut Errors) {
    if !matches!(op, "" | "and" | "or") {
        errors.push(path, format!("logical operator {op} not supported"));
    }
}

fn filter(f: &EventDependencyFilter, path: &str, errors: &mut Errors) {
    logical_operator(
        &f.expr_logical_operator,
        &at(path, "exprLogicalOperator"),
        errors,
    );
    logical_operator(
        &f.data_logical_operator,
        &at(path, "dataLogicalOperator"),
        errors,
    );
    for (i, expr) in f.exprs.iter().enumerate() {
        expr_filter(expr, &idx(&at(path, "exprs"), i), errors);
    }
    for (i, data) in f.data.iter().enumerate() {
        data_filter(data, &idx(&at(path, "data"), i), errors);
    }
    if let Some(ctx) = &f.context
        && ctx.type_.is_empty()
        && ctx.subject.is_empty()
        && ctx.source.is_empty()
        && ctx.datacontenttype.is_empty()
    {
        errors.push(
            at(path, "context"),
            "no fields specified in ctx filter (aka all events will be discarded)",
        );
    }
    if let Some(time) = &f.time {
        time_filter(time, &at(path, "time"), errors);
    }
}

/// Only the shape is checked, as upstream does; the expression itself is parsed when the
/// Sensor runs.
fn expr_filter(expr: &ExprFilter, path: &str, errors: &mut Errors) {
    if expr.expr.is_empty() || expr.fields.is_empty() {
        errors.push(
            path,
            "one of expr filters is not valid (expr and fields must be not empty)",
        );
    }
    for (i, field) in expr.fields.iter().enumerate() {
        if field.path.is_empty() || field.name.is_empty() {
            errors.push(
                idx(&at(path, "fields"), i),
                "one of expr filters is not valid (path and name in a field must be not empty)",
            );
        }
    }
}

/// `type` must be set but is not checked further (upstream accepts any value).
fn data_filter(data: &DataFilter, path: &str, errors: &mut Errors) {
    if !matches!(
        data.comparator.as_str(),
        "" | ">=" | ">" | "=" | "!=" | "<" | "<="
    ) {
        errors.push(
            at(path, "comparator"),
            format!("comparator {} not supported", data.comparator),
        );
    }
    if data.path.is_empty() || data.type_.is_empty() || data.value.is_empty() {
        errors.push(
            path,
            "one of data filters is not valid (type, path and value must be not empty)",
        );
    }
    for (i, value) in data.value.iter().enumerate() {
        if value.is_empty() {
            errors.push(
                idx(&at(path, "value"), i),
                "one of data filters is not valid (value must be not empty)",
            );
        }
    }
}

fn time_filter(time: &TimeFilter, path: &str, errors: &mut Errors) {
    if let Err(e) = go_location(&time.timezone) {
        errors.push(
            at(path, "timezone"),
            format!("invalid timezone '{}': {e}", time.timezone),
        );
    }
    let start = parse_clock(&time.start);
    let stop = parse_clock(&time.stop);
    if let Err(e) = &start {
        errors.push(at(path, "start"), e.clone());
    }
    if let Err(e) = &stop {
        errors.push(at(path, "stop"), e.clone());
    }
    if let (Ok(start), Ok(stop)) = (start, stop)
        && start == stop
    {
        errors.push(
            at(path, "stop"),
            format!(
                "invalid event time filter: stop '{}' is equal to start '{}'",
                time.stop, time.start
            ),
        );
    }
}
