use std::sync::Arc;

use serde_json::{Value, json};

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const START: &str = "2024-05-01T12:00:00.5Z";
const NOW: &str = "2024-05-01T12:30:00Z";

fn spec(value: Value) -> ResourceEventSource {
    let mut base = json!({"version": "v1", "resource": "configmaps", "eventTypes": ["ADD", "UPDATE", "DELETE"]});
    if let (Some(base), Some(extra)) = (base.as_object_mut(), value.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).unwrap()
}

fn rules(value: Value) -> Rules {
    Rules::new(&spec(value)).unwrap().0
}

fn cm(name: &str, rv: &str, created: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "apps",
            "resourceVersion": rv,
            "creationTimestamp": created,
            "labels": {"app": "web"},
        },
        "data": {"mode": "blue", "count": "3"},
    })
}

fn with(mut object: Value, path: &[&str], value: Value) -> Value {
    let mut at = &mut object;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
    object
}

fn add(o: Value) -> Change {
    Change::Add(Arc::new(o))
}

fn update(old: Value, new: Value) -> Change {
    Change::Update {
        old: Arc::new(old),
        new: Arc::new(new),
    }
}

fn delete(o: Value) -> Change {
    Change::Delete(Arc::new(o))
}

/// `Ok(type)` when the change is published, else the skip.
fn verdict(rules: &Rules, change: &Change) -> Result<String, Skip> {
    rules.event_data(change, utc(START), utc(NOW)).map(|data| {
        let v: Value = serde_json::from_slice(&data).unwrap();
        v["type"].as_str().unwrap().to_owned()
    })
}

fn filtered(rules: &Rules, change: &Change) -> String {
    match verdict(rules, change) {
        Err(Skip::Filtered(reason)) => reason,
        other => panic!("expected the filter to drop it, got {other:?}"),
    }
}

#[test]
fn event_types_must_be_listed_and_known() {
    let err = |v: Value| Rules::new(&spec(v)).err().unwrap();
    assert_eq!(
        err(json!({"eventTypes": []})),
        "event types must be specified"
    );
    assert!(
        err(json!({"eventTypes": ["ADD", "CREATE"]})).starts_with("unknown event type: CREATE")
    );
    // Lower case is not ADD, as upstream compares.
    assert!(err(json!({"eventTypes": ["add"]})).starts_with("unknown event type: add"));

    let only_add = rules(json!({"eventTypes": ["ADD"]}));
    let old = cm("a", "1", "2024-05-01T11:00:00Z");
    let new = cm("a", "2", "2024-05-01T11:00:00Z");
    assert_eq!(verdict(&only_add, &add(old.clone())), Ok("ADD".into()));
    assert_eq!(
        verdict(&only_add, &update(old.clone(), new)),
        Err(Skip::NotWatched)
    );
    assert_eq!(verdict(&only_add, &delete(old)), Err(Skip::NotWatched));
}

#[test]
fn updates_that_keep_the_resource_version_are_dropped() {
    let all = rules(json!({}));
    let old = cm("a", "7", "2024-05-01T11:00:00Z");
    let same = with(old.clone(), &["data", "mode"], json!("green"));
    assert_eq!(
        verdict(&all, &update(old.clone(), same)),
        Err(Skip::Unchanged(
            "update with an identical resourceVersion 7".into()
        ))
    );
    let newer = with(old.clone(), &["metadata", "resourceVersion"], json!("8"));
    assert_eq!(verdict(&all, &update(old, newer)), Ok("UPDATE".into()));
}

#[test]
fn prefix_filters_on_the_name() {
    let r = rules(json!({"filter": {"prefix": "web-"}}));
    assert_eq!(
        verdict(&r, &add(cm("web-1", "1", "2024-05-01T11:00:00Z"))),
        Ok("ADD".into())
    );
    assert_eq!(
        filtered(&r, &add(cm("db-1", "1", "2024-05-01T11:00:00Z"))),
        "name \"db-1\" does not start with prefix \"web-\""
    );
}

#[test]
fn after_start_uses_the_time_of_each_kind_of_change() {
    let r = rules(json!({"filter": {"afterStart": true}}));
    let before = "2024-05-01T11:59:00Z";
    let after = "2024-05-01T12:00:01Z";
    // Whole seconds: created in the second the source started (12:00:00 < 12:00:00.5) is older.
    let same_second = "2024-05-01T12:00:00Z";

    // ADD: creationTimestamp.
    assert_eq!(verdict(&r, &add(cm("a", "1", after))), Ok("ADD".into()));
    let reason = filtered(&r, &add(cm("a", "1", before)));
    assert!(
        reason.contains("happened before the source started"),
        "{reason}"
    );
    filtered(&r, &add(cm("a", "1", same_second)));
    // No creationTimestamp: Go's zero time, older than anything.
    let mut bare = cm("a", "1", before);
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("creationTimestamp");
    filtered(&r, &add(bare));

    // UPDATE: the latest managedFields time of an Update operation.
    let old = cm("a", "1", before);
    let managed = |entries: Value| {
        with(
            with(old.clone(), &["metadata", "resourceVersion"], json!("2")),
            &["metadata", "managedFields"],
            entries,
        )
    };
    let recent_update = managed(json!([
        {"manager": "kubectl-create", "operation": "Update", "time": before},
        {"manager": "kubectl-edit", "operation": "Update", "time": after},
    ]));
    assert_eq!(
        verdict(&r, &update(old.clone(), recent_update)),
        Ok("UPDATE".into())
    );
    // A server-side apply does not count: the event time stays the older Update.
    let applied = managed(json!([
        {"manager": "kubectl-create", "operation": "Update", "time": before},
        {"manager": "kubectl", "operation": "Apply", "time": after},
    ]));
    filtered(&r, &update(old.clone(), applied));
    // No managedFields at all: creationTimestamp.
    let unmanaged = with(old.clone(), &["metadata", "resourceVersion"], json!("2"));
    filtered(&r, &update(old.clone(), unmanaged));
    // A managedFields time earlier than creation never moves it back.
    let created_later = with(
        managed(json!([{"operation": "Update", "time": before}, {"operation": "Update"}])),
        &["metadata", "creationTimestamp"],
        json!(after),
    );
    assert_eq!(
        verdict(&r, &update(old.clone(), created_later)),
        Ok("UPDATE".into())
    );

    // DELETE: deletionTimestamp, else now.
    assert_eq!(verdict(&r, &delete(old.clone())), Ok("DELETE".into()));
    let deleted_before = with(
        old.clone(),
        &["metadata", "deletionTimestamp"],
        json!(before),
    );
    filtered(&r, &delete(deleted_before));
    let deleted_after = with(old, &["metadata", "deletionTimestamp"], json!(after));
    assert_eq!(verdict(&r, &delete(deleted_after)), Ok("DELETE".into()));

    // Without afterStart, old changes pass.
    let all = rules(json!({"filter": {"afterStart": false}}));
    assert_eq!(verdict(&all, &add(cm("a", "1", before))), Ok("ADD".into()));
}

#[test]
fn created_by_drops_objects_created_later() {
    let r = rules(json!({"filter": {"createdBy": "2024-05-01T10:00:00Z"}}));
    assert_eq!(
        verdict(&r, &add(cm("a", "1", "2024-05-01T09:59:59Z"))),
        Ok("ADD".into())
    );
    assert_eq!(
        verdict(&r, &add(cm("a", "1", "2024-05-01T10:00:00Z"))),
        Ok("ADD".into())
    );
    let reason = filtered(&r, &add(cm("a", "1", "2024-05-01T10:00:01Z")));
    assert_eq!(
        reason,
        "created at 2024-05-01T10:00:01+00:00, after createdBy 2024-05-01T10:00:00+00:00"
    );
    // Go's zero time means "not set".
    let zero = rules(json!({"filter": {"createdBy": "0001-01-01T00:00:00Z"}}));
    assert_eq!(
        verdict(&zero, &add(cm("a", "1", "2024-05-01T10:00:01Z"))),
        Ok("ADD".into())
    );
}

#[test]
fn field_filters_match_string_values_as_regexes() {
    let object = with(
        cm("web-1", "1", "2024-05-01T11:00:00Z"),
        &["spec"],
        json!({"replicas": 3, "note": null, "html": "<b>&</b>"}),
    );
    let cases: Vec<(Value, Result<(), &str>)> = vec![
        (
            json!({"key": "data.mode", "operation": "=", "value": "blue"}),
            Ok(()),
        ),
        (
            json!({"key": "data.mode", "operation": "==", "value": "^bl"}),
            Ok(()),
        ),
        // Unanchored.
        (
            json!({"key": "data.mode", "operation": "==", "value": "lu"}),
            Ok(()),
        ),
        (
            json!({"key": "data.mode", "operation": "==", "value": "^green$"}),
            Err("field data.mode = \"blue\" does not match \"^green$\""),
        ),
        (
            json!({"key": "data.mode", "operation": "!=", "value": "green"}),
            Ok(()),
        ),
        (
            json!({"key": "data.mode", "operation": "!=", "value": "b.ue"}),
            Err("field data.mode = \"blue\" matches \"b.ue\""),
        ),
        (
            json!({"key": "metadata.labels.app", "operation": "=", "value": "^web$"}),
            Ok(()),
        ),
        // gjson paths: escapes, queries, modifiers.
        (
            json!({"key": "metadata.name", "operation": "=", "value": "^web-\\d$"}),
            Ok(()),
        ),
        (
            json!({"key": "kind", "operation": "=", "value": "^ConfigMap$"}),
            Ok(()),
        ),
        // Strings are compared after decoding (the body escapes < > &).
        (
            json!({"key": "spec.html", "operation": "=", "value": "^<b>&</b>$"}),
            Ok(()),
        ),
        // Non-string values compare as the empty string (gjson's Str).
        (
            json!({"key": "spec.replicas", "operation": "=", "value": "3"}),
            Err("field spec.replicas = \"\" does not match \"3\""),
        ),
        (
            json!({"key": "spec.replicas", "operation": "=", "value": "^$"}),
            Ok(()),
        ),
        (
            json!({"key": "spec.note", "operation": "!=", "value": "."}),
            Ok(()),
        ),
        (
            json!({"key": "spec.missing", "operation": "=", "value": ".*"}),
            Err("field spec.missing does not exist"),
        ),
        // An empty or unknown operation drops everything, as upstream does.
        (
            json!({"key": "data.mode", "operation": "", "value": "blue"}),
            Err("field data.mode: operation \"\" is not one of =, ==, !="),
        ),
        (
            json!({"key": "data.mode", "operation": "in", "value": "blue"}),
            Err("field data.mode: operation \"in\" is not one of =, ==, !="),
        ),
        (
            json!({"key": "data.mode", "operation": "=", "value": "(blue"}),
            Err("field data.mode: invalid regex"),
        ),
    ];
    for (field, want) in cases {
        let r = rules(json!({"filter": {"fields": [field.clone()]}}));
        let got = r
            .event_data(&add(object.clone()), utc(START), utc(NOW))
            .map(|_| ());
        match (got, want) {
            (Ok(()), Ok(())) => {}
            (Err(Skip::Filtered(reason)), Err(want)) => {
                assert!(reason.starts_with(want), "{field}: {reason:?} vs {want:?}")
            }
            (got, want) => panic!("{field}: got {got:?}, want {want:?}"),
        }
    }
    // All fields must pass.
    let both = rules(json!({"filter": {"fields": [
        {"key": "data.mode", "operation": "=", "value": "blue"},
        {"key": "data.count", "operation": "=", "value": "4"},
    ]}}));
    filtered(&both, &add(object));
}

#[test]
fn fields_that_can_never_pass_are_warned_about_at_start() {
    let (_, warnings) = Rules::new(&spec(json!({"filter": {"fields": [
        {"key": "a", "operation": "=", "value": "ok"},
        {"key": "b", "value": "ok"},
        {"key": "c", "operation": "==", "value": "("},
    ]}})))
    .unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("filter.fields[1] (key b): operation \"\""),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("filter.fields[2] (key c): value \"(\""),
        "{warnings:?}"
    );
}

#[test]
fn event_data_is_encoded_as_upstream_encodes_it() {
    let plain = rules(json!({}));
    let object = json!({
        "metadata": {"resourceVersion": "5", "name": "a", "creationTimestamp": "2024-05-01T11:00:00Z"},
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "data": {"z": "<&>", "a": "1"},
    });
    let data = plain
        .event_data(&add(object.clone()), utc(START), utc(NOW))
        .unwrap();
    assert_eq!(
        String::from_utf8(data).unwrap(),
        r#"{"type":"ADD","body":{"apiVersion":"v1","data":{"a":"1","z":"\u003c\u0026\u003e"},"kind":"ConfigMap","metadata":{"creationTimestamp":"2024-05-01T11:00:00Z","name":"a","resourceVersion":"5"}},"oldBody":null,"group":"","version":"v1","resource":"configmaps"}"#
    );

    let with_meta = rules(json!({
        "group": "example.com",
        "version": "v1beta1",
        "resource": "widgets",
        "metadata": {"team": "a&b", "env": "prod"},
    }));
    let newer = with(object.clone(), &["metadata", "resourceVersion"], json!("6"));
    let data = with_meta
        .event_data(&update(object.clone(), newer), utc(START), utc(NOW))
        .unwrap();
    let v: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(v["type"], "UPDATE");
    assert_eq!(v["body"]["metadata"]["resourceVersion"], "6");
    assert_eq!(v["oldBody"]["metadata"]["resourceVersion"], "5");
    let text = String::from_utf8(data).unwrap();
    assert!(
        text.ends_with(
            r#","group":"example.com","version":"v1beta1","resource":"widgets","metadata":{"env":"prod","team":"a\u0026b"}}"#
        ),
        "{text}"
    );
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "type", "body", "oldBody", "group", "version", "resource", "metadata"
        ]
    );

    let data = plain
        .event_data(&delete(object), utc(START), utc(NOW))
        .unwrap();
    let v: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(v["type"], "DELETE");
    assert_eq!(v["oldBody"], Value::Null);
    assert_eq!(v["body"]["metadata"]["name"], "a");
}
