//! The Sensor dependency `exprs` filter (upstream `filterExpr` in
//! `pkg/sensors/dependencies/filter.go`).
//!
//! Each filter binds every `fields[].name` to the gjson value at `fields[].path` in the event
//! data (native JSON types: numbers as `f64`, strings, bools, null, lists, objects) and evaluates
//! `expr` with govaluate semantics ([`crate::govaluate`]); only the result `true` passes.
//!
//! Combination (`exprLogicalOperator`), as upstream:
//! - `and` (default): filters run in order; the first one that is false, errors (missing path,
//!   evaluation error) or yields a non-bool decides `false`; otherwise `true`.
//! - `or`: the first true filter decides `true` (errors seen before it are dropped); errors are
//!   collected and evaluation goes on; if none is true the result is `false`.
//! - A filter with no `fields` is skipped entirely (upstream never even parses it).
//! - Event data that is absent (`""`) passes; data that is not valid JSON fails.
//!
//! Callers must not run this when the dependency has no `exprs` at all: upstream treats a
//! missing list as "pass" (and ignores it under `filtersLogicalOperator: or`), whereas an
//! explicit empty list gives `true` under `and` and `false` under `or`.
//!
//! Unlike upstream, expressions are parsed once by [`compile`], so a syntax error is reported
//! when the Sensor is loaded rather than on every event.

use crate::govaluate::{self, Expr, Value};

/// Upstream's error text for event data that is not valid JSON.
pub const INVALID_JSON_ERROR: &str = "event data not valid JSON";

/// Longest rendering of one bound value inside a reason.
const MAX_VALUE_CHARS: usize = 80;

/// One `exprs[]` entry of a Sensor dependency filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprFilterSpec {
    /// The govaluate expression.
    pub expr: String,
    /// `(name, path)` pairs: each binds `name` to the gjson value at `path` in the event data.
    pub fields: Vec<(String, String)>,
}

/// One filter, parsed.
#[derive(Debug, Clone)]
struct CompiledFilter {
    source: String,
    /// `None` for a filter without fields, which upstream skips without parsing.
    expr: Option<Expr>,
    fields: Vec<(String, String)>,
}

/// The `exprs` filters of one dependency, parsed once and evaluated for every event.
#[derive(Debug, Clone)]
pub struct CompiledExprFilters {
    filters: Vec<CompiledFilter>,
}

/// Parses every filter's expression; the error names the filter and its expression.
pub fn compile(filters: &[ExprFilterSpec]) -> Result<CompiledExprFilters, String> {
    let compiled = filters
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let expr = if spec.fields.is_empty() {
                None
            } else {
                let parsed = govaluate::parse(&spec.expr).map_err(|e| {
                    format!("exprs[{i}]: cannot parse expression \"{}\": {e}", spec.expr)
                })?;
                Some(parsed)
            };
            Ok(CompiledFilter {
                source: spec.expr.clone(),
                expr,
                fields: spec.fields.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(CompiledExprFilters { filters: compiled })
}

/// The result of running the `exprs` filters on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterOutcome {
    /// Whether the event passes the `exprs` filters.
    pub passed: bool,
    /// One plain-words line per filter that was looked at, in order, e.g.
    /// `expr "a > 5" is false (a = 3)`.
    pub reasons: Vec<String>,
    /// The error messages upstream would report (e.g. `path 'body.b' does not exist`); empty
    /// when the result is decided without errors, and always empty when `or` passes.
    pub errors: Vec<String>,
}

impl FilterOutcome {
    /// The error upstream's `filterExpr` returns, formatted the same way:
    /// `expr filter error (<msg>)` under `and` (and for invalid JSON),
    /// `expr filter errors [<a> / <b>]` under `or`.
    pub fn upstream_error(&self, logical_or: bool) -> Option<String> {
        let first = self.errors.first()?;
        if !logical_or || (self.errors.len() == 1 && first == INVALID_JSON_ERROR) {
            return Some(format!("expr filter error ({first})"));
        }
        Some(format!("expr filter errors [{}]", self.errors.join(" / ")))
    }
}

/// What one filter decided.
enum Step {
    True(String),
    False(String),
    Failed { reason: String, error: String },
    Skipped(String),
}

impl CompiledExprFilters {
    /// Runs the filters on the event data (`data_json`, the CloudEvent `data`); `logical_or`
    /// is `exprLogicalOperator: or`.
    pub fn evaluate(&self, data_json: &str, logical_or: bool) -> FilterOutcome {
        let mut outcome = FilterOutcome {
            passed: !logical_or,
            reasons: Vec::new(),
            errors: Vec::new(),
        };
        if data_json.is_empty() {
            outcome.passed = true;
            outcome
                .reasons
                .push("event has no data, so expr filters do not apply".to_string());
            return outcome;
        }
        if !gjson::valid(data_json) {
            outcome.passed = false;
            outcome
                .reasons
                .push("event data is not valid JSON, so expr filters fail".to_string());
            outcome.errors.push(INVALID_JSON_ERROR.to_string());
            return outcome;
        }
        for filter in &self.filters {
            match evaluate_one(filter, data_json) {
                Step::True(reason) => {
                    outcome.reasons.push(reason);
                    if logical_or {
                        outcome.passed = true;
                        outcome.errors.clear();
                        return outcome;
                    }
                }
                Step::False(reason) => {
                    outcome.reasons.push(reason);
                    if !logical_or {
                        outcome.passed = false;
                        return outcome;
                    }
                }
                Step::Failed { reason, error } => {
                    outcome.reasons.push(reason);
                    outcome.errors.push(error);
                    if !logical_or {
                        outcome.passed = false;
                        return outcome;
                    }
                }
                Step::Skipped(reason) => outcome.reasons.push(reason),
            }
        }
        outcome
    }

    /// Number of filters.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether there are no filters.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

fn evaluate_one(filter: &CompiledFilter, data: &str) -> Step {
    let source = &filter.source;
    let mut bound: Vec<(&str, Value)> = Vec::with_capacity(filter.fields.len());
    for (name, path) in &filter.fields {
        let found = gjson::get(data, path);
        if !found.exists() {
            return Step::Failed {
                reason: format!("expr \"{source}\": path {path} not found"),
                error: format!("path '{path}' does not exist"),
            };
        }
        bound.push((name, gjson_to_value(&found)));
    }
    let Some(expr) = &filter.expr else {
        return Step::Skipped(format!("expr \"{source}\" skipped: it binds no fields"));
    };
    // A name bound twice keeps its last value, as upstream's parameter map does.
    let lookup = |name: &str| {
        bound
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let bindings = describe_bindings(&bound);
    match expr.eval(&lookup) {
        Ok(Value::Bool(true)) => Step::True(format!("expr \"{source}\" is true{bindings}")),
        Ok(Value::Bool(false)) => Step::False(format!("expr \"{source}\" is false{bindings}")),
        Ok(other) => Step::False(format!(
            "expr \"{source}\" returned {}, not true{bindings}",
            shorten(other.to_string())
        )),
        Err(e) => Step::Failed {
            reason: format!("expr \"{source}\" failed: {e}{bindings}"),
            error: e.to_string(),
        },
    }
}

/// ` (a = 3, b = "x")`, or nothing when no field is bound.
fn describe_bindings(bound: &[(&str, Value)]) -> String {
    if bound.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = bound
        .iter()
        .map(|(name, value)| format!("{name} = {}", shorten(value.to_string())))
        .collect();
    format!(" ({})", parts.join(", "))
}

fn shorten(text: String) -> String {
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let head: String = text.chars().take(MAX_VALUE_CHARS).collect();
    format!("{head}…")
}

/// gjson's `Result.Value()`: the native Go value of a JSON result.
fn gjson_to_value(found: &gjson::Value) -> Value {
    match found.kind() {
        gjson::Kind::Null => Value::Null,
        gjson::Kind::True => Value::Bool(true),
        gjson::Kind::False => Value::Bool(false),
        gjson::Kind::Number => Value::Number(found.f64()),
        gjson::Kind::String => Value::String(found.str().to_string()),
        gjson::Kind::Array => {
            let mut items = Vec::new();
            found.each(|_, item| {
                items.push(gjson_to_value(&item));
                true
            });
            Value::Array(items)
        }
        gjson::Kind::Object => {
            let mut map = std::collections::BTreeMap::new();
            found.each(|key, item| {
                map.insert(key.str().to_string(), gjson_to_value(&item));
                true
            });
            Value::Map(map)
        }
    }
}

#[cfg(test)]
mod tests;
