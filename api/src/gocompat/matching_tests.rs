use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::from_value;

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
struct Small {
    kind: String,
    count: i32,
}

#[test]
fn non_ascii_keys_fold_like_go() {
    // U+212A KELVIN SIGN folds to `k`, as in Go's bytes.EqualFold.
    let d = from_value::<Small>(&json!({"\u{212A}IND": "Pod"})).unwrap();
    assert_eq!(d.value.kind, "Pod");
    assert!(d.unknown_fields.is_empty());
    let d = from_value::<Small>(&json!({"kïnd": "Pod"})).unwrap();
    assert_eq!(d.value.kind, "");
    assert_eq!(d.unknown_fields, vec![r#"["kïnd"]"#]);
}

#[test]
fn objects_with_many_keys_keep_order_and_last_one_wins() {
    let mut map = Map::new();
    map.insert("COUNT".into(), json!(1));
    for i in 0..40 {
        map.insert(format!("x{i}"), json!(i));
    }
    map.insert("count".into(), json!(2));
    map.insert("Count".into(), json!(3));
    let d = from_value::<Small>(&Value::Object(map.clone())).unwrap();
    assert_eq!(d.value.count, 3);
    let expected: Vec<String> = (0..40).map(|i| format!("x{i}")).collect();
    assert_eq!(d.unknown_fields, expected);

    map.insert("kind".into(), json!(7));
    let err = from_value::<Vec<Small>>(&json!([{}, map])).unwrap_err();
    assert_eq!(err.path, "[1].kind");
    assert_eq!(err.message, "expected a string, got 7");
}

#[test]
fn paths_render_brackets_and_nesting() {
    let err = from_value::<std::collections::BTreeMap<String, Vec<Small>>>(
        &json!({"a.b": [{"count": 1}, {"count": "x"}]}),
    )
    .unwrap_err();
    assert_eq!(err.path, r#"["a.b"][1].count"#);
}
