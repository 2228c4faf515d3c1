//! sprig v3 defaults, JSON, list and dict functions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::funcs::{FuncDef, Ty, at, fixed, s, varargs};
use super::sprig_strings::{str_list, strval};
use super::value::{JsonStyle, MapRef, Value, from_json_text, to_json};

const A: &[Ty] = &[Ty::Any];
const AA: &[Ty] = &[Ty::Any, Ty::Any];
const MS: &[Ty] = &[Ty::Map, Ty::Str];

const MARSHAL: JsonStyle = JsonStyle {
    escape_html: true,
    pretty: false,
};
const PRETTY: JsonStyle = JsonStyle {
    escape_html: true,
    pretty: true,
};
const RAW: JsonStyle = JsonStyle {
    escape_html: false,
    pretty: false,
};

pub(crate) static FUNCS: &[(&str, FuncDef)] = &[
    ("default", varargs(A, Ty::Any, dfault)),
    ("empty", fixed(A, |a| Ok(Value::Bool(!a[0].truthy())))),
    (
        "coalesce",
        varargs(&[], Ty::Any, |a| {
            Ok(a.iter().find(|v| v.truthy()).cloned().unwrap_or(Value::Nil))
        }),
    ),
    (
        "all",
        varargs(&[], Ty::Any, |a| {
            Ok(Value::Bool(a.iter().all(Value::truthy)))
        }),
    ),
    (
        "any",
        varargs(&[], Ty::Any, |a| {
            Ok(Value::Bool(a.iter().any(Value::truthy)))
        }),
    ),
    (
        "ternary",
        fixed(&[Ty::Any, Ty::Any, Ty::Bool], |a| {
            Ok(if a[2].truthy() { at(a, 0) } else { at(a, 1) })
        }),
    ),
    (
        "toJson",
        fixed(A, |a| {
            Ok(Value::Str(to_json(&a[0], MARSHAL).unwrap_or_default()))
        }),
    ),
    (
        "toPrettyJson",
        fixed(A, |a| {
            Ok(Value::Str(to_json(&a[0], PRETTY).unwrap_or_default()))
        }),
    ),
    (
        "toRawJson",
        fixed(A, |a| {
            Ok(Value::Str(to_json(&a[0], RAW).unwrap_or_default()))
        }),
    ),
    (
        "mustToJson",
        fixed(A, |a| to_json(&a[0], MARSHAL).map(Value::Str)),
    ),
    (
        "mustToPrettyJson",
        fixed(A, |a| to_json(&a[0], PRETTY).map(Value::Str)),
    ),
    (
        "mustToRawJson",
        fixed(A, |a| to_json(&a[0], RAW).map(Value::Str)),
    ),
    (
        "fromJson",
        fixed(&[Ty::Str], |a| {
            Ok(from_json_text(s(a, 0)).unwrap_or(Value::Nil))
        }),
    ),
    (
        "mustFromJson",
        fixed(&[Ty::Str], |a| from_json_text(s(a, 0))),
    ),
    (
        "deepEqual",
        fixed(AA, |a| Ok(Value::Bool(a[0].deep_equal(&a[1])))),
    ),
    ("typeOf", fixed(A, |a| Ok(Value::str(a[0].type_name())))),
    ("kindOf", fixed(A, |a| Ok(Value::str(a[0].kind_name())))),
    (
        "kindIs",
        fixed(&[Ty::Str, Ty::Any], |a| {
            Ok(Value::Bool(a[1].kind_name() == s(a, 0)))
        }),
    ),
    (
        "typeIs",
        fixed(&[Ty::Str, Ty::Any], |a| {
            Ok(Value::Bool(a[1].type_name() == s(a, 0)))
        }),
    ),
    (
        "list",
        varargs(&[], Ty::Any, |a| Ok(Value::List(a.to_vec()))),
    ),
    (
        "tuple",
        varargs(&[], Ty::Any, |a| Ok(Value::List(a.to_vec()))),
    ),
    ("dict", varargs(&[], Ty::Any, dict)),
    (
        "get",
        fixed(MS, |a| {
            Ok(map_of(a)
                .borrow()
                .get(s(a, 1))
                .cloned()
                .unwrap_or(Value::str("")))
        }),
    ),
    ("set", fixed(&[Ty::Map, Ty::Str, Ty::Any], set)),
    ("unset", fixed(MS, unset)),
    (
        "hasKey",
        fixed(MS, |a| {
            Ok(Value::Bool(map_of(a).borrow().contains_key(s(a, 1))))
        }),
    ),
    ("keys", varargs(&[], Ty::Map, keys)),
    (
        "values",
        fixed(&[Ty::Map], |a| {
            Ok(Value::List(map_of(a).borrow().values().cloned().collect()))
        }),
    ),
    ("pluck", varargs(&[Ty::Str], Ty::Map, pluck)),
    ("pick", varargs(&[Ty::Map], Ty::Str, |a| pick_omit(a, true))),
    (
        "omit",
        varargs(&[Ty::Map], Ty::Str, |a| pick_omit(a, false)),
    ),
    (
        "append",
        fixed(AA, |a| {
            with_list(a, "push", |mut l| {
                l.push(at(a, 1));
                l
            })
        }),
    ),
    (
        "push",
        fixed(AA, |a| {
            with_list(a, "push", |mut l| {
                l.push(at(a, 1));
                l
            })
        }),
    ),
    (
        "prepend",
        fixed(AA, |a| {
            with_list(a, "prepend", |mut l| {
                l.insert(0, at(a, 1));
                l
            })
        }),
    ),
    (
        "first",
        fixed(A, |a| pick_one(a, "first", |l| l.first().cloned())),
    ),
    (
        "last",
        fixed(A, |a| pick_one(a, "last", |l| l.last().cloned())),
    ),
    (
        "rest",
        fixed(A, |a| {
            with_list(a, "rest", |l| l.into_iter().skip(1).collect())
        }),
    ),
    (
        "initial",
        fixed(A, |a| {
            with_list(a, "initial", |mut l| {
                l.pop();
                l
            })
        }),
    ),
    (
        "reverse",
        fixed(A, |a| {
            with_list(a, "reverse", |mut l| {
                l.reverse();
                l
            })
        }),
    ),
    ("uniq", fixed(A, |a| with_list(a, "uniq", uniq))),
    (
        "compact",
        fixed(A, |a| {
            with_list(a, "compact", |l| {
                l.into_iter().filter(Value::truthy).collect()
            })
        }),
    ),
    ("without", varargs(A, Ty::Any, without)),
    ("has", fixed(AA, has)),
    ("slice", varargs(A, Ty::Any, slice)),
    ("concat", varargs(&[], Ty::Any, concat)),
];

fn map_of(a: &[Value]) -> MapRef {
    match a.first() {
        Some(Value::Map(m)) => m.clone(),
        _ => Rc::new(RefCell::new(BTreeMap::new())),
    }
}

fn dfault(a: &[Value]) -> Result<Value, String> {
    match a.get(1) {
        Some(given) if given.truthy() => Ok(given.clone()),
        _ => Ok(at(a, 0)),
    }
}

fn dict(a: &[Value]) -> Result<Value, String> {
    let mut m = BTreeMap::new();
    for pair in a.chunks(2) {
        let key = strval(&pair[0]);
        m.insert(key, pair.get(1).cloned().unwrap_or(Value::str("")));
    }
    Ok(Value::map(m))
}

fn set(a: &[Value]) -> Result<Value, String> {
    let m = map_of(a);
    m.borrow_mut().insert(s(a, 1).to_string(), at(a, 2));
    Ok(Value::Map(m))
}

fn unset(a: &[Value]) -> Result<Value, String> {
    let m = map_of(a);
    m.borrow_mut().remove(s(a, 1));
    Ok(Value::Map(m))
}

fn keys(a: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for d in a {
        if let Value::Map(m) = d {
            out.extend(m.borrow().keys().cloned());
        }
    }
    Ok(str_list(out))
}

fn pluck(a: &[Value]) -> Result<Value, String> {
    let key = s(a, 0);
    let found = a[1..].iter().filter_map(|d| match d {
        Value::Map(m) => m.borrow().get(key).cloned(),
        _ => None,
    });
    Ok(Value::List(found.collect()))
}

fn pick_omit(a: &[Value], pick: bool) -> Result<Value, String> {
    let names: Vec<&str> = (1..a.len()).map(|i| s(a, i)).collect();
    let src = map_of(a);
    let out = src
        .borrow()
        .iter()
        .filter(|(k, _)| names.contains(&k.as_str()) == pick)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Value::map(out))
}

/// The list argument, or sprig's "Cannot <op> on type <kind>" error.
fn list_arg(v: &Value, op: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Nil | Value::Missing => {
            Err("runtime error: invalid memory address or nil pointer dereference".into())
        }
        other => Err(format!("Cannot {op} on type {}", other.kind_name())),
    }
}

fn op_name(op: &str) -> String {
    match op {
        "push" | "prepend" | "compact" => op.to_string(),
        other => format!("find {other}"),
    }
}

fn with_list(
    a: &[Value],
    op: &str,
    f: impl FnOnce(Vec<Value>) -> Vec<Value>,
) -> Result<Value, String> {
    let l = list_arg(&a[0], &op_name(op))?;
    Ok(Value::List(f(l)))
}

fn pick_one(
    a: &[Value],
    op: &str,
    f: impl FnOnce(&[Value]) -> Option<Value>,
) -> Result<Value, String> {
    let l = list_arg(&a[0], &op_name(op))?;
    Ok(f(&l).unwrap_or(Value::Nil))
}

fn uniq(l: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in l {
        if !out.iter().any(|o| o.deep_equal(&v)) {
            out.push(v);
        }
    }
    out
}

fn without(a: &[Value]) -> Result<Value, String> {
    let l = list_arg(&a[0], "find without")?;
    let omit = &a[1..];
    Ok(Value::List(
        l.into_iter()
            .filter(|v| !omit.iter().any(|o| o.deep_equal(v)))
            .collect(),
    ))
}

fn has(a: &[Value]) -> Result<Value, String> {
    if a[1].is_nil() {
        return Ok(Value::Bool(false));
    }
    let l = list_arg(&a[1], "find has")?;
    Ok(Value::Bool(l.iter().any(|v| v.deep_equal(&a[0]))))
}

fn to_index(v: &Value) -> i64 {
    super::sprig_math::to_int64(v)
}

fn slice(a: &[Value]) -> Result<Value, String> {
    let l = match &a[0] {
        Value::List(l) => l.clone(),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                other.kind_name()
            ));
        }
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map_or(0, to_index);
    let end = a.get(2).map_or(l.len() as i64, to_index);
    if start < 0 || end < start || end > l.len() as i64 {
        return Err(format!(
            "reflect: slice index out of range [{start}:{end}] with length {}",
            l.len()
        ));
    }
    Ok(Value::List(l[start as usize..end as usize].to_vec()))
}

fn concat(a: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for v in a {
        match v {
            Value::List(l) => out.extend(l.iter().cloned()),
            other => return Err(format!("Cannot concat type {} as list", other.kind_name())),
        }
    }
    Ok(Value::List(out))
}
