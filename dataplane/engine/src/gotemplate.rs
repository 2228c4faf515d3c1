//! Go `text/template` + Masterminds/sprig v3 evaluation, as Argo Events uses it for
//! `dataTemplate`/`contextTemplate` parameters and data-filter `template`s.
//!
//! The payload is exposed as `.Input` (`{{ .Input.body.message | title }}`).
//! Rendering follows Go: a missing map key prints `<no value>`, JSON numbers are
//! `float64` (`3`, `2.5`, `1e+06`, `1e+21`), maps print as `map[k:v]` with sorted
//! keys, lists as `[a b]`, `and`/`or` short-circuit, and function arguments are
//! type-checked as Go's reflection-based calls do (`upper 3` is an error).
//! Whether an output of `""` or `<no value>` counts as failure is the caller's
//! decision (Argo treats both as failure).
//!
//! The engine is self-contained: the `gtmpl` crate was evaluated and rejected
//! (see `gotemplate/gtmpl_gaps.rs` for the behaviours it gets wrong).

mod exec;
mod funcs;
mod lex;
mod literal;
mod parse;
mod printf;
mod sprig_case;
mod sprig_data;
mod sprig_encoding;
mod sprig_math;
mod sprig_strings;
mod sprig_time;
mod sprig_time_parse;
mod value;

#[cfg(test)]
mod gtmpl_gaps;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sprig;

use std::collections::BTreeMap;

pub use value::{GoTime, Value, json_float};

/// The template name Argo Events uses; it appears in error messages.
const NAME: &str = "param";

/// A parsed template, ready to be rendered any number of times.
#[derive(Clone, Debug)]
pub struct Template {
    src: String,
    tree: parse::Tree,
}

/// Line (1-based) and byte column (0-based, as Go reports it) of `pos` in `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let col = match before.iter().rposition(|b| *b == b'\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}

impl Template {
    /// Parses Go template source with the sprig function set.
    ///
    /// Errors read like Go's, e.g. `template: param:1: function "nope" not defined`.
    pub fn parse(src: &str) -> Result<Template, String> {
        match parse::parse(src, &funcs::exists) {
            Ok(tree) => Ok(Template {
                src: src.to_string(),
                tree,
            }),
            Err(e) => {
                let (line, _) = line_col(src, e.pos);
                Err(format!("template: {NAME}:{line}: {}", e.msg))
            }
        }
    }

    /// Renders the template with data `{"Input": input}` (JSON numbers become float64).
    ///
    /// Errors read like Go's, e.g.
    /// `template: param:1:3: executing "param" at <upper 3>: wrong type for value; expected string; got int`.
    pub fn render(&self, input: &serde_json::Value) -> Result<String, String> {
        let mut data = BTreeMap::new();
        data.insert("Input".to_string(), Value::from_json(input));
        self.render_value(Value::map(data))
    }

    /// Renders the template with an arbitrary root value as dot (`.`).
    pub fn render_value(&self, data: Value) -> Result<String, String> {
        let mut state = exec::State::new(&self.tree.defines, data.clone());
        match state.walk_list(&data, &self.tree.root) {
            Ok(()) => Ok(state.out),
            Err(e) => {
                let (line, col) = line_col(&self.src, e.pos);
                Err(format!(
                    "template: {NAME}:{line}:{col}: executing \"{NAME}\" at <{}>: {}",
                    e.context, e.msg
                ))
            }
        }
    }
}
