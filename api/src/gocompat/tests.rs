use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;

#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
struct Inner {
    port: String,
    verify_cert: bool,
    replicas: Option<i32>,
    count: i32,
    ratio: f64,
}

#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
struct Outer {
    open_whisk: Option<Inner>,
    items: Vec<Inner>,
    by_name: std::collections::BTreeMap<String, Inner>,
    raw: Option<serde_json::Value>,
}

fn decode(v: serde_json::Value) -> Result<Decoded<Outer>, DecodeError> {
    from_value(&v)
}

#[test]
fn field_names_match_case_insensitively() {
    let d = decode(json!({"openwhisk": {"PORT": "80", "verifycert": true}})).unwrap();
    let inner = d.value.open_whisk.unwrap();
    assert_eq!(inner.port, "80");
    assert!(inner.verify_cert);
    assert!(d.unknown_fields.is_empty());
}

#[test]
fn exact_match_and_folded_match_last_one_wins() {
    let d =
        decode(json!({"items": [{"Port": "1", "port": "2"}, {"port": "1", "PORT": "3"}]})).unwrap();
    assert_eq!(d.value.items[0].port, "2");
    assert_eq!(d.value.items[1].port, "3");
}

#[test]
fn unknown_fields_are_ignored_and_reported_with_their_path() {
    let d = decode(json!({
        "type": "stale",
        "items": [{"port": "1", "extra": 1}],
        "byName": {"a.b": {"nope": true}},
    }))
    .unwrap();
    assert_eq!(d.value.items[0].port, "1");
    assert_eq!(
        d.unknown_fields,
        vec!["type", "items[0].extra", r#"byName["a.b"].nope"#]
    );
}

#[test]
fn map_keys_are_data_and_are_not_folded() {
    let d = decode(json!({"byName": {"Push": {"port": "1"}, "push": {"port": "2"}}})).unwrap();
    assert_eq!(d.value.by_name.len(), 2);
}

#[test]
fn a_number_is_never_a_string() {
    let err = decode(json!({"byName": {"push": {"port": 12000}}})).unwrap_err();
    assert_eq!(err.path, "byName.push.port");
    assert_eq!(err.message, "expected a string, got 12000");
    assert_eq!(
        err.to_string(),
        "byName.push.port: expected a string, got 12000"
    );
}

#[test]
fn a_string_is_never_a_number_or_bool() {
    let err = decode(json!({"items": [{}, {"count": "3"}]})).unwrap_err();
    assert_eq!(err.path, "items[1].count");
    assert_eq!(err.message, r#"expected an integer, got "3""#);
    let err = decode(json!({"items": [{"verifyCert": "true"}]})).unwrap_err();
    assert_eq!(err.message, r#"expected a boolean, got "true""#);
    let err = decode(json!({"items": [{"ratio": "0.5"}]})).unwrap_err();
    assert_eq!(err.message, r#"expected a number, got "0.5""#);
}

#[test]
fn integers_reject_fractions_and_overflow() {
    let err = decode(json!({"items": [{"count": 1.5}]})).unwrap_err();
    assert_eq!(err.path, "items[0].count");
    let err = decode(json!({"items": [{"count": 4_000_000_000u64}]})).unwrap_err();
    assert_eq!(err.path, "items[0].count");
    // YAML `2.0` arrives as a float with no fraction: Go sees the integer 2 after YAML→JSON.
    let d = decode(json!({"items": [{"count": 2.0}]})).unwrap();
    assert_eq!(d.value.items[0].count, 2);
}

#[test]
fn null_leaves_zero_values() {
    let d = decode(json!({"openWhisk": null, "items": null, "byName": {"a": {"port": null, "count": null, "replicas": null}}}))
        .unwrap();
    assert_eq!(d.value.open_whisk, None);
    assert!(d.value.items.is_empty());
    assert_eq!(d.value.by_name["a"], Inner::default());
}

#[test]
fn wrong_container_types_name_the_field() {
    let err = decode(json!({"items": {"port": "1"}})).unwrap_err();
    assert_eq!(err.path, "items");
    assert_eq!(err.message, "expected an array, got an object");
    let err = decode(json!({"openWhisk": "x"})).unwrap_err();
    assert_eq!(err.message, r#"expected an object, got "x""#);
}

#[test]
fn raw_values_are_kept_verbatim() {
    let d = decode(json!({"raw": {"Kind": "Pod", "spec": {"x": [1, "2"]}}})).unwrap();
    assert_eq!(
        d.value.raw,
        Some(json!({"Kind": "Pod", "spec": {"x": [1, "2"]}}))
    );
    assert!(d.unknown_fields.is_empty());
}

#[test]
fn root_errors_have_an_empty_path() {
    let err = decode(json!([1])).unwrap_err();
    assert_eq!(err.path, "");
    assert_eq!(err.to_string(), "(root): expected an object, got an array");
}
