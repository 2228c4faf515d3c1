//! Evidence for not building on the `gtmpl` crate (0.7): for each row, Go's
//! output (what this engine renders) differs from what gtmpl renders. gtmpl's
//! parse tree and executor are private, and its `Value` display, truthiness,
//! range and `and`/`or` are fixed inside it, so these cannot be wrapped away.
//! Delete this file together with the `gtmpl`/`gtmpl_value` dev-dependencies if
//! the evidence is no longer wanted.

use std::collections::HashMap;

use super::{Template, Value};

fn to_gtmpl(v: &serde_json::Value) -> gtmpl_value::Value {
    match v {
        serde_json::Value::Null => gtmpl_value::Value::Nil,
        serde_json::Value::Bool(b) => gtmpl_value::Value::Bool(*b),
        serde_json::Value::Number(n) => gtmpl_value::Value::from(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => gtmpl_value::Value::from(s.clone()),
        serde_json::Value::Array(a) => gtmpl_value::Value::Array(a.iter().map(to_gtmpl).collect()),
        serde_json::Value::Object(o) => gtmpl_value::Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn gtmpl_render(src: &str, data: &serde_json::Value) -> String {
    let mut t = gtmpl::Template::default();
    if let Err(e) = t.parse(src) {
        return format!("parse error: {e}");
    }
    t.render(&gtmpl::Context::from(to_gtmpl(data)))
        .unwrap_or_else(|e| format!("error: {e}"))
}

fn ours(src: &str, data: &serde_json::Value) -> String {
    let t = Template::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    t.render_value(Value::from_json(data))
        .unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn gtmpl_diverges_from_go_where_this_engine_does_not() {
    let data: serde_json::Value = serde_json::json!({
        "m": {"k": "v"}, "l": ["x", "y"], "a": 1, "big": 1e21
    });
    // (template, Go's output, what gtmpl 0.7 does instead)
    let rows: &[(&str, &str, &str)] = &[
        ("{{ .m }}", "map[k:v]", "Rust Debug text"),
        ("{{ .l }}", "[x y]", "Rust Debug text"),
        (
            "{{ .missing.x }}",
            "<no value>",
            "error: field on missing key",
        ),
        (
            "{{ range .l }}{{ . }}{{ else }}E{{ end }}",
            "xy",
            "else branch always runs",
        ),
        (
            "{{ and false .missing.x }}",
            "false",
            "no short-circuit: error",
        ),
        (
            "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
            "2",
            "parse error on `=`",
        ),
        ("{{ printf \"%q\" \"s\" }}", "\"s\"", "%q not quoting"),
        ("{{ len .m }}", "1", "len of a map is an error"),
        (
            "{{ range .l }}{{ break }}{{ end }}",
            "",
            "no break/continue",
        ),
        ("{{ .missing | print }}", "<nil>", "prints <no value>"),
        ("{{ 0x10 }}", "16", "hex literal read as 0"),
        ("{{ .big }}", "1e+21", "float saturated to u64::MAX"),
        (
            "{{ eq .a 1 }}",
            "error: template: param:1:3: executing \"param\" at <eq .a 1>: error calling eq: incompatible types for comparison",
            "float64 == int is true",
        ),
    ];
    for (src, go, gap) in rows {
        assert_eq!(ours(src, &data), *go, "this engine must match Go for {src}");
        assert_ne!(
            gtmpl_render(src, &data),
            *go,
            "gtmpl now matches Go for {src} ({gap}); update the gap list"
        );
    }
}
