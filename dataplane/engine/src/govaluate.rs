//! A govaluate-compatible expression parser and evaluator (the language of Argo Events Sensor
//! `exprs` filters, evaluated upstream with `github.com/Knetic/govaluate`).
//!
//! Grammar, operator precedence (loosest first): `,` · `? : ??` · `||` · `&&` ·
//! comparators (`== != > < >= <= =~ !~ in`) · `& | ^` · `<< >>` · `+ -` · `* / %` · `**` ·
//! prefix `- ! ~`. Operators of one level evaluate left to right (also `**` and `? :`, which
//! makes an unparenthesised nested ternary `a ? b : c ? d : e` read as `((a ? b) : c) ? d : e`).
//! Prefix operators apply to a single value: `-2 ** 2` is `(-2) ** 2`.
//!
//! Values: numbers are `f64` (decimal or `0x` hex literals, no exponent syntax), strings use
//! single or double quotes (either quote ends either kind; a backslash escapes any character),
//! `true`/`false`, variables are identifiers (letters, digits, `_`) or `[any name]` in brackets,
//! with backslash escapes (`a\-b` is the variable `a-b`). A string literal that parses as one of
//! govaluate's date layouts becomes a Unix timestamp number (see [`gotime`]).
//!
//! Semantics follow govaluate, including its quirks: `==` is deep equality without coercion;
//! `> <` need two numbers or two strings; `+` concatenates (Go `%v` formatting) when either side
//! is a string; `&&`, `||`, `??` and `?:` short-circuit, so an undefined variable only fails
//! when it is reached; division by zero gives ±Inf/NaN; tokens left over after a complete
//! parenthesised expression (`(a) b`) are ignored, as govaluate does.

mod eval;
mod gore;
pub mod gotime;
mod lexer;
mod planner;
mod value;

#[cfg(test)]
mod tests;

pub use value::Value;

/// Why an expression could not be parsed. Positions are 0-based character offsets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The expression is empty or blank.
    #[error("empty expression")]
    Empty,
    /// The expression stops after an operator.
    #[error("unexpected end of expression")]
    UnexpectedEnd,
    /// A token that cannot follow the previous one.
    #[error("unexpected token '{token}' at {position}")]
    UnexpectedToken {
        /// The token's source text.
        token: String,
        /// Its position.
        position: usize,
    },
    /// A run of symbols that is not an operator (e.g. `>-`: write `> -`).
    #[error("invalid operator '{token}' at {position}")]
    InvalidToken {
        /// The symbol text.
        token: String,
        /// Its position.
        position: usize,
    },
    /// Parentheses do not balance.
    #[error("unbalanced parentheses")]
    Unbalanced,
    /// A string literal without its closing quote.
    #[error("unclosed string literal starting at {position}")]
    UnclosedString {
        /// Position of the opening quote.
        position: usize,
    },
    /// A `[name]` without its closing bracket.
    #[error("unclosed '[' variable name starting at {position}")]
    UnclosedBracket {
        /// Position of the `[`.
        position: usize,
    },
    /// A backslash at the very end of the expression.
    #[error("backslash with nothing to escape in the token at {position}")]
    DanglingEscape {
        /// Position of the token containing it.
        position: usize,
    },
    /// A malformed number such as `1.2.3`.
    #[error("invalid number '{text}' at {position}")]
    BadNumber {
        /// The number text.
        text: String,
        /// Its position.
        position: usize,
    },
    /// `name(` — govaluate in Argo Events has no functions.
    #[error("unknown function '{name}' at {position} (Sensor expressions have no functions)")]
    UndefinedFunction {
        /// The name before the parenthesis.
        name: String,
        /// Its position.
        position: usize,
    },
    /// A dotted name that govaluate rejects (it reads `a.B` as a Go struct field access).
    #[error("invalid name '{name}' at {position}: {reason}")]
    BadName {
        /// The dotted name.
        name: String,
        /// Its position.
        position: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The string literal after `=~`/`!~` is not a valid regular expression.
    #[error("invalid regular expression {pattern:?}: {message}")]
    BadRegex {
        /// The pattern.
        pattern: String,
        /// The regex compiler's message.
        message: String,
    },
    /// More tokens than this implementation accepts.
    #[error("expression too long (more than {max} tokens)")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Parentheses nested deeper than this implementation accepts.
    #[error("parentheses nested too deeply (more than {max} levels)")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A variable that has no value.
    #[error("undefined variable '{0}'")]
    UndefinedVariable(String),
    /// `> < >= <=` on anything but two numbers or two strings.
    #[error("cannot compare {left} and {right} with {op}")]
    Compare {
        /// The comparator.
        op: &'static str,
        /// Type of the left operand.
        left: &'static str,
        /// Type of the right operand.
        right: &'static str,
    },
    /// An operand of the wrong type.
    #[error("'{op}' needs {wanted}, but got {got}")]
    WrongType {
        /// The operator.
        op: &'static str,
        /// What it needs, e.g. "a number".
        wanted: &'static str,
        /// What it got, e.g. `string "abc"`.
        got: String,
    },
    /// `+` with neither two numbers nor a string on either side.
    #[error(
        "cannot add {left} and {right} ('+' adds numbers, or joins text when one side is a string)"
    )]
    Add {
        /// The left operand.
        left: String,
        /// The right operand.
        right: String,
    },
    /// A regex pattern from a variable that does not compile.
    #[error("invalid regular expression {pattern:?}: {message}")]
    BadRegex {
        /// The pattern.
        pattern: String,
        /// The regex compiler's message.
        message: String,
    },
    /// `in` comparing two lists or two objects (a runtime panic in Go).
    #[error("'in' cannot compare two {kind} values")]
    Uncomparable {
        /// "list" or "object".
        kind: &'static str,
    },
    /// A dotted accessor (`a.B`) on a value that is not a Go struct: it never works in Argo.
    #[error(
        "cannot read '{field}' of '{parent}': '{full}' is a Go struct field access and event \
         values are never structs; bind the value with its own name in fields"
    )]
    NotAStruct {
        /// The field name.
        field: String,
        /// The variable it was read from.
        parent: String,
        /// The whole dotted name.
        full: String,
    },
}

/// A parsed expression, ready to be evaluated any number of times.
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    stages: Vec<planner::Stage>,
    root: Option<usize>,
}

#[cfg(test)]
thread_local! {
    /// Number of [`parse`] calls on this thread (lets tests prove compile-once behaviour).
    pub(crate) static PARSE_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Parses a govaluate expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    #[cfg(test)]
    PARSE_CALLS.with(|calls| calls.set(calls.get() + 1));
    let tokens = lexer::tokenize(src)?;
    let (stages, root) = planner::plan(&tokens)?;
    Ok(Expr {
        source: src.to_string(),
        stages,
        root,
    })
}

impl Expr {
    /// Evaluates the expression; `vars` returns the value of a variable, `None` if undefined.
    pub fn eval(&self, vars: &dyn Fn(&str) -> Option<Value>) -> Result<Value, EvalError> {
        match self.root {
            Some(root) => eval::eval_stage(&self.stages, root, vars),
            None => Ok(Value::Null),
        }
    }

    /// The source text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Names of the variables the expression refers to (first occurrence order, no duplicates).
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for stage in &self.stages {
            let name = match &stage.op {
                planner::Op::Variable(name) => name,
                planner::Op::Accessor(parts) => &parts[0],
                _ => continue,
            };
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }
}
