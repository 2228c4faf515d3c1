//! Go `text/template` behaviour: printing, missing keys, control flow, variables,
//! whitespace trimming, builtins, parse and execution errors.

use super::Template;

/// The payload used by most rows (as `.Input`).
pub(super) const INPUT: &str = r#"{
  "type": "push",
  "header": {"X-Id": ["1"]},
  "body": {
    "message": "hello world", "n": 3, "f": 2.5, "big": 1e21, "mil": 1000000,
    "small": 0.00001, "neg": -0.5, "zero": 0, "t": true, "empty": "",
    "list": ["a", "b"], "nums": [1, 2], "obj": {"b": 1, "a": "x"}, "null": null,
    "x": "aGVsbG8="
  }
}"#;

/// Expected outcome of a row.
pub(super) enum Want {
    /// Rendered output.
    Out(&'static str),
    /// Parse or execution error containing this text.
    Err(&'static str),
}

pub(super) use Want::{Err as E, Out as O};

/// Renders `src` against `INPUT`.
pub(super) fn render(src: &str) -> Result<String, String> {
    let input: serde_json::Value = serde_json::from_str(INPUT).expect("test input is JSON");
    Template::parse(src)?.render(&input)
}

/// Checks every row, reporting all mismatches at once.
pub(super) fn check(rows: &[(&str, Want)]) {
    let mut failures = Vec::new();
    for (src, want) in rows {
        let got = render(src);
        let ok = match (want, &got) {
            (Want::Out(w), Ok(g)) => w == g,
            (Want::Err(w), Err(g)) => g.contains(w),
            _ => false,
        };
        if !ok {
            let w = match want {
                Want::Out(w) => format!("Ok({w:?})"),
                Want::Err(w) => format!("Err(containing {w:?})"),
            };
            failures.push(format!("{src:?}\n   want {w}\n    got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn printing_follows_go_fmt() {
    check(&[
        ("{{ .Input.body.message }}", O("hello world")),
        ("{{ .Input.type }}", O("push")),
        ("{{ .Input.body.n }}", O("3")),
        ("{{ .Input.body.f }}", O("2.5")),
        ("{{ .Input.body.big }}", O("1e+21")),
        ("{{ .Input.body.mil }}", O("1e+06")),
        ("{{ .Input.body.small }}", O("1e-05")),
        ("{{ .Input.body.neg }}", O("-0.5")),
        ("{{ .Input.body.zero }}", O("0")),
        ("{{ .Input.body.t }}", O("true")),
        ("{{ .Input.body.list }}", O("[a b]")),
        ("{{ .Input.body.nums }}", O("[1 2]")),
        ("{{ .Input.body.obj }}", O("map[a:x b:1]")),
        ("{{ .Input.header }}", O("map[X-Id:[1]]")),
        ("{{ list 1 .Input.body.null \"s\" }}", O("[1 <nil> s]")),
        (
            "{{ 1e3 }} {{ 0x10 }} {{ 'a' }} {{ 1_000 }} {{ -2.5 }} {{ 0o17 }} {{ 017 }}",
            O("1000 16 97 1000 -2.5 15 15"),
        ),
        ("{{ \"a\\tb\\u00e9\\x41\" }}", O("a\tbéA")),
        ("{{ `raw\\n` }}", O("raw\\n")),
        ("{{ true }} {{ false }}", O("true false")),
        ("text only", O("text only")),
        ("", O("")),
    ]);
}

#[test]
fn missing_keys_and_nil_render_like_go() {
    check(&[
        ("{{ .Input.body.missing }}", O("<no value>")),
        ("{{ .Input.nope.deeper.still }}", O("<no value>")),
        ("{{ .Input.body.null }}", O("<no value>")),
        ("{{ index .Input.body \"missing\" }}", O("<no value>")),
        ("{{ $x := .Input.body.missing }}{{ $x }}", O("<no value>")),
        ("{{ print .Input.body.missing }}", O("<nil>")),
        ("{{ .Input.body.missing | print }}", O("<nil>")),
        (
            "{{ .Input.body.null.x }}",
            E("nil pointer evaluating interface {}.x"),
        ),
        (
            "{{ .Input.body.message.x }}",
            E("can't evaluate field x in type interface {}"),
        ),
        (
            "{{ .Input.body.obj.a 1 }}",
            E("a is not a method but has arguments"),
        ),
    ]);
}

#[test]
fn pipelines_chain_functions() {
    check(&[
        ("{{ .Input.body.message | title }}", O("Hello World")),
        (
            "{{ .Input.body.message | title | replace \" \" \"-\" | lower }}",
            O("hello-world"),
        ),
        (
            "{{ .Input.body.x | b64dec | upper | printf \"%s!\" }}",
            O("HELLO!"),
        ),
        ("{{ (len .Input.body.list) | add 1 }}", O("3")),
        ("{{ (dict \"a\" (dict \"b\" \"c\")).a.b }}", O("c")),
        ("{{ $x := 5 }}", O("")),
        (
            "{{ 3 | 4 }}",
            E("non executable command in pipeline stage 2"),
        ),
    ]);
}

#[test]
fn if_else_with_and_truthiness() {
    check(&[
        ("{{ if eq .Input.type \"push\" }}yes{{ end }}", O("yes")),
        (
            "{{ if eq .Input.type \"pull\" }}yes{{ else }}no{{ end }}",
            O("no"),
        ),
        (
            "{{ if eq .Input.type \"pull\" }}a{{ else if eq .Input.type \"push\" }}b{{ else }}c{{ end }}",
            O("b"),
        ),
        ("{{ if .Input.body.zero }}T{{ else }}F{{ end }}", O("F")),
        ("{{ if .Input.body.empty }}T{{ else }}F{{ end }}", O("F")),
        ("{{ if .Input.body.missing }}T{{ else }}F{{ end }}", O("F")),
        ("{{ if .Input.body.list }}T{{ else }}F{{ end }}", O("T")),
        ("{{ if .Input.body.neg }}T{{ else }}F{{ end }}", O("T")),
        (
            "{{ with .Input.body.message }}{{ . }}!{{ end }}",
            O("hello world!"),
        ),
        (
            "{{ with .Input.body.missing }}x{{ else }}none{{ end }}",
            O("none"),
        ),
        (
            "{{ with $m := .Input.body.obj }}{{ $m.a }}{{ end }}",
            O("x"),
        ),
        (
            "{{ with .Input.body.zero }}x{{ else with .Input.type }}{{ . }}{{ end }}",
            O("push"),
        ),
        (
            "{{ if $v := .Input.body.missing }}a{{ else }}{{ $v }}{{ end }}",
            O("<no value>"),
        ),
    ]);
}

#[test]
fn range_over_lists_maps_and_ints() {
    check(&[
        (
            "{{ range .Input.body.list }}[{{ . }}]{{ end }}",
            O("[a][b]"),
        ),
        (
            "{{ range $i, $v := .Input.body.list }}{{ $i }}={{ $v }};{{ end }}",
            O("0=a;1=b;"),
        ),
        (
            "{{ range $k, $v := .Input.body.obj }}{{ $k }}:{{ $v }},{{ end }}",
            O("a:x,b:1,"),
        ),
        (
            "{{ range .Input.body.missing }}x{{ else }}empty{{ end }}",
            O("empty"),
        ),
        (
            "{{ range .Input.body.list }}x{{ else }}empty{{ end }}",
            O("xx"),
        ),
        (
            "{{ range .Input.body.list }}{{ $.Input.type }}{{ end }}",
            O("pushpush"),
        ),
        (
            "{{ range .Input.body.nums }}{{ if eq . 2.0 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            O("1"),
        ),
        (
            "{{ range $i, $e := list 1 2 3 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $e }}{{ end }}",
            O("13"),
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", O("012")),
        (
            "{{ range .Input.type }}x{{ end }}",
            E("range can't iterate over push"),
        ),
        ("{{ break }}", E("{{break}} outside {{range}}")),
    ]);
}

#[test]
fn whitespace_trim_markers() {
    check(&[
        ("a  {{- \"b\" -}}  c", O("abc")),
        ("a  {{- \"b\" }}  c", O("ab  c")),
        ("x {{- /* comment */ -}} y", O("xy")),
        ("x {{/* comment */}} y", O("x  y")),
        (
            "{{ range .Input.body.list -}}\n  {{ . }}\n{{- end }}",
            O("ab"),
        ),
        ("x {{-3}}", O("x -3")),
        ("{{ \"a\" }} {{- \"b\" }}", O("ab")),
    ]);
}

#[test]
fn variables_declare_assign_and_scope() {
    check(&[
        (
            "{{ $x := .Input.body.message }}{{ $x | upper }}",
            O("HELLO WORLD"),
        ),
        (
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            O("2"),
        ),
        (
            "{{ $x := 1 }}{{ range .Input.body.list }}{{ $x = . }}{{ end }}{{ $x }}",
            O("b"),
        ),
        (
            "{{ $ }}",
            O(
                "map[Input:map[body:map[big:1e+21 empty: f:2.5 list:[a b] message:hello world mil:1e+06 n:3 neg:-0.5 null:<nil> nums:[1 2] obj:map[a:x b:1] small:1e-05 t:true x:aGVsbG8= zero:0] header:map[X-Id:[1]] type:push]]",
            ),
        ),
        (
            "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}",
            E("undefined variable \"$y\""),
        ),
        (
            "{{ $z }}",
            E("template: param:1: undefined variable \"$z\""),
        ),
    ]);
}

#[test]
fn and_or_not_short_circuit() {
    check(&[
        (
            "{{ if and .Input.body.null .Input.body.null.x }}y{{ else }}n{{ end }}",
            O("n"),
        ),
        (
            "{{ if or .Input.body.t .Input.body.null.x }}y{{ else }}n{{ end }}",
            O("y"),
        ),
        ("{{ or .Input.body.missing \"fallback\" }}", O("fallback")),
        ("{{ and 1 0 }}", O("0")),
        ("{{ and 1 2 }}", O("2")),
        ("{{ or 0 \"\" }}", O("")),
        ("{{ \"x\" | and 1 }}", O("x")),
        ("{{ not .Input.body.t }}", O("false")),
        ("{{ not .Input.body.missing }}", O("true")),
        (
            "{{ and }}",
            E("wrong number of args for and: want at least 1 got 0"),
        ),
    ]);
}

#[test]
fn comparisons_follow_go_kinds() {
    check(&[
        ("{{ eq .Input.type \"pull\" \"push\" }}", O("true")),
        ("{{ eq .Input.type \"a\" \"b\" \"c\" }}", O("false")),
        ("{{ eq .Input.body.n 3.0 }}", O("true")),
        (
            "{{ eq .Input.body.n 3 }}",
            E("error calling eq: incompatible types for comparison"),
        ),
        ("{{ eq .Input.body.missing \"x\" }}", O("false")),
        ("{{ eq (add 1 2) 3 }}", O("true")),
        (
            "{{ eq .Input.body.list .Input.body.list }}",
            E("non-comparable type"),
        ),
        ("{{ ne 1 2 }}", O("true")),
        (
            "{{ lt 1 2 }} {{ lt \"b\" \"a\" }} {{ le 2 2 }} {{ gt .Input.body.n 2.0 }} {{ ge 1 2 }}",
            O("true false true true false"),
        ),
        ("{{ lt 1 2.0 }}", E("incompatible types for comparison")),
        ("{{ lt true false }}", E("invalid type for comparison")),
        (
            "{{ lt .Input.body.missing 1 }}",
            E("invalid type for comparison"),
        ),
        ("{{ eq 1 }}", E("missing argument for comparison")),
    ]);
}

#[test]
fn index_len_and_slice() {
    check(&[
        ("{{ index .Input.body.list 1 }}", O("b")),
        ("{{ index .Input.header \"X-Id\" 0 }}", O("1")),
        (
            "{{ index .Input.body.list 5 }}",
            E("error calling index: index out of range: 5"),
        ),
        (
            "{{ index .Input.body.list .Input.body.zero }}",
            E("cannot index slice/array with type float64"),
        ),
        ("{{ index \"abc\" 1 }}", O("98")),
        (
            "{{ index .Input.body.missing 1 }}",
            E("index of untyped nil"),
        ),
        (
            "{{ index .Input.body 1 }}",
            E("value has type int; should be string"),
        ),
        ("{{ index .Input.body.list }}", O("[a b]")),
        (
            "{{ len .Input.body.list }} {{ len .Input.body.message }} {{ len .Input.body.obj }} {{ len \"é\" }}",
            O("2 11 2 2"),
        ),
        (
            "{{ len .Input.body.n }}",
            E("error calling len: len of type float64"),
        ),
        ("{{ slice .Input.body.list 1 }}", O("[b]")),
    ]);
}

#[test]
fn printf_print_println() {
    check(&[
        (
            "{{ printf \"%s-%d-%.2f-%v-%q\" \"a\" 3 2.5 .Input.body.list \"q\" }}",
            O("a-3-2.50-[a b]-\"q\""),
        ),
        ("{{ printf \"%d\" .Input.body.n }}", O("%!d(float64=3)")),
        (
            "{{ printf \"%v|%.0f|%g\" .Input.body.n .Input.body.f .Input.body.big }}",
            O("3|2|1e+21"),
        ),
        (
            "{{ printf \"%5s|%-5s|%05d|%+d|%x\" \"ab\" \"cd\" 42 7 \"hi\" }}",
            O("   ab|cd   |00042|+7|6869"),
        ),
        (
            "{{ printf \"%x %X %o %b %c %U %#x\" 255 255 8 5 65 65 255 }}",
            O("ff FF 10 101 A U+0041 0xff"),
        ),
        ("{{ printf \"%v %v\" 1 }}", O("1 %!v(MISSING)")),
        ("{{ printf \"%v\" 1 2 }}", O("1%!(EXTRA int=2)")),
        (
            "{{ printf \"%e %g %T %t %%\" 1234.5678 0.000012 \"s\" true }}",
            O("1.234568e+03 1.2e-05 string true %"),
        ),
        (
            "{{ printf \"%T %T %T %T\" 1 .Input.body.n .Input.body.obj .Input.body.list }}",
            O("int float64 map[string]interface {} []interface {}"),
        ),
        ("{{ printf \"%s\" 3 }}", O("%!s(int=3)")),
        (
            "{{ printf \"%6.2f|%-8.3e|\" 3.14159 1234.5 }}",
            O("  3.14|1.234e+03|"),
        ),
        ("{{ printf \"%q\" \"a\\nb\\\"c\" }}", O("\"a\\nb\\\"c\"")),
        ("{{ print \"a\" 1 2 \"b\" }}", O("a1 2b")),
        ("{{ println \"a\" 1 }}", O("a 1\n")),
        ("{{ printf 3 }}", E("expected string; found 3")),
    ]);
}

#[test]
fn html_js_urlquery_escapers() {
    check(&[
        (
            "{{ html \"<a href=\\\"x\\\">&'\" }}",
            O("&lt;a href=&#34;x&#34;&gt;&amp;&#39;"),
        ),
        (
            "{{ js \"it's <b>\\\"x\\\"=\" }}",
            O("it\\'s \\u003Cb\\u003E\\\"x\\\"\\u003D"),
        ),
        ("{{ urlquery \"a b&c=d/é\" }}", O("a+b%26c%3Dd%2F%C3%A9")),
        ("{{ html 1 2 }}", O("1 2")),
    ]);
}

#[test]
fn define_template_block() {
    check(&[
        (
            "{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" .Input.type }}",
            O("[push]"),
        ),
        (
            "{{ block \"b\" .Input.type }}<{{ . }}>{{ end }}",
            O("<push>"),
        ),
        (
            "{{ template \"nope\" }}",
            E("template \"nope\" not defined"),
        ),
    ]);
}

#[test]
fn parse_errors_are_readable() {
    check(&[
        (
            "{{ .Input.x | nope }}",
            E("template: param:1: function \"nope\" not defined"),
        ),
        (
            "a\nb\n{{ nope }}",
            E("template: param:3: function \"nope\" not defined"),
        ),
        ("{{ if }}", E("missing value for if")),
        ("{{ .Input", E("unclosed action")),
        ("{{ end }}", E("unexpected {{end}}")),
        ("{{ else }}", E("unexpected {{else}}")),
        ("{{ if true }}x", E("unexpected EOF")),
        ("{{ \"abc }}", E("unterminated quoted string")),
        ("{{ `abc }}", E("unterminated raw quoted string")),
        ("{{ ( 1 }}", E("unclosed left paren")),
        ("{{ 1 ) }}", E("unexpected \")\"")),
        ("{{ .a.b- }}", E("bad character U+002D '-'")),
        ("{{ 3x }}", E("bad number syntax: \"3x\"")),
        ("{{ /* c */ }}", E("unexpected \"/\" in command")),
        ("{{/* unclosed }}", E("unclosed comment")),
        ("{{ \"a\".b }}", E("unexpected . after term \"\\\"a\\\"\"")),
        ("{{ 99999999999999999999 }}", E("integer overflow")),
        (
            "{{ $x := 1 2 }}",
            E("can't give argument to non-function 1"),
        ),
        (
            "{{ if true }}{{ else }}{{ else }}{{ end }}",
            E("expected end; found {{else}}"),
        ),
        (
            "{{ range $a, $b, $c := . }}{{ end }}",
            E("too many declarations in range"),
        ),
    ]);
}

#[test]
fn execution_errors_name_the_command() {
    check(&[
        (
            "{{ upper 3 }}",
            E("template: param:1:9: executing \"param\" at <3>: expected string; found 3"),
        ),
        (
            "{{ 3 | upper }}",
            E("wrong type for value; expected string; got int"),
        ),
        (
            "{{ .Input.body.n | upper }}",
            E("wrong type for value; expected string; got float64"),
        ),
        (
            "{{ .Input.body.missing | upper }}",
            E("invalid value; expected string"),
        ),
        (
            "{{ .Input.body.null | upper }}",
            E("invalid value; expected string"),
        ),
        (
            "{{ upper .Input.body.null }}",
            E("wrong type for value; expected string; got interface {}"),
        ),
        ("{{ nil }}", E("nil is not a command")),
        (
            "{{ upper }}",
            E("wrong number of args for upper: want 1 got 0"),
        ),
        (
            "{{ upper \"a\" \"b\" }}",
            E("wrong number of args for upper: want 1 got 2"),
        ),
        (
            "{{ .Input.type 1 }}",
            E("type is not a method but has arguments"),
        ),
        (
            "{{ \"s\" 1 }}",
            E("can't give argument to non-function \"s\""),
        ),
        (
            "{{ $x := 1 }}{{ $x 2 }}",
            E("can't give argument to non-function $x"),
        ),
        (
            "x\n {{ upper 1 }}",
            E("template: param:2:10: executing \"param\" at <1>: expected string; found 1"),
        ),
    ]);
}

#[test]
fn parse_once_render_many() {
    let t = Template::parse("{{ .Input.a | default \"none\" }}").expect("parses");
    let out: Vec<String> = [r#"{"a":"x"}"#, r#"{}"#, r#"{"a":""}"#, r#""str""#]
        .iter()
        .map(|j| {
            t.render(&serde_json::from_str(j).expect("json"))
                .unwrap_or_else(|e| e)
        })
        .collect();
    assert_eq!(
        out,
        vec![
            "x",
            "none",
            "none",
            "template: param:1:9: executing \"param\" at <.Input.a>: can't evaluate field a in type interface {}"
        ]
    );
}

#[test]
fn maps_are_shared_by_reference_like_go() {
    check(&[
        (
            "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ $d }}",
            O("map[a:1 b:2]"),
        ),
        (
            "{{ $_ := set .Input \"extra\" 1 }}{{ .Input.extra }}",
            O("1"),
        ),
        (
            "{{ $d := dict }}{{ $_ := set $d \"self\" $d }}{{ len (toJson $d) }}",
            O("0"),
        ),
    ]);
}

#[test]
fn limits_protect_the_stack_and_cycles() {
    let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(150), ")".repeat(150));
    let err = render(&deep_parens).expect_err("too deep");
    assert!(err.contains("max nesting depth 100 exceeded"), "{err}");
    let nested_ifs = format!("{}x{}", "{{ if true }}".repeat(45), "{{ end }}".repeat(45));
    assert_eq!(render(&nested_ifs), Ok("x".to_string()));
    check(&[
        (
            "{{ $d := dict }}{{ $_ := set $d \"self\" $d }}{{ $d }}",
            O("map[self:map[...]]"),
        ),
        (
            "{{ $d := dict }}{{ $_ := set $d \"self\" $d }}{{ mustToJson $d }}",
            E("encountered a cycle"),
        ),
        (
            "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" $d }}{{ has $d (list $d) }}",
            O("true"),
        ),
    ]);
}

#[test]
fn template_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
}

#[test]
fn odd_input_never_panics() {
    let odd = [
        "{{",
        "}}",
        "{{-",
        "{{- ",
        " -}}",
        "{{/*",
        "{{ é }}",
        "{{ .é }}",
        "{{ 'é' }}",
        "{{ \"\\xff\" }}",
        "{{ toDate \"Jan\" \"é\" }}",
        "{{ toDate \"Mon\" \"Mé\" }}",
        "{{ toDate \"PM\" \"é\" }}",
        "{{ substr 0 1 \"é\" }}",
        "{{ trunc 1 \"é\" }}",
        "{{ abbrev 4 \"éééé\" }}",
        "{{ index \"é\" 1 }}",
        "{{ printf \"%\" }}",
        "{{ printf \"%-*d\" }}",
        "{{ printf \"%.*s\" 2 \"abc\" }}",
        "{{ printf \"%é\" 1 }}",
        "{{ b64dec \"é\" }}",
        "{{ b32dec \"é=\" }}",
        "{{ b32dec \"========\" }}",
        "{{ b64dec \"=\" }}",
        "{{ toDate \"2006-01-02 15:04:05.000\" \"2024-01-01 00:00:00.\" }}",
        "{{ dateModify \"\" now }}",
        "{{ regexSplit \"\" \"é\" -1 }}",
        "{{ splitn \"\" 2 \"éa\" }}",
        "{{ repeat 99999999999 \"x\" }}",
        "{{ until 99999999999 }}",
        "{{ seq 1 0 5 }}",
        "{{ round 1 400 }}",
        "{{ int \"-\" }}",
        "{{ add1 \"9223372036854775807\" }}",
        "{{ div -9223372036854775807 -1 }}",
        "{{ printf \"%c %q %U\" -1 99999999 -5 }}",
        "{{ toJson (float64 \"nan\") }}",
        "{{ mustToJson (float64 \"inf\") }}",
        "{{ slice (list 1) -1 }}",
        "{{ index (list) -9223372036854775807 }}",
    ];
    for src in odd {
        let _ = render(src);
    }
    assert!(render("{{ mustToJson (float64 \"inf\") }}").is_err());
    assert_eq!(render("{{ toJson (float64 \"nan\") }}"), Ok(String::new()));
}
