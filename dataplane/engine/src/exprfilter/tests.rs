//! Table-driven tests of the `exprs` filter.

use super::*;

const DATA: &str = r#"{
  "a": 3, "b": "x",
  "body": {"n": 10, "s": "hello", "tags": ["x", "y"], "obj": {"k": 1}, "nul": null,
           "flag": true, "a-b": 4, "date": "2021-05-05", "esc": "line\nnext"}
}"#;

fn spec(expr: &str, fields: &[(&str, &str)]) -> ExprFilterSpec {
    ExprFilterSpec {
        expr: expr.to_string(),
        fields: fields
            .iter()
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .collect(),
    }
}

fn run(filters: &[ExprFilterSpec], data: &str, logical_or: bool) -> FilterOutcome {
    compile(filters)
        .expect("filters compile")
        .evaluate(data, logical_or)
}

struct Case {
    name: &'static str,
    filters: Vec<ExprFilterSpec>,
    logical_or: bool,
    passed: bool,
    reasons: Vec<&'static str>,
    errors: Vec<&'static str>,
    upstream_error: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let a_gt = |n: &str| spec(&format!("a > {n}"), &[("a", "a")]);
    let missing = || spec("b == 'x'", &[("b", "body.b")]);
    let type_error = || spec("s > 1", &[("s", "body.s")]);
    vec![
        Case {
            name: "and: single true",
            filters: vec![a_gt("2")],
            logical_or: false,
            passed: true,
            reasons: vec![r#"expr "a > 2" is true (a = 3)"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "and: single false",
            filters: vec![a_gt("5")],
            logical_or: false,
            passed: false,
            reasons: vec![r#"expr "a > 5" is false (a = 3)"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "and: two fields in one expression",
            filters: vec![spec(r#"a > 2 && b == "x""#, &[("a", "a"), ("b", "b")])],
            logical_or: false,
            passed: true,
            reasons: vec![r#"expr "a > 2 && b == "x"" is true (a = 3, b = "x")"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "and: missing path is an error",
            filters: vec![missing()],
            logical_or: false,
            passed: false,
            reasons: vec![r#"expr "b == 'x'": path body.b not found"#],
            errors: vec!["path 'body.b' does not exist"],
            upstream_error: Some("expr filter error (path 'body.b' does not exist)"),
        },
        Case {
            name: "and: an earlier false filter decides before a missing path",
            filters: vec![a_gt("5"), missing()],
            logical_or: false,
            passed: false,
            reasons: vec![r#"expr "a > 5" is false (a = 3)"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "and: true then missing path",
            filters: vec![a_gt("1"), missing()],
            logical_or: false,
            passed: false,
            reasons: vec![
                r#"expr "a > 1" is true (a = 3)"#,
                r#"expr "b == 'x'": path body.b not found"#,
            ],
            errors: vec!["path 'body.b' does not exist"],
            upstream_error: Some("expr filter error (path 'body.b' does not exist)"),
        },
        Case {
            name: "and: evaluation error",
            filters: vec![type_error()],
            logical_or: false,
            passed: false,
            reasons: vec![
                r#"expr "s > 1" failed: cannot compare string and number with > (s = "hello")"#,
            ],
            errors: vec!["cannot compare string and number with >"],
            upstream_error: Some("expr filter error (cannot compare string and number with >)"),
        },
        Case {
            name: "and: a non-bool result is not a pass",
            filters: vec![spec("a + 1", &[("a", "a")])],
            logical_or: false,
            passed: false,
            reasons: vec![r#"expr "a + 1" returned 4, not true (a = 3)"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "or: a later true filter wins and drops earlier errors",
            filters: vec![missing(), a_gt("5"), a_gt("2")],
            logical_or: true,
            passed: true,
            reasons: vec![
                r#"expr "b == 'x'": path body.b not found"#,
                r#"expr "a > 5" is false (a = 3)"#,
                r#"expr "a > 2" is true (a = 3)"#,
            ],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "or: all fail, errors collected",
            filters: vec![missing(), a_gt("5"), type_error()],
            logical_or: true,
            passed: false,
            reasons: vec![
                r#"expr "b == 'x'": path body.b not found"#,
                r#"expr "a > 5" is false (a = 3)"#,
                r#"expr "s > 1" failed: cannot compare string and number with > (s = "hello")"#,
            ],
            errors: vec![
                "path 'body.b' does not exist",
                "cannot compare string and number with >",
            ],
            upstream_error: Some(
                "expr filter errors [path 'body.b' does not exist / cannot compare string and number with >]",
            ),
        },
        Case {
            name: "or: all false without errors",
            filters: vec![a_gt("5"), a_gt("4")],
            logical_or: true,
            passed: false,
            reasons: vec![
                r#"expr "a > 5" is false (a = 3)"#,
                r#"expr "a > 4" is false (a = 3)"#,
            ],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "filters without fields are skipped (and)",
            filters: vec![spec("this is not parsed", &[])],
            logical_or: false,
            passed: true,
            reasons: vec![r#"expr "this is not parsed" skipped: it binds no fields"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "filters without fields are skipped (or)",
            filters: vec![spec("true", &[])],
            logical_or: true,
            passed: false,
            reasons: vec![r#"expr "true" skipped: it binds no fields"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "an empty list passes under and, fails under or",
            filters: vec![],
            logical_or: true,
            passed: false,
            reasons: vec![],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "native JSON types",
            filters: vec![spec(
                "n == 10 && s =~ '^hel' && flag && (nul ?? true) && tags == ('x', 'y') && 'y' in tags && obj == obj",
                &[
                    ("n", "body.n"),
                    ("s", "body.s"),
                    ("flag", "body.flag"),
                    ("nul", "body.nul"),
                    ("tags", "body.tags"),
                    ("obj", "body.obj"),
                ],
            )],
            logical_or: false,
            passed: true,
            reasons: vec![
                r#"expr "n == 10 && s =~ '^hel' && flag && (nul ?? true) && tags == ('x', 'y') && 'y' in tags && obj == obj" is true (n = 10, s = "hello", flag = true, nul = null, tags = ["x", "y"], obj = {"k": 1})"#,
            ],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "bracketed names with dashes, gjson paths and escapes",
            filters: vec![spec(
                "[a-b] == 4 && second == 'y' && count == 2 && esc == 'line\\\nnext'",
                &[
                    ("a-b", "body.a-b"),
                    ("second", "body.tags.1"),
                    ("count", "body.tags.#"),
                    ("esc", "body.esc"),
                ],
            )],
            logical_or: false,
            passed: true,
            reasons: vec![
                "expr \"[a-b] == 4 && second == 'y' && count == 2 && esc == 'line\\\nnext'\" is true (a-b = 4, second = \"y\", count = 2, esc = \"line\\nnext\")",
            ],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "a date-like string in the data is not a date",
            filters: vec![spec("date > '2020-01-01'", &[("date", "body.date")])],
            logical_or: false,
            passed: false,
            reasons: vec![
                r#"expr "date > '2020-01-01'" failed: cannot compare string and number with > (date = "2021-05-05")"#,
            ],
            errors: vec!["cannot compare string and number with >"],
            upstream_error: Some("expr filter error (cannot compare string and number with >)"),
        },
        Case {
            name: "a name bound twice keeps its last value",
            filters: vec![spec("v == 'x'", &[("v", "a"), ("v", "b")])],
            logical_or: false,
            passed: true,
            reasons: vec![r#"expr "v == 'x'" is true (v = 3, v = "x")"#],
            errors: vec![],
            upstream_error: None,
        },
        Case {
            name: "undefined variable is an error only when reached",
            filters: vec![
                spec("a > 1 || nope", &[("a", "a")]),
                spec("nope == 1", &[("a", "a")]),
            ],
            logical_or: false,
            passed: false,
            reasons: vec![
                r#"expr "a > 1 || nope" is true (a = 3)"#,
                r#"expr "nope == 1" failed: undefined variable 'nope' (a = 3)"#,
            ],
            errors: vec!["undefined variable 'nope'"],
            upstream_error: Some("expr filter error (undefined variable 'nope')"),
        },
    ]
}

#[test]
fn filter_combinations() {
    for case in cases() {
        let outcome = run(&case.filters, DATA, case.logical_or);
        assert_eq!(outcome.passed, case.passed, "{}: passed", case.name);
        assert_eq!(outcome.reasons, case.reasons, "{}: reasons", case.name);
        assert_eq!(outcome.errors, case.errors, "{}: errors", case.name);
        assert_eq!(
            outcome.upstream_error(case.logical_or).as_deref(),
            case.upstream_error,
            "{}",
            case.name
        );
    }
}

#[test]
fn empty_filter_list_passes_under_and() {
    let outcome = run(&[], DATA, false);
    assert!(outcome.passed);
    assert!(outcome.reasons.is_empty() && outcome.errors.is_empty());
}

#[test]
fn missing_or_invalid_event_data() {
    let filters = [spec("a > 1", &[("a", "a")])];
    for logical_or in [false, true] {
        let none = run(&filters, "", logical_or);
        assert!(none.passed, "no data passes");
        assert_eq!(none.upstream_error(logical_or), None);

        let bad = run(&filters, "{\"a\": ", logical_or);
        assert!(!bad.passed, "invalid JSON fails");
        assert_eq!(bad.errors, vec![INVALID_JSON_ERROR.to_string()]);
        assert_eq!(
            bad.upstream_error(logical_or).as_deref(),
            Some("expr filter error (event data not valid JSON)")
        );
    }
}

#[test]
fn compile_errors_name_the_expression() {
    let err =
        compile(&[spec("a > 1", &[("a", "a")]), spec("a >", &[("a", "a")])]).expect_err("bad expr");
    assert_eq!(
        err,
        "exprs[1]: cannot parse expression \"a >\": unexpected end of expression"
    );
    let err = compile(&[spec("a >-1", &[("a", "a")])]).expect_err("bad expr");
    assert_eq!(
        err,
        "exprs[0]: cannot parse expression \"a >-1\": invalid operator '>-' at 2"
    );
    // Never parsed upstream (no fields), so accepted here too.
    let ok = compile(&[spec("a >", &[])]).expect("skipped filter compiles");
    assert_eq!(ok.len(), 1);
    assert!(!ok.is_empty());
}

#[test]
fn long_values_are_shortened_in_reasons() {
    let data = format!(r#"{{"s": "{}"}}"#, "z".repeat(200));
    let outcome = run(&[spec("s == 'y'", &[("s", "s")])], &data, false);
    let reason = &outcome.reasons[0];
    assert!(reason.ends_with("…)"), "{reason}");
    assert!(reason.chars().count() < 120, "{reason}");
}

#[test]
fn compiled_filters_are_evaluated_without_reparsing() {
    let filters =
        compile(&[spec(r#"a > 5 && b == "x""#, &[("a", "a"), ("b", "b")])]).expect("compiles");
    let before = govaluate::PARSE_CALLS.with(|c| c.get());
    for a in 0..200 {
        let data = format!(r#"{{"a": {a}, "b": "x"}}"#);
        assert_eq!(filters.evaluate(&data, false).passed, a > 5, "a = {a}");
    }
    let after = govaluate::PARSE_CALLS.with(|c| c.get());
    assert_eq!(after, before, "evaluate must not parse again");
}

#[test]
fn compiled_filters_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledExprFilters>();
    assert_send_sync::<crate::govaluate::Expr>();
}
