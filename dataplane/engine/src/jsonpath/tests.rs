use super::modifiers::{escape_non_modifiers, go_json_string};
use super::*;

const DOC: &str = r#"{
  "header": {"X-Github-Event": ["push"], "Content-Type": ["application/json"]},
  "body": {
    "ref": "refs/heads/main",
    "head_commit": {"author": {"name": "Ada \"Lovelace\""}},
    "count": 42, "ratio": 1.0, "big": 1e3, "neg": -0.5, "tiny": 1.5e-7,
    "huge": 12345678901234567890, "flag": true, "off": false, "nothing": null,
    "numstr": "2.0", "word": "abc",
    "friends": [
      {"first": "Dale", "last": "Murphy", "age": 44, "nets": ["ig", "fb", "tw"]},
      {"first": "Roger", "last": "Craig", "age": 68, "nets": ["fb", "tw"]},
      {"first": "Jane", "last": "Murphy", "age": 47, "nets": ["ig", "tw"]}
    ],
    "nested": [[1, 2], [3, [4]]],
    "fav.movie": "Deer Hunter",
    "cols": {"id": [1, 2], "name": ["a", "b"]},
    "encoded": "{\"id\":7,\"tags\":[\"x\"]}"
  },
  "metadata": {"k": "v"}
}"#;

fn s(path: &str) -> Option<String> {
    get(DOC, path).map(|f| f.go_string())
}

#[test]
fn path_syntax_table() {
    let cases: &[(&str, Option<&str>)] = &[
        ("body.ref", Some("refs/heads/main")),
        ("header.X-Github-Event.0", Some("push")),
        ("header.X-Github-Event", Some(r#"["push"]"#)),
        ("header.Content-Type.0", Some("application/json")),
        ("body.head_commit.author.name", Some(r#"Ada "Lovelace""#)),
        ("metadata.k", Some("v")),
        ("body.friends.1.first", Some("Roger")),
        ("body.friends.#", Some("3")),
        ("body.friends.#.first", Some(r#"["Dale","Roger","Jane"]"#)),
        (r#"body.friends.#(last=="Murphy").first"#, Some("Dale")),
        (
            r#"body.friends.#(last=="Murphy")#.first"#,
            Some(r#"["Dale","Jane"]"#),
        ),
        (
            "body.friends.#(age>45)#.last",
            Some(r#"["Craig","Murphy"]"#),
        ),
        (r#"body.friends.#(first%"D*").last"#, Some("Murphy")),
        (
            r#"body.friends.#(nets.#(=="fb"))#.first"#,
            Some(r#"["Dale","Roger"]"#),
        ),
        ("body.fri*.0.first", Some("Dale")),
        ("body.c?unt", Some("42")),
        (r"body.fav\.movie", Some("Deer Hunter")),
        ("body.nested|@flatten", Some("[1, 2,3, [4]]")),
        ("body.friends.0.nets|@reverse", Some(r#"["tw","fb","ig"]"#)),
        ("body.friends.0.nets.@reverse.0", Some("tw")),
        ("metadata|@this", Some(r#"{"k": "v"}"#)),
        ("[body.count,body.ref]", Some(r#"[42,"refs/heads/main"]"#)),
        ("{body.count,metadata.k}", Some(r#"{"count":42,"k":"v"}"#)),
        ("body.friends.0.nets|#", Some("3")),
        // Go-only modifiers handled by the wrapper.
        ("metadata|@keys", Some(r#"["k"]"#)),
        ("body.cols.@keys", Some(r#"["id","name"]"#)),
        ("metadata|@values", Some(r#"["v"]"#)),
        (
            "body.cols|@group",
            Some(r#"[{"id":1,"name":"a"},{"id":2,"name":"b"}]"#),
        ),
        ("body.encoded|@fromstr|id", Some("7")),
        ("body.encoded|@fromstr.tags.0", Some("x")),
        ("metadata|@tostr", Some(r#"{"k": "v"}"#)),
        // Missing paths.
        ("body.missing", None),
        ("body.friends.9", None),
        ("body.friends.-1", None),
        (r#"body.friends.#(last=="Nobody").first"#, None),
        ("", None),
        ("body.word.deeper", None),
        ("missing|@keys.0", None),
    ];
    for (path, want) in cases {
        assert_eq!(s(path).as_deref(), *want, "path {path:?}");
    }
}

#[test]
fn filter_collect_on_no_match_is_empty_array() {
    let found = get(DOC, r#"body.friends.#(last=="Nobody")#.first"#).expect("exists");
    assert_eq!(found.kind(), Kind::Json);
    assert_eq!(found.raw(), "[]");
}

#[test]
fn go_string_coercions() {
    let cases: &[(&str, &str, Kind)] = &[
        ("body.count", "42", Kind::Number),
        ("body.ratio", "1", Kind::Number),
        ("body.big", "1000", Kind::Number),
        ("body.neg", "-0.5", Kind::Number),
        ("body.tiny", "0.00000015", Kind::Number),
        ("body.huge", "12345678901234567890", Kind::Number),
        ("body.flag", "true", Kind::True),
        ("body.off", "false", Kind::False),
        ("body.nothing", "", Kind::Null),
        ("body.numstr", "2.0", Kind::String),
        ("metadata", r#"{"k": "v"}"#, Kind::Json),
        ("body.friends.1.nets", r#"["fb", "tw"]"#, Kind::Json),
        ("[body.ratio,body.big]", "[1.0,1e3]", Kind::Json),
    ];
    for (path, want, kind) in cases {
        let found = get(DOC, path).expect(path);
        assert_eq!(found.go_string(), *want, "path {path:?}");
        assert_eq!(found.kind(), *kind, "kind of {path:?}");
    }
}

#[test]
fn go_float_coercions() {
    let cases: &[(&str, f64)] = &[
        ("body.count", 42.0),
        ("body.ratio", 1.0),
        ("body.big", 1000.0),
        ("body.neg", -0.5),
        ("body.numstr", 2.0),
        ("body.word", 0.0),
        ("body.flag", 1.0),
        ("body.off", 0.0),
        ("body.nothing", 0.0),
        ("metadata", 0.0),
        ("body.huge", 12345678901234567890.0),
    ];
    for (path, want) in cases {
        assert_eq!(
            get(DOC, path).expect(path).go_float(),
            *want,
            "path {path:?}"
        );
    }
    let strings: &[(&str, f64)] = &[
        (r#"{"v":"0x1p4"}"#, 16.0),
        (r#"{"v":"0x10"}"#, 0.0),
        (r#"{"v":"1_000"}"#, 1000.0),
        (r#"{"v":" 1"}"#, 0.0),
        (r#"{"v":"1e400"}"#, f64::INFINITY),
        (r#"{"v":"-Inf"}"#, f64::NEG_INFINITY),
        (r#"{"v":".5"}"#, 0.5),
        (r#"{"v":"\u0032"}"#, 2.0),
    ];
    for (json, want) in strings {
        assert_eq!(get(json, "v").expect(json).go_float(), *want, "json {json}");
    }
}

#[test]
fn go_bool_coercions() {
    let cases: &[(&str, bool)] = &[
        (r#"{"v":true}"#, true),
        (r#"{"v":false}"#, false),
        (r#"{"v":null}"#, false),
        (r#"{"v":"TRUE"}"#, true),
        (r#"{"v":"TrUe"}"#, true),
        (r#"{"v":"t"}"#, true),
        (r#"{"v":"T"}"#, true),
        (r#"{"v":"1"}"#, true),
        (r#"{"v":"yes"}"#, false),
        (r#"{"v":"2"}"#, false),
        (r#"{"v":"0"}"#, false),
        (r#"{"v":"false"}"#, false),
        (r#"{"v":""}"#, false),
        (r#"{"v":0.5}"#, true),
        (r#"{"v":0}"#, false),
        (r#"{"v":-1}"#, true),
        (r#"{"v":{"a":1}}"#, false),
        (r#"{"v":[1]}"#, false),
    ];
    for (json, want) in cases {
        assert_eq!(get(json, "v").expect(json).go_bool(), *want, "json {json}");
    }
}

#[test]
fn raw_and_to_json() {
    let found = get(DOC, "body.head_commit.author.name").expect("name");
    assert_eq!(found.raw(), r#""Ada \"Lovelace\"""#);
    assert_eq!(found.to_json(), serde_json::json!("Ada \"Lovelace\""));
    let friends = get(DOC, "body.friends.#.age").expect("ages");
    assert_eq!(friends.to_json(), serde_json::json!([44, 68, 47]));
    assert_eq!(
        get(DOC, "body.nothing").expect("null").to_json(),
        serde_json::Value::Null
    );
    assert_eq!(
        get(DOC, "body.ratio").expect("ratio").to_json(),
        serde_json::json!(1.0)
    );
}

#[test]
fn plain_results_borrow_the_input() {
    let found = get(DOC, "body.ref").expect("ref");
    assert!(matches!(found.raw, Cow::Borrowed(_)));
    assert!(matches!(found.str_form(), Cow::Borrowed("refs/heads/main")));
    let computed = get(DOC, "body.friends.#").expect("count");
    assert!(matches!(computed.raw, Cow::Owned(_)));
}

#[test]
fn result_outlives_the_path() {
    let found = {
        let path = String::from("metadata.k");
        get(DOC, &path)
    };
    assert_eq!(found.map(|f| f.go_string()).as_deref(), Some("v"));
}

#[test]
fn valid_json_check() {
    assert!(valid(r#"{"a":1}"#));
    assert!(valid("  [1, 2] "));
    assert!(valid("\"x\""));
    assert!(!valid(""));
    assert!(!valid("{"));
    assert!(!valid(r#"{"a":1} x"#));
}

#[test]
fn go_parse_float_table() {
    let ok: &[(&str, f64)] = &[
        ("1", 1.0),
        ("-2.5", -2.5),
        ("+3", 3.0),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("1.", 1.0),
        (".5", 0.5),
        ("1_000.5", 1000.5),
        ("0x1p-2", 0.25),
        ("0X1.8P1", 3.0),
        ("0x_1p0", 1.0),
        ("inf", f64::INFINITY),
        ("+Infinity", f64::INFINITY),
        ("-INF", f64::NEG_INFINITY),
        ("1e-400", 0.0),
    ];
    for (text, want) in ok {
        assert_eq!(go_parse_float(text), Ok(*want), "{text:?}");
    }
    assert!(go_parse_float("NaN").is_ok_and(f64::is_nan));
    let syntax = [
        "", "abc", " 1", "1 ", "1e", "e1", ".", "1_", "_1", "1__0", "0x10", "0x", "+nan", "1.2.3",
        "0b101", "--1", "1e+",
    ];
    for text in syntax {
        assert_eq!(go_parse_float(text), Err(GoNumError::Syntax), "{text:?}");
    }
    assert_eq!(
        go_parse_float("1e400"),
        Err(GoNumError::Range(f64::INFINITY))
    );
    assert_eq!(
        go_parse_float("-0x1p5000"),
        Err(GoNumError::Range(f64::NEG_INFINITY))
    );
}

#[test]
fn go_error_messages() {
    assert_eq!(
        go_parse_float_msg("abc"),
        Err(r#"strconv.ParseFloat: parsing "abc": invalid syntax"#.to_owned())
    );
    assert_eq!(
        go_parse_float_msg("1e400"),
        Err(r#"strconv.ParseFloat: parsing "1e400": value out of range"#.to_owned())
    );
    assert_eq!(go_parse_float_msg("12.5"), Ok(12.5));
    assert_eq!(
        go_parse_bool("yes"),
        Err(r#"strconv.ParseBool: parsing "yes": invalid syntax"#.to_owned())
    );
}

#[test]
fn go_parse_bool_table() {
    for text in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(go_parse_bool(text), Ok(true), "{text:?}");
    }
    for text in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(go_parse_bool(text), Ok(false), "{text:?}");
    }
    for text in ["", "tRUE", "yes", "2", " true"] {
        assert!(go_parse_bool(text).is_err(), "{text:?}");
    }
}

#[test]
fn go_format_float_table() {
    let cases: &[(f64, &str)] = &[
        (1.0, "1"),
        (1000.0, "1000"),
        (-0.5, "-0.5"),
        (1.5e-7, "0.00000015"),
        (1e21, "1000000000000000000000"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-0.0, "-0"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];
    for (f, want) in cases {
        assert_eq!(go_format_float(*f), *want);
    }
}

#[test]
fn go_quote_table() {
    let cases: &[(&str, &str)] = &[
        ("abc", r#""abc""#),
        ("a\"b\\c", r#""a\"b\\c""#),
        ("tab\there\n", r#""tab\there\n""#),
        ("\u{7}\u{0}\u{7f}", r#""\a\x00\x7f""#),
        ("héllo ✓", "\"héllo ✓\""),
        ("\u{a0}\u{feff}", r#""\u00a0\ufeff""#),
    ];
    for (input, want) in cases {
        assert_eq!(go_quote(input), *want);
    }
}

#[test]
fn go_string_of_serde_values() {
    let cases: &[(serde_json::Value, &str)] = &[
        (serde_json::json!(null), ""),
        (serde_json::json!(true), "true"),
        (serde_json::json!("x"), "x"),
        (serde_json::json!(7), "7"),
        (serde_json::json!(1.0), "1"),
        (serde_json::json!(2.5), "2.5"),
        (serde_json::json!({"a": [1, "b"]}), r#"{"a":[1,"b"]}"#),
    ];
    for (value, want) in cases {
        assert_eq!(go_string_of(value), *want);
    }
}

#[test]
fn tostr_escapes_like_gjson() {
    assert_eq!(
        go_json_string("<a&b>\n\"é"),
        r#""\u003ca\u0026b\u003e\n\"é""#
    );
    let found = get(r#"{"a":{"b":"<x>"}}"#, "a|@tostr").expect("tostr");
    assert_eq!(found.kind(), Kind::String);
    assert_eq!(found.go_string(), r#"{"b":"<x>"}"#);
}

#[test]
fn keys_and_values_on_arrays_and_scalars() {
    assert_eq!(
        s("body.friends.0.nets|@keys").as_deref(),
        Some("[null,null,null]")
    );
    assert_eq!(
        s("body.friends.0.nets|@values").as_deref(),
        Some(r#"["ig", "fb", "tw"]"#)
    );
    assert_eq!(s("body.count|@keys").as_deref(), Some("[null]"));
    assert_eq!(s("body.ref|@group"), None);
    assert_eq!(s("body.word|@fromstr"), None);
}

#[test]
fn at_keys_that_are_not_modifiers_are_plain_keys() {
    let json = r#"{"@timestamp":"t0","body":{"@timestamp":"t1","@type":{"@id":7}},"arr":[{"@v":1},{"@v":2}]}"#;
    let cases: &[(&str, Option<&str>)] = &[
        ("@timestamp", Some("t0")),
        ("body.@timestamp", Some("t1")),
        ("body|@timestamp", Some("t1")),
        ("body.@type.@id", Some("7")),
        ("arr.#.@v", Some("[1,2]")),
        ("body.@type|@keys", Some(r#"["@id"]"#)),
        ("body.@missing", None),
        ("body|@dig:@id", None), // @dig (gjson ≥ 1.17) is not evaluated
    ];
    for (path, want) in cases {
        assert_eq!(
            get(json, path).map(|f| f.go_string()).as_deref(),
            *want,
            "{path}"
        );
    }
    assert!(matches!(
        escape_non_modifiers("a.@this"),
        Cow::Borrowed("a.@this")
    ));
    assert_eq!(escape_non_modifiers("@x.@reverse|@y"), r"\@x.@reverse|\@y");
}
