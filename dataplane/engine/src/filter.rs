//! A dependency's filters, compiled once and evaluated per event with upstream's combination
//! rules: every kind must pass under `and` (any error rejects), any defined kind passing is
//! enough under `or` (errors are reported but do not reject a passing event).

use argo_events_api::{EventContext, EventDependency, EventDependencyFilter};

use crate::gotemplate::Template;
use crate::lua::LuaScript;
use crate::timefilter::TimeWindow;
use crate::{datafilter, exprfilter};
use argo_events_api::cloudevent::Event;

/// The verdict of one dependency's filters on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the event passes.
    pub passed: bool,
    /// Why, for people: what failed or errored (empty when everything passed).
    pub reasons: Vec<String>,
}

/// Compiled filters of one dependency.
pub struct CompiledFilters {
    data: Option<datafilter::CompiledDataFilters>,
    data_or: bool,
    exprs: Option<exprfilter::CompiledExprFilters>,
    expr_or: bool,
    context: Option<EventContext>,
    time: Option<TimeWindow>,
    script: Option<LuaScript>,
    or: bool,
}

/// Compiles a dependency's filters; the error names the filter kind and what is wrong.
pub fn compile(dep: &EventDependency) -> Result<Option<CompiledFilters>, String> {
    let Some(f) = &dep.filters else {
        return Ok(None);
    };
    Ok(Some(compile_filters(
        f,
        dep.effective_filters_logical_operator(),
    )?))
}

fn logical_or(op: &str, what: &str) -> Result<bool, String> {
    match op {
        "and" => Ok(false),
        "or" => Ok(true),
        other => Err(format!("{what} {other:?} is neither \"and\" nor \"or\"")),
    }
}

fn compile_filters(f: &EventDependencyFilter, op: &str) -> Result<CompiledFilters, String> {
    let data = if f.data.is_empty() {
        None
    } else {
        let specs: Vec<datafilter::DataFilterSpec> = f
            .data
            .iter()
            .map(|d| datafilter::DataFilterSpec {
                path: d.path.clone(),
                type_: d.type_.clone(),
                values: d.value.clone(),
                comparator: d.comparator.clone(),
                template: d.template.clone(),
            })
            .collect();
        Some(datafilter::compile(&specs).map_err(|e| format!("data filter: {e}"))?)
    };
    let exprs = if f.exprs.is_empty() {
        None
    } else {
        let specs: Vec<exprfilter::ExprFilterSpec> = f
            .exprs
            .iter()
            .map(|e| exprfilter::ExprFilterSpec {
                expr: e.expr.clone(),
                fields: e
                    .fields
                    .iter()
                    .map(|p| (p.name.clone(), p.path.clone()))
                    .collect(),
            })
            .collect();
        Some(exprfilter::compile(&specs).map_err(|e| format!("expr filter: {e}"))?)
    };
    let time = match &f.time {
        None => None,
        Some(t) => Some(
            TimeWindow::new(&t.start, &t.stop, &t.timezone)
                .map_err(|e| format!("time filter: {e}"))?,
        ),
    };
    let script = if f.script.is_empty() {
        None
    } else {
        Some(LuaScript::compile(&f.script).map_err(|e| format!("script filter: {e}"))?)
    };
    Ok(CompiledFilters {
        data,
        data_or: logical_or(f.effective_data_logical_operator(), "dataLogicalOperator")?,
        exprs,
        expr_or: logical_or(f.effective_expr_logical_operator(), "exprLogicalOperator")?,
        context: f.context.clone(),
        time,
        script,
        or: logical_or(op, "filtersLogicalOperator")?,
    })
}

/// The event data as text when it is non-empty, valid JSON (checked once per evaluation).
fn event_json(event: &Event) -> Option<&str> {
    let text = std::str::from_utf8(&event.data).ok()?;
    (!text.is_empty() && crate::jsonpath::valid(text)).then_some(text)
}

/// A data filter's `template`, rendered with `.Input` = the string at the filter's path.
fn render_filter_template(src: &str, input: &str) -> Result<String, String> {
    Template::parse(src)?.render(&serde_json::Value::String(input.to_owned()))
}

/// One kind's result: passed, and the reasons or error it gave.
struct KindResult {
    defined: bool,
    passed: bool,
    error: Option<String>,
    reasons: Vec<String>,
}

impl KindResult {
    fn undefined() -> Self {
        KindResult {
            defined: false,
            passed: true,
            error: None,
            reasons: Vec::new(),
        }
    }
}

impl CompiledFilters {
    /// Evaluates the filters on an event.
    pub fn evaluate(&self, event: &Event) -> Verdict {
        let kinds = [
            self.eval_exprs(event),
            self.eval_data(event),
            self.eval_context(event),
            self.eval_time(event),
            self.eval_script(event),
        ];
        let mut reasons = Vec::new();
        if self.or {
            // A script error rejects even under `or`, as upstream.
            let script_failed = kinds[4].error.is_some();
            let passed = !script_failed && kinds.iter().any(|k| k.defined && k.passed);
            for k in &kinds {
                if k.defined && !k.passed {
                    reasons.extend(k.reasons.iter().cloned());
                }
                reasons.extend(k.error.iter().cloned());
            }
            if !kinds.iter().any(|k| k.defined) {
                reasons.push("filtersLogicalOperator is or, but no filter is defined".into());
            }
            return Verdict { passed, reasons };
        }
        let mut passed = true;
        for k in kinds {
            if let Some(e) = k.error {
                return Verdict {
                    passed: false,
                    reasons: vec![e],
                };
            }
            if !k.passed {
                passed = false;
                reasons.extend(k.reasons);
            }
        }
        Verdict { passed, reasons }
    }

    fn eval_exprs(&self, event: &Event) -> KindResult {
        let Some(exprs) = &self.exprs else {
            return KindResult::undefined();
        };
        if event.data.is_empty() {
            return KindResult {
                defined: true,
                ..KindResult::undefined()
            };
        }
        let text = String::from_utf8_lossy(&event.data);
        let out = exprs.evaluate(&text, self.expr_or);
        KindResult {
            defined: true,
            passed: out.passed,
            error: out.upstream_error(self.expr_or),
            reasons: out.reasons,
        }
    }

    fn eval_data(&self, event: &Event) -> KindResult {
        let Some(data) = &self.data else {
            return KindResult::undefined();
        };
        let out = match event_json(event) {
            Some(json) => data.evaluate_json(json, self.data_or, &render_filter_template),
            // Empty or invalid data: the checking path gives upstream's verdict and wording.
            None => data.evaluate(&event.data, self.data_or, &render_filter_template),
        };
        // The data filter words its single error as upstream does already.
        KindResult {
            defined: true,
            passed: out.passed,
            error: out.errors.into_iter().next(),
            reasons: out.reasons,
        }
    }

    fn eval_context(&self, event: &Event) -> KindResult {
        let Some(want) = &self.context else {
            return KindResult::undefined();
        };
        let mut reasons = Vec::new();
        let checks = [
            ("type", &want.type_, &event.type_),
            ("subject", &want.subject, &event.subject),
            ("source", &want.source, &event.source),
            (
                "datacontenttype",
                &want.datacontenttype,
                &event.datacontenttype,
            ),
        ];
        for (field, expected, actual) in checks {
            if !expected.is_empty() && expected != actual {
                reasons.push(format!("context {field} is {actual:?}, not {expected:?}"));
            }
        }
        KindResult {
            defined: true,
            passed: reasons.is_empty(),
            error: None,
            reasons,
        }
    }

    fn eval_time(&self, event: &Event) -> KindResult {
        let Some(window) = &self.time else {
            return KindResult::undefined();
        };
        let Some(at) = event.time else {
            return KindResult {
                defined: true,
                passed: false,
                error: Some("time filter error (the event has no time)".into()),
                reasons: Vec::new(),
            };
        };
        match window.check(at) {
            Ok(()) => KindResult {
                defined: true,
                ..KindResult::undefined()
            },
            Err(reason) => KindResult {
                defined: true,
                passed: false,
                error: None,
                reasons: vec![reason],
            },
        }
    }

    fn eval_script(&self, event: &Event) -> KindResult {
        let Some(script) = &self.script else {
            return KindResult::undefined();
        };
        if event.data.is_empty() {
            return KindResult {
                defined: true,
                ..KindResult::undefined()
            };
        }
        let result = serde_json::from_slice(&event.data)
            .map_err(|e| format!("event data is not JSON: {e}"))
            .and_then(|data| script.filter(&data));
        match result {
            Ok(true) => KindResult {
                defined: true,
                ..KindResult::undefined()
            },
            Ok(false) => KindResult {
                defined: true,
                passed: false,
                error: None,
                reasons: vec!["script filter did not return true".into()],
            },
            Err(e) => KindResult {
                defined: true,
                passed: false,
                error: Some(format!("script filter error ({e})")),
                reasons: Vec::new(),
            },
        }
    }
}
