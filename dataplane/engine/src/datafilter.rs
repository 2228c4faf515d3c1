//! The Sensor dependency `data` filter (`filters.data[]` + `dataLogicalOperator`).
//!
//! Semantics follow upstream `filterData` (`pkg/sensors/dependencies/filter.go`):
//! each filter reads `path` with gjson; `value`s are OR-ed; `string` values are unanchored Go
//! RE2 regexes matched against gjson `String()`; `number` compares gjson `Float()` with Go
//! `ParseFloat(value)`; `bool` compares gjson `Bool()` with Go `ParseBool(value)` (the
//! comparator is ignored for bools, as upstream does); an optional Go template turns the value
//! at `path` into a string first. Errors and their texts match upstream; [`FilterOutcome`]
//! adds person-readable reasons.

use std::borrow::Cow;

use regex::Regex;

use crate::jsonpath::{self, Found, Kind};

/// One entry of `filters.data[]` as written in the Sensor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFilterSpec {
    /// gjson path into the event data.
    pub path: String,
    /// `string`, `number` or `bool` (anything else is an evaluation error, as upstream).
    pub type_: String,
    /// Values; any one matching satisfies the filter.
    pub values: Vec<String>,
    /// `""`/`=`, `!=`, `>`, `>=`, `<`, `<=`.
    pub comparator: String,
    /// Optional Go template applied to the value at `path` (`.Input`).
    pub template: String,
}

/// Result of evaluating the data filters of one dependency against one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterOutcome {
    /// Whether the event passes the data filters.
    pub passed: bool,
    /// Why the event did not pass, one sentence per failing filter (empty when it passed).
    pub reasons: Vec<String>,
    /// The error exactly as upstream reports it (`data filter error (…)` under `and`,
    /// `data filter errors [a / b]` under `or`); at most one entry.
    pub errors: Vec<String>,
}

/// Data filters compiled once: regexes built and number/bool values parsed ahead of time.
#[derive(Debug, Clone)]
pub struct CompiledDataFilters {
    filters: Vec<CompiledFilter>,
}

#[derive(Debug, Clone)]
struct CompiledFilter {
    spec: DataFilterSpec,
    comparator: Comparator,
    matcher: Matcher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Unknown,
}

/// Per-value parse results are kept so a bad value is an error only when evaluation reaches
/// it, exactly as upstream (which parses inside the value loop).
#[derive(Debug, Clone)]
enum Matcher {
    String(Vec<Result<Regex, String>>),
    Number(Vec<Result<f64, String>>),
    Bool(Vec<Result<bool, String>>),
    Unsupported,
}

/// Compiles the filters; a `string` value that is not a valid regex is an error naming the
/// filter index and value. Use [`compile_deferred`] to keep upstream's lazy behaviour instead.
pub fn compile(filters: &[DataFilterSpec]) -> Result<CompiledDataFilters, String> {
    let compiled = compile_deferred(filters);
    for (index, filter) in compiled.filters.iter().enumerate() {
        if let Matcher::String(patterns) = &filter.matcher {
            for (value, pattern) in filter.spec.values.iter().zip(patterns) {
                if let Err(err) = pattern {
                    return Err(format!(
                        "data filter #{index} (path '{}'): value {} is not a valid regular expression: {err}",
                        filter.spec.path,
                        jsonpath::go_quote(value)
                    ));
                }
            }
        }
    }
    Ok(compiled)
}

/// Compiles the filters without rejecting bad regexes: like upstream, a bad regex is reported
/// when an event reaches it (values before it may still match).
pub fn compile_deferred(filters: &[DataFilterSpec]) -> CompiledDataFilters {
    CompiledDataFilters {
        filters: filters.iter().map(compile_one).collect(),
    }
}

fn compile_one(spec: &DataFilterSpec) -> CompiledFilter {
    let comparator = match spec.comparator.as_str() {
        "" | "=" => Comparator::Eq,
        "!=" => Comparator::Ne,
        ">" => Comparator::Gt,
        ">=" => Comparator::Ge,
        "<" => Comparator::Lt,
        "<=" => Comparator::Le,
        _ => Comparator::Unknown,
    };
    let values = spec.values.iter();
    let matcher = match spec.type_.as_str() {
        "string" => Matcher::String(values.map(|v| compile_go_regex(v)).collect()),
        "number" => Matcher::Number(values.map(|v| jsonpath::go_parse_float_msg(v)).collect()),
        "bool" => Matcher::Bool(values.map(|v| jsonpath::go_parse_bool(v)).collect()),
        _ => Matcher::Unsupported,
    };
    CompiledFilter {
        spec: spec.clone(),
        comparator,
        matcher,
    }
}

/// What one filter decided.
enum Verdict {
    Pass,
    Fail(String),
    /// `upstream` is the bare upstream message, `and_message` its `and`-mode variant when it
    /// differs, `reason` the sentence for people.
    Error {
        upstream: String,
        and_message: Option<String>,
        reason: String,
    },
}

fn error(upstream: String, reason: String) -> Verdict {
    Verdict::Error {
        upstream,
        and_message: None,
        reason,
    }
}

impl CompiledDataFilters {
    /// Number of filters.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether there are no filters (which always pass).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Evaluates the filters against event `data`. `logical_or` is `dataLogicalOperator: or`;
    /// `render(template, input)` executes a Go template with `.Input` = `input`.
    pub fn evaluate(
        &self,
        data: &[u8],
        logical_or: bool,
        render: &dyn Fn(&str, &str) -> Result<String, String>,
    ) -> FilterOutcome {
        if self.filters.is_empty() || data.is_empty() {
            return passed();
        }
        let text = String::from_utf8_lossy(data);
        if !jsonpath::valid(&text) {
            return FilterOutcome {
                passed: false,
                reasons: vec!["event data is not valid JSON".to_owned()],
                errors: vec!["data filter error (event data not valid JSON)".to_owned()],
            };
        }
        self.evaluate_json(&text, logical_or, render)
    }

    /// [`CompiledDataFilters::evaluate`] on data the caller has already checked to be valid,
    /// non-empty JSON (the engine checks each event once, not once per filter kind).
    pub fn evaluate_json(
        &self,
        json: &str,
        logical_or: bool,
        render: &dyn Fn(&str, &str) -> Result<String, String>,
    ) -> FilterOutcome {
        if self.filters.is_empty() {
            return passed();
        }
        if logical_or {
            self.evaluate_or(json, render)
        } else {
            self.evaluate_and(json, render)
        }
    }

    fn evaluate_and(
        &self,
        json: &str,
        render: &dyn Fn(&str, &str) -> Result<String, String>,
    ) -> FilterOutcome {
        for filter in &self.filters {
            match filter.check(json, render) {
                Verdict::Pass => {}
                Verdict::Fail(reason) => return failed(vec![reason], Vec::new()),
                Verdict::Error {
                    upstream,
                    and_message,
                    reason,
                } => {
                    let message = and_message.unwrap_or(upstream);
                    let error = format!("data filter error ({message})");
                    return failed(vec![reason], vec![error]);
                }
            }
        }
        passed()
    }

    fn evaluate_or(
        &self,
        json: &str,
        render: &dyn Fn(&str, &str) -> Result<String, String>,
    ) -> FilterOutcome {
        let mut reasons = Vec::new();
        let mut messages = Vec::new();
        for filter in &self.filters {
            match filter.check(json, render) {
                Verdict::Pass => return passed(),
                Verdict::Fail(reason) => reasons.push(reason),
                Verdict::Error {
                    upstream, reason, ..
                } => {
                    reasons.push(reason);
                    messages.push(upstream);
                }
            }
        }
        let errors = if messages.is_empty() {
            Vec::new()
        } else {
            vec![format!("data filter errors [{}]", messages.join(" / "))]
        };
        failed(reasons, errors)
    }
}

fn passed() -> FilterOutcome {
    FilterOutcome {
        passed: true,
        reasons: Vec::new(),
        errors: Vec::new(),
    }
}

fn failed(reasons: Vec<String>, errors: Vec<String>) -> FilterOutcome {
    FilterOutcome {
        passed: false,
        reasons,
        errors,
    }
}

/// The value a filter compares: the gjson result, or the template output (a JSON string).
enum Subject<'a> {
    Found(Found<'a>),
    Templated(String),
}

impl Subject<'_> {
    fn text(&self) -> Cow<'_, str> {
        match self {
            Subject::Found(found) => found.str_form(),
            Subject::Templated(s) => Cow::Borrowed(s),
        }
    }

    fn float(&self) -> f64 {
        match self {
            Subject::Found(found) => found.go_float(),
            Subject::Templated(s) => jsonpath::go_string_float(s),
        }
    }

    fn boolean(&self) -> bool {
        match self {
            Subject::Found(found) => found.go_bool(),
            Subject::Templated(s) => jsonpath::go_string_bool(s),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Subject::Found(found) => found.kind(),
            Subject::Templated(_) => Kind::String,
        }
    }

    /// The value as people should read it: strings quoted, JSON raw, long text shortened.
    fn shown(&self) -> String {
        let text = self.text();
        let short = shorten(&text);
        match self.kind() {
            Kind::String => jsonpath::go_quote(&short),
            _ => short.into_owned(),
        }
    }
}

fn shorten(text: &str) -> Cow<'_, str> {
    const LIMIT: usize = 120;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

impl CompiledFilter {
    fn check(&self, json: &str, render: &dyn Fn(&str, &str) -> Result<String, String>) -> Verdict {
        let path = &self.spec.path;
        let Some(found) = jsonpath::get(json, path) else {
            return error(
                format!("path '{path}' does not exist"),
                format!("path {path} not found"),
            );
        };
        if self.spec.values.is_empty() {
            return error(
                "no values specified".to_owned(),
                format!("filter on {path} has no values to compare with"),
            );
        }
        let subject = if self.spec.template.is_empty() {
            Subject::Found(found)
        } else {
            match self.apply_template(&found, render) {
                Ok(out) => Subject::Templated(out),
                Err(verdict) => return verdict,
            }
        };
        match &self.matcher {
            Matcher::String(patterns) => self.check_string(&subject, patterns),
            Matcher::Number(values) => self.check_number(&subject, values),
            Matcher::Bool(values) => self.check_bool(&subject, values),
            Matcher::Unsupported => error(
                format!("unsupported JSON type '{}'", self.spec.type_),
                format!(
                    "filter on {path} has unsupported type '{}' (use string, number or bool)",
                    self.spec.type_
                ),
            ),
        }
    }

    fn apply_template(
        &self,
        found: &Found<'_>,
        render: &dyn Fn(&str, &str) -> Result<String, String>,
    ) -> Result<String, Verdict> {
        let (path, template) = (&self.spec.path, &self.spec.template);
        match render(template, &found.str_form()) {
            Err(err) => Err(Verdict::Error {
                reason: format!("template for {path} failed: {err}"),
                upstream: err,
                and_message: None,
            }),
            Ok(out) if out.is_empty() || out == "<no value>" => Err(Verdict::Error {
                upstream: format!("template evaluated to empty string or no value: '{template}'"),
                and_message: Some(format!(
                    "template '{template}' evaluated to empty string or no value"
                )),
                reason: format!("template for {path} produced no value (output {out:?})"),
            }),
            Ok(out) => Ok(out),
        }
    }

    /// Label for the compared value: the path, marked when a template rewrote it.
    fn label(&self) -> Cow<'_, str> {
        if self.spec.template.is_empty() {
            Cow::Borrowed(&self.spec.path)
        } else {
            Cow::Owned(format!("{} (after template)", self.spec.path))
        }
    }

    fn check_string(&self, subject: &Subject<'_>, patterns: &[Result<Regex, String>]) -> Verdict {
        let text = subject.text();
        for (value, pattern) in self.spec.values.iter().zip(patterns) {
            let regex = match pattern {
                Ok(regex) => regex,
                Err(err) => return self.bad_value(value, "a valid regular expression", err),
            };
            let matched = regex.is_match(&text);
            let ok = match self.comparator {
                Comparator::Eq => matched,
                Comparator::Ne => !matched,
                _ => false,
            };
            if ok {
                return Verdict::Pass;
            }
        }
        let label = self.label();
        let shown = subject.shown();
        let values = self.quoted_values();
        Verdict::Fail(match self.comparator {
            Comparator::Eq => format!("{label} = {shown} does not match {values}"),
            Comparator::Ne => format!("{label} = {shown} matches {values} (comparator !=)"),
            _ => format!(
                "{label}: comparator {} is not supported for string filters (only = and !=), so it never matches",
                jsonpath::go_quote(&self.spec.comparator)
            ),
        })
    }

    fn check_number(&self, subject: &Subject<'_>, values: &[Result<f64, String>]) -> Verdict {
        let event = subject.float();
        for (value, parsed) in self.spec.values.iter().zip(values) {
            let wanted = match parsed {
                Ok(wanted) => *wanted,
                Err(err) => return self.bad_value(value, "a number", err),
            };
            let ok = match self.comparator {
                Comparator::Eq => event == wanted,
                Comparator::Ne => event != wanted,
                Comparator::Gt => event > wanted,
                Comparator::Ge => event >= wanted,
                Comparator::Lt => event < wanted,
                Comparator::Le => event <= wanted,
                Comparator::Unknown => false,
            };
            if ok {
                return Verdict::Pass;
            }
        }
        let label = self.label();
        let shown = match subject.kind() {
            Kind::Number => jsonpath::go_format_float(event),
            _ => format!(
                "{} (as number: {})",
                subject.shown(),
                jsonpath::go_format_float(event)
            ),
        };
        let values = self.plain_values();
        let op = &self.spec.comparator;
        Verdict::Fail(match self.comparator {
            Comparator::Eq => format!("{label} = {shown} does not equal {values}"),
            Comparator::Ne => format!("{label} = {shown} equals {values} (comparator !=)"),
            Comparator::Unknown => format!(
                "{label}: comparator {} is not supported (use =, !=, >, >=, <, <=), so it never matches",
                jsonpath::go_quote(op)
            ),
            _ => format!("{label} = {shown} is not {op} {values}"),
        })
    }

    fn check_bool(&self, subject: &Subject<'_>, values: &[Result<bool, String>]) -> Verdict {
        let event = subject.boolean();
        for (value, parsed) in self.spec.values.iter().zip(values) {
            match parsed {
                Ok(wanted) if *wanted == event => return Verdict::Pass,
                Ok(_) => {}
                Err(err) => return self.bad_value(value, "a boolean", err),
            }
        }
        let label = self.label();
        let shown = match subject.kind() {
            Kind::True | Kind::False => event.to_string(),
            _ => format!("{} (as bool: {event})", subject.shown()),
        };
        Verdict::Fail(format!("{label} = {shown} is not {}", self.plain_values()))
    }

    fn bad_value(&self, value: &str, expected: &str, err: &str) -> Verdict {
        error(
            err.to_owned(),
            format!(
                "filter on {}: value {} is not {expected} ({err})",
                self.spec.path,
                jsonpath::go_quote(value)
            ),
        )
    }

    /// `"a"` or `any of "a", "b"` (for `!=`: `every one of …`).
    fn quoted_values(&self) -> String {
        let quoted: Vec<String> = self
            .spec
            .values
            .iter()
            .map(|v| jsonpath::go_quote(v))
            .collect();
        self.list(quoted)
    }

    fn plain_values(&self) -> String {
        self.list(self.spec.values.clone())
    }

    fn list(&self, items: Vec<String>) -> String {
        match items.len() {
            1 => items.concat(),
            _ if self.comparator == Comparator::Ne => format!("every one of {}", items.join(", ")),
            _ => format!("any of {}", items.join(", ")),
        }
    }
}

mod goregex;

pub use goregex::{compile_go_regex, go_regex_to_rust};

#[cfg(test)]
mod tests;
