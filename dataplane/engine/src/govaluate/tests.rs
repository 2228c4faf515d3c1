//! Table-driven tests of the govaluate-compatible parser and evaluator.

use super::*;
use serde_json::json;

fn vars() -> Vec<(&'static str, Value)> {
    vec![
        ("a", Value::Number(3.0)),
        ("b", Value::String("x".into())),
        ("s", Value::String("abc".into())),
        ("t", Value::String("2021-05-05".into())),
        ("ts", Value::Number(1_600_000_000.0)),
        ("n", Value::Null),
        ("yes", Value::Bool(true)),
        ("a-b", Value::Number(1.0)),
        ("a]b", Value::Number(2.0)),
        ("with space", Value::String("x".into())),
        ("foo_bar1", Value::Number(5.0)),
        ("dotted.name", Value::Number(7.0)),
        ("p", Value::String("a.c".into())),
        ("bad", Value::String("(".into())),
        ("arr", Value::from_json(&json!([1, 2]))),
        ("l", Value::from_json(&json!([1]))),
        ("ll", Value::from_json(&json!([[1]]))),
        ("obj", Value::from_json(&json!({"k": 1, "j": "v"}))),
        ("obj2", Value::from_json(&json!({"j": "v", "k": 1.0}))),
    ]
}

fn run(src: &str) -> Result<Value, String> {
    let table = vars();
    let lookup = |name: &str| {
        table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let expr = parse(src).map_err(|e| format!("parse: {e}"))?;
    expr.eval(&lookup).map_err(|e| format!("eval: {e}"))
}

fn num(n: f64) -> Result<Value, String> {
    Ok(Value::Number(n))
}
fn boolean(b: bool) -> Result<Value, String> {
    Ok(Value::Bool(b))
}
fn string(s: &str) -> Result<Value, String> {
    Ok(Value::String(s.to_string()))
}
fn err(msg: &str) -> Result<Value, String> {
    Err(msg.to_string())
}

fn check(cases: &[(&str, Result<Value, String>)]) {
    for (src, want) in cases {
        assert_eq!(&run(src), want, "expression: {src}");
    }
}

#[test]
fn arithmetic_operators() {
    check(&[
        ("1 + 2", num(3.0)),
        ("10 - 2 - 3", num(5.0)),
        ("100 - 10 - 1 - 1", num(88.0)),
        ("1 - 2 + 3", num(2.0)),
        ("2 * 3 + 4", num(10.0)),
        ("2 + 3 * 4", num(14.0)),
        ("12 / 2 * 3", num(18.0)),
        ("10 / 4", num(2.5)),
        ("10 % 3", num(1.0)),
        ("-7 % 3", num(-1.0)),
        ("2 ** 10", num(1024.0)),
        ("2 ** 3 ** 2", num(64.0)), // left to right, as govaluate
        ("-2 ** 2", num(4.0)),      // prefix binds to the value only
        ("2 * (3 + 4)", num(14.0)),
        ("((2))", num(2.0)),
        ("0x1F + 1", num(32.0)),
        (".5 + 1", num(1.5)),
        ("a * 2", num(6.0)),
        ("-a", num(-3.0)),
        ("1 / 0", num(f64::INFINITY)),
        ("-1 / 0", num(f64::NEG_INFINITY)),
        (
            "1 - 's'",
            err("eval: '-' needs a number, but got string \"s\""),
        ),
        (
            "s * 2",
            err("eval: '*' needs a number, but got string \"abc\""),
        ),
        (
            "-s",
            err("eval: '-' needs a number, but got string \"abc\""),
        ),
        (
            "2 ** yes",
            err("eval: '**' needs a number, but got bool true"),
        ),
    ]);
    assert!(matches!(run("0 / 0"), Ok(Value::Number(n)) if n.is_nan()));
    assert!(matches!(run("5 % 0"), Ok(Value::Number(n)) if n.is_nan()));
}

#[test]
fn bitwise_operators() {
    check(&[
        ("6 & 3", num(2.0)),
        ("6 | 3", num(7.0)),
        ("6 ^ 3", num(5.0)),
        ("1 << 4", num(16.0)),
        ("256 >> 4", num(16.0)),
        ("1 << 64", num(0.0)),
        ("~5", num(-6.0)),
        ("~-1", err("parse: invalid operator '~-' at 0")),
        ("1 << 2 + 1", num(8.0)),      // shifts bind looser than + and -
        ("6 & 3 == 2", boolean(true)), // bitwise binds tighter than comparators
        ("2 | 1 & 0", num(0.0)),       // & | ^ share one level, left to right
        ("5.9 & 3.2", num(1.0)),       // operands truncated to integers
        ("~'x'", err("parse: unexpected token ''x'' at 1")),
        (
            "b | 1",
            err("eval: '|' needs a number, but got string \"x\""),
        ),
    ]);
}

#[test]
fn comparison_operators() {
    check(&[
        ("3 > 2", boolean(true)),
        ("2 >= 2", boolean(true)),
        ("1 < 2", boolean(true)),
        ("2 <= 1", boolean(false)),
        ("'abc' < 'abd'", boolean(true)),
        ("'b' >= 'a'", boolean(true)),
        ("1 == 1", boolean(true)),
        ("1 != 1", boolean(false)),
        ("'2' == 2", boolean(false)),
        ("n == n", boolean(true)),
        ("obj == obj2", boolean(true)),
        ("obj != obj2", boolean(false)),
        ("arr == (1, 2)", boolean(true)),
        ("1 < 2 == true", boolean(true)),
        (
            "'a' > 1",
            err("eval: cannot compare string and number with >"),
        ),
        (
            "1 <= 'a'",
            err("eval: cannot compare number and string with <="),
        ),
        (
            "yes > false",
            err("eval: cannot compare bool and bool with >"),
        ),
        ("n < 1", err("eval: cannot compare null and number with <")),
        (
            "obj >= 1",
            err("eval: cannot compare object and number with >="),
        ),
    ]);
}

#[test]
fn string_concatenation() {
    check(&[
        ("'a' + 'b'", string("ab")),
        ("\"x\" + 1", string("x1")),
        ("1 + 'a'", string("1a")),
        ("'v' + 1.5", string("v1.5")),
        ("'n' + 1000000", string("n1e+06")),
        ("'b' + true", string("btrue")),
        ("'x' + n", string("x<nil>")),
        ("'l' + arr", string("l[1 2]")),
        ("b + a", string("x3")),
        (
            "yes + 1",
            err(
                "eval: cannot add bool true and number 1 ('+' adds numbers, or joins text when one side is a string)",
            ),
        ),
        (
            "n + n",
            err(
                "eval: cannot add null and null ('+' adds numbers, or joins text when one side is a string)",
            ),
        ),
    ]);
}

#[test]
fn string_literals_and_escapes() {
    check(&[
        (r"'it\'s'", string("it's")),
        (r#""say \"hi\"""#, string("say \"hi\"")),
        (r"'a\nb'", string("anb")), // a backslash escapes any character, no \n sequences
        ("'two words'", string("two words")),
        (
            "\"a'b\"",
            err("parse: unclosed string literal starting at 4"),
        ), // either quote ends a string
        ("'abc", err("parse: unclosed string literal starting at 0")),
        ("'x' == \"x\"", boolean(true)),
    ]);
}

#[test]
fn logical_operators_and_precedence() {
    check(&[
        ("true && false", boolean(false)),
        ("true || false", boolean(true)),
        ("!true", boolean(false)),
        ("!(1 > 2)", boolean(true)),
        ("true || true && false", boolean(true)), // && binds tighter than ||
        ("false && true || true", boolean(true)),
        ("true && true || false && false", boolean(true)),
        ("1 + 2 * 3 == 7 && 'a' < 'b' || false", boolean(true)),
        ("a > 2 && b == 'x'", boolean(true)),
        ("!yes == false", boolean(true)), // ! applies to the value only
        (
            "1 && true",
            err("eval: '&&' needs a bool, but got number 1"),
        ),
        (
            "true && 1",
            err("eval: '&&' needs a bool, but got number 1"),
        ),
        (
            "false || s",
            err("eval: '||' needs a bool, but got string \"abc\""),
        ),
        ("!5", err("eval: '!' needs a bool, but got number 5")),
        ("!!true", err("parse: invalid operator '!!' at 0")),
    ]);
}

#[test]
fn short_circuit_skips_undefined_variables() {
    check(&[
        ("false && missing", boolean(false)),
        ("true || missing", boolean(true)),
        ("a < 1 && missing > 2", boolean(false)),
        ("missing || true", err("eval: undefined variable 'missing'")),
        ("true && missing", err("eval: undefined variable 'missing'")),
        ("true ? 1 : missing", num(1.0)),
        ("false ? missing : 2", num(2.0)),
        ("3 ?? missing", num(3.0)),
        ("missing ?? 3", err("eval: undefined variable 'missing'")),
    ]);
}

#[test]
fn ternary_and_coalescing() {
    check(&[
        ("1 > 0 ? 'yes' : 'no'", string("yes")),
        ("1 < 0 ? 'yes' : 'no'", string("no")),
        ("yes ? a + 1 : a - 1", num(4.0)),
        ("false ? 1", Ok(Value::Null)),
        ("n ?? 5", num(5.0)),
        ("a ?? 5", num(3.0)),
        ("n ?? n ?? 'last'", string("last")),
        ("false ? 1 : true ? 2 : 3", num(2.0)),
        ("true ? 1 : (false ? 2 : 3)", num(1.0)),
        // govaluate quirks: ?: evaluate left to right, and a null "then" value falls through.
        (
            "true ? 1 : false ? 2 : 3",
            err("eval: '?' needs a bool, but got number 1"),
        ),
        ("true ? n : 5", num(5.0)),
        ("a ? 1 : 2", err("eval: '?' needs a bool, but got number 3")),
    ]);
}

#[test]
fn in_operator() {
    check(&[
        ("1 in (1, 2, 3)", boolean(true)),
        ("4 IN (1, 2, 3)", boolean(false)),
        ("'b' in ('a', 'b')", boolean(true)),
        ("2 in (1, 1 + 1)", boolean(true)),
        ("'1' in (1, 2)", boolean(false)),
        ("n in (1, n)", boolean(true)),
        ("1 in arr", boolean(true)),
        ("a in arr", boolean(false)),
        ("1 in (1)", err("eval: 'in' needs a list, but got number 1")),
        (
            "1 in s",
            err("eval: 'in' needs a list, but got string \"abc\""),
        ),
        ("l in ll", err("eval: 'in' cannot compare two list values")),
        ("1 In (1)", err("parse: unexpected token 'In' at 2")),
    ]);
}

#[test]
fn regex_operators() {
    check(&[
        ("'foobar' =~ 'o+b'", boolean(true)),
        ("'foobar' =~ '^o'", boolean(false)),
        ("'foobar' !~ '^f'", boolean(false)),
        ("s !~ 'z'", boolean(true)),
        ("s =~ p", boolean(true)),
        (r"'a1' =~ '\\d'", boolean(true)), // the backslash itself must be escaped
        (r"'ad' =~ '\d'", boolean(true)),  // '\d' is just "d"
        ("'١' =~ '^\\\\d$'", boolean(false)), // Go's \d is ASCII-only
        (
            "s =~ bad",
            err(
                "eval: invalid regular expression \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
            ),
        ),
        (
            "'x' =~ '('",
            err(
                "parse: invalid regular expression \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
            ),
        ),
        (
            "a =~ 'x'",
            err("eval: '=~' needs a string on its left, but got number 3"),
        ),
        (
            "'x' =~ a",
            err("eval: '=~' needs a string pattern on its right, but got number 3"),
        ),
    ]);
}

#[test]
fn date_literals_become_unix_timestamps() {
    check(&[
        ("'2020-01-01' == 1577836800", boolean(true)),
        ("'2020-01-01T00:00:00Z' == 1577836800", boolean(true)),
        ("'2020-01-01' < '2021-01-01'", boolean(true)),
        ("ts > '2020-01-01'", boolean(true)),
        ("'2020-01-01' + 1", num(1_577_836_801.0)),
        ("'3:04PM' < 0", boolean(true)), // Kitchen: year 0
        ("'not a date' == 'not a date'", boolean(true)),
        // A date-like string in the data stays a string, so comparing it with a literal fails.
        (
            "t > '2020-01-01'",
            err("eval: cannot compare string and number with >"),
        ),
        ("t == '2021-05-05'", boolean(false)),
        // govaluate does not allow a date literal after an arithmetic operator.
        (
            "1 + '2020-01-01'",
            err("parse: unexpected token ''2020-01-01'' at 4"),
        ),
    ]);
}

#[test]
fn variable_names() {
    check(&[
        ("[a-b] == 1", boolean(true)),
        (r"a\-b == 1", boolean(true)), // Argo escapes dashes this way in trigger conditions
        (r"[a\]b] == 2", boolean(true)),
        ("[with space] == 'x'", boolean(true)),
        ("[dotted.name] == 7", boolean(true)),
        ("foo_bar1 > 2", boolean(true)),
        ("a-b", err("eval: '-' needs a number, but got string \"x\"")), // a minus b
        ("x > 1", err("eval: undefined variable 'x'")),
        ("[x-y] > 1", err("eval: undefined variable 'x-y'")),
        ("[a", err("parse: unclosed '[' variable name starting at 0")),
        (
            "a.B == 1",
            err(
                "eval: cannot read 'B' of 'a': 'a.B' is a Go struct field access and event values are never structs; bind the value with its own name in fields",
            ),
        ),
        ("x.B == 1", err("eval: undefined variable 'x'")),
        (
            "obj.k == 1",
            err(
                "parse: invalid name 'obj.k' at 0: dotted names are Go struct accessors and 'k' is not an exported field; to use a parameter whose name contains dots write [obj.k]",
            ),
        ),
        (
            "a. == 1",
            err("parse: invalid name 'a.' at 0: it ends with a dot"),
        ),
    ]);
}

#[test]
fn parse_errors() {
    check(&[
        ("", err("parse: empty expression")),
        ("   ", err("parse: empty expression")),
        ("(a > 5,)", err("parse: unexpected token ')' at 7")),
        ("(a > 5))", err("parse: unbalanced parentheses")),
        ("(a > 5", err("parse: unbalanced parentheses")),
        (")(", err("parse: unexpected token ')' at 0")),
        ("a >", err("parse: unexpected end of expression")),
        ("a > > 1", err("parse: unexpected token '>' at 4")),
        ("a >-1", err("parse: invalid operator '>-' at 2")),
        ("a > -1", boolean(true)),
        ("- -1", err("parse: unexpected token '-' at 2")),
        ("1e5", err("parse: unexpected token 'e5' at 1")),
        ("1.2.3", err("parse: invalid number '1.2.3' at 0")),
        ("1 2", err("parse: unexpected token '2' at 2")),
        (
            "foo(1)",
            err("parse: unknown function 'foo' at 0 (Sensor expressions have no functions)"),
        ),
        ("a = 1", err("parse: invalid operator '=' at 2")),
        ("a # 1", err("parse: invalid operator '#' at 2")),
        (
            "a > 1\\",
            err("parse: backslash with nothing to escape in the token at 4"),
        ),
        ("(,)", err("parse: unexpected token ',' at 1")),
        // govaluate ignores tokens after a complete parenthesised expression.
        ("(1) 2", num(1.0)),
        ("()", Ok(Value::Null)),
    ]);
}

#[test]
fn size_limits() {
    let long = vec!["1"; 1500].join(" + ");
    assert!(matches!(parse(&long), Err(ParseError::TooLong { .. })));
    let ok = vec!["1"; 900].join(" + ");
    assert_eq!(
        parse(&ok).map(|e| e.eval(&|_| None)),
        Ok(Ok(Value::Number(900.0)))
    );
    let deep = format!("{}1{}", "(".repeat(150), ")".repeat(150));
    assert!(matches!(parse(&deep), Err(ParseError::TooDeep { .. })));
    let nested = format!("{}1{}", "(".repeat(90), ")".repeat(90));
    assert_eq!(
        parse(&nested).map(|e| e.eval(&|_| None)),
        Ok(Ok(Value::Number(1.0)))
    );
}

#[test]
fn expressions_are_reusable_and_report_variables() {
    let expr = parse("a > 1 && [b-c] == a || a > 10").expect("parses");
    assert_eq!(expr.variables(), vec!["a".to_string(), "b-c".to_string()]);
    assert_eq!(expr.source(), "a > 1 && [b-c] == a || a > 10");
    for (a, want) in [(2.0, true), (0.0, false), (11.0, true)] {
        let lookup = |name: &str| match name {
            "a" => Some(Value::Number(a)),
            "b-c" => Some(Value::Number(2.0)),
            _ => None,
        };
        assert_eq!(expr.eval(&lookup), Ok(Value::Bool(want)), "a = {a}");
    }
}

#[test]
fn values_format_like_go_and_display_for_people() {
    let go: &[(f64, &str)] = &[
        (1.0, "1"),
        (1.5, "1.5"),
        (100.0, "100"),
        (123_456.0, "123456"),
        (1_000_000.0, "1e+06"),
        (1_234_567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.0, "0"),
        (-0.0, "-0"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (n, want) in go {
        assert_eq!(Value::Number(*n).go_format(), *want, "{n}");
    }
    let v = Value::from_json(&json!({"b": "x", "a": [1, true, null]}));
    assert_eq!(v.go_format(), "map[a:[1 true <nil>] b:x]");
    assert_eq!(v.to_string(), r#"{"a": [1, true, null], "b": "x"}"#);
    assert_eq!(Value::Number(3.0).to_string(), "3");
    assert_eq!(Value::Number(2.5).to_string(), "2.5");
    assert_eq!(Value::String("x".into()).to_string(), "\"x\"");
    assert_eq!(Value::from_json(&json!(2)), Value::Number(2.0));
    assert_eq!(Value::from_json(&json!(null)).type_name(), "null");
}

/// Expectations taken from govaluate's own evaluation test-suite (facts, re-expressed here).
#[test]
fn upstream_evaluation_expectations() {
    check(&[
        ("100 & 50", num(32.0)),
        ("100 | 50", num(118.0)),
        ("100 ^ 50", num(86.0)),
        ("~10", num(-11.0)),
        ("20 & 30 & 50", num(16.0)),
        ("100 ^ (23 * (2 | 5))", num(197.0)),
        ("1 + 101 % 2 * 5", num(6.0)),
        ("1 + 5 ** 3 % 2 * 5", num(6.0)),
        ("50 << 1 & 90", num(64.0)),
        ("90 & 50 << 1", num(64.0)),
        ("90 + 50 << 1 * 5", num(4480.0)),
        ("1 - 2 - 4 - 8", num(-13.0)),
        ("1 * 4 / 2 * 8", num(16.0)),
        ("10 * 10 * 10 + 1 * 10 * 10", num(1100.0)),
        ("true ?? true ? 100 + 200 : 400", num(300.0)),
        (
            "'2014-01-02 14:12:22' > '2014-01-02 12:12:22'",
            boolean(true),
        ),
        (
            "'2014-01-02 09:12:22' <= '2014-01-02 12:12:22'",
            boolean(true),
        ),
        (
            "'2014-01-02 14:12:22' < '2014-01-02 11:12:22'",
            boolean(false),
        ),
        ("'ab' < 'abc'", boolean(true)),
        ("'aba' >= 'abc'", boolean(false)),
        ("10 * -10", num(-100.0)),
        ("-1 < -a", boolean(false)),
        ("true ? 10", num(10.0)),
        ("1 > 5 ? 35.50", Ok(Value::Null)),
        ("true ? 35.50 > 10", boolean(true)),
        ("(false ? 5 : 35.50) > 10", boolean(true)),
        ("true ? 1 : 5 > 10", num(1.0)),
        ("(2 == 2) ? 1 : (true ? 2 : 3)", num(1.0)),
        (
            "true ? (false ? 1 : (false ? 2 : 3)) : (false ? 4 : 5)",
            num(3.0),
        ),
        ("'foo' + 123 == 'foo123'", boolean(true)),
        ("'foo' + '02/05/1970' == 'foobar'", boolean(false)),
        ("true + 'bar' == 'truebar'", boolean(true)),
        ("b + 123 + 'bar' + true", string("x123bartrue")),
        ("!(1 in (1, 2, 3))", boolean(false)),
        ("false || true && true || false", boolean(true)),
        ("(10 * 10 * 10) > 10", boolean(true)),
        ("(2 + 2) + 2 == 6", boolean(true)),
        ("'foo' ?? missing", string("foo")),
        ("yes && a == 3 ? 60", num(60.0)),
    ]);
}

/// Inputs govaluate's own parsing-failure suite rejects, with the matching error kind.
#[test]
fn upstream_parse_failures() {
    use ParseError as P;
    let kind = |e: &ParseError| std::mem::discriminant(e);
    let token = P::UnexpectedToken {
        token: String::new(),
        position: 0,
    };
    let invalid = P::InvalidToken {
        token: String::new(),
        position: 0,
    };
    let number = P::BadNumber {
        text: String::new(),
        position: 0,
    };
    let name = P::BadName {
        name: String::new(),
        position: 0,
        reason: String::new(),
    };
    let cases: &[(&str, ParseError)] = &[
        ("1 = 1", invalid.clone()),
        ("1 === 1", invalid.clone()),
        ("true &&& false", invalid.clone()),
        ("true ||| false", invalid),
        ("10 > 5 +", P::UnexpectedEnd),
        ("10 + 5 >", P::UnexpectedEnd),
        ("10 > 5 &&", P::UnexpectedEnd),
        ("true ?", P::UnexpectedEnd),
        ("'wat' =~", P::UnexpectedEnd),
        (" / =~", token.clone()),
        ("> 10", token.clone()),
        ("+ 5", token.clone()),
        ("&& 5 < 10", token.clone()),
        ("10 10", token.clone()),
        ("'foo' 'foo'", token.clone()),
        ("10 > < 10", token.clone()),
        (" ) ( arg2", token.clone()),
        ("[foo bar", P::UnclosedBracket { position: 0 }),
        ("foo == 'responseTime", P::UnclosedString { position: 0 }),
        (
            "foo =~ '[abc'",
            P::BadRegex {
                pattern: String::new(),
                message: String::new(),
            },
        ),
        ("10 > (1 + 50", P::Unbalanced),
        ("127.0.0.1", number.clone()),
        (
            "foobar()",
            P::UndefinedFunction {
                name: String::new(),
                position: 0,
            },
        ),
        ("foo.Bar.", name.clone()),
        ("foo.bar", name),
        ("0x", token.clone()),
        ("0x > 0", number),
        ("0x1.1", token.clone()),
        ("0x12g1", token),
    ];
    for (src, want) in cases {
        match parse(src) {
            Ok(_) => panic!("{src:?} should not parse"),
            Err(e) => assert_eq!(kind(&e), kind(want), "{src:?}: got {e}"),
        }
    }
}

/// Parsing and evaluating arbitrary short inputs must never panic.
#[test]
fn odd_inputs_never_panic() {
    #[rustfmt::skip]
    const ALPHABET: &[&str] = &[
        "a", "b", "1", "0x", ".", " ", "(", ")", "[", "]", "'", "\"", "\\", ",", "?", ":", "??", "!", "-",
        "~", "+", "*", "**", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", ">", "=~", "!~", "in",
        "&&", "||", "true", "n", "arr", "'2020-01-01'", "a.B",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let table = vars();
    let lookup = |name: &str| {
        table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    for _ in 0..3000 {
        let mut src = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 9) as usize;
        for i in 0..len {
            let pick = (seed.rotate_left(i as u32 * 7) % ALPHABET.len() as u64) as usize;
            src.push_str(ALPHABET[pick]);
        }
        if let Ok(expr) = parse(&src) {
            let _ = expr.eval(&lookup);
        }
    }
    assert!(matches!(
        parse("a ? , b"),
        Err(ParseError::UnexpectedToken { .. })
    ));
}
