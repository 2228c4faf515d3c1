use super::*;
use serde_json::json;

/// jq transform from examples `sensors/transform.yaml`.
const EXAMPLE_JQ: &str = ".body.message *= 2";

fn compile(src: &str) -> JqProgram {
    match JqProgram::compile(src) {
        Ok(program) => program,
        Err(e) => panic!("compile {src:?}: {e}"),
    }
}

#[test]
fn jq_program_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JqProgram>();
}

#[test]
fn transforms() {
    let event = json!({
        "a": 1,
        "body": {"x": "hello", "message": "hi"},
        "items": [{"x": 1}, {"x": 2}],
        "name": "world",
    });
    let cases: Vec<(&str, Json, Json)> = vec![
        (
            EXAMPLE_JQ,
            json!({"body": {"message": "hi"}}),
            json!({"body": {"message": "hihi"}}),
        ),
        // Upstream's unit test.
        (
            ".a += 1 | .b *= 2",
            json!({"a": 1, "b": "2"}),
            json!({"a": 2, "b": "22"}),
        ),
        (
            ".body",
            event.clone(),
            json!({"message": "hi", "x": "hello"}),
        ),
        (
            ".body.x |= ascii_upcase",
            event.clone(),
            json!({"a": 1, "body": {"message": "hi", "x": "HELLO"},
                   "items": [{"x": 1}, {"x": 2}], "name": "world"}),
        ),
        ("{b: .a}", event.clone(), json!({"b": 1})),
        (". + {x: 1}", json!({"a": 1}), json!({"a": 1, "x": 1})),
        ("del(.a)", json!({"a": 1, "b": 2}), json!({"b": 2})),
        (
            "{xs: (.items | map(.x))}",
            event.clone(),
            json!({"xs": [1, 2]}),
        ),
        (
            r#"{msg: "hello \(.name), a=\(.a)"}"#,
            event.clone(),
            json!({"msg": "hello world, a=1"}),
        ),
        (
            "select(.a == 1) | {ok: true}",
            event.clone(),
            json!({"ok": true}),
        ),
        (
            "{e: to_entries}",
            json!({"k": "v", "n": 2}),
            json!({"e": [{"key": "k", "value": "v"}, {"key": "n", "value": 2}]}),
        ),
        (
            "with_entries(.value += 1)",
            json!({"a": 1, "b": 2}),
            json!({"a": 2, "b": 3}),
        ),
        (".items[] | select(.x > 1)", event.clone(), json!({"x": 2})),
        // Only the first output counts.
        (".items[]", event.clone(), json!({"x": 1})),
        ("{n: (.a / 2)}", json!({"a": 4}), json!({"n": 2})),
        ("{n: (.a / 4)}", json!({"a": 2}), json!({"n": 0.5})),
        ("{n: (.f * 2)}", json!({"f": 1.5}), json!({"n": 3})),
        (
            "{n: (.big + 1)}",
            json!({"big": 9007199254740993_u64}),
            json!({"n": 9007199254740994_u64}),
        ),
        ("{t: (.a | tostring)}", json!({"a": 1.0}), json!({"t": "1"})),
        (
            "{env: env, ENV: $ENV}",
            json!({}),
            json!({"env": {}, "ENV": {}}),
        ),
        (".", Json::Null, json!({})),
        (
            r#"{s: ("a-b-c" | split("-")), t: ("2015-03-05T23:51:47Z" | fromdate)}"#,
            json!({}),
            json!({"s": ["a", "b", "c"], "t": 1425599507}),
        ),
        (
            r#"{r: (.name | test("^wor"))}"#,
            event.clone(),
            json!({"r": true}),
        ),
        (
            "try error(\"x\") catch {caught: .}",
            json!({}),
            json!({"caught": "x"}),
        ),
    ];
    for (src, data, want) in cases {
        assert_eq!(compile(src).apply(&data), Ok(want), "{src}");
    }
}

#[test]
fn output_and_input_keys_are_sorted_like_go() {
    let out = compile(". + {a: 0}").apply(&json!({"z": 1, "m": {"y": 1, "b": 2}}));
    let text = out.map(|v| v.to_string());
    assert_eq!(text, Ok(r#"{"a":0,"m":{"b":2,"y":1},"z":1}"#.to_string()));
    // gojq iterates decoded objects in key order.
    let out = compile("{keys: [to_entries[].key]}").apply(&json!({"b": 1, "a": 2}));
    assert_eq!(out, Ok(json!({"keys": ["a", "b"]})));
}

#[test]
fn documented_differences_from_gojq() {
    // jaq keeps floats inside the program; gojq would print "3".
    let out = compile("{s: (1.5 + 1.5 | tostring)}").apply(&json!({}));
    assert_eq!(out, Ok(json!({"s": "3.0"})));
    // `input` does not exist, so this fails when compiling.
    let err = JqProgram::compile("{x: input}").err().unwrap_or_default();
    assert_eq!(
        err,
        "jq compile error at line 1, column 5: undefined filter input"
    );
    // `ltrimstr` on a non-string is an error in jaq (gojq returns the input).
    let err = compile("{x: (.a | ltrimstr(\"x\"))}").apply(&json!({"a": 1}));
    assert_eq!(
        err,
        Err("jq transform failed: cannot use 1 as string".into())
    );
}

#[test]
fn compile_errors() {
    let cases = [
        (
            "{b: .a",
            "jq syntax error at line 1, column 7: expected closing brace",
        ),
        (
            ".a |",
            "jq syntax error at line 1, column 5: expected term, found end of program",
        ),
        (
            "{x: 1}\n| .a ) ",
            "jq syntax error at line 2, column 6: unexpected character ')'",
        ),
        (
            "\"abc",
            "jq syntax error at line 1, column 5: expected closing quote",
        ),
        (
            "{x: nosuchfn}",
            "jq compile error at line 1, column 5: undefined filter nosuchfn",
        ),
        (
            "{x: $nope}",
            "jq compile error at line 1, column 5: undefined variable $nope",
        ),
        (
            "{x: @base32}",
            "jq compile error at line 1, column 5: undefined filter @base32",
        ),
    ];
    for (src, want) in cases {
        let err = JqProgram::compile(src).err().unwrap_or_default();
        assert_eq!(err, want, "{src}");
    }
}

#[test]
fn apply_errors() {
    let data = json!({"a": 1, "s": "text", "l": [1]});
    let cases = [
        (".a", "jq transform produced a number, not an object"),
        (".s", "jq transform produced a string, not an object"),
        (".l", "jq transform produced an array, not an object"),
        (".missing", "jq transform produced null, not an object"),
        (".a == 1", "jq transform produced a boolean, not an object"),
        ("empty", "jq transform produced no output"),
        ("select(.a == 2)", "jq transform produced no output"),
        (".a.b", "jq transform failed: cannot index 1 with \"b\""),
        (
            "error(\"custom failure\")",
            "jq transform failed: custom failure",
        ),
        ("error({code: 7})", "jq transform failed: {\"code\":7}"),
        ("halt", "jq transform stopped: halt is not allowed"),
        (
            "\"bye\" | halt_error",
            "jq transform stopped: halt is not allowed",
        ),
        (
            "{x: nan}",
            "jq transform produced the number NaN, which JSON cannot represent",
        ),
        (
            "{x: infinite}",
            "jq transform produced the number Infinity, which JSON cannot represent",
        ),
        (
            "{(1): 2}",
            "jq transform produced an object key that is a number, not a string",
        ),
        (
            "{x: (reduce range(30) as $i ([1]; [., .]))}",
            "jq transform produced more than 1000000 values",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(compile(src).apply(&data), Err(want.to_string()), "{src}");
    }
    let err = compile(".").apply(&json!([1, 2]));
    assert_eq!(
        err,
        Err("jq transform needs a JSON object as event data, but the data is an array".into())
    );
}

#[test]
fn gojq_builtins_added_for_compatibility() {
    let data = json!({"rows": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}], "v": 2});
    let cases = [
        ("{r: (.v | IN(1, 2))}", json!({"r": true})),
        ("{r: IN(.rows[].id; 3)}", json!({"r": false})),
        (
            "{r: INDEX(.rows[]; .id)}",
            json!({"r": {"1": {"id": 1, "n": "a"}, "2": {"id": 2, "n": "b"}}}),
        ),
        ("{r: (.rows | INDEX(.n) | keys)}", json!({"r": ["a", "b"]})),
        (
            "{r: [leaf_paths]}",
            json!({"r": [["rows", 0, "id"], ["rows", 0, "n"], ["rows", 1, "id"], ["rows", 1, "n"], ["v"]]}),
        ),
        (
            "{r: (.v | toarray), s: ([1] | toarray)}",
            json!({"r": [2], "s": [1]}),
        ),
        (
            r#"{r: ([1, "a\"b", null, true] | @csv)}"#,
            json!({"r": "1,\"a\"\"b\",,true"}),
        ),
        (
            r#"{r: (["a\tb", "c\\d", 1] | @tsv)}"#,
            json!({"r": "a\\tb\tc\\\\d\t1"}),
        ),
        (
            r#"{r: @csv "row: \(.rows | map(.n))"}"#,
            json!({"r": "row: \"a\",\"b\""}),
        ),
    ];
    for (src, want) in cases {
        assert_eq!(compile(src).apply(&data), Ok(want), "{src}");
    }
    let err = compile("{r: ([{}] | @csv)}").apply(&data);
    assert_eq!(
        err,
        Err("jq transform failed: object ({}) is not valid in a csv row".into())
    );
}

#[test]
fn only_the_first_output_is_computed() {
    // Only the first output is computed, so an endless stream after it is harmless.
    let out = compile("{n: 1}, repeat({})").apply(&json!({}));
    assert_eq!(out, Ok(json!({"n": 1})));
}

#[test]
fn program_is_reusable() {
    let program = compile(".count += 1");
    assert_eq!(program.apply(&json!({"count": 1})), Ok(json!({"count": 2})));
    assert_eq!(
        program.apply(&json!({"count": 41})),
        Ok(json!({"count": 42}))
    );
    assert_eq!(program.apply(&json!({})), Ok(json!({"count": 1})));
}
