//! Trigger `conditions`: a boolean expression over dependency names with `&&`, `||` and
//! parentheses (no negation), as upstream evaluates it. Names may hold letters, digits, `_`,
//! `-` and `.`; spaces do not matter. Without `conditions` every dependency must be met.

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
    fn default_is_all_dependencies() {
        let c = Conditions::all_of(&["a", "b", "c"]).unwrap();
        assert_eq!(c.to_string(), "a && b && c");
        assert!(c.has_and());
        assert!(!Conditions::parse("a || b").unwrap().has_and());
        assert!(Conditions::all_of::<&str>(&[]).is_none());
    }
}
