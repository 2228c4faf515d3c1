//! What `run` refuses in a resource event before it contacts any API server. (Watching a real
//! API server: the cluster suite, `tests/tests/cluster/resource_source.rs`.)

use serde_json::{Value, json};

use crate::support::*;

async fn refused(spec: Value) -> String {
    let source = event_source("watch", json!({"resource": {"changes": spec}}));
    start_error(source, Default::default()).await
}

#[tokio::test]
async fn invalid_resource_events_are_refused_at_start() {
    let base = json!({"version": "v1", "resource": "configmaps", "eventTypes": ["ADD"]});
    let with = |extra: Value| {
        let mut spec = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };
    let cases = [
        (
            json!({"resource": "configmaps", "eventTypes": ["ADD"]}),
            "EventSource watch, resource event changes: version must be specified",
        ),
        (
            json!({"version": "v1", "eventTypes": ["ADD"]}),
            "EventSource watch, resource event changes: resource must be specified",
        ),
        (
            json!({"version": "v1", "resource": "configmaps"}),
            "EventSource watch, resource event changes: event types must be specified",
        ),
        (
            with(json!({"eventTypes": ["ADD", "MODIFIED"]})),
            "EventSource watch, resource event changes: unknown event type: MODIFIED (eventTypes \
             takes ADD, UPDATE and DELETE)",
        ),
        (
            with(json!({"filter": {"labels": [
                {"key": "app", "value": "web"},
                {"key": "tier", "operation": "in", "value": "a, b"},
            ]}})),
            "EventSource watch, resource event changes: filter.labels[1]: value \" b\": a label \
             value must be empty or consist of alphanumeric characters, '-', '_' or '.', and \
             start and end with an alphanumeric character",
        ),
        (
            with(
                json!({"filter": {"labels": [{"key": "app", "operation": "~=", "value": "web"}]}}),
            ),
            "EventSource watch, resource event changes: filter.labels[0]: operation \"~=\" is not \
             supported (=, ==, !=, in, notin, exists, !, gt, lt)",
        ),
        (
            with(json!({"filter": {"fields": [{"operation": "=", "value": "x"}]}})),
            "EventSource watch, resource event changes: filter.fields[0]: key can't be empty for \
             selector",
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(refused(spec.clone()).await, want, "{spec}");
    }
}
