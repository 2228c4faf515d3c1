//! Evaluation of a planned expression, following govaluate's `evaluateStage` and the operator
//! and type-check functions of `evaluationStage.go`.

use super::EvalError;
use super::planner::{Op, Stage};
use super::value::Value;

/// Variable lookup used during evaluation.
pub(crate) type Vars<'a> = &'a dyn Fn(&str) -> Option<Value>;

/// Evaluates stage `id` of `stages`.
pub(crate) fn eval_stage(stages: &[Stage], id: usize, vars: Vars<'_>) -> Result<Value, EvalError> {
    let stage = &stages[id];
    let left = match stage.left {
        Some(l) => eval_stage(stages, l, vars)?,
        None => Value::Null,
    };
    // Short-circuiting, exactly as govaluate: only the listed operators, only these values.
    let mut skip_right = false;
    match stage.op {
        Op::And if left == Value::Bool(false) => return Ok(left),
        Op::Or if left == Value::Bool(true) => return Ok(left),
        Op::Coalesce if left != Value::Null => return Ok(left),
        Op::TernaryTrue if left == Value::Bool(false) => skip_right = true,
        Op::TernaryFalse if left != Value::Null => skip_right = true,
        _ => {}
    }
    let right = match stage.right {
        Some(r) if !skip_right => eval_stage(stages, r, vars)?,
        _ => Value::Null,
    };
    let pattern = match stage.right.map(|r| &stages[r].op) {
        Some(Op::Pattern(re, _)) => Some(re),
        _ => None,
    };
    apply(&stage.op, left, right, pattern, vars)
}

/// Type-checks the operands and applies the operator.
fn apply(
    op: &Op,
    left: Value,
    right: Value,
    pattern: Option<&regex::Regex>,
    vars: Vars<'_>,
) -> Result<Value, EvalError> {
    use Value::{Array, Bool, Null, Number};
    let sym = op.symbol();
    Ok(match op {
        Op::Noop => right,
        Op::Variable(name) => {
            vars(name).ok_or_else(|| EvalError::UndefinedVariable(name.clone()))?
        }
        Op::Literal(value) => value.clone(),
        Op::Pattern(_, source) => Value::String(source.clone()),
        Op::Accessor(parts) => return access(parts, vars),
        Op::Eq => Bool(left == right),
        Op::Neq => Bool(left != right),
        Op::Gt | Op::Lt | Op::Gte | Op::Lte => compare(op, &left, &right)?,
        Op::Req | Op::Nreq => {
            let matched = regex_match(sym, &left, &right, pattern)?;
            Bool(matched == matches!(op, Op::Req))
        }
        Op::In => {
            let Array(items) = &right else {
                return Err(not(sym, "a list", &right));
            };
            Bool(contains(items, &left)?)
        }
        Op::And | Op::Or => {
            let l = boolean(sym, &left)?;
            let r = boolean(sym, &right)?;
            Bool(if matches!(op, Op::And) {
                l && r
            } else {
                l || r
            })
        }
        Op::Plus => add(left, right)?,
        Op::Minus | Op::Mul | Op::Div | Op::Mod | Op::Exp => {
            arithmetic(op, number(sym, &left)?, number(sym, &right)?)
        }
        Op::BitAnd | Op::BitOr | Op::BitXor | Op::Shl | Op::Shr => {
            bitwise(op, number(sym, &left)?, number(sym, &right)?)
        }
        Op::Negate => Number(-number(sym, &right)?),
        Op::Invert => Bool(!boolean(sym, &right)?),
        Op::BitNot => Number(!(number(sym, &right)? as i64) as f64),
        Op::TernaryTrue => {
            if boolean(sym, &left)? {
                right
            } else {
                Null
            }
        }
        Op::TernaryFalse | Op::Coalesce => {
            if left != Null {
                left
            } else {
                right
            }
        }
        Op::Separate => match left {
            Array(mut items) => {
                items.push(right);
                Array(items)
            }
            other => Array(vec![other, right]),
        },
    })
}

fn not(op: &'static str, wanted: &'static str, got: &Value) -> EvalError {
    EvalError::WrongType {
        op,
        wanted,
        got: got.describe(),
    }
}

fn number(op: &'static str, v: &Value) -> Result<f64, EvalError> {
    match v {
        Value::Number(n) => Ok(*n),
        other => Err(not(op, "a number", other)),
    }
}

fn boolean(op: &'static str, v: &Value) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(not(op, "a bool", other)),
    }
}

/// `> < >= <=`: two numbers, or two strings compared byte-wise.
fn compare(op: &Op, left: &Value, right: &Value) -> Result<Value, EvalError> {
    let ordering = match (left, right) {
        (Value::Number(l), Value::Number(r)) => l.partial_cmp(r),
        (Value::String(l), Value::String(r)) => Some(l.cmp(r)),
        _ => {
            return Err(EvalError::Compare {
                op: op.symbol(),
                left: left.type_name(),
                right: right.type_name(),
            });
        }
    };
    let result = ordering.is_some_and(|o| match op {
        Op::Gt => o.is_gt(),
        Op::Lt => o.is_lt(),
        Op::Gte => o.is_ge(),
        _ => o.is_le(),
    });
    Ok(Value::Bool(result))
}

/// `=~`: unanchored Go RE2 search; a pattern that is not a literal is compiled on each use.
fn regex_match(
    sym: &'static str,
    left: &Value,
    right: &Value,
    pattern: Option<&regex::Regex>,
) -> Result<bool, EvalError> {
    let Value::String(text) = left else {
        return Err(not(sym, "a string on its left", left));
    };
    if let Some(re) = pattern {
        return Ok(re.is_match(text));
    }
    let Value::String(source) = right else {
        return Err(not(sym, "a string pattern on its right", right));
    };
    let re = super::gore::compile(source).map_err(|e| EvalError::BadRegex {
        pattern: source.clone(),
        message: e.to_string(),
    })?;
    Ok(re.is_match(text))
}

/// `in` uses Go's interface `==`: like `==` but two lists or two objects cannot be compared.
fn contains(items: &[Value], needle: &Value) -> Result<bool, EvalError> {
    for item in items {
        match (needle, item) {
            (Value::Array(_), Value::Array(_)) | (Value::Map(_), Value::Map(_)) => {
                return Err(EvalError::Uncomparable {
                    kind: needle.type_name(),
                });
            }
            _ if needle == item => return Ok(true),
            _ => {}
        }
    }
    Ok(false)
}

/// `+`: numbers add; if either side is a string both are formatted with Go's `%v` and joined.
fn add(left: Value, right: Value) -> Result<Value, EvalError> {
    match (&left, &right) {
        (Value::Number(l), Value::Number(r)) => Ok(Value::Number(l + r)),
        (Value::String(_), _) | (_, Value::String(_)) => {
            Ok(Value::String(left.go_format() + &right.go_format()))
        }
        _ => Err(EvalError::Add {
            left: left.describe(),
            right: right.describe(),
        }),
    }
}

fn arithmetic(op: &Op, l: f64, r: f64) -> Value {
    Value::Number(match op {
        Op::Minus => l - r,
        Op::Mul => l * r,
        Op::Div => l / r,
        Op::Mod => l % r,
        _ => l.powf(r),
    })
}

/// Bitwise operators work on the numbers truncated to int64 (shifts: uint64, Go semantics).
fn bitwise(op: &Op, l: f64, r: f64) -> Value {
    let (li, ri) = (l as i64, r as i64);
    let (lu, ru) = (l as u64, r as u64);
    let shift = |v: Option<u64>| v.unwrap_or(0) as f64;
    Value::Number(match op {
        Op::BitAnd => (li & ri) as f64,
        Op::BitOr => (li | ri) as f64,
        Op::BitXor => (li ^ ri) as f64,
        Op::Shl => shift(u32::try_from(ru).ok().and_then(|s| lu.checked_shl(s))),
        _ => shift(u32::try_from(ru).ok().and_then(|s| lu.checked_shr(s))),
    })
}

/// Dotted accessors read Go struct fields; event fields are never structs.
fn access(parts: &[String], vars: Vars<'_>) -> Result<Value, EvalError> {
    let root = &parts[0];
    if vars(root).is_none() {
        return Err(EvalError::UndefinedVariable(root.clone()));
    }
    Err(EvalError::NotAStruct {
        field: parts[1].clone(),
        parent: root.clone(),
        full: parts.join("."),
    })
}
