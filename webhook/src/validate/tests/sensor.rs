//! Sensor rules: dependencies and filters, triggers, parameters, policies, the DLQ trigger, and
//! the rule that needs the EventBus.

use argo_events_api::{EventBus, Sensor};
use serde_json::{Value, json};

use super::{check, fails, passes};
use crate::validate::{FieldError, validate_sensor};

pub(super) fn base() -> Value {
    json!({
        "metadata": {"name": "s"},
        "spec": {
            "dependencies": [{"name": "d", "eventSourceName": "es", "eventName": "ev"}],
            "triggers": [{"template": {"name": "t", "log": {}}}],
        },
    })
}

fn sensor(doc: &Value) -> Sensor {
    serde_json::from_value(doc.clone()).expect("a Sensor")
}

pub(super) fn validate(doc: &Value) -> Vec<FieldError> {
    validate_sensor(&sensor(doc), None)
}

/// A parameter that passes every rule.
pub(super) fn param() -> Value {
    json!({"src": {"dependencyName": "d", "dataKey": "body"}, "dest": "spec.x"})
}

#[test]
fn dependency_rules() {
    let cases = vec![
        fails(
            vec![("/spec/dependencies", json!([]))],
            &[("spec.dependencies", "no event dependencies found")],
        ),
        fails(
            vec![("/spec/dependencies/0/name", json!(""))],
            &[(
                "spec.dependencies[0].name",
                "event dependency must define a name",
            )],
        ),
        fails(
            vec![("/spec/dependencies/0/eventSourceName", json!(""))],
            &[(
                "spec.dependencies[0].eventSourceName",
                "event dependency must define the EventSourceName",
            )],
        ),
        fails(
            vec![("/spec/dependencies/0/eventName", json!(""))],
            &[(
                "spec.dependencies[0].eventName",
                "event dependency must define the EventName",
            )],
        ),
        passes(vec![(
            "/spec/dependencies/0/filtersLogicalOperator",
            json!("or"),
        )]),
        passes(vec![(
            "/spec/dependencies/0/filtersLogicalOperator",
            json!("and"),
        )]),
        fails(
            vec![("/spec/dependencies/0/filtersLogicalOperator", json!("xor"))],
            &[(
                "spec.dependencies[0].filtersLogicalOperator",
                "logical operator xor not supported",
            )],
        ),
        fails(
            vec![(
                "/spec/dependencies/0/filters/dataLogicalOperator",
                json!("OR"),
            )],
            &[(
                "spec.dependencies[0].filters.dataLogicalOperator",
                "logical operator OR not supported",
            )],
        ),
        fails(
            vec![(
                "/spec/dependencies/0/filters/exprLogicalOperator",
                json!("nand"),
            )],
            &[(
                "spec.dependencies[0].filters.exprLogicalOperator",
                "logical operator nand not supported",
            )],
        ),
        // Two dependencies on one event are fine unless the bus is NATS Streaming.
        passes(vec![(
            "/spec/dependencies/1",
            json!({"name": "e", "eventSourceName": "es", "eventName": "ev"}),
        )]),
    ];
    check("dependencies", &base(), &cases, validate);
}

#[test]
fn data_and_expr_filter_rules() {
    let data = |v: Value| (FILTERS_DATA, json!([v]));
    const FILTERS_DATA: &str = "/spec/dependencies/0/filters/data";
    let ok = json!({"path": "body.a", "type": "string", "value": ["x"]});
    let with = |field: &str, value: Value| {
        let mut d = ok.clone();
        d[field] = value;
        d
    };
    let invalid = "one of data filters is not valid (type, path and value must be not empty)";
    let expr_invalid = "one of expr filters is not valid (expr and fields must be not empty)";
    let cases = vec![
        passes(vec![data(ok.clone())]),
        passes(vec![data(with("comparator", json!(">=")))]),
        passes(vec![data(with("comparator", json!("!=")))]),
        // Upstream does not check the type's value.
        passes(vec![data(with("type", json!("fake-type")))]),
        fails(
            vec![data(with("comparator", json!("=~")))],
            &[(
                "spec.dependencies[0].filters.data[0].comparator",
                "comparator =~ not supported",
            )],
        ),
        fails(
            vec![data(with("path", json!("")))],
            &[("spec.dependencies[0].filters.data[0]", invalid)],
        ),
        fails(
            vec![data(with("type", json!("")))],
            &[("spec.dependencies[0].filters.data[0]", invalid)],
        ),
        fails(
            vec![data(with("value", json!([])))],
            &[("spec.dependencies[0].filters.data[0]", invalid)],
        ),
        fails(
            vec![data(with("value", json!(["a", ""])))],
            &[(
                "spec.dependencies[0].filters.data[0].value[1]",
                "one of data filters is not valid (value must be not empty)",
            )],
        ),
        passes(vec![(
            "/spec/dependencies/0/filters/exprs",
            json!([{"expr": "a == 1", "fields": [{"name": "a", "path": "body.a"}]}]),
        )]),
        // The expression is not parsed, as upstream does not parse it either.
        passes(vec![(
            "/spec/dependencies/0/filters/exprs",
            json!([{"expr": "((", "fields": [{"name": "a", "path": "body.a"}]}]),
        )]),
        fails(
            vec![(
                "/spec/dependencies/0/filters/exprs",
                json!([{"expr": "", "fields": [{"name": "a", "path": "body.a"}]}]),
            )],
            &[("spec.dependencies[0].filters.exprs[0]", expr_invalid)],
        ),
        fails(
            vec![(
                "/spec/dependencies/0/filters/exprs",
                json!([{"expr": "a == 1"}]),
            )],
            &[("spec.dependencies[0].filters.exprs[0]", expr_invalid)],
        ),
        fails(
            vec![(
                "/spec/dependencies/0/filters/exprs",
                json!([{"expr": "a == 1", "fields": [{"name": "a"}]}]),
            )],
            &[(
                "spec.dependencies[0].filters.exprs[0].fields[0]",
                "one of expr filters is not valid (path and name in a field must be not empty)",
            )],
        ),
    ];
    check("data and expr filters", &base(), &cases, validate);
}

#[test]
fn context_and_time_filter_rules() {
    let ctx = "/spec/dependencies/0/filters/context";
    let time = "/spec/dependencies/0/filters/time";
    let window = json!({"start": "09:00:00", "stop": "17:00:00"});
    let with = |field: &str, value: Value| {
        let mut w = window.clone();
        w[field] = value;
        w
    };
    let cases = vec![
        passes(vec![(ctx, json!({"type": "webhook"}))]),
        passes(vec![(ctx, json!({"datacontenttype": "application/json"}))]),
        fails(
            vec![(ctx, json!({}))],
            &[(
                "spec.dependencies[0].filters.context",
                "no fields specified in ctx filter (aka all events will be discarded)",
            )],
        ),
        // Only type, subject, source and datacontenttype count.
        fails(
            vec![(ctx, json!({"id": "x", "specversion": "1.0"}))],
            &[(
                "spec.dependencies[0].filters.context",
                "no fields specified",
            )],
        ),
        passes(vec![(time, window.clone())]),
        passes(vec![(time, with("stop", json!("01:00:00")))]),
        passes(vec![(time, with("timezone", json!("America/New_York")))]),
        passes(vec![(time, with("start", json!("9:00:00.5")))]),
        fails(
            vec![(time, with("timezone", json!("Mars/Olympus")))],
            &[(
                "spec.dependencies[0].filters.time.timezone",
                "invalid timezone 'Mars/Olympus': unknown time zone Mars/Olympus",
            )],
        ),
        fails(
            vec![(time, with("start", json!("9am")))],
            &[(
                "spec.dependencies[0].filters.time.start",
                r#"parsing time "9am" as "15:04:05""#,
            )],
        ),
        fails(
            vec![(time, with("stop", json!("24:00:00")))],
            &[(
                "spec.dependencies[0].filters.time.stop",
                r#"parsing time "24:00:00" as "15:04:05": hour out of range"#,
            )],
        ),
        fails(
            vec![(time, with("stop", json!("09:00:00.0")))],
            &[(
                "spec.dependencies[0].filters.time.stop",
                "invalid event time filter: stop '09:00:00.0' is equal to start '09:00:00'",
            )],
        ),
        fails(
            vec![(time, json!({}))],
            &[
                (
                    "spec.dependencies[0].filters.time.start",
                    "parsing time \"\"",
                ),
                (
                    "spec.dependencies[0].filters.time.stop",
                    "parsing time \"\"",
                ),
            ],
        ),
    ];
    check("context and time filters", &base(), &cases, validate);
}

#[test]
fn trigger_rules() {
    let tmpl = "/spec/triggers/0/template";
    let cases = vec![
        fails(
            vec![("/spec/triggers", json!([]))],
            &[("spec.triggers", "no triggers found")],
        ),
        fails(
            vec![(
                "/spec/triggers/1",
                json!({"template": {"name": "t", "log": {}}}),
            )],
            &[(
                "spec.triggers[1].template.name",
                "duplicate trigger name: t",
            )],
        ),
        fails(
            vec![(tmpl, Value::Null)],
            &[("spec.triggers[0].template", "trigger template can't be nil")],
        ),
        fails(
            vec![("/spec/triggers/0/template/name", json!(""))],
            &[(
                "spec.triggers[0].template.name",
                "trigger must define a name",
            )],
        ),
        // A template without an action is not an error upstream; nor are unchecked kinds.
        passes(vec![("/spec/triggers/0/template/log", Value::Null)]),
        passes(vec![("/spec/triggers/0/template/pulsar", json!({}))]),
        passes(vec![(
            "/spec/triggers/0/template/azureEventHubs",
            json!({}),
        )]),
        passes(vec![(
            "/spec/triggers/0/template/conditions",
            json!("no-such-dep && ???"),
        )]),
        passes(vec![(
            "/spec/triggers/0/template/conditionsReset",
            json!([{"byTime": {"cron": "59 23 * * *", "timezone": "America/Los_Angeles"}}]),
        )]),
        fails(
            vec![("/spec/triggers/0/template/conditionsReset", json!([{}]))],
            &[(
                "spec.triggers[0].template.conditionsReset[0]",
                "invalid conditionsReset",
            )],
        ),
        fails(
            vec![(
                "/spec/triggers/0/template/conditionsReset",
                json!([{"byTime": {"cron": "0 0 * * * *"}}]),
            )],
            &[(
                "spec.triggers[0].template.conditionsReset[0].byTime.cron",
                r#"invalid cron expression "0 0 * * * *""#,
            )],
        ),
        fails(
            vec![(
                "/spec/triggers/0/template/conditionsReset",
                json!([{"byTime": {"cron": "0 0 * * *", "timezone": "Nowhere/Land"}}]),
            )],
            &[(
                "spec.triggers[0].template.conditionsReset[0].byTime.timezone",
                r#"invalid timezone "Nowhere/Land""#,
            )],
        ),
        fails(
            vec![(
                "/spec/triggers/0/parameters",
                json!([{"src": {"dependencyName": "d"}}]),
            )],
            &[(
                "spec.triggers[0].parameters[0].dest",
                "template parameter index: 0. err: parameter destination can't be empty",
            )],
        ),
    ];
    check("triggers", &base(), &cases, validate);
}

fn bus(spec: Value) -> EventBus {
    serde_json::from_value(json!({"metadata": {"name": "default"}, "spec": spec}))
        .expect("an EventBus")
}

#[test]
fn nats_streaming_buses_allow_one_dependency_per_event() {
    let doc = super::patched(
        &base(),
        &[(
            "/spec/dependencies/1",
            json!({"name": "e", "eventSourceName": "es", "eventName": "ev"}),
        )],
    );
    let s = sensor(&doc);
    assert_eq!(validate_sensor(&s, None), vec![], "bus unknown");
    let jetstream = bus(json!({"jetstream": {"version": "latest"}}));
    assert_eq!(validate_sensor(&s, Some(&jetstream)), vec![]);
    let stan = bus(json!({"nats": {"native": {}}}));
    assert_eq!(
        validate_sensor(&s, Some(&stan)),
        vec![FieldError {
            path: "spec.dependencies[1]".into(),
            message: "event 'ev' from EventSource 'es' is referenced for more than one dependency in this Sensor object".into(),
        }]
    );
}

#[test]
fn a_sensor_reports_every_error_with_its_path() {
    let doc = json!({
        "metadata": {"name": "s"},
        "spec": {
            "dependencies": [
                {"name": "", "eventSourceName": "es", "eventName": "ev",
                 "filters": {"context": {}}},
                {"name": "b", "eventSourceName": "", "eventName": "ev", "filtersLogicalOperator": "xor"},
            ],
            "triggers": [
                {"template": {"name": "t", "http": {"url": "", "method": "FETCH"}}},
                {"template": {"name": "t", "log": {}}, "parameters": [{}]},
            ],
        },
    });
    let got: Vec<(String, String)> = validate(&doc)
        .into_iter()
        .map(|e| (e.path, e.message))
        .collect();
    let want = [
        (
            "spec.dependencies[0].name",
            "event dependency must define a name",
        ),
        (
            "spec.dependencies[0].filters.context",
            "no fields specified in ctx filter (aka all events will be discarded)",
        ),
        (
            "spec.dependencies[1].eventSourceName",
            "event dependency must define the EventSourceName",
        ),
        (
            "spec.dependencies[1].filtersLogicalOperator",
            "logical operator xor not supported",
        ),
        (
            "spec.triggers[0].template.http.url",
            "template t is invalid, server URL is not specified",
        ),
        (
            "spec.triggers[0].template.http.method",
            "template t is invalid, only GET, DELETE, PATCH, POST and PUT methods are supported",
        ),
        (
            "spec.triggers[1].parameters[0].src",
            "template parameter index: 0. err: parameter source can't be empty",
        ),
        (
            "spec.triggers[1].parameters[0].dest",
            "template parameter index: 0. err: parameter destination can't be empty",
        ),
        (
            "spec.triggers[1].template.name",
            "duplicate trigger name: t",
        ),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(got, want);
}
