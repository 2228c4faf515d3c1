//! The `transform.jq` program of a Sensor dependency, run with jaq.
//!
//! The program reads the event's data object. Its **first** output must be a JSON object, and
//! that object replaces the data. Later outputs are ignored. No output, an output that is not an
//! object, or a runtime error is an error, as upstream.
//!
//! Upstream uses gojq. jaq is close to it, but a few things differ:
//! * **Numbers.** Upstream decodes every JSON number as a float64. Go then writes integral
//!   results without a fraction. Here, integral input numbers become jaq integers, and integral
//!   output numbers become JSON integers, so `.a / 2` gives `2`, not `2.0`, for `a = 4`. But jaq
//!   keeps a float inside the program: `1.5 + 1.5 | tostring` is `"3.0"` here and `"3"` in gojq.
//!   Integers larger than 2^53 stay exact here and are rounded upstream. NaN and infinities in
//!   the output are errors, as Go's `json.Marshal` makes them.
//! * **Key order.** Objects in the output have their keys sorted, as Go marshals maps.
//! * **Environment.** `env` and `$ENV` are `{}`. This matches gojq without an environ loader,
//!   and it never exposes the process environment.
//! * **Inputs.** `input` and `inputs` do not exist here, so a program that uses them fails to
//!   compile. In gojq they fail when they run.
//! * **Builtins.** `IN`, `INDEX`, `leaf_paths`, `toarray`, `@csv` and `@tsv` are added here
//!   as definitions because jaq lacks them. Still missing, and compile errors here:
//!   `tostream`/`fromstream`/`truncate_stream`, `@base32`/`@base32d`, `$__loc__`,
//!   `input_filename`, `builtins`, and jq 1.6's `dateadd`/`datesub`/`date`. `ltrimstr`/`rtrimstr`
//!   on a non-string fail here, while gojq returns the input unchanged. `halt` and
//!   `halt_error` are errors here and never stop the process. `now` is kept; `debug` and
//!   `stderr` pass their input through and print nothing.
//! * **Limits.** jaq has no step counter. A program that loops forever (`def f: f; f`,
//!   `last(repeat(1))`) blocks the caller, and deep non-tail recursion can overflow the stack.
//!   gojq has no limit either. Only the size of the output is bounded here, at 1,000,000
//!   values.
//! * **Error text.** Messages come from jaq and do not match gojq's wording.

use jaq_core::data::JustLut;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars};
use jaq_json::{Num, Val};
use serde_json::{Map, Number, Value as Json};

/// The jaq data kind: plain JSON values with nothing but the lookup table as context.
type Data = JustLut<Val>;

/// Definitions that replace jaq builtins which would read the host (`env`), and gojq
/// builtins that jaq lacks.
const EXTRA_DEFS: &str = r#"
def env: {};
def IN(s): any(s == .; .);
def IN(src; s): any(src == s; .);
def INDEX(stream; idx_expr): reduce stream as $row ({}; .[$row | idx_expr | tostring] |= $row);
def INDEX(idx_expr): INDEX(.[]; idx_expr);
def leaf_paths: paths(scalars);
def toarray: if type == "array" then . else [.] end;
def @csv: if type != "array" then error("cannot csv-format \(type), only an array") else
  map(if type == "string" then "\"" + gsub("\""; "\"\"") + "\""
      elif type == "null" then ""
      elif type == "number" or type == "boolean" then tostring
      else error("\(type) (\(tojson)) is not valid in a csv row") end) | join(",") end;
def @tsv: if type != "array" then error("cannot tsv-format \(type), only an array") else
  map(if type == "string" then gsub("\\\\"; "\\\\") | gsub("\t"; "\\t") | gsub("\n"; "\\n") | gsub("\r"; "\\r")
      elif type == "null" then ""
      elif type == "number" or type == "boolean" then tostring
      else error("\(type) (\(tojson)) is not valid in a tsv row") end) | join("\t") end;
"#;
/// The deepest nesting of output values that is converted.
const MAX_DEPTH: usize = 512;
/// The most values the output may hold, counting a shared value once per use.
const MAX_VALUES: usize = 1_000_000;
/// Name of the program in error messages.
const PROGRAM: &str = "jq transform";

/// A jq program compiled once, to be applied to many events.
pub struct JqProgram {
    filter: jaq_core::Filter<Data>,
}

impl JqProgram {
    /// Parses and compiles `src`. Errors name the line and column, for example
    /// `jq syntax error at line 1, column 4: expected term, found ")"`.
    pub fn compile(src: &str) -> Result<JqProgram, String> {
        let extra = jaq_core::load::parse(EXTRA_DEFS, |p| p.defs())
            .ok_or_else(|| "invariant: the extra jq definitions parse".to_string())?;
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .chain(extra);
        let funs = jaq_core::funs()
            .chain(jaq_std::funs().filter(|(name, _, _)| *name != "env"))
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let program = File {
            code: src,
            path: (),
        };
        let modules = Loader::new(defs)
            .load(&arena, program)
            .map_err(|errs| load_errors(src, errs))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(["$ENV"])
            .compile(modules)
            .map_err(|errs| compile_errors(src, errs))?;
        Ok(JqProgram { filter })
    }

    /// Runs the program on `data` and returns its first output, which must be an object.
    /// `data` must be a JSON object; `null` is taken as `{}`.
    pub fn apply(&self, data: &Json) -> Result<Json, String> {
        let input = match data {
            Json::Object(_) => json_to_val(data),
            Json::Null => Val::obj(jaq_json::Map::default()),
            other => {
                return Err(format!(
                    "{PROGRAM} needs a JSON object as event data, but the data is {}",
                    json_kind(other)
                ));
            }
        };
        let env = Val::obj(jaq_json::Map::default());
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([env]));
        let mut outputs = self.filter.id.run((ctx, input));
        match outputs.next() {
            None => Err(format!("{PROGRAM} produced no output")),
            Some(Err(exn)) => Err(match exn.get_err() {
                Ok(err) => format!("{PROGRAM} failed: {}", error_text(err)),
                Err(_) => format!("{PROGRAM} stopped: halt is not allowed"),
            }),
            Some(Ok(Val::Obj(map))) => ToJson { budget: MAX_VALUES }.object(&map, 0),
            Some(Ok(other)) => Err(format!(
                "{PROGRAM} produced {}, not an object",
                val_kind(&other)
            )),
        }
    }
}

/// Formats parse and lex errors with their positions in `src`.
fn load_errors(src: &str, errs: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    use jaq_core::load::parse::Expect as ParseExpect;
    let mut lines = Vec::new();
    for (_file, err) in errs {
        match err {
            Error::Io(items) => {
                for (path, msg) in items {
                    lines.push(format!("cannot load module {path}: {msg}"));
                }
            }
            Error::Lex(items) => {
                for (expect, found) in items {
                    lines.push(format!(
                        "jq syntax error {}: {}",
                        position(src, found),
                        lex_problem(&expect, found)
                    ));
                }
            }
            Error::Parse(items) => {
                for (expect, found) in items {
                    let problem = match expect {
                        ParseExpect::Nothing => format!("unexpected {}", found_text(found)),
                        other => {
                            format!("expected {}, found {}", other.as_str(), found_text(found))
                        }
                    };
                    lines.push(format!(
                        "jq syntax error {}: {problem}",
                        position(src, found)
                    ));
                }
            }
        }
    }
    lines.join("; ")
}

/// What the lexer found wrong, without jaq's panic for unknown delimiters.
fn lex_problem(expect: &jaq_core::load::lex::Expect<&str>, found: &str) -> String {
    use jaq_core::load::lex::Expect;
    match expect {
        Expect::Token => match found.chars().next() {
            Some(c) => format!("unexpected character {c:?}"),
            None => "unexpected end of program".to_string(),
        },
        Expect::Delim(d) if !["(", "[", "{", "\""].contains(d) => {
            format!("expected a delimiter closing {d:?}")
        }
        other => format!("expected {}", other.as_str()),
    }
}

/// Formats undefined names found by the compiler.
fn compile_errors(src: &str, errs: jaq_core::compile::Errors<&str, ()>) -> String {
    let mut lines = Vec::new();
    for (_file, items) in errs {
        for (name, undefined) in items {
            lines.push(format!(
                "jq compile error {}: undefined {} {}",
                position(src, name),
                undefined.as_str(),
                name
            ));
        }
    }
    lines.join("; ")
}

/// The text found at an error, quoted, or "end of program".
fn found_text(found: &str) -> String {
    if found.is_empty() {
        "end of program".to_string()
    } else {
        format!("{found:?}")
    }
}

/// "at line L, column C" (1-based) for a slice of `src`, or "" when it is not part of it.
fn position(src: &str, part: &str) -> String {
    let start = src.as_ptr() as usize;
    let offset = (part.as_ptr() as usize).checked_sub(start);
    match offset {
        Some(offset) if offset <= src.len() && src.is_char_boundary(offset) => {
            let before = &src[..offset];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("at line {line}, column {column}")
        }
        _ => String::new(),
    }
}

/// The text of a runtime error: a string raised with `error` is shown without quotes.
fn error_text(err: jaq_core::Error<Val>) -> String {
    match err.into_val() {
        Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(&b).into_owned(),
        other => other.to_string(),
    }
}

/// A short name for the kind of a JSON value, for error messages.
fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Converts event data to a jaq value. Integral numbers become integers and object keys are
/// sorted, which is how gojq sees data decoded into Go maps.
fn json_to_val(value: &Json) -> Val {
    match value {
        Json::Null => Val::Null,
        Json::Bool(b) => Val::Bool(*b),
        Json::Number(n) => number_to_val(n),
        Json::String(s) => Val::from(s.clone()),
        Json::Array(items) => items.iter().map(json_to_val).collect(),
        Json::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Val::obj(
                entries
                    .into_iter()
                    .map(|(k, v)| (Val::from(k.clone()), json_to_val(v)))
                    .collect(),
            )
        }
    }
}

/// Converts a JSON number to a jaq integer when it is integral, else to a float.
fn number_to_val(n: &Number) -> Val {
    if let Some(i) = n.as_i64() {
        return Val::Num(Num::from_integral(i));
    }
    if let Some(u) = n.as_u64() {
        return Val::Num(Num::from_integral(u));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    let in_i64 = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    if f.fract() == 0.0 && in_i64 {
        Val::Num(Num::from_integral(f as i64))
    } else {
        Val::from(f)
    }
}

/// A short name for the kind of a jaq value, for error messages.
fn val_kind(value: &Val) -> &'static str {
    match value {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::BStr(_) | Val::TStr(_) => "a string",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
    }
}

/// Converts jaq output to JSON, bounding depth and size (shared values count once per use).
struct ToJson {
    budget: usize,
}

impl ToJson {
    /// Converts a jaq object to JSON with its keys sorted.
    fn object(&mut self, map: &jaq_json::Map, depth: usize) -> Result<Json, String> {
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            let key = match key {
                Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                other => {
                    return Err(format!(
                        "{PROGRAM} produced an object key that is {}, not a string",
                        val_kind(other)
                    ));
                }
            };
            entries.push((key, self.value(value, depth + 1)?));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Json::Object(entries.into_iter().collect::<Map<_, _>>()))
    }

    /// Converts a jaq value to JSON.
    fn value(&mut self, value: &Val, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "{PROGRAM} produced values nested deeper than {MAX_DEPTH} levels"
            ));
        }
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| format!("{PROGRAM} produced more than {MAX_VALUES} values"))?;
        match value {
            Val::Null => Ok(Json::Null),
            Val::Bool(b) => Ok(Json::Bool(*b)),
            Val::Num(n) => num_to_json(n),
            Val::TStr(b) | Val::BStr(b) => {
                Ok(Json::String(String::from_utf8_lossy(b).into_owned()))
            }
            Val::Arr(items) => items
                .iter()
                .map(|item| self.value(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            Val::Obj(map) => self.object(map, depth),
        }
    }
}

/// Converts a jaq number; integral values become JSON integers when they fit.
fn num_to_json(n: &Num) -> Result<Json, String> {
    if let Some(i) = n.as_isize() {
        return Ok(Json::from(i as i64));
    }
    let text = n.to_string();
    if let Ok(u) = text.parse::<u64>() {
        return Ok(Json::from(u));
    }
    let f: f64 = text.parse().unwrap_or(f64::NAN);
    if !f.is_finite() {
        return Err(format!(
            "{PROGRAM} produced the number {text}, which JSON cannot represent"
        ));
    }
    let in_i64 = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    if f.fract() == 0.0 && in_i64 {
        return Ok(Json::from(f as i64));
    }
    Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| format!("{PROGRAM} produced the number {text}, which JSON cannot represent"))
}

#[cfg(test)]
mod tests;
