//! The value model of the template engine: the subset of Go's dynamic values that
//! JSON payloads and the sprig functions produce, with Go's printing rules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use chrono::{DateTime, FixedOffset};

/// A Go map shared by reference (`map[string]interface{}`): sprig's `set`/`unset`
/// mutate the map in place, and every holder of it sees the change, as in Go.
pub type MapRef = Rc<RefCell<BTreeMap<String, Value>>>;

/// A Go `time.Time`: an instant with its UTC offset and zone abbreviation.
#[derive(Clone, Debug, PartialEq)]
pub struct GoTime {
    /// The instant, in the zone it is shown in.
    pub dt: DateTime<FixedOffset>,
    /// The zone abbreviation Go prints for `MST` (empty: print the numeric offset).
    pub zone: String,
}

/// A dynamic template value.
#[derive(Clone, Debug)]
pub enum Value {
    /// Go's invalid `reflect.Value`: a missing map key; prints `<no value>`.
    Missing,
    /// A nil `interface{}` (JSON `null` inside a container, or a nil argument).
    Nil,
    /// `bool`.
    Bool(bool),
    /// Go `int` (template integer constants, `len`, `atoi`, `int`, range indexes).
    Int(i64),
    /// Go `int64` (sprig arithmetic: `add`, `sub`, `int64`, ...).
    Int64(i64),
    /// `float64` (every JSON number, `float64`, `round`, `floor`, ...).
    Float(f64),
    /// `string`.
    Str(String),
    /// `[]interface{}` (JSON arrays, `list`, `splitList`, ...).
    List(Vec<Value>),
    /// `map[string]interface{}` (JSON objects, `dict`, ...).
    Map(MapRef),
    /// `time.Time` (`now`, `toDate`).
    Time(GoTime),
}

impl Value {
    /// Builds a string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// Builds a map value from an owned map.
    pub fn map(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }

    /// Converts a JSON value the way gjson's `Value()` does: numbers become float64.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The integer inside an `int` or `int64`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    /// True for the Go nil-ish values (`<no value>` and nil).
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Missing | Value::Nil)
    }

    /// The Go type name, as `%T` and Go's error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Time(_) => "time.Time",
        }
    }

    /// The Go `reflect.Kind` name (what sprig's list errors print).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "invalid",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Time(_) => "struct",
            other => other.type_name(),
        }
    }

    /// Go template truth (`if`, `with`, `and`, `or`, `not`): the zero value of
    /// its type and nil are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Time(_) => true,
        }
    }

    /// Go's `reflect.DeepEqual` on two interface values (types must match).
    pub fn deep_equal(&self, other: &Value) -> bool {
        self.deep_equal_at(other, 0)
    }

    fn deep_equal_at(&self, other: &Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match (self, other) {
            (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) | (Value::Int64(a), Value::Int64(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.deep_equal_at(y, depth + 1))
            }
            (Value::Map(a), Value::Map(b)) => {
                if Rc::ptr_eq(a, b) {
                    return true;
                }
                let (a, b) = (a.borrow(), b.borrow());
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k).is_some_and(|w| v.deep_equal_at(w, depth + 1)))
            }
            (Value::Time(a), Value::Time(b)) => a == b,
            _ => false,
        }
    }
}

/// Maximum nesting printed, encoded or compared (JSON input nests at most 128 deep).
const MAX_DEPTH: usize = 256;

/// Largest text `sprint` produces; longer output is cut with `...`.
pub const MAX_PRINT: usize = 64 << 20;

/// Maps on the path being printed or encoded, to detect a map that contains itself.
type Path = Vec<*const RefCell<BTreeMap<String, Value>>>;

/// Go's `fmt.Sprint(v)` (`%v`) of a value.
pub fn sprint(v: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, v, &mut Vec::new());
    out
}

fn write_v(out: &mut String, v: &Value, path: &mut Path) {
    if path.len() > MAX_DEPTH || out.len() > MAX_PRINT {
        out.push_str("...");
        return;
    }
    match v {
        Value::Missing => out.push_str("<no value>"),
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float(*f, 'g', None)),
        Value::Str(s) => out.push_str(s),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e, path);
            }
            out.push(']');
        }
        Value::Map(m) => {
            let ptr = Rc::as_ptr(m);
            if path.contains(&ptr) {
                out.push_str("map[...]");
                return;
            }
            path.push(ptr);
            out.push_str("map[");
            for (i, (k, e)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e, path);
            }
            out.push(']');
            path.pop();
        }
        Value::Time(t) => out.push_str(&super::sprig_time::time_string(t)),
    }
}

/// The decimal digits of `|f|` (no leading/trailing zeros) and the decimal point
/// position, rounded to `sig` significant digits or shortest round-trip if `None`.
fn decimal_digits(f: f64, sig: Option<usize>) -> (String, i32) {
    let s = match sig {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0').to_string();
    if digits.is_empty() {
        return ("0".to_string(), 1);
    }
    (digits, exp + 1)
}

/// Go's exponent suffix: `e+06`, `e-07`, `e+100`.
fn exp_suffix(e: i32, upper: bool) -> String {
    let sign = if e < 0 { '-' } else { '+' };
    let mark = if upper { 'E' } else { 'e' };
    format!("{mark}{sign}{:02}", e.abs())
}

/// Go's `strconv.FormatFloat(f, verb, prec, 64)` for verbs `e`, `E`, `f`, `g`, `G`
/// (`prec` `None` = shortest representation).
pub fn format_float(f: f64, verb: char, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = if f.is_sign_negative() { "-" } else { "" };
    let body = match verb {
        'f' | 'F' => match prec {
            Some(p) => format!("{:.*}", p, f.abs()),
            None => {
                let (d, dp) = decimal_digits(f, None);
                fmt_f(&d, dp, d.len() as i32 - dp)
            }
        },
        'e' | 'E' => {
            let (d, dp) = match prec {
                Some(p) => exact_digits(f, p + 1),
                None => decimal_digits(f, None),
            };
            let frac = prec.unwrap_or(d.len().saturating_sub(1));
            fmt_e(&d, dp, frac, verb == 'E')
        }
        _ => fmt_g(f, prec, verb == 'G'),
    };
    format!("{neg}{body}")
}

/// Digits rounded to exactly `n` significant digits (keeping trailing zeros).
fn exact_digits(f: f64, n: usize) -> (String, i32) {
    let s = format!("{:.*e}", n.saturating_sub(1), f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    if f == 0.0 {
        return (digits, 1);
    }
    (digits, exp + 1)
}

fn fmt_e(d: &str, dp: i32, frac: usize, upper: bool) -> String {
    let mut s = String::new();
    s.push_str(&d[..1]);
    if frac > 0 {
        s.push('.');
        let rest: String = d[1..]
            .chars()
            .chain(std::iter::repeat('0'))
            .take(frac)
            .collect();
        s.push_str(&rest);
    }
    let e = if d.chars().all(|c| c == '0') {
        0
    } else {
        dp - 1
    };
    s + &exp_suffix(e, upper)
}

fn fmt_f(d: &str, dp: i32, frac: i32) -> String {
    let mut s = String::new();
    if dp <= 0 {
        s.push('0');
    } else {
        for i in 0..dp as usize {
            s.push(d.as_bytes().get(i).map_or('0', |b| *b as char));
        }
    }
    if frac > 0 {
        s.push('.');
        for i in 0..frac {
            let idx = dp + i;
            let c = if idx < 0 {
                '0'
            } else {
                d.as_bytes().get(idx as usize).map_or('0', |b| *b as char)
            };
            s.push(c);
        }
    }
    s
}

fn fmt_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let (d, dp) = match prec {
        Some(p) => decimal_digits(f, Some(p.max(1))),
        None => decimal_digits(f, None),
    };
    let nd = d.len() as i32;
    let mut eprec = match prec {
        None => 6,
        Some(p) => {
            let p = p.max(1) as i32;
            if p > nd && nd >= dp { nd } else { p }
        }
    };
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        return fmt_e(&d, dp, (nd - 1).max(0) as usize, upper);
    }
    fmt_f(&d, dp, (nd - dp).max(0))
}

/// Options for Go's `encoding/json` encoder.
#[derive(Clone, Copy)]
pub struct JsonStyle {
    /// Escape `<`, `>`, `&` as `\u003c`... (`json.Marshal`; off for `toRawJson`).
    pub escape_html: bool,
    /// Indent with two spaces (`json.MarshalIndent(v, "", "  ")`).
    pub pretty: bool,
}

/// Go's `json.Marshal` of a value (map keys sorted); errors like Go's for NaN/Inf.
pub fn to_json(v: &Value, style: JsonStyle) -> Result<String, String> {
    let mut out = String::new();
    write_json(&mut out, v, style, &mut Vec::new())?;
    Ok(out)
}

fn newline_indent(out: &mut String, style: JsonStyle, level: usize) {
    if style.pretty {
        out.push('\n');
        for _ in 0..level {
            out.push_str("  ");
        }
    }
}

fn write_json(
    out: &mut String,
    v: &Value,
    style: JsonStyle,
    path: &mut Path,
) -> Result<(), String> {
    let level = path.len();
    if level > MAX_DEPTH || out.len() > MAX_PRINT {
        return Err("json: value too large or too deeply nested".into());
    }
    match v {
        Value::Missing | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::Str(s) => json_string(out, s, style.escape_html),
        Value::Time(t) => {
            let s = super::sprig_time::format_layout(t, "2006-01-02T15:04:05.999999999Z07:00");
            json_string(out, &s, style.escape_html)
        }
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, style, level + 1);
                path.push(std::ptr::null());
                let r = write_json(out, e, style, path);
                path.pop();
                r?;
            }
            newline_indent(out, style, level);
            out.push(']');
        }
        Value::Map(m) => {
            let ptr = Rc::as_ptr(m);
            if path.contains(&ptr) {
                return Err(
                    "json: unsupported value: encountered a cycle via map[string]interface {}"
                        .into(),
                );
            }
            let m = m.borrow();
            if m.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, style, level + 1);
                json_string(out, k, style.escape_html);
                out.push(':');
                if style.pretty {
                    out.push(' ');
                }
                path.push(ptr);
                let r = write_json(out, e, style, path);
                path.pop();
                r?;
            }
            newline_indent(out, style, level);
            out.push('}');
        }
    }
    Ok(())
}

/// Go's JSON float encoding (`1e+21`, `1e-7`, `1000000`); an error for NaN and infinities,
/// which Go's encoder refuses.
pub fn json_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            format_float(f, 'g', None)
        ));
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_float(f, 'e', None);
        // Go trims the exponent's leading zero: e-07 -> e-7.
        return Ok(match s.rsplit_once("e-0") {
            Some((m, e)) => format!("{m}e-{e}"),
            None => match s.rsplit_once("e+0") {
                Some((m, e)) => format!("{m}e+{e}"),
                None => s,
            },
        });
    }
    Ok(format_float(f, 'f', None))
}

fn json_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes JSON text the way Go's `json.Unmarshal` into `interface{}` does.
pub fn from_json_text(s: &str) -> Result<Value, String> {
    serde_json::from_str::<serde_json::Value>(s)
        .map(|v| Value::from_json(&v))
        .map_err(|e| {
            if e.is_eof() {
                "unexpected end of JSON input".to_string()
            } else {
                format!("invalid JSON: {e}")
            }
        })
}
