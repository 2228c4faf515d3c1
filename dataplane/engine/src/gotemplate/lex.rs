//! Lexer for Go `text/template` source (delimiters `{{` and `}}`), following the
//! token rules of Go's `text/template/parse` lexer, including trim markers
//! (`{{- ` and ` -}}`) and comments (`{{/* ... */}}`).

/// Kinds of lexical items.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// Plain text outside actions.
    Text(String),
    /// `{{`.
    LeftDelim,
    /// `}}`.
    RightDelim,
    /// Run of spaces inside an action.
    Space,
    /// Function name or keyword-like identifier.
    Ident(String),
    /// `.Name`.
    Field(String),
    /// `$name` or `$`.
    Variable(String),
    /// Character constant, raw text including quotes.
    CharConst(String),
    /// Number, raw text.
    Number(String),
    /// Quoted string, raw text including quotes.
    Str(String),
    /// Raw string, raw text including back quotes.
    RawStr(String),
    /// `true` / `false`.
    Bool(bool),
    /// Keyword (`if`, `else`, `end`, `range`, `with`, `define`, `template`, `block`,
    /// `break`, `continue`, `nil`).
    Keyword(&'static str),
    /// `.` alone.
    Dot,
    /// `|`.
    Pipe,
    /// `(`.
    LeftParen,
    /// `)`.
    RightParen,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// Other printable ASCII character (e.g. `,`).
    Char(char),
    /// End of input.
    Eof,
    /// Lexical error message.
    Error(String),
}

/// One lexical item with its byte offset in the source.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub tok: Tok,
    pub pos: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    items: Vec<Item>,
    paren_depth: i32,
}

/// Splits the source into items; stops at the first error (emitted as `Tok::Error`).
pub(crate) fn lex(src: &str) -> Vec<Item> {
    let mut l = Lexer {
        src,
        pos: 0,
        items: Vec::new(),
        paren_depth: 0,
    };
    l.run();
    l.items
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn emit(&mut self, tok: Tok, start: usize) {
        self.items.push(Item { tok, pos: start });
    }

    fn error(&mut self, msg: String) {
        let pos = self.pos;
        self.emit(Tok::Error(msg), pos);
    }

    fn run(&mut self) {
        loop {
            let Some(idx) = self.rest().find("{{") else {
                if self.pos < self.src.len() {
                    let t = self.rest().to_string();
                    self.emit(Tok::Text(t), self.pos);
                }
                let end = self.src.len();
                self.emit(Tok::Eof, end);
                return;
            };
            let delim = self.pos + idx;
            let after = &self.src[delim + 2..];
            let trim_left = has_left_trim(after);
            let mut text = &self.src[self.pos..delim];
            if trim_left {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), self.pos);
            }
            self.pos = delim + 2;
            let marker = if trim_left { 2 } else { 0 };
            if self.src[self.pos + marker..].starts_with("/*") {
                self.pos += marker;
                if !self.comment() {
                    return;
                }
                continue;
            }
            self.emit(Tok::LeftDelim, delim);
            self.pos += marker;
            self.paren_depth = 0;
            if !self.inside_action() {
                return;
            }
        }
    }

    /// Where the action closes: `Some(trim)` when at `}}` or ` -}}`.
    fn at_right_delim(&self) -> Option<bool> {
        let r = self.rest();
        if has_right_trim(r) && r[2..].starts_with("}}") {
            return Some(true);
        }
        r.starts_with("}}").then_some(false)
    }

    fn comment(&mut self) -> bool {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            self.error("unclosed comment".into());
            return false;
        };
        self.pos += x + 2;
        let Some(trim) = self.at_right_delim() else {
            self.error("comment ends before closing delimiter".into());
            return false;
        };
        self.pos += if trim { 4 } else { 2 };
        if trim {
            self.skip_leading_space();
        }
        true
    }

    fn skip_leading_space(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches(is_space).len();
    }

    /// Lexes one action body; returns false after an error.
    fn inside_action(&mut self) -> bool {
        loop {
            if let Some(trim) = self.at_right_delim() {
                if self.paren_depth != 0 {
                    self.error("unclosed left paren".into());
                    return false;
                }
                let start = self.pos + if trim { 2 } else { 0 };
                self.pos = start + 2;
                self.emit(Tok::RightDelim, start);
                if trim {
                    self.skip_leading_space();
                }
                return true;
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                self.error("unclosed action".into());
                return false;
            };
            if !self.action_token(c, start) {
                return false;
            }
        }
    }

    fn action_token(&mut self, c: char, start: usize) -> bool {
        match c {
            c if is_space(c) => self.space(),
            '=' => self.single(Tok::Assign, start),
            ':' => {
                if !self.rest().starts_with(":=") {
                    self.pos += 1;
                    self.error("expected :=".into());
                    return false;
                }
                self.pos += 2;
                self.emit(Tok::Declare, start);
            }
            '|' => self.single(Tok::Pipe, start),
            '"' => return self.quote(start),
            '`' => return self.raw_quote(start),
            '\'' => return self.char_const(start),
            '$' => {
                self.pos += 1;
                return self.field_or_var(start, true);
            }
            '.' => {
                let next = self.src[self.pos + 1..].chars().next();
                if next.is_some_and(|n| n.is_ascii_digit()) {
                    return self.number(start);
                }
                self.pos += 1;
                return self.field_or_var(start, false);
            }
            '+' | '-' | '0'..='9' => return self.number(start),
            '(' => {
                self.paren_depth += 1;
                self.single(Tok::LeftParen, start);
            }
            ')' => {
                self.paren_depth -= 1;
                self.single(Tok::RightParen, start);
                if self.paren_depth < 0 {
                    self.error("unexpected right paren".into());
                    return false;
                }
            }
            c if is_alnum(c) => return self.identifier(start),
            c if c.is_ascii_graphic() => self.single(Tok::Char(c), start),
            c => {
                self.error(format!("unrecognized character in action: {}", go_rune(c)));
                return false;
            }
        }
        true
    }

    fn single(&mut self, tok: Tok, start: usize) {
        self.pos += 1;
        self.emit(tok, start);
    }

    fn space(&mut self) {
        let start = self.pos;
        let r = self.rest();
        let n = r.len() - r.trim_start_matches(is_space).len();
        self.pos += n;
        // A space directly followed by "-}}" belongs to the trim marker.
        let before = &self.src[self.pos - 1..];
        if has_right_trim(before) && before[2..].starts_with("}}") {
            self.pos -= 1;
            if n == 1 {
                return;
            }
        }
        self.emit(Tok::Space, start);
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with("}}"),
        }
    }

    fn scan_word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.src[start..self.pos]
    }

    fn bad_char(&mut self) -> bool {
        let c = self.peek().unwrap_or(' ');
        self.error(format!("bad character {}", go_rune(c)));
        false
    }

    fn field_or_var(&mut self, start: usize, var: bool) -> bool {
        if self.at_terminator() {
            self.emit(
                if var {
                    Tok::Variable("$".into())
                } else {
                    Tok::Dot
                },
                start,
            );
            return true;
        }
        let word = self.scan_word();
        if !self.at_terminator() {
            return self.bad_char();
        }
        let tok = if var {
            Tok::Variable(format!("${word}"))
        } else {
            Tok::Field(word.to_string())
        };
        self.emit(tok, start);
        true
    }

    fn identifier(&mut self, start: usize) -> bool {
        let word = self.scan_word();
        if !self.at_terminator() {
            return self.bad_char();
        }
        let tok = match word {
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            w => match KEYWORDS.iter().find(|k| **k == w) {
                Some(k) => Tok::Keyword(k),
                None => Tok::Ident(w.to_string()),
            },
        };
        self.emit(tok, start);
        true
    }

    fn quote(&mut self, start: usize) -> bool {
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '\n')) | None => break,
                    Some(_) => {}
                },
                '\n' => break,
                '"' => {
                    self.pos = start + 1 + i + 1;
                    self.emit(Tok::Str(self.src[start..self.pos].to_string()), start);
                    return true;
                }
                _ => {}
            }
        }
        self.error("unterminated quoted string".into());
        false
    }

    fn raw_quote(&mut self, start: usize) -> bool {
        match self.src[start + 1..].find('`') {
            Some(i) => {
                self.pos = start + 1 + i + 1;
                self.emit(Tok::RawStr(self.src[start..self.pos].to_string()), start);
                true
            }
            None => {
                self.error("unterminated raw quoted string".into());
                false
            }
        }
    }

    fn char_const(&mut self, start: usize) -> bool {
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '\n')) | None => break,
                    Some(_) => {}
                },
                '\n' => break,
                '\'' => {
                    self.pos = start + 1 + i + 1;
                    self.emit(Tok::CharConst(self.src[start..self.pos].to_string()), start);
                    return true;
                }
                _ => {}
            }
        }
        self.error("unterminated character constant".into());
        false
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn number(&mut self, start: usize) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            if let Some(c) = self.peek() {
                self.pos += c.len_utf8();
            }
            self.error(format!(
                "bad number syntax: {:?}",
                &self.src[start..self.pos]
            ));
            return false;
        }
        self.emit(Tok::Number(self.src[start..self.pos].to_string()), start);
        true
    }
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Go's `%#U` rendering of a rune: `U+0021 '!'`.
pub(crate) fn go_rune(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}
