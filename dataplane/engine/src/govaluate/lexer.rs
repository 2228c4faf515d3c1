//! Tokenizer and token-order checks, following govaluate's `parsing.go` and `lexerState.go`.

use super::ParseError;
use super::gotime::try_parse_time;

/// Token kinds, as govaluate's `TokenKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Prefix,
    Numeric,
    Boolean,
    Str,
    Pattern,
    Time,
    Variable,
    Accessor,
    Comparator,
    LogicalOp,
    Modifier,
    Clause,
    ClauseClose,
    Ternary,
    Separator,
}

/// A token's payload.
#[derive(Debug, Clone)]
pub(crate) enum TokVal {
    Num(f64),
    Bool(bool),
    /// String literal, variable name or operator symbol.
    Text(String),
    /// Dotted accessor such as `a.B`, split on the dots.
    Path(Vec<String>),
    /// Regex compiled at parse time (string literal right after `=~` / `!~`).
    Regex(regex::Regex, String),
    None,
}

/// One token with its source position (0-based character offset) and source text.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: Kind,
    pub value: TokVal,
    pub pos: usize,
    pub text: String,
}

impl Token {
    /// The operator symbol of an operator token.
    pub fn symbol(&self) -> Option<&str> {
        match &self.value {
            TokVal::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Expressions longer than this are refused (the planner and evaluator recurse per token).
const MAX_TOKENS: usize = 2000;
/// Parentheses nested deeper than this are refused, for the same reason.
const MAX_NESTING: usize = 100;

const PREFIX: [&str; 3] = ["-", "!", "~"];
const MODIFIERS: [&str; 11] = ["+", "-", "*", "/", "%", "**", "&", "|", "^", ">>", "<<"];
const LOGICAL: [&str; 2] = ["&&", "||"];
const COMPARATORS: [&str; 9] = ["==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"];
const TERNARY: [&str; 3] = ["?", ":", "??"];

/// Kinds that may follow a token of kind `state` (`None` = start of expression).
fn next_kinds(state: Option<Kind>) -> &'static [Kind] {
    use Kind::*;
    const VALUE_NEXT: &[Kind] = &[
        Modifier,
        Comparator,
        LogicalOp,
        ClauseClose,
        Ternary,
        Separator,
    ];
    match state {
        None => &[
            Prefix, Numeric, Boolean, Variable, Pattern, Accessor, Str, Time, Clause,
        ],
        Some(Clause) => &[
            Prefix,
            Numeric,
            Boolean,
            Variable,
            Pattern,
            Accessor,
            Str,
            Time,
            Clause,
            ClauseClose,
        ],
        Some(ClauseClose) => &[
            Comparator,
            Modifier,
            Numeric,
            Boolean,
            Variable,
            Str,
            Pattern,
            Time,
            Clause,
            ClauseClose,
            LogicalOp,
            Ternary,
            Separator,
        ],
        Some(Numeric | Boolean | Str | Variable) => VALUE_NEXT,
        Some(Time | Pattern) => &[Modifier, Comparator, LogicalOp, ClauseClose, Separator],
        Some(Modifier) => &[
            Prefix,
            Numeric,
            Variable,
            Accessor,
            Str,
            Boolean,
            Clause,
            ClauseClose,
        ],
        Some(Comparator) => &[
            Prefix,
            Numeric,
            Boolean,
            Variable,
            Accessor,
            Str,
            Time,
            Clause,
            ClauseClose,
            Pattern,
        ],
        Some(LogicalOp) => &[
            Prefix,
            Numeric,
            Boolean,
            Variable,
            Accessor,
            Str,
            Time,
            Clause,
            ClauseClose,
        ],
        Some(Prefix) => &[Numeric, Boolean, Variable, Accessor, Clause, ClauseClose],
        Some(Ternary) => &[
            Prefix, Numeric, Boolean, Str, Time, Variable, Accessor, Clause, Separator,
        ],
        Some(Accessor) => &[
            Clause,
            Modifier,
            Comparator,
            LogicalOp,
            ClauseClose,
            Ternary,
            Separator,
        ],
        Some(Separator) => &[
            Prefix, Numeric, Boolean, Str, Time, Variable, Accessor, Clause,
        ],
    }
}

/// Whether an expression may end after a token of kind `state`.
fn can_end(state: Option<Kind>) -> bool {
    use Kind::*;
    matches!(
        state,
        Some(ClauseClose | Numeric | Boolean | Str | Time | Pattern | Variable | Accessor)
    )
}

/// Splits `source` into tokens and checks their order, balance and size.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, ParseError> {
    let mut stream = Stream {
        chars: source.chars().collect(),
        pos: 0,
    };
    let mut tokens: Vec<Token> = Vec::new();
    let mut state = None;
    while stream.can_read() {
        let Some(token) = read_token(&mut stream, state)? else {
            break;
        };
        state = Some(token.kind);
        tokens.push(token);
        if tokens.len() > MAX_TOKENS {
            return Err(ParseError::TooLong { max: MAX_TOKENS });
        }
    }
    check_balance(&tokens)?;
    check_order(&tokens)?;
    compile_patterns(&mut tokens)?;
    Ok(tokens)
}

fn check_balance(tokens: &[Token]) -> Result<(), ParseError> {
    let mut depth: i64 = 0;
    for token in tokens {
        match token.kind {
            Kind::Clause => depth += 1,
            Kind::ClauseClose => depth -= 1,
            _ => {}
        }
        if depth > MAX_NESTING as i64 {
            return Err(ParseError::TooDeep { max: MAX_NESTING });
        }
    }
    if depth != 0 {
        return Err(ParseError::Unbalanced);
    }
    Ok(())
}

fn check_order(tokens: &[Token]) -> Result<(), ParseError> {
    let mut state: Option<&Token> = None;
    for token in tokens {
        if !next_kinds(state.map(|t| t.kind)).contains(&token.kind) {
            if let Some(prev) =
                state.filter(|p| p.kind == Kind::Variable && token.kind == Kind::Clause)
            {
                return Err(ParseError::UndefinedFunction {
                    name: prev.text.clone(),
                    position: prev.pos,
                });
            }
            return Err(ParseError::UnexpectedToken {
                token: token.text.clone(),
                position: token.pos,
            });
        }
        state = Some(token);
    }
    match state {
        None => Err(ParseError::Empty),
        Some(last) if !can_end(Some(last.kind)) => Err(ParseError::UnexpectedEnd),
        Some(_) => Ok(()),
    }
}

/// govaluate's `optimizeTokens`: a string literal right after `=~`/`!~` is compiled now.
fn compile_patterns(tokens: &mut [Token]) -> Result<(), ParseError> {
    for i in 1..tokens.len() {
        let after_regex_op = tokens[i - 1].kind == Kind::Comparator
            && matches!(tokens[i - 1].symbol(), Some("=~" | "!~"));
        if !after_regex_op || tokens[i].kind != Kind::Str {
            continue;
        }
        let TokVal::Text(pattern) = &tokens[i].value else {
            continue;
        };
        let re = super::gore::compile(pattern).map_err(|e| ParseError::BadRegex {
            pattern: pattern.clone(),
            message: e.to_string(),
        })?;
        tokens[i].value = TokVal::Regex(re, pattern.clone());
        tokens[i].kind = Kind::Pattern;
    }
    Ok(())
}

/// A rewindable character stream (govaluate's `lexerStream`).
struct Stream {
    chars: Vec<char>,
    pos: usize,
}

impl Stream {
    fn can_read(&self) -> bool {
        self.pos < self.chars.len()
    }
    fn read(&mut self) -> char {
        let c = self.chars[self.pos];
        self.pos += 1;
        c
    }
    fn back(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }
    fn forward(&mut self) {
        self.pos = (self.pos + 1).min(self.chars.len());
    }
    fn text(&self, start: usize) -> String {
        self.chars[start..self.pos.min(self.chars.len())]
            .iter()
            .collect()
    }
}

/// Reads the next token; `Ok(None)` when only whitespace is left.
fn read_token(stream: &mut Stream, state: Option<Kind>) -> Result<Option<Token>, ParseError> {
    while stream.can_read() {
        let start = stream.pos;
        let c = stream.read();
        if c.is_whitespace() {
            continue;
        }
        let (kind, value) = if is_numeric(c) {
            read_number(stream, c, start)?
        } else if c == ',' {
            (Kind::Separator, TokVal::Text(",".into()))
        } else if c == '[' {
            let (name, closed) = read_until(stream, true, false, |c| c != ']', start)?;
            if !closed {
                return Err(ParseError::UnclosedBracket { position: start });
            }
            stream.forward();
            (Kind::Variable, TokVal::Text(name))
        } else if c.is_alphabetic() {
            read_word(stream, start)?
        } else if is_quote(c) {
            read_string(stream, start)?
        } else if c == '(' {
            (Kind::Clause, TokVal::None)
        } else if c == ')' {
            (Kind::ClauseClose, TokVal::None)
        } else {
            read_symbol(stream, state, start)?
        };
        let text = stream.text(start).trim_end().to_string();
        return Ok(Some(Token {
            kind,
            value,
            pos: start,
            text,
        }));
    }
    Ok(None)
}

fn read_number(
    stream: &mut Stream,
    first: char,
    start: usize,
) -> Result<(Kind, TokVal), ParseError> {
    if first == '0' && stream.can_read() {
        let next = stream.read();
        if next == 'x' && stream.can_read() {
            let (hex, _) = read_until(stream, false, true, |c| c.is_ascii_hexdigit(), start)?;
            let value = u64::from_str_radix(&hex, 16).map_err(|_| ParseError::BadNumber {
                text: format!("0x{hex}"),
                position: start,
            })?;
            return Ok((Kind::Numeric, TokVal::Num(value as f64)));
        }
        stream.back();
    }
    let text = read_word_until(stream, is_numeric, start)?;
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok((Kind::Numeric, TokVal::Num(n))),
        _ => Err(ParseError::BadNumber {
            text,
            position: start,
        }),
    }
}

fn read_word(stream: &mut Stream, start: usize) -> Result<(Kind, TokVal), ParseError> {
    let word = read_word_until(stream, is_variable_char, start)?;
    let mut kind = Kind::Variable;
    let mut value = TokVal::Text(word.clone());
    if word == "true" || word == "false" {
        kind = Kind::Boolean;
        value = TokVal::Bool(word == "true");
    }
    if word == "in" || word == "IN" {
        kind = Kind::Comparator;
        value = TokVal::Text("in".into());
    }
    if word.find('.').is_some_and(|i| i > 0) {
        if word.ends_with('.') {
            return Err(ParseError::BadName {
                name: word,
                position: start,
                reason: "it ends with a dot".into(),
            });
        }
        let parts: Vec<String> = word.split('.').map(str::to_string).collect();
        if let Some(field) = parts[1..]
            .iter()
            .find(|p| p.chars().next().is_some_and(char::is_lowercase))
        {
            let reason = format!(
                "dotted names are Go struct accessors and '{field}' is not an exported field; \
                 to use a parameter whose name contains dots write [{word}]"
            );
            return Err(ParseError::BadName {
                name: word,
                position: start,
                reason,
            });
        }
        kind = Kind::Accessor;
        value = TokVal::Path(parts);
    }
    Ok((kind, value))
}

fn read_string(stream: &mut Stream, start: usize) -> Result<(Kind, TokVal), ParseError> {
    let (text, closed) = read_until(stream, true, false, |c| !is_quote(c), start)?;
    if !closed {
        return Err(ParseError::UnclosedString { position: start });
    }
    stream.forward();
    Ok(match try_parse_time(&text) {
        Some(secs) => (Kind::Time, TokVal::Num(secs as f64)),
        None => (Kind::Str, TokVal::Text(text)),
    })
}

fn read_symbol(
    stream: &mut Stream,
    state: Option<Kind>,
    start: usize,
) -> Result<(Kind, TokVal), ParseError> {
    let symbol = read_word_until(stream, is_operator_char, start)?;
    let s = symbol.as_str();
    let kind = if next_kinds(state).contains(&Kind::Prefix) && PREFIX.contains(&s) {
        Kind::Prefix
    } else if MODIFIERS.contains(&s) {
        Kind::Modifier
    } else if LOGICAL.contains(&s) {
        Kind::LogicalOp
    } else if COMPARATORS.contains(&s) {
        Kind::Comparator
    } else if TERNARY.contains(&s) {
        Kind::Ternary
    } else {
        let token = if symbol.is_empty() {
            stream.chars[start].to_string()
        } else {
            symbol
        };
        return Err(ParseError::InvalidToken {
            token,
            position: start,
        });
    };
    Ok((kind, TokVal::Text(symbol)))
}

/// govaluate's `readTokenUntilFalse`: re-reads the current character, stops at whitespace.
fn read_word_until(
    stream: &mut Stream,
    cond: fn(char) -> bool,
    start: usize,
) -> Result<String, ParseError> {
    stream.back();
    read_until(stream, false, true, cond, start).map(|(s, _)| s)
}

/// govaluate's `readUntilFalse`: a backslash escapes the next character. Returns the text and
/// whether reading stopped on a character (`false` when the input ran out first).
fn read_until(
    stream: &mut Stream,
    include_ws: bool,
    break_ws: bool,
    cond: impl Fn(char) -> bool,
    start: usize,
) -> Result<(String, bool), ParseError> {
    let mut buf = String::new();
    while stream.can_read() {
        let c = stream.read();
        if c == '\\' {
            if !stream.can_read() {
                return Err(ParseError::DanglingEscape { position: start });
            }
            buf.push(stream.read());
            continue;
        }
        if c.is_whitespace() {
            if break_ws && !buf.is_empty() {
                return Ok((buf, true));
            }
            if !include_ws {
                continue;
            }
        }
        if cond(c) {
            buf.push(c);
        } else {
            stream.back();
            return Ok((buf, true));
        }
    }
    Ok((buf, false))
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

fn is_numeric(c: char) -> bool {
    is_digit(c) || c == '.'
}

fn is_quote(c: char) -> bool {
    c == '\'' || c == '"'
}

fn is_variable_char(c: char) -> bool {
    c.is_alphabetic() || is_digit(c) || c == '_' || c == '.'
}

fn is_operator_char(c: char) -> bool {
    !(is_digit(c) || c.is_alphabetic() || matches!(c, '(' | ')' | '[' | ']') || is_quote(c))
}
