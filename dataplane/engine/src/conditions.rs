//! Trigger `conditions`: a boolean expression over dependency names with `&&`, `||` and
//! parentheses (no negation), as upstream evaluates it. Names may hold letters, digits, `_`,
//! `-` and `.`; spaces do not matter. Without `conditions` every dependency must be met.
//!
//! A name in `conditions` stands for a dependency when the two are equal once every `-` is
//! read as `_` ([`dependency_for`]): upstream rewrites `-` to `_` in the expression and in the
//! dependency names before it looks them up, so `dep_a && dep-b` names `dep-a` and `dep_b`.
//! Only `conditions` is read this way; everything else names dependencies exactly.

use std::fmt;

/// A parsed conditions expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditions {
    /// The dependency of that name has a passing event.
    Dep(String),
    /// Both sides hold.
    And(Box<Conditions>, Box<Conditions>),
    /// Either side holds.
    Or(Box<Conditions>, Box<Conditions>),
}

/// A conditions expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conditions {expr:?}: {reason}")]
pub struct ConditionsError {
    /// The expression as written.
    pub expr: String,
    /// What is wrong.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    And,
    Or,
    Open,
    Close,
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '&' | '|' => {
                if chars.next_if(|(_, n)| *n == c).is_none() {
                    return Err(format!("single {c:?} at {i}; use {c}{c}"));
                }
                tokens.push(if c == '&' { Token::And } else { Token::Or });
            }
            c if is_name_char(c) => {
                let mut name = String::from(c);
                while let Some((_, n)) = chars.next_if(|(_, n)| is_name_char(*n)) {
                    name.push(n);
                }
                tokens.push(Token::Name(name));
            }
            other => return Err(format!("unexpected {other:?} at {i}")),
        }
    }
    Ok(tokens)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<Conditions, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            left = Conditions::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Conditions, String> {
        let mut left = self.atom()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            left = Conditions::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Conditions, String> {
        let token = self.peek().cloned();
        self.pos += 1;
        match token {
            Some(Token::Name(n)) => Ok(Conditions::Dep(n)),
            Some(Token::Open) => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Close) => Err("unexpected ')'".into()),
            Some(Token::And | Token::Or) => {
                Err("an operator needs a dependency name on each side".into())
            }
            None => Err("expression ends where a dependency name is expected".into()),
        }
    }
}

/// The dependency (of `deps`, in the Sensor's order) that a name written in `conditions`
/// stands for: the one equal to it with `-` and `_` taken as the same character. When several
/// differ only there, the last one wins, as in upstream's name map.
pub fn dependency_for<'a, S: AsRef<str>>(name: &str, deps: &'a [S]) -> Option<&'a str> {
    deps.iter()
        .rev()
        .map(AsRef::as_ref)
        .find(|dep| same_name(dep, name))
}

fn same_name(a: &str, b: &str) -> bool {
    let fold = |c: char| if c == '-' { '_' } else { c };
    a.chars().map(fold).eq(b.chars().map(fold))
}

impl Conditions {
    /// Parses a conditions expression.
    pub fn parse(src: &str) -> Result<Conditions, ConditionsError> {
        let err = |reason: String| ConditionsError {
            expr: src.to_owned(),
            reason,
        };
        let tokens = tokenize(src).map_err(err)?;
        if tokens.is_empty() {
            return Err(err("empty expression".into()));
        }
        let mut parser = Parser { tokens, pos: 0 };
        let expr = parser.or().map_err(err)?;
        if parser.pos != parser.tokens.len() {
            return Err(err(format!(
                "unexpected {:?} after the expression",
                parser.tokens[parser.pos]
            )));
        }
        Ok(expr)
    }

    /// The default when `conditions` is empty: every dependency, joined with `&&`.
    pub fn all_of<S: AsRef<str>>(names: &[S]) -> Option<Conditions> {
        let mut iter = names.iter().map(|n| Conditions::Dep(n.as_ref().to_owned()));
        let first = iter.next()?;
        Some(iter.fold(first, |acc, d| Conditions::And(Box::new(acc), Box::new(d))))
    }

    /// The expression with every name replaced by the dependency it stands for
    /// ([`dependency_for`]); the error is the first name that stands for none.
    pub fn resolve<S: AsRef<str>>(&self, deps: &[S]) -> Result<Conditions, String> {
        Ok(match self {
            Conditions::Dep(n) => {
                Conditions::Dep(dependency_for(n, deps).ok_or_else(|| n.clone())?.to_owned())
            }
            Conditions::And(a, b) => {
                Conditions::And(Box::new(a.resolve(deps)?), Box::new(b.resolve(deps)?))
            }
            Conditions::Or(a, b) => {
                Conditions::Or(Box::new(a.resolve(deps)?), Box::new(b.resolve(deps)?))
            }
        })
    }

    /// The dependencies (of `deps`) the expression stands for ([`dependency_for`]), in order,
    /// without repeats; names that stand for none are left out.
    pub fn dependencies<'a, S: AsRef<str>>(&self, deps: &'a [S]) -> Vec<&'a str> {
        let mut out = Vec::new();
        for dep in self
            .names()
            .into_iter()
            .filter_map(|n| dependency_for(n, deps))
        {
            if !out.contains(&dep) {
                out.push(dep);
            }
        }
        out
    }

    /// Every dependency name the expression mentions, in order, without repeats.
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Conditions::Dep(n) => {
                if !out.contains(&n.as_str()) {
                    out.push(n);
                }
            }
            Conditions::And(a, b) | Conditions::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// Whether the expression holds given which dependencies are met.
    pub fn eval(&self, met: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Conditions::Dep(n) => met(n),
            Conditions::And(a, b) => a.eval(met) && b.eval(met),
            Conditions::Or(a, b) => a.eval(met) || b.eval(met),
        }
    }

    /// What still has to happen: the expression with met dependencies removed
    /// (`None` when it already holds).
    pub fn remaining(&self, met: &dyn Fn(&str) -> bool) -> Option<Conditions> {
        match self {
            Conditions::Dep(n) => (!met(n)).then(|| self.clone()),
            Conditions::And(a, b) => match (a.remaining(met), b.remaining(met)) {
                (None, None) => None,
                (Some(x), None) | (None, Some(x)) => Some(x),
                (Some(x), Some(y)) => Some(Conditions::And(Box::new(x), Box::new(y))),
            },
            Conditions::Or(a, b) => match (a.remaining(met), b.remaining(met)) {
                (Some(x), Some(y)) => Some(Conditions::Or(Box::new(x), Box::new(y))),
                _ => None,
            },
        }
    }

    /// Whether any `&&` appears: without one, every passing event fires on its own.
    pub fn has_and(&self) -> bool {
        match self {
            Conditions::Dep(_) => false,
            Conditions::And(..) => true,
            Conditions::Or(a, b) => a.has_and() || b.has_and(),
        }
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn side(c: &Conditions, parent_and: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match c {
                Conditions::Or(..) if parent_and => write!(f, "({c})"),
                _ => write!(f, "{c}"),
            }
        }
        match self {
            Conditions::Dep(n) => f.write_str(n),
            Conditions::And(a, b) => {
                side(a, true, f)?;
                f.write_str(" && ")?;
                side(b, true, f)
            }
            Conditions::Or(a, b) => write!(f, "{a} || {b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn met<'a>(names: &'a [&'a str]) -> impl Fn(&str) -> bool + 'a {
        move |n| names.contains(&n)
    }

    #[test]
    fn parses_precedence_parentheses_and_dashed_names() {
        let c = Conditions::parse("dep-a || dep_b && (c.1 || d)").unwrap();
        assert_eq!(c.to_string(), "dep-a || dep_b && (c.1 || d)");
        assert_eq!(c.names(), ["dep-a", "dep_b", "c.1", "d"]);
        assert!(c.eval(&met(&["dep-a"])));
        assert!(!c.eval(&met(&["dep_b"])));
        assert!(c.eval(&met(&["dep_b", "d"])));
        let spaced = Conditions::parse("  (a&&b)||c ").unwrap();
        assert_eq!(spaced.to_string(), "a && b || c");
    }

    #[test]
    fn rejects_malformed_expressions() {
        for bad in [
            "", "a &", "a & b", "a ||", "(a && b", "a && b)", "&& a", "a b", "!a", "a == b",
        ] {
            assert!(Conditions::parse(bad).is_err(), "{bad:?}");
        }
        let err = Conditions::parse("a & b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "conditions \"a & b\": single '&' at 2; use &&"
        );
    }

    #[test]
    fn remaining_says_what_is_still_needed() {
        let c = Conditions::parse("(a && b) || (c && d)").unwrap();
        assert_eq!(
            c.remaining(&met(&["a"])).unwrap().to_string(),
            "b || c && d"
        );
        assert_eq!(
            c.remaining(&met(&["a", "c"])).unwrap().to_string(),
            "b || d"
        );
        assert!(c.remaining(&met(&["c", "d"])).is_none());
        let and = Conditions::parse("a && (b || c)").unwrap();
        assert_eq!(and.remaining(&met(&["b"])).unwrap().to_string(), "a");
        assert_eq!(
            and.remaining(&met(&[])).unwrap().to_string(),
            "a && (b || c)"
        );
    }

    #[test]
    fn dash_and_underscore_name_the_same_dependency() {
        let deps = ["dep-a", "dep_b", "plain", "c.1", "x-y_z"];
        // (written in conditions, the dependency it stands for)
        let cases: &[(&str, Option<&str>)] = &[
            ("dep-a", Some("dep-a")),
            ("dep_a", Some("dep-a")),
            ("dep_b", Some("dep_b")),
            ("dep-b", Some("dep_b")),
            ("x_y-z", Some("x-y_z")),
            ("x_y_z", Some("x-y_z")),
            ("x-y-z", Some("x-y_z")),
            ("plain", Some("plain")),
            ("c.1", Some("c.1")),
            // Only '-' and '_' fold: no case folding, no other characters, no prefixes.
            ("Dep-a", None),
            ("dep.a", None),
            ("depa", None),
            ("dep-a-", None),
            ("dep", None),
        ];
        for (written, want) in cases {
            assert_eq!(dependency_for(written, &deps), *want, "{written:?}");
        }
        // Two dependencies differing only there: the later one wins.
        assert_eq!(dependency_for("a-b", &["a-b", "a_b"]), Some("a_b"));
        assert_eq!(dependency_for("a_b", &["a_b", "a-b"]), Some("a-b"));
    }

    #[test]
    fn resolve_rewrites_names_to_dependencies() {
        let deps = ["dep-a", "dep-b", "dep_c"];
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("dep_a && dep_b", Ok("dep-a && dep-b")),
            ("dep-a && dep-b", Ok("dep-a && dep-b")),
            ("(dep_a || dep-c) && dep_b", Ok("(dep-a || dep_c) && dep-b")),
            ("dep_a || dep-a", Ok("dep-a || dep-a")),
            ("dep_a && dep_d", Err("dep_d")),
            ("dep-d", Err("dep-d")),
        ];
        for (written, want) in cases {
            let got = Conditions::parse(written)
                .unwrap()
                .resolve(&deps)
                .map(|c| c.to_string());
            assert_eq!(
                got,
                want.map(str::to_owned).map_err(str::to_owned),
                "{written:?}"
            );
        }
        let resolved = Conditions::parse("dep_a && dep_b || dep_a")
            .unwrap()
            .resolve(&deps)
            .unwrap();
        assert_eq!(resolved.names(), ["dep-a", "dep-b"]);
        assert!(!resolved.eval(&met(&["dep_a", "dep_b"])));
        assert!(resolved.eval(&met(&["dep-a", "dep-b"])));
    }

    #[test]
    fn dependencies_are_the_named_ones_once_each() {
        let deps = ["dep-a", "dep-b", "dep_c"];
        let cases: &[(&str, &[&str])] = &[
            ("dep_c || dep_a", &["dep_c", "dep-a"]),
            ("dep_a && dep-a && dep-c", &["dep-a", "dep_c"]),
            ("dep_a && unknown", &["dep-a"]),
            ("unknown", &[]),
        ];
        for (written, want) in cases {
            let c = Conditions::parse(written).unwrap();
            assert_eq!(c.dependencies(&deps), *want, "{written:?}");
        }
    }

    #[test]
    fn default_is_all_dependencies() {
        let c = Conditions::all_of(&["a", "b", "c"]).unwrap();
        assert_eq!(c.to_string(), "a && b && c");
        assert!(c.has_and());
        assert!(!Conditions::parse("a || b").unwrap().has_and());
        assert!(Conditions::all_of::<&str>(&[]).is_none());
    }
}
