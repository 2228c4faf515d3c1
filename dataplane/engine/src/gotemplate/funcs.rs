//! Function registry (Go parameter types for argument checking) and the Go
//! `text/template` builtins: `eq ne lt le gt ge not len index print printf println
//! html js urlquery` (`and`/`or` short-circuit inside the executor; `slice` is
//! sprig's, which overrides the builtin in Argo's function map).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::printf::{sprint_args, sprintf, sprintln_args};
use super::value::Value;

/// Go parameter type of a template function, used for Go's argument conversion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ty {
    /// `interface{}`.
    Any,
    /// `reflect.Value` (the comparison builtins, `index`, `len`, `not`).
    Rv,
    Str,
    /// Go `int`.
    Int,
    Float,
    Bool,
    /// `map[string]interface{}`.
    Map,
    /// `time.Time`.
    Time,
}

impl Ty {
    /// The value a nil (or `<no value>`) argument becomes, if the type can be nil.
    pub(crate) fn zero(self) -> Option<Value> {
        match self {
            Ty::Any => Some(Value::Nil),
            Ty::Rv => Some(Value::Missing),
            Ty::Map => Some(Value::map(Default::default())),
            _ => None,
        }
    }

    /// Go spelling of the type for error messages.
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Rv => "reflect.Value",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::Map => "map[string]interface {}",
            Ty::Time => "time.Time",
        }
    }
}

/// Implementation of a template function (arguments already type-checked).
pub(crate) type Native = fn(&[Value]) -> Result<Value, String>;

/// A template function: Go signature plus implementation.
#[derive(Clone, Copy)]
pub(crate) struct FuncDef {
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
    pub f: Native,
}

/// A function with fixed parameters.
pub(crate) const fn fixed(params: &'static [Ty], f: Native) -> FuncDef {
    FuncDef {
        params,
        variadic: None,
        f,
    }
}

/// A function with fixed parameters followed by `...vt`.
pub(crate) const fn varargs(params: &'static [Ty], vt: Ty, f: Native) -> FuncDef {
    FuncDef {
        params,
        variadic: Some(vt),
        f,
    }
}

fn registry() -> &'static HashMap<&'static str, FuncDef> {
    static REG: OnceLock<HashMap<&'static str, FuncDef>> = OnceLock::new();
    REG.get_or_init(|| {
        let mut m = HashMap::new();
        for table in [
            BUILTINS,
            super::sprig_strings::FUNCS,
            super::sprig_data::FUNCS,
            super::sprig_math::FUNCS,
            super::sprig_time::FUNCS,
            super::sprig_encoding::FUNCS,
        ] {
            for (name, def) in table {
                m.insert(*name, *def);
            }
        }
        m
    })
}

/// Looks a function up by name.
pub(crate) fn lookup(name: &str) -> Option<&'static FuncDef> {
    registry().get(name)
}

/// True if `name` is callable in templates (`and`/`or` included).
pub(crate) fn exists(name: &str) -> bool {
    name == "and" || name == "or" || registry().contains_key(name)
}

/// The string argument at `i` (callers rely on the executor's type check).
pub(crate) fn s(a: &[Value], i: usize) -> &str {
    match a.get(i) {
        Some(Value::Str(s)) => s,
        _ => "",
    }
}

/// The integer argument at `i`.
pub(crate) fn n(a: &[Value], i: usize) -> i64 {
    a.get(i).and_then(Value::as_int).unwrap_or(0)
}

/// The argument at `i`, or nil.
pub(crate) fn at(a: &[Value], i: usize) -> Value {
    a.get(i).cloned().unwrap_or(Value::Nil)
}

const RV: &[Ty] = &[Ty::Rv];
const RV2: &[Ty] = &[Ty::Rv, Ty::Rv];

static BUILTINS: &[(&str, FuncDef)] = &[
    ("eq", varargs(RV, Ty::Rv, eq)),
    ("ne", fixed(RV2, ne)),
    ("lt", fixed(RV2, lt)),
    ("le", fixed(RV2, le)),
    ("gt", fixed(RV2, gt)),
    ("ge", fixed(RV2, ge)),
    ("not", fixed(RV, not)),
    ("len", fixed(RV, len)),
    ("index", varargs(RV, Ty::Rv, index)),
    (
        "print",
        varargs(&[], Ty::Any, |a| Ok(Value::Str(sprint_args(a)))),
    ),
    (
        "println",
        varargs(&[], Ty::Any, |a| Ok(Value::Str(sprintln_args(a)))),
    ),
    (
        "printf",
        varargs(&[Ty::Str], Ty::Any, |a| {
            Ok(Value::Str(sprintf(s(a, 0), &a[1..])))
        }),
    ),
    (
        "html",
        varargs(&[], Ty::Any, |a| Ok(Value::Str(html_escape(&eval_args(a))))),
    ),
    (
        "js",
        varargs(&[], Ty::Any, |a| Ok(Value::Str(js_escape(&eval_args(a))))),
    ),
    (
        "urlquery",
        varargs(&[], Ty::Any, |a| {
            Ok(Value::Str(query_escape(&eval_args(a))))
        }),
    ),
];

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Missing | Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

const BAD_CMP: &str = "incompatible types for comparison";
const BAD_CMP_TYPE: &str = "invalid type for comparison";

fn eq_one(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (kind(a), kind(b));
    if k1 != k2 {
        if k1 != Kind::Invalid && k2 != Kind::Invalid {
            return Err(BAD_CMP.into());
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        _ if k1 == Kind::Int => a.as_int() == b.as_int(),
        _ if k1 == Kind::Invalid => true,
        (Value::Time(x), Value::Time(y)) => x == y,
        _ => {
            return Err(format!(
                "non-comparable type {}: {}",
                super::value::sprint(b),
                b.type_name()
            ));
        }
    })
}

fn eq(a: &[Value]) -> Result<Value, String> {
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for b in &a[1..] {
        if eq_one(&a[0], b)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ne(a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(!eq_one(&a[0], &a[1])?))
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (kind(a), kind(b));
    if matches!(k1, Kind::Invalid | Kind::Other) || matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(BAD_CMP_TYPE.into());
    }
    if k1 != k2 {
        return Err(BAD_CMP.into());
    }
    if k1 == Kind::Bool {
        return Err(BAD_CMP_TYPE.into());
    }
    Ok(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => a.as_int() < b.as_int(),
    })
}

fn lt(a: &[Value]) -> Result<Value, String> {
    less(&a[0], &a[1]).map(Value::Bool)
}

fn le(a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(less(&a[0], &a[1])? || eq_one(&a[0], &a[1])?))
}

fn gt(a: &[Value]) -> Result<Value, String> {
    le(a).map(|v| Value::Bool(!v.truthy()))
}

fn ge(a: &[Value]) -> Result<Value, String> {
    lt(a).map(|v| Value::Bool(!v.truthy()))
}

fn not(a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(!a[0].truthy()))
}

fn len(a: &[Value]) -> Result<Value, String> {
    let n = match &a[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.borrow().len(),
        Value::Nil => return Err("len of nil pointer".into()),
        Value::Missing => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

fn index_arg(ix: &Value, cap: usize) -> Result<usize, String> {
    let x = match ix {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Missing | Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    if x as u64 == cap as u64 {
        return Err("reflect: slice index out of range".into());
    }
    Ok(x as usize)
}

fn index(a: &[Value]) -> Result<Value, String> {
    let mut item = a[0].clone();
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for ix in &a[1..] {
        item = match &item {
            Value::List(l) => l[index_arg(ix, l.len())?].clone(),
            Value::Str(s) => Value::Int(i64::from(s.as_bytes()[index_arg(ix, s.len())?])),
            Value::Map(m) => match ix {
                Value::Str(k) => m.borrow().get(k).cloned().unwrap_or(Value::Nil),
                Value::Missing | Value::Nil => Value::Nil,
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            Value::Nil | Value::Missing => return Err("index of nil pointer".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

/// Go's `evalArgs`: a single string as is, otherwise `fmt.Sprint` of the arguments.
fn eval_args(a: &[Value]) -> String {
    if let [Value::Str(s)] = a {
        return s.clone();
    }
    sprint_args(a)
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) >= 0x80 && !super::printf::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
