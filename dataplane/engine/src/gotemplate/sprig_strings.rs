//! sprig v3 string functions (Go semantics: byte-based `substr`/`trunc`/`abbrev`,
//! xstrings v1.3 case conversion) and regular-expression functions (Go RE2 via
//! the `regex` crate, which shares RE2's syntax and `$name` expansion rules).

use regex::Regex;

use super::funcs::{FuncDef, Ty, at, fixed, n, s, varargs};
use super::printf::go_quote;
use super::value::{Value, sprint};

/// Largest string or list a generating function may produce.
pub(crate) const MAX_GENERATED: usize = 16 << 20;

const S: &[Ty] = &[Ty::Str];
const SS: &[Ty] = &[Ty::Str, Ty::Str];
const SSS: &[Ty] = &[Ty::Str, Ty::Str, Ty::Str];
const IS: &[Ty] = &[Ty::Int, Ty::Str];
const SSI: &[Ty] = &[Ty::Str, Ty::Str, Ty::Int];

fn st(x: impl Into<String>) -> Result<Value, String> {
    Ok(Value::Str(x.into()))
}

pub(crate) static FUNCS: &[(&str, FuncDef)] = &[
    ("upper", fixed(S, |a| st(map_chars(s(a, 0), to_upper)))),
    ("lower", fixed(S, |a| st(map_chars(s(a, 0), to_lower)))),
    ("title", fixed(S, |a| st(title(s(a, 0))))),
    ("untitle", fixed(S, |a| st(untitle(s(a, 0))))),
    ("trim", fixed(S, |a| st(s(a, 0).trim()))),
    (
        "trimAll",
        fixed(SS, |a| st(s(a, 1).trim_matches(|c| s(a, 0).contains(c)))),
    ),
    (
        "trimall",
        fixed(SS, |a| st(s(a, 1).trim_matches(|c| s(a, 0).contains(c)))),
    ),
    (
        "trimPrefix",
        fixed(SS, |a| st(s(a, 1).strip_prefix(s(a, 0)).unwrap_or(s(a, 1)))),
    ),
    (
        "trimSuffix",
        fixed(SS, |a| st(s(a, 1).strip_suffix(s(a, 0)).unwrap_or(s(a, 1)))),
    ),
    (
        "replace",
        fixed(SSS, |a| st(s(a, 2).replace(s(a, 0), s(a, 1)))),
    ),
    ("repeat", fixed(IS, repeat)),
    ("substr", fixed(&[Ty::Int, Ty::Int, Ty::Str], substr)),
    ("trunc", fixed(IS, trunc)),
    ("abbrev", fixed(IS, abbrev)),
    ("initials", fixed(S, |a| st(initials(s(a, 0))))),
    (
        "contains",
        fixed(SS, |a| Ok(Value::Bool(s(a, 1).contains(s(a, 0))))),
    ),
    (
        "hasPrefix",
        fixed(SS, |a| Ok(Value::Bool(s(a, 1).starts_with(s(a, 0))))),
    ),
    (
        "hasSuffix",
        fixed(SS, |a| Ok(Value::Bool(s(a, 1).ends_with(s(a, 0))))),
    ),
    (
        "quote",
        varargs(&[], Ty::Any, |a| {
            st(join_non_nil(a, |v| go_quote(&strval(v))))
        }),
    ),
    (
        "squote",
        varargs(&[], Ty::Any, |a| {
            st(join_non_nil(a, |v| format!("'{}'", sprint(v))))
        }),
    ),
    (
        "cat",
        varargs(&[], Ty::Any, |a| st(join_non_nil(a, sprint))),
    ),
    (
        "indent",
        fixed(IS, |a| indent(n(a, 0), s(a, 1)).map(Value::Str)),
    ),
    (
        "nindent",
        fixed(IS, |a| {
            indent(n(a, 0), s(a, 1)).map(|x| Value::Str(format!("\n{x}")))
        }),
    ),
    (
        "nospace",
        fixed(S, |a| {
            st(s(a, 0)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>())
        }),
    ),
    (
        "snakecase",
        fixed(S, |a| st(super::sprig_case::snake_or_kebab(s(a, 0), '_'))),
    ),
    (
        "kebabcase",
        fixed(S, |a| st(super::sprig_case::snake_or_kebab(s(a, 0), '-'))),
    ),
    (
        "camelcase",
        fixed(S, |a| st(super::sprig_case::camel(s(a, 0)))),
    ),
    ("swapcase", fixed(S, |a| st(swapcase(s(a, 0))))),
    (
        "split",
        fixed(SS, |a| Ok(indexed_map(go_split(s(a, 1), s(a, 0), -1)))),
    ),
    (
        "splitn",
        fixed(&[Ty::Str, Ty::Int, Ty::Str], |a| {
            Ok(indexed_map(go_split(s(a, 2), s(a, 0), n(a, 1))))
        }),
    ),
    (
        "splitList",
        fixed(SS, |a| Ok(str_list(go_split(s(a, 1), s(a, 0), -1)))),
    ),
    (
        "join",
        fixed(&[Ty::Str, Ty::Any], |a| {
            st(strslice(&at(a, 1)).join(s(a, 0)))
        }),
    ),
    ("toString", fixed(&[Ty::Any], |a| st(strval(&at(a, 0))))),
    (
        "toStrings",
        fixed(&[Ty::Any], |a| Ok(str_list(strslice(&at(a, 0))))),
    ),
    ("sortAlpha", fixed(&[Ty::Any], sort_alpha)),
    (
        "plural",
        fixed(&[Ty::Str, Ty::Str, Ty::Int], |a| {
            st(if n(a, 2) == 1 { s(a, 0) } else { s(a, 1) })
        }),
    ),
    (
        "regexMatch",
        fixed(SS, |a| {
            Ok(Value::Bool(
                Regex::new(s(a, 0)).is_ok_and(|r| r.is_match(s(a, 1))),
            ))
        }),
    ),
    (
        "mustRegexMatch",
        fixed(SS, |a| Ok(Value::Bool(compile(s(a, 0))?.is_match(s(a, 1))))),
    ),
    ("regexFind", fixed(SS, |a| regex_find(a, must_compile))),
    ("mustRegexFind", fixed(SS, |a| regex_find(a, compile))),
    (
        "regexFindAll",
        fixed(SSI, |a| regex_find_all(a, must_compile)),
    ),
    (
        "mustRegexFindAll",
        fixed(SSI, |a| regex_find_all(a, compile)),
    ),
    (
        "regexReplaceAll",
        fixed(SSS, |a| {
            st(must_compile(s(a, 0))?.replace_all(s(a, 1), s(a, 2)))
        }),
    ),
    (
        "mustRegexReplaceAll",
        fixed(SSS, |a| st(compile(s(a, 0))?.replace_all(s(a, 1), s(a, 2)))),
    ),
    (
        "regexReplaceAllLiteral",
        fixed(SSS, |a| regex_replace_literal(a, must_compile)),
    ),
    (
        "mustRegexReplaceAllLiteral",
        fixed(SSS, |a| regex_replace_literal(a, compile)),
    ),
    ("regexSplit", fixed(SSI, |a| regex_split(a, must_compile))),
    ("mustRegexSplit", fixed(SSI, |a| regex_split(a, compile))),
    ("regexQuoteMeta", fixed(S, |a| st(regex::escape(s(a, 0))))),
];

/// sprig's `strval`: strings as is, everything else with `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Missing => "<nil>".into(),
        other => sprint(other),
    }
}

/// sprig's `strslice`: a list's non-nil elements as strings; nil gives `[]`.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|e| !e.is_nil()).map(strval).collect(),
        Value::Nil | Value::Missing => Vec::new(),
        other => vec![strval(other)],
    }
}

pub(crate) fn str_list(v: Vec<String>) -> Value {
    Value::List(v.into_iter().map(Value::Str).collect())
}

fn join_non_nil(a: &[Value], f: impl Fn(&Value) -> String) -> String {
    a.iter()
        .filter(|v| !v.is_nil())
        .map(f)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `unicode.ToUpper` (simple one-to-one mapping).
pub(crate) fn to_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower` (simple one-to-one mapping).
pub(crate) fn to_lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn to_title(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        c => to_upper(c),
    }
}

fn map_chars(s: &str, f: fn(char) -> char) -> String {
    s.chars().map(f).collect()
}

/// Go's deprecated `strings.Title` word-boundary rule.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) { to_title(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if c.is_whitespace() {
                next = true;
                c
            } else if next {
                next = false;
                to_lower(c)
            } else {
                c
            }
        })
        .collect()
}

fn initials(s: &str) -> String {
    let mut gap = true;
    let mut out = String::new();
    for c in s.chars() {
        if c.is_whitespace() {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

fn swapcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                to_lower(c)
            } else if c.is_lowercase() {
                to_upper(c)
            } else {
                c
            }
        })
        .collect()
}

fn repeat(a: &[Value]) -> Result<Value, String> {
    let count = n(a, 0);
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let text = s(a, 1);
    if (count as u128) * (text.len() as u128) > MAX_GENERATED as u128 {
        return Err(format!(
            "strings: Repeat output too large (over {MAX_GENERATED} bytes)"
        ));
    }
    st(text.repeat(count as usize))
}

/// A byte slice of a Go string, with Go's panic text when out of range.
fn byte_slice(s: &str, lo: Option<i64>, hi: Option<i64>) -> Result<String, String> {
    let len = s.len() as i64;
    let (l, h) = (lo.unwrap_or(0), hi.unwrap_or(len));
    if h < 0 || h > len {
        let lo_txt = lo.map(|x| x.to_string()).unwrap_or_default();
        return Err(format!(
            "runtime error: slice bounds out of range [{lo_txt}:{h}] with length {len}"
        ));
    }
    if l < 0 || l > h {
        return Err(format!(
            "runtime error: slice bounds out of range [{l}:{h}]"
        ));
    }
    Ok(String::from_utf8_lossy(&s.as_bytes()[l as usize..h as usize]).into_owned())
}

fn substr(a: &[Value]) -> Result<Value, String> {
    let (start, end, text) = (n(a, 0), n(a, 1), s(a, 2));
    let len = text.len() as i64;
    let r = if start < 0 {
        byte_slice(text, None, Some(end))
    } else if end < 0 || end > len {
        byte_slice(text, Some(start), None)
    } else {
        byte_slice(text, Some(start), Some(end))
    };
    r.map(Value::Str)
}

fn trunc(a: &[Value]) -> Result<Value, String> {
    let (c, text) = (n(a, 0), s(a, 1));
    let len = text.len() as i64;
    if c < 0 && len + c > 0 {
        return byte_slice(text, Some(len + c), None).map(Value::Str);
    }
    if c >= 0 && len > c {
        return byte_slice(text, None, Some(c)).map(Value::Str);
    }
    st(text)
}

fn abbrev(a: &[Value]) -> Result<Value, String> {
    let (width, text) = (n(a, 0), s(a, 1));
    if width < 4 || text.len() as i64 <= width {
        return st(text);
    }
    byte_slice(text, None, Some(width - 3)).map(|x| Value::Str(x + "..."))
}

fn indent(spaces: i64, text: &str) -> Result<String, String> {
    if spaces < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let pad = " ".repeat((spaces as usize).min(MAX_GENERATED));
    Ok(format!("{pad}{}", text.replace('\n', &format!("\n{pad}"))))
}

/// Go's `strings.SplitN` (`n < 0`: all parts; `n == 0`: none).
fn go_split(text: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if sep.is_empty() {
        let chars: Vec<char> = text.chars().collect();
        let mut out: Vec<String> = Vec::new();
        for (i, c) in chars.iter().enumerate() {
            if out.len() + 1 == limit {
                out.push(chars[i..].iter().collect());
                return out;
            }
            out.push(c.to_string());
        }
        return out;
    }
    text.splitn(limit, sep).map(str::to_string).collect()
}

fn indexed_map(parts: Vec<String>) -> Value {
    Value::map(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::Str(p)))
            .collect(),
    )
}

fn sort_alpha(a: &[Value]) -> Result<Value, String> {
    let v = at(a, 0);
    if let Value::List(_) = v {
        let mut list = strslice(&v);
        list.sort();
        return Ok(str_list(list));
    }
    Ok(str_list(vec![strval(&v)]))
}

/// Compiles a Go regular expression, with Go's error text (`mustRegex*` form).
pub(crate) fn compile(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or("").trim();
        let last = last.trim_start_matches("error: ");
        let code = match last {
            "unclosed group" => "missing closing )",
            "unclosed character class" => "missing closing ]",
            "unopened group" => "unexpected )",
            "repetition operator missing expression" => "missing argument to repetition operator",
            other => other,
        };
        format!("error parsing regexp: {code}: `{re}`")
    })
}

type Compiler = fn(&str) -> Result<Regex, String>;

/// `regexp.MustCompile`'s panic text, as the non-`must` sprig functions report it.
fn must_compile(re: &str) -> Result<Regex, String> {
    compile(re).map_err(|e| format!("regexp: Compile(`{re}`): {e}"))
}

fn regex_find(a: &[Value], compile: Compiler) -> Result<Value, String> {
    let r = compile(s(a, 0))?;
    st(r.find(s(a, 1)).map_or("", |m| m.as_str()))
}

fn limit(n: i64) -> usize {
    if n < 0 { usize::MAX } else { n as usize }
}

fn regex_find_all(a: &[Value], compile: Compiler) -> Result<Value, String> {
    let r = compile(s(a, 0))?;
    let found = r
        .find_iter(s(a, 1))
        .take(limit(n(a, 2)))
        .map(|m| m.as_str().to_string());
    Ok(str_list(found.collect()))
}

fn regex_replace_literal(a: &[Value], compile: Compiler) -> Result<Value, String> {
    let r = compile(s(a, 0))?;
    st(r.replace_all(s(a, 1), regex::NoExpand(s(a, 2))))
}

/// Go's `Regexp.Split`.
fn regex_split(a: &[Value], compile: Compiler) -> Result<Value, String> {
    let (r, text, k) = (compile(s(a, 0))?, s(a, 1), n(a, 2));
    if k == 0 {
        return Ok(Value::List(Vec::new()));
    }
    if !s(a, 0).is_empty() && text.is_empty() {
        return Ok(str_list(vec![String::new()]));
    }
    let mut out: Vec<String> = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in r.find_iter(text).take(limit(k)) {
        if k > 0 && out.len() as i64 == k - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(text[beg..end].to_string());
        }
        beg = m.end();
    }
    if end != text.len() {
        out.push(text[beg..].to_string());
    }
    Ok(str_list(out))
}
