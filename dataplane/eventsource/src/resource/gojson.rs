//! Kubernetes objects encoded byte for byte as upstream's Go code encodes an
//! `unstructured.Unstructured`: Go's `encoding/json` over the decoded map.
//!
//! That means object keys sorted (Go sorts map keys), `<`, `>`, `&`, U+2028 and U+2029 escaped
//! as `\u003c`…, control characters escaped (`\b`, `\f`, `\n`, `\r`, `\t` short, the rest
//! `\u00XX`), and numbers as the unstructured decoder leaves them: a number written as an
//! integer that fits an `int64` keeps its digits, any other number became a `float64` and is
//! printed the way Go prints one (`1.0` → `1`, `1e3` → `1000`, `1e21` → `1e+21`).

use argo_events_engine::gotemplate::json_float;
use argo_events_engine::jsonpath::go_json_string;
use serde_json::Value;

/// Go's `json.Marshal` of `value` decoded as unstructured data.
pub(crate) fn encode(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value);
    out
}

/// Go's `json.Marshal` of a string.
pub(crate) fn encode_str(s: &str) -> String {
    go_json_string(s)
}

fn write(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(&go_float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write(out, item);
            }
            out.push('}');
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push_str(&go_json_string(s));
}

/// Go's encoding of a `float64`. serde_json holds no NaN or infinity, the only values Go's
/// encoder refuses.
fn go_float(f: f64) -> String {
    json_float(f).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_encoded_as_go_encodes_unstructured_maps() {
        let cases = [
            (
                json!({"b": 1, "a": {"d": [], "c": {}}}),
                r#"{"a":{"c":{},"d":[]},"b":1}"#,
            ),
            (
                json!({"z": null, "y": true, "x": false}),
                r#"{"x":false,"y":true,"z":null}"#,
            ),
            (
                json!({"s": "<a href=\"x\">&amp;</a>"}),
                r#"{"s":"\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e"}"#,
            ),
            (
                json!("tab\tnl\ncr\rbs\u{8}ff\u{c}nul\u{0}esc\u{1b}"),
                r#""tab\tnl\ncr\rbs\bff\fnul\u0000esc\u001b""#,
            ),
            (
                json!("line\u{2028}para\u{2029}é☃"),
                r#""line\u2028para\u2029é☃""#,
            ),
            (json!("back\\slash"), r#""back\\slash""#),
        ];
        for (value, want) in cases {
            assert_eq!(encode(&value), want, "{value}");
        }
        // DEL (0x7f) is not a control character to Go's encoder.
        assert_eq!(encode(&json!("\u{7f}")), "\"\u{7f}\"");
    }

    #[test]
    fn numbers_follow_the_unstructured_decoder_then_go() {
        let cases = [
            ("0", "0"),
            ("42", "42"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("9223372036854775807", "9223372036854775807"),
            // Beyond int64: a float64.
            ("9223372036854775808", "9223372036854776000"),
            ("18446744073709551615", "18446744073709552000"),
            ("1.0", "1"),
            ("1e3", "1000"),
            ("0.5", "0.5"),
            ("-2.25", "-2.25"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("0.00000015", "1.5e-7"),
            ("1e20", "100000000000000000000"),
            ("1e21", "1e+21"),
            ("1.5e300", "1.5e+300"),
            ("-1e-10", "-1e-10"),
            ("123456.789", "123456.789"),
        ];
        for (raw, want) in cases {
            let value: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(encode(&value), want, "{raw}");
        }
    }
}
