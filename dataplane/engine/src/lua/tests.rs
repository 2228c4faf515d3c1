use super::*;
use serde_json::json;

/// Script from examples `sensors/filter-script.yaml`.
const EXAMPLE_FILTER: &str =
    r#"if event.body.a == "b" and event.body.d.e == "z" then return true else return false end"#;
/// Lua transform from examples `sensors/transform.yaml`.
const EXAMPLE_TRANSFORM: &str = "event.body.message='updated'\nreturn event";

fn compile(src: &str) -> LuaScript {
    match LuaScript::compile(src) {
        Ok(script) => script,
        Err(e) => panic!("compile {src:?}: {e}"),
    }
}

#[test]
fn lua_script_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LuaScript>();
}

#[test]
fn compile_errors_name_the_line() {
    let cases = [
        ("if x then return true", "script:1:", "'end' expected"),
        (
            "local a = 1\nlocal = 2",
            "script:2:",
            "'<name>' expected near '='",
        ),
        ("return event.a ==", "script:1:", "unexpected symbol"),
        ("x = = 1", "script:1:", "unexpected symbol near '='"),
    ];
    for (src, line, detail) in cases {
        let err = LuaScript::compile(src).err().unwrap_or_default();
        assert!(err.starts_with("Lua syntax error: "), "{src:?}: {err}");
        assert!(err.contains(line), "{src:?}: {err}");
        assert!(err.contains(detail), "{src:?}: {err}");
    }
}

#[test]
fn filter_results() {
    let payload = json!({"body": {"a": "b", "c": 10, "d": {"e": "z"}}});
    let other = json!({"body": {"a": "b", "c": 10, "d": {"e": "y"}}});
    let flat = json!({"a": "b", "c": 10, "d": {"e": true}, "n": null,
                      "list": ["x", null, "y"], "f": 1.5, "s": "Hello"});
    let brief = r#"if event.a == "b" and event.d.e == true then return true else return false end"#;
    let cases: Vec<(&str, &Json, bool)> = vec![
        (EXAMPLE_FILTER, &payload, true),
        (EXAMPLE_FILTER, &other, false),
        (brief, &flat, true),
        ("return event.c == 10", &flat, true),
        ("return event.c > 9 and event.c < 11", &flat, true),
        ("return event.f * 2 == 3", &flat, true),
        ("return event.n == nil", &flat, true),
        ("return event.missing == nil", &flat, true),
        // null elements are skipped, so "y" moves to index 2.
        (
            r#"return #event.list == 2 and event.list[2] == "y""#,
            &flat,
            true,
        ),
        (r#"return string.upper(event.s) == "HELLO""#, &flat, true),
        (r#"return string.find(event.s, "^Hel") ~= nil"#, &flat, true),
        ("return math.floor(event.f) == 1", &flat, true),
        (
            r#"return table.concat({"a", "b"}, "-") == "a-b""#,
            &flat,
            true,
        ),
        (r#"print("debugging") return true"#, &flat, true),
        // Only the boolean true passes.
        ("return 1", &flat, false),
        (r#"return "true""#, &flat, false),
        ("return {}", &flat, false),
        ("return nil", &flat, false),
        ("local x = 1", &flat, false),
        // Like gopher-lua's top of stack, the last returned value counts.
        ("return true, false", &flat, false),
        ("return false, true", &flat, true),
        // `null` data is an empty event table.
        ("return next(event) == nil", &Json::Null, true),
    ];
    for (src, data, want) in cases {
        assert_eq!(compile(src).filter(data), Ok(want), "{src}");
    }
}

#[test]
fn filter_errors() {
    let data = json!({"a": "b"});
    let cases = [
        (
            "return event.x.y",
            "attempt to index field 'x' (a nil value)",
        ),
        (r#"error("boom")"#, "script:1: boom"),
        ("return event.a + 1", "attempt to perform arithmetic"),
        (
            "return undefined_fn()",
            "attempt to call global 'undefined_fn'",
        ),
    ];
    for (src, want) in cases {
        let err = compile(src).filter(&data).err().unwrap_or_default();
        assert!(err.starts_with("Lua script error: "), "{src}: {err}");
        assert!(err.contains(want), "{src}: {err}");
        assert!(!err.contains("stack traceback"), "{src}: {err}");
    }
    let mut deep = json!(1);
    for _ in 0..250 {
        deep = json!({ "d": deep });
    }
    let err = compile("return true").filter(&deep);
    assert_eq!(
        err,
        Err("cannot pass the event to Lua: event data is nested deeper than 200 levels".into())
    );
    let err = compile("return true").filter(&json!([1, 2]));
    assert_eq!(
        err,
        Err("cannot pass the event to Lua: the event data is an array, not a JSON object".into())
    );
}

#[test]
fn sandbox_has_no_io() {
    let data = json!({});
    let absent = "return os == nil and io == nil and require == nil and dofile == nil \
                  and loadfile == nil and debug == nil and package == nil and coroutine == nil";
    assert_eq!(compile(absent).filter(&data), Ok(true));
    let present = "return string ~= nil and table ~= nil and math ~= nil and pcall ~= nil";
    assert_eq!(compile(present).filter(&data), Ok(true));
    for src in [
        "os.exit(1)",
        r#"io.open("/etc/passwd")"#,
        r#"require("os")"#,
    ] {
        let err = compile(src).filter(&data).err().unwrap_or_default();
        assert!(err.contains("attempt to"), "{src}: {err}");
    }
}

#[test]
fn globals_do_not_leak_between_runs() {
    let script = compile("if seen then return false end seen = true return true");
    let data = json!({"a": 1});
    assert_eq!(script.filter(&data), Ok(true));
    assert_eq!(script.filter(&data), Ok(true));
    // `_G` is the per-run environment too.
    let script = compile("if _G.mark then return false end _G.mark = 1 return true");
    assert_eq!(script.filter(&data), Ok(true));
    assert_eq!(script.filter(&data), Ok(true));
}

#[test]
fn runaway_scripts_are_stopped() {
    let want = Err(format!(
        "Lua script stopped after {INSTRUCTION_LIMIT} instructions (endless loop?)"
    ));
    let data = json!({});
    let cases = [
        "while true do end",
        "local i = 0 repeat i = i + 1 until false",
        "local function f() return f() end return f()",
        // Catching the abort does not help.
        "pcall(function() while true do end end) return true",
    ];
    for src in cases {
        let script = compile(src);
        assert_eq!(script.filter(&data), want, "{src}");
        // The state is still usable and the budget starts again.
        assert_eq!(script.filter(&data), want, "{src} (second run)");
    }
    // A long but bounded loop is fine.
    let bounded = compile("local s = 0 for i = 1, 100000 do s = s + i end return s == 5000050000");
    assert_eq!(bounded.filter(&data), Ok(true));
    assert_eq!(bounded.filter(&data), Ok(true));
}

#[test]
fn memory_is_bounded() {
    let script = compile(r#"local s = string.rep("x", 1000000000) return true"#);
    assert_eq!(
        script.filter(&json!({})),
        Err("Lua script ran out of memory (limit 64 MiB)".into())
    );
    assert_eq!(compile("return true").filter(&json!({})), Ok(true));
}

#[test]
fn transform_results() {
    let cases: Vec<(&str, Json, Json)> = vec![
        (
            EXAMPLE_TRANSFORM,
            json!({"body": {"message": "hello"}}),
            json!({"body": {"message": "updated"}}),
        ),
        // Upstream's unit test: arrays are 1-based.
        (
            "event.c.d[1]=4\nreturn event",
            json!({"a": 1, "b": "2", "c": {"d": [3]}}),
            json!({"a": 1, "b": "2", "c": {"d": [4]}}),
        ),
        // __is_array forces an array, even an empty one.
        (
            "event.env = setmetatable({}, { __is_array = true })\nreturn event",
            json!({"env": 123}),
            json!({"env": []}),
        ),
        (
            "return {list = setmetatable({1, 2}, {__is_array = true})}",
            json!({}),
            json!({"list": [1, 2]}),
        ),
        // Only the boolean true marks an array.
        (
            r#"return {a = setmetatable({}, {__is_array = "yes"}), b = setmetatable({}, {})}"#,
            json!({}),
            json!({"a": {}, "b": {}}),
        ),
        // Empty tables become objects, including empty input arrays.
        (
            "event.env = {}\nreturn event",
            json!({"env": 1}),
            json!({"env": {}}),
        ),
        ("return event", json!({"l": []}), json!({"l": {}})),
        // gopher-lua MaxN: holes become null, other keys are dropped.
        (
            r#"return {x = {[1] = "a", [3] = "c"}}"#,
            json!({}),
            json!({"x": ["a", null, "c"]}),
        ),
        (
            "return {x = {1, 2, y = 3}}",
            json!({}),
            json!({"x": [1, 2]}),
        ),
        // Keys that are not array indexes are written as text.
        (
            r#"return {[0] = "z", [1.5] = "h", [-2] = "m", [true] = 1}"#,
            json!({}),
            json!({"-2": "m", "0": "z", "1.5": "h", "true": 1}),
        ),
        // Integral numbers become integers.
        (
            "return {a = 4.0, b = 2.5, c = 10 / 2, d = -0, e = 2^53, f = event.n + 1}",
            json!({"n": 1.0}),
            json!({"a": 4, "b": 2.5, "c": 5, "d": 0, "e": 9007199254740992_i64, "f": 2}),
        ),
        // A top-level array-shaped table is returned as an array, as upstream does.
        ("return {1, 2, 3}", json!({}), json!([1, 2, 3])),
        // Nested arrays and objects round-trip; null members are dropped.
        (
            "return event",
            json!({"m": [[1, 2], [3]], "o": [{"k": "v"}], "n": null, "t": true}),
            json!({"m": [[1, 2], [3]], "o": [{"k": "v"}], "t": true}),
        ),
        // Null array elements are skipped.
        (
            "return event",
            json!({"l": [1, null, 2]}),
            json!({"l": [1, 2]}),
        ),
        ("return event", Json::Null, json!({})),
    ];
    for (src, data, want) in cases {
        assert_eq!(compile(src).transform(&data), Ok(want), "{src}");
    }
}

#[test]
fn transform_sorts_object_keys_like_go() {
    let out = compile("return {z = 1, a = {y = 2, b = 3}, m = 4}").transform(&json!({}));
    let text = out.map(|v| v.to_string());
    assert_eq!(text, Ok(r#"{"a":{"b":3,"y":2},"m":4,"z":1}"#.to_string()));
}

#[test]
fn transform_errors() {
    let data = json!({"a": 1});
    let cases = [
        (
            r#"return "hello""#,
            "Lua transform script must return a table, but it returned a string",
        ),
        (
            "return",
            "Lua transform script must return a table, but it returned nothing",
        ),
        (
            "return 5",
            "Lua transform script must return a table, but it returned a number",
        ),
        (
            "return nil",
            "Lua transform script must return a table, but it returned nil",
        ),
        (
            "return {f = print}",
            "the returned table holds a function, which cannot be converted",
        ),
        ("return {n = 0/0}", "cannot be converted to JSON"),
        (
            "return {n = 1/0}",
            "the Lua number inf cannot be converted to JSON",
        ),
        (
            "return {[{}] = 1}",
            "a table key that is a table cannot be a JSON object key",
        ),
        (
            "local t = {} t.self = t return t",
            "the returned table is nested deeper than 200 levels",
        ),
        (
            "return {[2000000] = 1}",
            "an array of length 2000000 with more than 100000 missing elements",
        ),
        (
            "local t = {1} for i = 1, 40 do t = {t, t} end return t",
            "the returned table holds more than 1000000 values",
        ),
        (
            "return event.a.b",
            "Lua script error: script:1: attempt to index field 'a'",
        ),
    ];
    for (src, want) in cases {
        let err = compile(src).transform(&data).err().unwrap_or_default();
        assert!(err.contains(want), "{src}: {err}");
    }
}

#[test]
fn transform_reuses_state_with_fresh_event() {
    let script = compile("event.count = (event.count or 0) + 1 return event");
    assert_eq!(script.transform(&json!({})), Ok(json!({"count": 1})));
    assert_eq!(
        script.transform(&json!({"count": 5})),
        Ok(json!({"count": 6}))
    );
    assert_eq!(script.transform(&json!({})), Ok(json!({"count": 1})));
}
