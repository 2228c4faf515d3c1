//! sprig v3 conversion and arithmetic functions, with spf13/cast coercions
//! (`add .Input.n 1` works on JSON float64s and numeric strings).

use super::funcs::{FuncDef, Ty, fixed, n, s, varargs};
use super::sprig_strings::MAX_GENERATED;
use super::value::{Value, sprint};

const A: &[Ty] = &[Ty::Any];
const AA: &[Ty] = &[Ty::Any, Ty::Any];

fn i64v(x: i64) -> Result<Value, String> {
    Ok(Value::Int64(x))
}

pub(crate) static FUNCS: &[(&str, FuncDef)] = &[
    ("int", fixed(A, |a| Ok(Value::Int(to_int64(&a[0]))))),
    ("int64", fixed(A, |a| i64v(to_int64(&a[0])))),
    ("float64", fixed(A, |a| Ok(Value::Float(to_float64(&a[0]))))),
    ("atoi", fixed(&[Ty::Str], |a| Ok(Value::Int(atoi(s(a, 0)))))),
    (
        "toDecimal",
        fixed(A, |a| {
            i64v(i64::from_str_radix(&sprint(&a[0]), 8).unwrap_or(0))
        }),
    ),
    (
        "add",
        varargs(&[], Ty::Any, |a| {
            i64v(a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v))))
        }),
    ),
    ("add1", fixed(A, |a| i64v(to_int64(&a[0]).wrapping_add(1)))),
    (
        "sub",
        fixed(AA, |a| i64v(to_int64(&a[0]).wrapping_sub(to_int64(&a[1])))),
    ),
    (
        "mul",
        varargs(A, Ty::Any, |a| {
            i64v(
                a[1..]
                    .iter()
                    .fold(to_int64(&a[0]), |acc, v| acc.wrapping_mul(to_int64(v))),
            )
        }),
    ),
    ("div", fixed(AA, |a| int_div(a, i64::wrapping_div))),
    ("mod", fixed(AA, |a| int_div(a, i64::wrapping_rem))),
    (
        "max",
        varargs(A, Ty::Any, |a| {
            i64v(a.iter().map(to_int64).max().unwrap_or(0))
        }),
    ),
    (
        "biggest",
        varargs(A, Ty::Any, |a| {
            i64v(a.iter().map(to_int64).max().unwrap_or(0))
        }),
    ),
    (
        "min",
        varargs(A, Ty::Any, |a| {
            i64v(a.iter().map(to_int64).min().unwrap_or(0))
        }),
    ),
    (
        "maxf",
        varargs(A, Ty::Any, |a| {
            Ok(Value::Float(
                a.iter().map(to_float64).fold(f64::NEG_INFINITY, f64::max),
            ))
        }),
    ),
    (
        "minf",
        varargs(A, Ty::Any, |a| {
            Ok(Value::Float(
                a.iter().map(to_float64).fold(f64::INFINITY, f64::min),
            ))
        }),
    ),
    (
        "floor",
        fixed(A, |a| Ok(Value::Float(to_float64(&a[0]).floor()))),
    ),
    (
        "ceil",
        fixed(A, |a| Ok(Value::Float(to_float64(&a[0]).ceil()))),
    ),
    ("round", varargs(&[Ty::Any, Ty::Int], Ty::Float, round)),
    (
        "until",
        fixed(&[Ty::Int], |a| {
            until_step(0, n(a, 0), if n(a, 0) < 0 { -1 } else { 1 })
        }),
    ),
    (
        "untilStep",
        fixed(&[Ty::Int, Ty::Int, Ty::Int], |a| {
            until_step(n(a, 0), n(a, 1), n(a, 2))
        }),
    ),
    ("seq", varargs(&[], Ty::Int, seq)),
];

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, `0x`/`0o`/`0b`/leading-`0` prefixes, `_`.
fn parse_int_base0(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (digits, radix, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (d.to_string(), 16, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d.to_string(), 8, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d.to_string(), 2, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (lower[1..].to_string(), 8, true)
    } else {
        (lower, 10, false)
    };
    if digits.contains('_') && !prefixed || digits.starts_with(['+', '-']) || digits.is_empty() {
        return None;
    }
    let v = i128::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

/// spf13/cast's `trimZeroDecimal`: "12.00" → "12".
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, b) in s.bytes().enumerate().rev() {
        match b {
            b'.' if found_zero => return &s[..i],
            b'.' => return s,
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// spf13/cast `ToInt64` (failures give 0, as sprig ignores cast errors).
pub(crate) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Str(s) => parse_int_base0(trim_zero_decimal(s)).unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// spf13/cast `ToFloat64`.
pub(crate) fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => parse_go_float(s).unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input (plus Inf/NaN spellings).
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => return lower.parse::<f64>().ok(),
        _ => {}
    }
    if lower.contains(['x', 'i', 'n']) || lower.is_empty() {
        return None;
    }
    lower.replace('_', "").parse::<f64>().ok()
}

/// Go's `strconv.Atoi` (base 10 only); errors give 0 like sprig.
fn atoi(s: &str) -> i64 {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    s.parse::<i64>().unwrap_or(0)
}

fn int_div(a: &[Value], op: fn(i64, i64) -> i64) -> Result<Value, String> {
    let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
    if y == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    i64v(op(x, y))
}

fn round(a: &[Value]) -> Result<Value, String> {
    let round_on = match a.get(2) {
        Some(Value::Float(f)) => *f,
        _ => 0.5,
    };
    let val = to_float64(&a[0]);
    let pow = 10f64.powf(n(a, 1) as f64);
    let digit = pow * val;
    let r = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(r / pow))
}

fn until_list(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    let ok = (stop < start && step < 0) || (stop >= start && step > 0);
    if !ok {
        return Ok(v);
    }
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        if v.len() >= MAX_GENERATED {
            return Err(format!("list too large (over {MAX_GENERATED} elements)"));
        }
        v.push(i);
        i = match i.checked_add(step) {
            Some(x) => x,
            None => break,
        };
    }
    Ok(v)
}

fn until_step(start: i64, stop: i64, step: i64) -> Result<Value, String> {
    Ok(Value::List(
        until_list(start, stop, step)?
            .into_iter()
            .map(Value::Int)
            .collect(),
    ))
}

fn seq(a: &[Value]) -> Result<Value, String> {
    let p: Vec<i64> = a.iter().map(|v| v.as_int().unwrap_or(0)).collect();
    let list = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            until_list(1, end + inc, inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_list(*start, end + step, step)?
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                return Ok(Value::str(""));
            }
            until_list(*start, end + inc, *step)?
        }
        _ => return Ok(Value::str("")),
    };
    let parts: Vec<String> = list.iter().map(i64::to_string).collect();
    Ok(Value::Str(parts.join(" ")))
}
