//! One row (or more) per sprig function, including error cases.

use super::tests::{E, O, check, render};

#[test]
fn sprig_strings() {
    check(&[
        (
            "{{ upper \"hello\" }} {{ lower \"HeLLo\" }}",
            O("HELLO hello"),
        ),
        ("{{ upper \"straße\" }}", O("STRAßE")),
        (
            "{{ title \"hello world\" }} {{ title \"o'neil is_here\" }}",
            O("Hello World O'Neil Is_here"),
        ),
        ("{{ untitle \"Hello World\" }}", O("hello world")),
        ("[{{ trim \"  a b \\n\" }}]", O("[a b]")),
        (
            "{{ trimAll \"$\" \"$5.00$\" }} {{ trimall \"-\" \"--x-\" }}",
            O("5.00 x"),
        ),
        (
            "{{ trimPrefix \"-\" \"-hi\" }} {{ trimSuffix \"-\" \"hi-\" }} {{ trimPrefix \"x\" \"hi\" }}",
            O("hi hi hi"),
        ),
        ("{{ replace \" \" \"-\" \"a b c\" }}", O("a-b-c")),
        ("{{ repeat 3 \"ab\" }}", O("ababab")),
        (
            "{{ repeat -1 \"ab\" }}",
            E("error calling repeat: strings: negative Repeat count"),
        ),
        (
            "{{ repeat (add 1 1) \"x\" }}",
            E("wrong type for value; expected int; got int64"),
        ),
        ("{{ repeat (len .Input.body.list) \"x\" }}", O("xx")),
        (
            "{{ substr 0 5 \"hello world\" }}|{{ substr 6 -1 \"hello world\" }}|{{ substr -1 3 \"abcdef\" }}|{{ substr 1 10 \"abc\" }}",
            O("hello|world|abc|bc"),
        ),
        (
            "{{ substr 4 2 \"abcdef\" }}",
            E("slice bounds out of range [4:2]"),
        ),
        (
            "{{ substr -1 9 \"abc\" }}",
            E("slice bounds out of range [:9] with length 3"),
        ),
        (
            "{{ trunc 5 \"hello world\" }}|{{ trunc -5 \"hello world\" }}|{{ trunc 50 \"hi\" }}",
            O("hello|world|hi"),
        ),
        (
            "{{ abbrev 5 \"hello world\" }}|{{ abbrev 3 \"hello\" }}|{{ abbrev 20 \"short\" }}",
            O("he...|hello|short"),
        ),
        ("{{ initials \"First Try\" }}", O("FT")),
        (
            "{{ contains \"cat\" \"catch\" }} {{ hasPrefix \"cat\" \"catch\" }} {{ hasSuffix \"ch\" \"catch\" }} {{ contains \"dog\" \"catch\" }}",
            O("true true true false"),
        ),
        (
            "{{ quote \"a\" 1 .Input.body.missing }}|{{ quote \"say \\\"hi\\\"\" }}",
            O("\"a\" \"1\"|\"say \\\"hi\\\"\""),
        ),
        ("{{ squote \"a\" 1 }}", O("'a' '1'")),
        (
            "{{ cat \"hello\" \"beautiful\" .Input.body.missing 3 }}",
            O("hello beautiful 3"),
        ),
        ("{{ indent 2 \"a\\nb\" }}", O("  a\n  b")),
        ("{{ nindent 2 \"a\" }}", O("\n  a")),
        ("{{ nospace \"h e l\\tl o\" }}", O("hello")),
        (
            "{{ snakecase \"FirstName\" }} {{ snakecase \"HTTPServer\" }} {{ snakecase \"NoHTTPS\" }} {{ snakecase \"GO PATH\" }}",
            O("first_name http_server no_https go_path"),
        ),
        (
            "{{ snakecase \"http2xx\" }} {{ snakecase \"Duration2m3s\" }} {{ snakecase \"Bld4Floor3rd\" }}",
            O("http_2xx duration_2m3s bld4_floor_3rd"),
        ),
        (
            "{{ kebabcase \"FirstName\" }} {{ kebabcase \"GO_PATH\" }}",
            O("first-name go-path"),
        ),
        (
            "{{ camelcase \"http_server\" }} {{ camelcase \"_complex__case_\" }} {{ camelcase \"all\" }}",
            O("HttpServer _Complex_Case_ All"),
        ),
        ("{{ swapcase \"Hello\" }}", O("hELLO")),
        (
            "{{ split \"$\" \"foo$bar$baz\" }}",
            O("map[_0:foo _1:bar _2:baz]"),
        ),
        ("{{ $a := split \"$\" \"foo$bar\" }}{{ $a._1 }}", O("bar")),
        (
            "{{ splitn \"$\" 2 \"foo$bar$baz\" }}",
            O("map[_0:foo _1:bar$baz]"),
        ),
        (
            "{{ splitList \",\" \"a,b,c\" }} {{ splitList \"\" \"abc\" }} {{ len (splitList \",\" \"\") }}",
            O("[a b c] [a b c] 1"),
        ),
        (
            "{{ join \"-\" (list \"a\" \"b\" 3) }} {{ join \",\" .Input.body.list }} {{ join \",\" \"solo\" }}",
            O("a-b-3 a,b solo"),
        ),
        (
            "{{ toString 3 }} {{ toString .Input.body.f }} {{ toString .Input.body.list }}",
            O("3 2.5 [a b]"),
        ),
        (
            "{{ toStrings (list 1 \"a\" .Input.body.null) }}",
            O("[1 a]"),
        ),
        ("{{ sortAlpha (list \"b\" \"a\" \"c\") }}", O("[a b c]")),
        (
            "{{ plural \"one\" \"many\" 1 }} {{ plural \"one\" \"many\" 2 }}",
            O("one many"),
        ),
        (
            "{{ upper .Input.body.n }}",
            E("wrong type for value; expected string; got float64"),
        ),
    ]);
}

#[test]
fn sprig_regex() {
    check(&[
        (
            "{{ regexMatch \"^[a-z]+$\" \"abc\" }} {{ regexMatch \"^[a-z]+$\" \"ab1\" }} {{ regexMatch \"(\" \"x\" }}",
            O("true false false"),
        ),
        (
            "{{ mustRegexMatch \"(\" \"x\" }}",
            E("error calling mustRegexMatch: error parsing regexp: missing closing ): `(`"),
        ),
        (
            "{{ regexFind \"[0-9]+\" \"ab12cd34\" }}|{{ regexFind \"z\" \"ab\" }}",
            O("12|"),
        ),
        (
            "{{ regexFind \"(\" \"x\" }}",
            E(
                "error calling regexFind: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`",
            ),
        ),
        (
            "{{ regexFindAll \"[0-9]+\" \"ab12cd34\" -1 }} {{ regexFindAll \"[0-9]+\" \"ab12cd34\" 1 }} {{ regexFindAll \"[0-9]+\" \"ab\" -1 }}",
            O("[12 34] [12] []"),
        ),
        (
            "{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }}",
            O("-W-xxW-"),
        ),
        (
            "{{ regexReplaceAllLiteral \"a(x*)b\" \"-ab-axxb-\" \"${1}\" }}",
            O("-${1}-${1}-"),
        ),
        (
            "{{ regexSplit \"z+\" \"pizza\" -1 }} {{ regexSplit \"z+\" \"pizza\" 1 }} {{ regexSplit \"z+\" \"pizza\" 0 }}",
            O("[pi a] [pizza] []"),
        ),
        ("{{ regexQuoteMeta \"a.b*\" }}", O("a\\.b\\*")),
    ]);
}

#[test]
fn sprig_encoding_and_hashes() {
    check(&[
        (
            "{{ b64enc \"hello\" }} {{ b64enc \"\" }}|{{ b64enc \"hi\" }}",
            O("aGVsbG8= |aGk="),
        ),
        (
            "{{ b64dec \"aGVsbG8=\" }} {{ .Input.body.x | b64dec }}",
            O("hello hello"),
        ),
        (
            "{{ b64dec \"hello\" }}",
            O("illegal base64 data at input byte 4"),
        ),
        (
            "{{ b64dec \"a$==\" }}",
            O("illegal base64 data at input byte 1"),
        ),
        (
            "{{ b64dec \"aGVsbG8\" }}",
            O("illegal base64 data at input byte 4"),
        ),
        (
            "{{ b64dec \"aGVsbG8=x\" }}",
            O("illegal base64 data at input byte 8"),
        ),
        ("{{ b64dec \"aGVs\\nbG8=\" }}", O("hello")),
        (
            "{{ b32enc \"hello\" }} {{ b32enc \"hi\" }}",
            O("NBSWY3DP NBUQ===="),
        ),
        (
            "{{ b32dec \"NBSWY3DP\" }} {{ b32dec \"NBUQ====\" }}",
            O("hello hi"),
        ),
        (
            "{{ b32dec \"1\" }}",
            O("illegal base32 data at input byte 0"),
        ),
        (
            "{{ b32dec \"NBUQ===\" }}",
            O("illegal base32 data at input byte 7"),
        ),
        (
            "{{ sha1sum \"hello\" }}",
            O("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        ),
        (
            "{{ sha256sum \"hello\" }}",
            O("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
        ),
        ("{{ adler32sum \"hello\" }}", O("103547413")),
        (
            "{{ base \"/a/b.txt\" }} {{ dir \"/a/b.txt\" }} {{ ext \"/a/b.txt\" }} {{ clean \"a//b/../c\" }} {{ isAbs \"/x\" }}",
            O("b.txt /a .txt a/c true"),
        ),
        ("{{ fail \"boom\" }}", E("error calling fail: boom")),
    ]);
}

#[test]
fn sprig_defaults_and_json() {
    check(&[
        (
            "{{ default \"foo\" .Input.body.missing }} {{ default \"foo\" \"bar\" }} {{ default \"foo\" }}",
            O("foo bar foo"),
        ),
        (
            "{{ .Input.body.zero | default 5 }} {{ .Input.body.n | default 5 }}",
            O("5 3"),
        ),
        ("{{ default \"x\" .Input.nope.deep.er }}", O("x")),
        (
            "{{ empty \"\" }} {{ empty .Input.body.list }} {{ empty 0 }} {{ empty .Input.body.missing }} {{ empty (now) }}",
            O("true false true true false"),
        ),
        (
            "{{ coalesce .Input.body.missing \"\" \"c\" }}|{{ coalesce 0 \"\" }}",
            O("c|<no value>"),
        ),
        (
            "{{ all 1 \"a\" }} {{ any 0 \"\" }} {{ all }} {{ any 0 1 }}",
            O("true false true true"),
        ),
        (
            "{{ ternary \"y\" \"n\" true }} {{ ternary \"y\" \"n\" .Input.body.t }} {{ ternary \"y\" \"n\" false }}",
            O("y y n"),
        ),
        (
            "{{ ternary \"y\" \"n\" \"s\" }}",
            E("expected bool; found \"s\""),
        ),
        (
            "{{ toJson .Input.body.obj }} {{ toJson .Input.body.big }} {{ toJson .Input.body.small }} {{ toJson .Input.body.mil }}",
            O("{\"a\":\"x\",\"b\":1} 1e+21 0.00001 1000000"),
        ),
        (
            "{{ toJson \"<&>\" }} {{ toRawJson \"<&>\" }} {{ toJson .Input.body.missing }}",
            O("\"\\u003c\\u0026\\u003e\" \"<&>\" null"),
        ),
        (
            "{{ toJson (list 1 2.5 \"a\" true .Input.body.null) }}",
            O("[1,2.5,\"a\",true,null]"),
        ),
        (
            "{{ toPrettyJson (dict \"a\" 1 \"b\" (list 1 2) \"c\" (dict)) }}",
            O("{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {}\n}"),
        ),
        ("{{ mustToJson .Input.body.list }}", O("[\"a\",\"b\"]")),
        (
            "{{ (fromJson \"{\\\"a\\\":[1,2]}\").a }} {{ fromJson \"bad\" }}",
            O("[1 2] <no value>"),
        ),
        (
            "{{ mustFromJson \"bad\" }}",
            E("error calling mustFromJson"),
        ),
        (
            "{{ deepEqual (list 1 2) (list 1 2) }} {{ deepEqual 1 1.0 }}",
            O("true false"),
        ),
        (
            "{{ typeOf .Input.body.n }} {{ kindOf .Input.body.obj }} {{ kindIs \"slice\" .Input.body.list }} {{ typeIs \"string\" 1 }}",
            O("float64 map true false"),
        ),
    ]);
}

#[test]
fn sprig_lists_and_dicts() {
    check(&[
        ("{{ list 1 \"a\" 2.5 }} {{ list }}", O("[1 a 2.5] []")),
        (
            "{{ dict \"b\" 2 \"a\" 1 }} {{ dict \"a\" }} {{ dict 1 2 }}",
            O("map[a:1 b:2] map[a:] map[1:2]"),
        ),
        (
            "{{ get (dict \"a\" 1) \"a\" }}|{{ get (dict \"a\" 1) \"z\" }}",
            O("1|"),
        ),
        (
            "{{ get \"s\" \"a\" }}",
            E("can't handle \"s\" for arg of type map[string]interface {}"),
        ),
        (
            "{{ get .Input.body.list \"a\" }}",
            E("wrong type for value; expected map[string]interface {}; got []interface {}"),
        ),
        (
            "{{ set (dict \"a\" 1) \"b\" 2 }} {{ unset (dict \"a\" 1 \"b\" 2) \"a\" }}",
            O("map[a:1 b:2] map[b:2]"),
        ),
        (
            "{{ hasKey .Input.body \"n\" }} {{ hasKey .Input.body \"q\" }}",
            O("true false"),
        ),
        (
            "{{ keys (dict \"b\" 1 \"a\" 2) | sortAlpha }} {{ keys .Input.body.obj (dict \"c\" 1) | sortAlpha }}",
            O("[a b] [a b c]"),
        ),
        ("{{ values (dict \"a\" 1) }}", O("[1]")),
        (
            "{{ pluck \"a\" (dict \"a\" 1) (dict \"a\" 2) (dict \"b\" 3) }}",
            O("[1 2]"),
        ),
        (
            "{{ pick .Input.body.obj \"a\" }} {{ omit .Input.body.obj \"a\" }}",
            O("map[a:x] map[b:1]"),
        ),
        (
            "{{ first .Input.body.list }} {{ last .Input.body.list }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }}",
            O("a b [2 3] [1 2]"),
        ),
        ("{{ first (list) }}", O("<no value>")),
        (
            "{{ first \"s\" }}",
            E("error calling first: Cannot find first on type string"),
        ),
        (
            "{{ last .Input.body.n }}",
            E("Cannot find last on type float64"),
        ),
        (
            "{{ append .Input.body.list \"c\" }} {{ prepend .Input.body.list \"z\" }} {{ push (list) 1 }}",
            O("[a b c] [z a b] [1]"),
        ),
        (
            "{{ append \"s\" 1 }}",
            E("error calling append: Cannot push on type string"),
        ),
        ("{{ uniq (list 1 1 2 \"a\" \"a\") }}", O("[1 2 a]")),
        (
            "{{ has \"a\" .Input.body.list }} {{ has 2.0 .Input.body.nums }} {{ has 2 .Input.body.nums }} {{ has 1 .Input.body.missing }}",
            O("true true false false"),
        ),
        ("{{ without (list 1 2 3 2) 2 }}", O("[1 3]")),
        (
            "{{ compact (list 1 \"\" 0 \"a\" .Input.body.null) }}",
            O("[1 a]"),
        ),
        (
            "{{ slice (list 1 2 3 4) 1 3 }} {{ slice (list 1 2 3) }} {{ slice (list 1 2 3) 2 }}",
            O("[2 3] [1 2 3] [3]"),
        ),
        (
            "{{ slice \"abc\" 1 }}",
            E("list should be type of slice or array but string"),
        ),
        ("{{ slice (list 1 2) 1 5 }}", E("slice index out of range")),
        (
            "{{ concat (list 1) (list 2 3) }} {{ reverse (list 1 2 3) }}",
            O("[1 2 3] [3 2 1]"),
        ),
    ]);
}

#[test]
fn sprig_math_and_conversion() {
    check(&[
        (
            "{{ int \"42\" }} {{ int .Input.body.f }} {{ int64 \"0x10\" }} {{ float64 \"2.5\" }} {{ int \"1.00\" }} {{ int \"abc\" }} {{ int true }}",
            O("42 2 16 2.5 1 0 1"),
        ),
        (
            "{{ printf \"%T %T %T\" (int 1) (int64 1) (float64 1) }}",
            O("int int64 float64"),
        ),
        (
            "{{ atoi \"12\" }} {{ atoi \"x\" }} {{ atoi \"1.5\" }} {{ atoi \"-3\" }}",
            O("12 0 0 -3"),
        ),
        (
            "{{ toDecimal \"0777\" }} {{ toDecimal 777 }} {{ toDecimal \"9\" }}",
            O("511 511 0"),
        ),
        (
            "{{ add 1 2 3 }} {{ add .Input.body.n 1 }} {{ add \"2\" 3 }} {{ add }}",
            O("6 4 5 0"),
        ),
        (
            "{{ sub 5 2 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ div -7 2 }} {{ mod 7 3 }} {{ mod -7 3 }}",
            O("3 24 3 -3 1 -1"),
        ),
        (
            "{{ div 1 0 }}",
            E("error calling div: runtime error: integer divide by zero"),
        ),
        ("{{ mod 1 0 }}", E("integer divide by zero")),
        (
            "{{ max 1 5 3 }} {{ min 4 2 8 }} {{ biggest 1 9 }} {{ add1 .Input.body.n }}",
            O("5 2 9 4"),
        ),
        ("{{ maxf 1 2.5 }} {{ minf 1 2.5 }}", O("2.5 1")),
        (
            "{{ round 3.14159 2 }} {{ round 2.5 0 }} {{ round -2.5 0 }} {{ round 2.4 0 0.3 }}",
            O("3.14 3 -3 3"),
        ),
        (
            "{{ floor 2.7 }} {{ ceil 2.1 }} {{ floor \"3.9\" }} {{ ceil .Input.body.neg }}",
            O("2 3 3 -0"),
        ),
        (
            "{{ until 3 }} {{ until -2 }} {{ untilStep 0 10 4 }} {{ untilStep 0 10 -1 }}",
            O("[0 1 2] [0 -1] [0 4 8] []"),
        ),
        (
            "{{ seq 3 }}|{{ seq 2 5 }}|{{ seq 5 2 }}|{{ seq 0 2 8 }}|{{ seq }}",
            O("1 2 3|2 3 4 5|5 4 3 2|0 2 4 6 8|"),
        ),
        (
            "{{ round 1.5 }}",
            E("wrong number of args for round: want at least 2 got 1"),
        ),
    ]);
}

#[test]
fn sprig_dates() {
    check(&[
        ("{{ date \"2006-01-02\" 0 }}", O("1970-01-01")),
        (
            "{{ dateInZone \"2006-01-02 15:04:05 MST\" 86400 \"UTC\" }}",
            O("1970-01-02 00:00:00 UTC"),
        ),
        (
            "{{ dateInZone \"15:04 MST -07:00\" 0 \"Etc/GMT-2\" }}",
            O("02:00 +02 +02:00"),
        ),
        // IANA zones with their abbreviation at that instant (winter and summer time).
        (
            "{{ dateInZone \"2006-01-02 15:04 MST -0700\" 1704067200 \"Europe/Berlin\" }}",
            O("2024-01-01 01:00 CET +0100"),
        ),
        (
            "{{ dateInZone \"2006-01-02 15:04 MST\" 1719792000 \"Europe/Berlin\" }}",
            O("2024-07-01 02:00 CEST"),
        ),
        (
            "{{ dateInZone \"15:04 MST\" 1719792000 \"America/New_York\" }}",
            O("20:00 EDT"),
        ),
        (
            "{{ dateInZone \"15:04 MST\" 0 \"Asia/Kolkata\" }}",
            O("05:30 IST"),
        ),
        (
            "{{ dateInZone \"15:04 MST\" 0 \"No/Such_Zone\" }}",
            O("00:00 UTC"),
        ),
        (
            "{{ date \"Mon Jan _2 3:04PM .000 Z07:00\" 0 }}",
            O("Thu Jan  1 12:00AM .000 Z"),
        ),
        (
            "{{ toDate \"2006-01-02\" \"2024-03-05\" | date \"Jan 2, 2006 (Monday) 002\" }}",
            O("Mar 5, 2024 (Tuesday) 065"),
        ),
        (
            "{{ toDate \"2006-01-02\" \"2024-03-05\" | unixEpoch }}",
            O("1709596800"),
        ),
        (
            "{{ toDate \"2006-01-02T15:04:05Z07:00\" \"2024-03-05T10:11:12+02:00\" }}",
            O("2024-03-05 10:11:12 +0200 +0200"),
        ),
        (
            "{{ toDate \"2006-01-02T15:04:05Z07:00\" \"2024-03-05T10:11:12.25Z\" }}",
            O("2024-03-05 10:11:12.25 +0000 UTC"),
        ),
        (
            "{{ toDate \"02/01/2006 3:04 PM\" \"05/03/2024 1:30 PM\" | date \"2006-01-02T15:04\" }}",
            O("2024-03-05T13:30"),
        ),
        (
            "{{ toDate \"2006-01-02\" \"bad\" }}",
            O("0001-01-01 00:00:00 +0000 UTC"),
        ),
        (
            "{{ mustToDate \"2006-01-02\" \"bad\" }}",
            E("parsing time \"bad\" as \"2006-01-02\""),
        ),
        (
            "{{ unixEpoch \"x\" }}",
            E("can't handle \"x\" for arg of type time.Time"),
        ),
        (
            "{{ toDate \"2006-01-02\" \"2024-03-05\" | toJson }}",
            O("\"2024-03-05T00:00:00Z\""),
        ),
        (
            "{{ (toDate \"2006-01-02\" \"2024-03-05\").Year }} {{ (toDate \"2006-01-02\" \"2024-03-05\").Format \"02/01/2006\" }}",
            O("2024 05/03/2024"),
        ),
        (
            "{{ dateModify \"1h30m\" (toDate \"2006-01-02\" \"2024-03-05\") | date \"15:04\" }} {{ dateModify \"bad\" (toDate \"2006-01-02\" \"2024-03-05\") | date \"15:04\" }}",
            O("01:30 00:00"),
        ),
        (
            "{{ mustDateModify \"1d\" (now) }}",
            E("time: unknown unit \"d\" in duration \"1d\""),
        ),
        ("{{ htmlDate 0 }}", O("1970-01-01")),
        (
            "{{ now | date \"2006\" | len }} {{ now | unixEpoch | len }} {{ now.Year | printf \"%T\" }}",
            O("4 10 int"),
        ),
    ]);
}

#[test]
fn sprig_random_values_have_the_right_shape() {
    let uuid =
        regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .expect("regex");
    let cases: &[(&str, &str)] = &[
        ("{{ uuidv4 }}", ""),
        ("{{ randAlphaNum 12 }}", "^[0-9A-Za-z]{12}$"),
        ("{{ randAlpha 7 }}", "^[A-Za-z]{7}$"),
        ("{{ randNumeric 5 }}", "^[0-9]{5}$"),
        ("{{ randAscii 9 | len }}", "^9$"),
        ("[{{ randAlphaNum 0 }}{{ randAlphaNum -3 }}]", "^\\[\\]$"),
    ];
    for (src, pattern) in cases {
        let out = render(src).expect("renders");
        let re = if pattern.is_empty() {
            uuid.clone()
        } else {
            regex::Regex::new(pattern).expect("regex")
        };
        assert!(re.is_match(&out), "{src} gave {out:?}, want /{pattern}/");
    }
    assert_ne!(render("{{ uuidv4 }}").ok(), render("{{ uuidv4 }}").ok());
}
