use std::cell::Cell;

use super::*;

const EVENT: &str = r#"{
  "header": {"X-Github-Event": ["push"]},
  "body": {
    "ref": "refs/heads/feature/x", "value": 42, "ratio": 1.5, "numstr": "2.0", "word": "abc",
    "merged": false, "flag": true, "upper": "TRUE", "nothing": null,
    "head_commit": {"author": {"name": "Ada"}}, "b64": "aGVsbG8="
  }
}"#;

fn spec(path: &str, type_: &str, values: &[&str], comparator: &str) -> DataFilterSpec {
    DataFilterSpec {
        path: path.to_owned(),
        type_: type_.to_owned(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        comparator: comparator.to_owned(),
        template: String::new(),
    }
}

fn templated(mut filter: DataFilterSpec, template: &str) -> DataFilterSpec {
    filter.template = template.to_owned();
    filter
}

/// A stand-in for the Go template engine covering the templates used below.
fn render(template: &str, input: &str) -> Result<String, String> {
    match template {
        "{{ .Input | upper }}" => Ok(input.to_uppercase()),
        "{{ .Input | b64dec }}" => Ok(if input == "aGVsbG8=" {
            "hello".into()
        } else {
            "illegal base64 data at input byte 0".into()
        }),
        "{{ .Input | len }}" => Ok(input.len().to_string()),
        "{{ .Missing }}" => Ok("<no value>".into()),
        "{{ if false }}x{{ end }}" => Ok(String::new()),
        _ => Err(format!(
            "template: param:1: function {template:?} not defined"
        )),
    }
}

fn no_render(_: &str, _: &str) -> Result<String, String> {
    Err("no template expected".to_owned())
}

fn run(filters: &[DataFilterSpec], or: bool) -> FilterOutcome {
    compile_deferred(filters).evaluate(EVENT.as_bytes(), or, &render)
}

fn passes(filter: DataFilterSpec) -> bool {
    let outcome = run(std::slice::from_ref(&filter), false);
    assert!(outcome.errors.is_empty(), "{filter:?} errored: {outcome:?}");
    outcome.passed
}

#[test]
fn string_filters() {
    let cases: &[(&str, &[&str], &str, bool)] = &[
        ("body.ref", &["refs/heads/feature/x"], "", true),
        ("body.ref", &["feature"], "=", true), // unanchored
        ("body.ref", &["^feature"], "=", false),
        ("body.ref", &["^refs/heads/(main|feature/.*)$"], "", true),
        ("body.ref", &["main", "feature"], "", true), // values are OR-ed
        ("body.ref", &["main"], "!=", true),
        ("body.ref", &["feature"], "!=", false),
        ("body.ref", &["feature", "main"], "!=", true), // any differing value passes
        ("body.ref", &["feature"], ">", false),         // other comparators never pass
        ("body.ref", &[".*"], "<=", false),
        ("header.X-Github-Event", &[r#"^\["push"\]$"#], "", true), // raw JSON text
        ("header.X-Github-Event.0", &["^push$"], "", true),
        ("body.value", &["^42$"], "", true),
        ("body.ratio", &["^1.5$"], "", true),
        ("body.flag", &["^true$"], "", true),
        ("body.nothing", &["^$"], "", true),
        ("body.head_commit.author.name", &["(?i)^ada$"], "", true),
    ];
    for (path, values, comparator, want) in cases {
        assert_eq!(
            passes(spec(path, "string", values, comparator)),
            *want,
            "{path} {values:?} {comparator:?}"
        );
    }
}

#[test]
fn number_filters() {
    let cases: &[(&str, &[&str], &str, bool)] = &[
        ("body.value", &["42"], "", true),
        ("body.value", &["42.0"], "=", true),
        ("body.value", &["41"], "=", false),
        ("body.value", &["41"], "!=", true),
        ("body.value", &["42"], "!=", false),
        ("body.value", &["41"], ">", true),
        ("body.value", &["42"], ">", false),
        ("body.value", &["42"], ">=", true),
        ("body.value", &["43"], "<", true),
        ("body.value", &["42"], "<", false),
        ("body.value", &["42"], "<=", true),
        ("body.value", &["42"], "==", false), // unknown comparator never passes
        ("body.value", &["1", "42"], "", true),
        ("body.value", &["0x2ap0"], "", true),
        ("body.numstr", &["2"], "", true), // numeric strings convert
        ("body.word", &["0"], "", true),   // non-numeric strings become 0
        ("body.flag", &["1"], "", true),   // true is 1
        ("body.merged", &["0"], "", true),
        ("body.nothing", &["0"], "", true),
        ("body.ratio", &["1.5"], "", true),
    ];
    for (path, values, comparator, want) in cases {
        assert_eq!(
            passes(spec(path, "number", values, comparator)),
            *want,
            "{path} {values:?} {comparator:?}"
        );
    }
}

#[test]
fn bool_filters() {
    let cases: &[(&str, &[&str], &str, bool)] = &[
        ("body.flag", &["true"], "", true),
        ("body.flag", &["T"], "", true),
        ("body.flag", &["1"], "", true),
        ("body.flag", &["false"], "", false),
        ("body.flag", &["false"], "!=", false), // the comparator is ignored for bools
        ("body.merged", &["false"], "", true),
        ("body.merged", &["true", "false"], "", true),
        ("body.upper", &["true"], "", true), // "TRUE" lower-cases to true
        ("body.word", &["false"], "", true), // unparseable strings are false
        ("body.value", &["true"], "", true), // numbers ≠ 0 are true
        ("body.nothing", &["false"], "", true),
    ];
    for (path, values, comparator, want) in cases {
        assert_eq!(
            passes(spec(path, "bool", values, comparator)),
            *want,
            "{path} {values:?} {comparator:?}"
        );
    }
}

#[test]
fn reasons_read_well() {
    let cases: Vec<(DataFilterSpec, &str)> = vec![
        (
            spec("body.ref", "string", &["refs/heads/main"], ""),
            r#"body.ref = "refs/heads/feature/x" does not match "refs/heads/main""#,
        ),
        (
            spec("body.ref", "string", &["main", "dev"], "="),
            r#"body.ref = "refs/heads/feature/x" does not match any of "main", "dev""#,
        ),
        (
            spec("body.ref", "string", &["feature", "x"], "!="),
            r#"body.ref = "refs/heads/feature/x" matches every one of "feature", "x" (comparator !=)"#,
        ),
        (
            spec("body.ref", "string", &["x"], ">"),
            r#"body.ref: comparator ">" is not supported for string filters (only = and !=), so it never matches"#,
        ),
        (
            spec("body.value", "number", &["50"], ">"),
            "body.value = 42 is not > 50",
        ),
        (
            spec("body.value", "number", &["50", "60"], ">="),
            "body.value = 42 is not >= any of 50, 60",
        ),
        (
            spec("body.value", "number", &["7"], ""),
            "body.value = 42 does not equal 7",
        ),
        (
            spec("body.value", "number", &["42"], "!="),
            "body.value = 42 equals 42 (comparator !=)",
        ),
        (
            spec("body.word", "number", &["5"], ">"),
            r#"body.word = "abc" (as number: 0) is not > 5"#,
        ),
        (
            spec("body.value", "number", &["1"], "=="),
            r#"body.value: comparator "==" is not supported (use =, !=, >, >=, <, <=), so it never matches"#,
        ),
        (
            spec("body.merged", "bool", &["true"], ""),
            "body.merged = false is not true",
        ),
        (
            spec("body.word", "bool", &["true"], ""),
            r#"body.word = "abc" (as bool: false) is not true"#,
        ),
        (
            spec("body.after", "string", &["x"], ""),
            "path body.after not found",
        ),
        (
            templated(
                spec("body.b64", "string", &["^bye$"], ""),
                "{{ .Input | b64dec }}",
            ),
            r#"body.b64 (after template) = "hello" does not match "^bye$""#,
        ),
        (
            spec("header", "string", &["pull"], ""),
            r#"header = {"X-Github-Event": ["push"]} does not match "pull""#,
        ),
    ];
    for (filter, want) in cases {
        let outcome = run(std::slice::from_ref(&filter), false);
        assert!(!outcome.passed, "{filter:?}");
        assert_eq!(outcome.reasons, vec![want.to_owned()], "{filter:?}");
    }
}

#[test]
fn long_values_are_shortened_in_reasons() {
    let long = "x".repeat(300);
    let data = format!(r#"{{"v":"{long}"}}"#);
    let outcome = compile_deferred(&[spec("v", "string", &["y"], "")]).evaluate(
        data.as_bytes(),
        false,
        &no_render,
    );
    let reason = &outcome.reasons[0];
    assert!(
        reason.starts_with(&format!("v = \"{}…\" does not match", "x".repeat(120))),
        "{reason}"
    );
}

#[test]
fn and_errors_match_upstream() {
    let cases: Vec<(DataFilterSpec, &str, &str)> = vec![
        (
            spec("body.after", "string", &["x"], ""),
            "data filter error (path 'body.after' does not exist)",
            "path body.after not found",
        ),
        (
            spec("body.ref", "string", &[], ""),
            "data filter error (no values specified)",
            "filter on body.ref has no values to compare with",
        ),
        (
            spec("body.ref", "fake-type", &["x"], ""),
            "data filter error (unsupported JSON type 'fake-type')",
            "filter on body.ref has unsupported type 'fake-type' (use string, number or bool)",
        ),
        (
            spec("body.value", "number", &["abc"], ""),
            r#"data filter error (strconv.ParseFloat: parsing "abc": invalid syntax)"#,
            r#"filter on body.value: value "abc" is not a number (strconv.ParseFloat: parsing "abc": invalid syntax)"#,
        ),
        (
            spec("body.value", "number", &["1e999"], ""),
            r#"data filter error (strconv.ParseFloat: parsing "1e999": value out of range)"#,
            r#"filter on body.value: value "1e999" is not a number (strconv.ParseFloat: parsing "1e999": value out of range)"#,
        ),
        (
            spec("body.value", "number", &["0x2a"], ""),
            r#"data filter error (strconv.ParseFloat: parsing "0x2a": invalid syntax)"#,
            r#"filter on body.value: value "0x2a" is not a number (strconv.ParseFloat: parsing "0x2a": invalid syntax)"#,
        ),
        (
            spec("body.flag", "bool", &["yes"], ""),
            r#"data filter error (strconv.ParseBool: parsing "yes": invalid syntax)"#,
            r#"filter on body.flag: value "yes" is not a boolean (strconv.ParseBool: parsing "yes": invalid syntax)"#,
        ),
        (
            templated(spec("body.ref", "string", &["x"], ""), "{{ .Missing }}"),
            "data filter error (template '{{ .Missing }}' evaluated to empty string or no value)",
            r#"template for body.ref produced no value (output "<no value>")"#,
        ),
        (
            templated(
                spec("body.ref", "string", &["x"], ""),
                "{{ if false }}x{{ end }}",
            ),
            "data filter error (template '{{ if false }}x{{ end }}' evaluated to empty string or no value)",
            r#"template for body.ref produced no value (output "")"#,
        ),
        (
            templated(spec("body.ref", "string", &["x"], ""), "{{ nope }}"),
            r#"data filter error (template: param:1: function "{{ nope }}" not defined)"#,
            r#"template for body.ref failed: template: param:1: function "{{ nope }}" not defined"#,
        ),
    ];
    for (filter, error, reason) in cases {
        let outcome = run(std::slice::from_ref(&filter), false);
        assert!(!outcome.passed, "{filter:?}");
        assert_eq!(outcome.errors, vec![error.to_owned()], "{filter:?}");
        assert_eq!(outcome.reasons, vec![reason.to_owned()], "{filter:?}");
    }
}

#[test]
fn bad_values_only_error_when_reached() {
    // Upstream parses values inside the loop: an earlier match wins before a bad value.
    assert!(passes(spec("body.value", "number", &["42", "abc"], "")));
    assert!(passes(spec("body.flag", "bool", &["true", "maybe"], "")));
    assert!(passes(spec("body.ref", "string", &["feature", "(["], "")));
    let outcome = run(&[spec("body.ref", "string", &["main", "(["], "")], false);
    assert!(!outcome.passed);
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].starts_with("data filter error (error parsing regexp: "),
        "{outcome:?}"
    );
    assert!(outcome.errors[0].ends_with(": `([`)"), "{outcome:?}");
}

#[test]
fn compile_rejects_bad_regex_naming_index_and_value() {
    let filters = [
        spec("body.ref", "string", &["ok"], ""),
        spec("body.value", "number", &["abc"], ""), // numbers stay evaluation errors
        spec("body.ref", "string", &["fine", "a(b"], ""),
    ];
    let err = compile(&filters).expect_err("bad regex");
    assert!(
        err.starts_with(r#"data filter #2 (path 'body.ref'): value "a(b" is not a valid regular expression: error parsing regexp: "#),
        "{err}"
    );
    assert!(compile(&filters[..2]).is_ok());
    assert!(compile(&[spec("body.ref", "number", &["a(b"], "")]).is_ok());
}

#[test]
fn templates_rewrite_the_value() {
    let up = templated(
        spec("body.ref", "string", &["^REFS/HEADS/FEATURE/X$"], ""),
        "{{ .Input | upper }}",
    );
    assert!(passes(up));
    let b64 = templated(
        spec("body.b64", "string", &["^hello$"], ""),
        "{{ .Input | b64dec }}",
    );
    assert!(passes(b64));
    // The template sees gjson String(): 42 → "42", and its output compares as a JSON string.
    let len = templated(
        spec("body.value", "number", &["2"], ""),
        "{{ .Input | len }}",
    );
    assert!(passes(len));
    let as_bool = templated(
        spec("body.upper", "bool", &["true"], ""),
        "{{ .Input | upper }}",
    );
    assert!(passes(as_bool));
    let seen = Cell::new(String::new());
    let capture = |_: &str, input: &str| {
        seen.set(input.to_owned());
        Ok::<_, String>("x".to_owned())
    };
    let filters = compile_deferred(&[templated(spec("header", "string", &["x"], ""), "t")]);
    assert!(filters.evaluate(EVENT.as_bytes(), false, &capture).passed);
    assert_eq!(seen.take(), r#"{"X-Github-Event": ["push"]}"#);
}

#[test]
fn and_stops_at_first_failure_or_error() {
    let calls = Cell::new(0);
    let counting = |t: &str, i: &str| {
        calls.set(calls.get() + 1);
        render(t, i)
    };
    let filters = compile_deferred(&[
        spec("body.missing", "string", &["x"], ""),
        templated(
            spec("body.ref", "string", &["x"], ""),
            "{{ .Input | upper }}",
        ),
    ]);
    let outcome = filters.evaluate(EVENT.as_bytes(), false, &counting);
    assert!(!outcome.passed);
    assert_eq!(
        outcome.errors,
        vec!["data filter error (path 'body.missing' does not exist)".to_owned()]
    );
    assert_eq!(calls.get(), 0);

    let all_pass = [
        spec("body.value", "number", &["42"], ""),
        spec("body.flag", "bool", &["true"], ""),
    ];
    assert_eq!(
        run(&all_pass, false),
        FilterOutcome {
            passed: true,
            reasons: vec![],
            errors: vec![]
        }
    );
    let one_fails = [
        spec("body.value", "number", &["42"], ""),
        spec("body.flag", "bool", &["false"], ""),
    ];
    let outcome = run(&one_fails, false);
    assert!(!outcome.passed && outcome.errors.is_empty());
    assert_eq!(
        outcome.reasons,
        vec!["body.flag = true is not false".to_owned()]
    );
}

#[test]
fn or_collects_errors_and_passes_on_first_success() {
    let failing = [
        spec("body.missing", "string", &["x"], ""),
        spec("body.value", "number", &["abc"], ""),
        spec("body.ref", "string", &["main"], ""),
        templated(spec("body.ref", "string", &["x"], ""), "{{ .Missing }}"),
        spec("body.ref", "string", &[], ""),
        spec("body.ref", "weird", &["x"], ""),
    ];
    let outcome = run(&failing, true);
    assert!(!outcome.passed);
    assert_eq!(
        outcome.errors,
        vec![
            "data filter errors [path 'body.missing' does not exist / strconv.ParseFloat: parsing \"abc\": invalid syntax / template evaluated to empty string or no value: '{{ .Missing }}' / no values specified / unsupported JSON type 'weird']"
                .to_owned()
        ]
    );
    assert_eq!(outcome.reasons.len(), 6);
    assert_eq!(
        outcome.reasons[2],
        r#"body.ref = "refs/heads/feature/x" does not match "main""#
    );

    let mut with_pass = failing.to_vec();
    with_pass.push(spec("body.value", "number", &["40"], ">"));
    assert_eq!(
        run(&with_pass, true),
        FilterOutcome {
            passed: true,
            reasons: vec![],
            errors: vec![]
        }
    );

    let plain_fail = [
        spec("body.ref", "string", &["main"], ""),
        spec("body.flag", "bool", &["false"], ""),
    ];
    let outcome = run(&plain_fail, true);
    assert!(!outcome.passed);
    assert!(outcome.errors.is_empty());
    assert_eq!(outcome.reasons.len(), 2);
}

#[test]
fn data_edge_cases() {
    let filters = compile_deferred(&[spec("a", "string", &["x"], "")]);
    let empty = filters.evaluate(b"", false, &no_render);
    assert!(empty.passed && empty.errors.is_empty());
    for or in [false, true] {
        let bad = filters.evaluate(b"{not json", or, &no_render);
        assert!(!bad.passed);
        assert_eq!(
            bad.errors,
            vec!["data filter error (event data not valid JSON)".to_owned()]
        );
        assert_eq!(bad.reasons, vec!["event data is not valid JSON".to_owned()]);
    }
    let none = compile_deferred(&[]);
    assert!(none.is_empty());
    assert!(none.evaluate(b"{not json", false, &no_render).passed);
    // Invalid UTF-8 inside a string is tolerated as Go does (replaced, not rejected).
    let outcome = filters.evaluate(b"{\"a\":\"x\xff\"}", false, &no_render);
    assert!(outcome.passed, "{outcome:?}");
    assert_eq!(filters.len(), 1);
}

#[test]
fn go_regex_translation() {
    let cases: &[(&str, &str, bool)] = &[
        (r"^\d+$", "123", true),
        (r"^\d+$", "١٢٣", false), // Go's \d is ASCII only
        (r"^\w+$", "héllo", false),
        (r"^[\w.]+$", "a.b_c", true),
        (r"^\s$", "\u{a0}", false),
        (r"\bfoo\b", "a foo b", true),
        (r"\bfoo", "éfoo", true), // ASCII word boundary: é is not a word char
        (r"^{", "{\"a\":1}", true),
        (r"a{,2}", "a{,2}", true),
        (r"^a{2}$", "aa", true),
        (r"^a{2,}$", "aaa", true),
        (r"}", "}", true),
        (r"\Q.*+\E$", "x.*+", true),
        (r"\Q.*", "a.*", true),
        (r"^[a&&b]+$", "a&b", true),
        (r"^[[a]+$", "[a[", true),
        (r"^[]a]+$", "]a", true),
        (r"^[^]a]$", "b", true),
        (r"^[[:alpha:]]+$", "abc", true),
        (r"^[[:^digit:]]+$", "abc", true),
        (r"\<x\>", "<x>", true),
        (r"^\p{Greek}+$", "αβ", true),
        (r"^\x{263a}$", "☺", true),
        (r"^[\d-]+$", "12-3", true),
        (r"^[^\D]$", "5", true),
        (r"\101", "A", true),
        (r"(?i)^REFS", "refs/x", true),
        (r"(?U)a+", "aaa", true),
        (r"(?P<n>x)", "x", true),
    ];
    for (pattern, input, want) in cases {
        let regex = compile_go_regex(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(
            regex.is_match(input),
            *want,
            "{pattern:?} on {input:?} (as {:?})",
            go_regex_to_rust(pattern).ok()
        );
    }
    for bad in ["(", "[a", "x{2,1}", "\\"] {
        let err = compile_go_regex(bad).expect_err(bad);
        assert!(err.starts_with("error parsing regexp: "), "{err}");
        assert!(err.ends_with(&format!(": `{bad}`")), "{err}");
    }
    let go_errors: &[(&str, &str)] = &[
        (
            "a**",
            "error parsing regexp: invalid nested repetition operator: `**`",
        ),
        (
            "a+*",
            "error parsing regexp: invalid nested repetition operator: `+*`",
        ),
        (
            "a*?+",
            "error parsing regexp: invalid nested repetition operator: `*?+`",
        ),
        (
            "a{2}{3}",
            "error parsing regexp: invalid nested repetition operator: `{2}{3}`",
        ),
        (
            "x{1001}",
            "error parsing regexp: invalid repeat count: `{1001}`",
        ),
        (
            "x{2,1001}",
            "error parsing regexp: invalid repeat count: `{2,1001}`",
        ),
    ];
    for (pattern, want) in go_errors {
        assert_eq!(compile_go_regex(pattern).expect_err(pattern), *want);
    }
    assert!(compile_go_regex("a*?b+?c??").is_ok());
}

/// Quick throughput printout for a simple string filter (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn timing_simple_string_filter() {
    let filters =
        compile(&[spec("body.ref", "string", &["^refs/heads/feature/"], "")]).expect("compile");
    let data = EVENT.as_bytes();
    let iterations = 200_000;
    let start = std::time::Instant::now();
    let mut passed = 0;
    for _ in 0..iterations {
        passed += usize::from(
            filters
                .evaluate(std::hint::black_box(data), false, &no_render)
                .passed,
        );
    }
    let elapsed = start.elapsed();
    assert_eq!(passed, iterations);
    println!(
        "{iterations} evaluations in {elapsed:?}: {:.0} evaluations/s ({} bytes of data)",
        iterations as f64 / elapsed.as_secs_f64(),
        data.len()
    );
}
