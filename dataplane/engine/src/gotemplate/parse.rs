//! Parser producing the template tree, following Go's `text/template/parse`
//! grammar: actions, pipelines, commands, variables (`:=` and `=`), `if`/`else if`,
//! `range` (with `break`/`continue`), `with`, `define`/`template`/`block`, and
//! parse-time checks (unknown function, undefined variable).

use std::collections::HashMap;
use std::fmt;

use super::lex::{Item, Tok, lex};
use super::literal::{number, unquote};

/// A number constant with the interpretations Go's parser derives from its text.
#[derive(Clone, Debug)]
pub(crate) struct NumberLit {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// Syntax makes it a float64 when untyped (`1.5`, `1e3`, not `0x10` or `'a'`).
    pub float_syntax: bool,
}

/// An operand of a command.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Number(NumberLit),
    Str(String),
    /// `.A.B` (the field names).
    Field(Vec<String>),
    /// `$x.A.B` (variable name then field names).
    Variable(String, Vec<String>),
    /// Function name.
    Identifier(String),
    /// `(pipeline)`.
    Pipe(Box<Pipe>),
    /// `(pipeline).A.B` or `fn.A`.
    Chain(Box<Arg>, Vec<String>),
}

/// A command: operands, the first being the function or value.
#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
    /// Source offset of each operand (for error positions).
    pub arg_pos: Vec<usize>,
}

/// A pipeline with optional variable declarations.
#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

/// A node of the template tree.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Break,
    Continue,
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
}

/// Shared shape of `if`, `with` and `range`.
#[derive(Clone, Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// The parsed root plus `define`d templates.
#[derive(Clone, Debug)]
pub(crate) struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

/// Parse failure: message plus the byte offset it refers to.
pub(crate) struct ParseError {
    pub pos: usize,
    pub msg: String,
}

type PResult<T> = Result<T, ParseError>;

/// Deepest nesting of parentheses and control structures (protects the stack).
const MAX_NESTING: usize = 100;

/// How a list of nodes ended.
enum ListEnd {
    End,
    Else(usize),
}

struct Parser<'f> {
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    /// Position of the second field of the last chain (Go reports it for errors).
    chain_pos: Option<usize>,
    is_func: &'f dyn Fn(&str) -> bool,
    defines: HashMap<String, Vec<Node>>,
}

/// Parses template source; `is_func` tells which function names exist.
pub(crate) fn parse(src: &str, is_func: &dyn Fn(&str) -> bool) -> PResult<Tree> {
    let mut p = Parser {
        items: lex(src),
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        chain_pos: None,
        is_func,
        defines: HashMap::new(),
    };
    let mut root = Vec::new();
    loop {
        let it = p.next();
        match it.tok {
            Tok::Eof => break,
            Tok::LeftDelim if p.peek_non_space_keyword() == Some("define") => p.define()?,
            Tok::LeftDelim => {
                p.backup();
                match p.text_or_action()? {
                    Some(n) => root.push(n),
                    None => return Err(p.unexpected_end_else()),
                }
            }
            _ => {
                p.backup();
                match p.text_or_action()? {
                    Some(n) => root.push(n),
                    None => return Err(p.unexpected_end_else()),
                }
            }
        }
    }
    Ok(Tree {
        root,
        defines: p.defines,
    })
}

impl Parser<'_> {
    fn next(&mut self) -> Item {
        let it = self.items.get(self.i).cloned().unwrap_or(Item {
            tok: Tok::Eof,
            pos: 0,
        });
        if self.i < self.items.len() {
            self.i += 1;
        }
        it
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn peek(&self) -> Tok {
        self.items.get(self.i).map_or(Tok::Eof, |it| it.tok.clone())
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.tok != Tok::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Tok {
        let it = self.next_non_space();
        self.backup();
        it.tok
    }

    fn peek_non_space_keyword(&mut self) -> Option<&'static str> {
        let save = self.i;
        let t = self.next_non_space().tok;
        self.i = save;
        match t {
            Tok::Keyword(k) => Some(k),
            _ => None,
        }
    }

    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            pos,
            msg: msg.into(),
        })
    }

    fn unexpected<T>(&self, it: &Item, context: &str) -> PResult<T> {
        if let Tok::Error(msg) = &it.tok {
            return self.err(it.pos, msg.clone());
        }
        self.err(
            it.pos,
            format!("unexpected {} in {context}", describe(&it.tok)),
        )
    }

    fn unexpected_end_else(&self) -> ParseError {
        let it = self.items.get(self.i.saturating_sub(1));
        let pos = it.map_or(0, |i| i.pos);
        let word = match it.map(|i| &i.tok) {
            Some(Tok::Keyword("else")) => "{{else}}",
            _ => "{{end}}",
        };
        ParseError {
            pos,
            msg: format!("unexpected {word}"),
        }
    }

    fn expect(&mut self, want: &Tok, context: &str) -> PResult<Item> {
        let it = self.next_non_space();
        if &it.tok != want {
            return self.unexpected(&it, context);
        }
        Ok(it)
    }

    /// Parses text or an action; `None` when it met `{{end}}` or `{{else}}`
    /// (the keyword item is consumed and left in `items[i-1]`).
    fn text_or_action(&mut self) -> PResult<Option<Node>> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Text(t) => Ok(Some(Node::Text(t))),
            Tok::LeftDelim => self.action(),
            Tok::Error(m) => self.err(it.pos, m),
            _ => self.unexpected(&it, "input"),
        }
    }

    fn action(&mut self) -> PResult<Option<Node>> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Keyword("block") => self.block(it.pos).map(Some),
            Tok::Keyword("break") => self.break_continue(it.pos, true).map(Some),
            Tok::Keyword("continue") => self.break_continue(it.pos, false).map(Some),
            Tok::Keyword("else") | Tok::Keyword("end") => Ok(None),
            Tok::Keyword("if") => self.control("if").map(|b| Some(Node::If(b))),
            Tok::Keyword("range") => {
                self.range_depth += 1;
                let b = self.control("range");
                self.range_depth -= 1;
                b.map(|b| Some(Node::Range(b)))
            }
            Tok::Keyword("template") => self.template_call(it.pos).map(Some),
            Tok::Keyword("with") => self.control("with").map(|b| Some(Node::With(b))),
            Tok::Keyword("define") => {
                self.err(it.pos, "unexpected define: only allowed at top level")
            }
            _ => {
                self.backup();
                let pipe = self.pipeline("command", &Tok::RightDelim)?;
                Ok(Some(Node::Action(pipe)))
            }
        }
    }

    fn break_continue(&mut self, pos: usize, is_break: bool) -> PResult<Node> {
        let word = if is_break { "break" } else { "continue" };
        let it = self.next_non_space();
        if it.tok != Tok::RightDelim {
            return self.unexpected(&it, &format!("{{{{{word}}}}}"));
        }
        if self.range_depth == 0 {
            return self.err(pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
        }
        Ok(if is_break {
            Node::Break
        } else {
            Node::Continue
        })
    }

    /// Parses the list after a control pipeline until `{{end}}` or `{{else}}`.
    fn item_list(&mut self, context: &str) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        loop {
            if self.peek_non_space() == Tok::Eof {
                let pos = self.items.last().map_or(0, |i| i.pos);
                return self.err(pos, format!("unexpected EOF in {context}"));
            }
            match self.text_or_action()? {
                Some(n) => list.push(n),
                None => {
                    let kw = self.items.get(self.i - 1).cloned();
                    let Some(kw) = kw else {
                        return self.err(0, "internal error");
                    };
                    if kw.tok == Tok::Keyword("end") {
                        self.expect(&Tok::RightDelim, "end")?;
                        return Ok((list, ListEnd::End));
                    }
                    return Ok((list, ListEnd::Else(kw.pos)));
                }
            }
        }
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        if self.depth >= MAX_NESTING {
            let pos = self.peek_non_space_pos();
            return self.err(pos, format!("max nesting depth {MAX_NESTING} exceeded"));
        }
        let mark = self.vars.len();
        self.depth += 1;
        let result = self.control_inner(context);
        self.depth -= 1;
        self.vars.truncate(mark);
        result
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        let (list, end) = self.item_list(context)?;
        let else_list = match end {
            ListEnd::End => None,
            ListEnd::Else(pos) => Some(self.else_part(context, pos)?),
        };
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    /// After `{{else`: either `}}` and a list, or `if`/`with` chaining.
    fn else_part(&mut self, context: &str, pos: usize) -> PResult<Vec<Node>> {
        let chained = match self.peek_non_space() {
            Tok::Keyword("if") if context == "if" => Some("if"),
            Tok::Keyword("with") if context == "with" => Some("with"),
            _ => None,
        };
        if let Some(kw) = chained {
            self.next_non_space();
            let b = self.control(kw)?;
            let node = if kw == "if" {
                Node::If(b)
            } else {
                Node::With(b)
            };
            return Ok(vec![node]);
        }
        self.expect(&Tok::RightDelim, "else")?;
        let (list, end) = self.item_list(context)?;
        if let ListEnd::Else(p) = end {
            let _ = pos;
            return self.err(p, format!("expected end; found {{{{else}}}} in {context}"));
        }
        Ok(list)
    }

    fn string_arg(&mut self, context: &str) -> PResult<String> {
        let it = self.next_non_space();
        match &it.tok {
            Tok::Str(raw) | Tok::RawStr(raw) => unquote(raw).ok_or(ParseError {
                pos: it.pos,
                msg: "invalid syntax".into(),
            }),
            _ => self.unexpected(&it, context),
        }
    }

    fn template_call(&mut self, _kw: usize) -> PResult<Node> {
        let pos = self.peek_non_space_pos();
        let name = self.string_arg("template clause")?;
        let pipe = if self.peek_non_space() == Tok::RightDelim {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline("template clause", &Tok::RightDelim)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn define(&mut self) -> PResult<()> {
        self.next_non_space();
        let name = self.string_arg("define clause")?;
        self.expect(&Tok::RightDelim, "define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let body = self.item_list("define");
        self.vars = saved;
        match body? {
            (list, ListEnd::End) => {
                self.defines.insert(name, list);
                Ok(())
            }
            (_, ListEnd::Else(p)) => self.err(p, "unexpected {{else}} in define"),
        }
    }

    fn block(&mut self, pos: usize) -> PResult<Node> {
        let name = self.string_arg("block clause")?;
        let pipe = self.pipeline("block clause", &Tok::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let body = self.item_list("block");
        self.vars = saved;
        match body? {
            (list, ListEnd::End) => {
                self.defines.insert(name.clone(), list);
                Ok(Node::Template {
                    pos,
                    name,
                    pipe: Some(pipe),
                })
            }
            (_, ListEnd::Else(p)) => self.err(p, "unexpected {{else}} in block"),
        }
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        if self.depth >= MAX_NESTING {
            let pos = self.peek_non_space_pos();
            return self.err(pos, format!("max nesting depth {MAX_NESTING} exceeded"));
        }
        self.depth += 1;
        let r = self.pipeline_inner(context, end);
        self.depth -= 1;
        r
    }

    fn pipeline_inner(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        let mut pipe = Pipe {
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let it = self.next_non_space();
            if &it.tok == end {
                return self.check_pipeline(pipe, context, it.pos);
            }
            match it.tok {
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Keyword("nil")
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&it, context),
            }
        }
    }

    fn peek_non_space_pos(&mut self) -> usize {
        let it = self.next_non_space();
        self.backup();
        it.pos
    }

    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> PResult<()> {
        let save = self.i;
        let first = self.next_non_space();
        let Tok::Variable(name) = first.tok else {
            self.i = save;
            return Ok(());
        };
        let after = self.next_non_space();
        match after.tok {
            Tok::Declare | Tok::Assign => {
                pipe.is_assign = after.tok == Tok::Assign;
                pipe.decl.push(name.clone());
                self.vars.push(name);
            }
            Tok::Char(',') if context == "range" => {
                pipe.decl.push(name.clone());
                self.vars.push(name);
                let second = self.next_non_space();
                let Tok::Variable(name2) = second.tok else {
                    return self.err(
                        second.pos,
                        format!(
                            "range can only initialize variables; found {}",
                            describe(&second.tok)
                        ),
                    );
                };
                let op = self.next_non_space();
                if op.tok == Tok::Char(',') {
                    return self.err(op.pos, "too many declarations in range");
                }
                if !matches!(op.tok, Tok::Declare | Tok::Assign) {
                    return self.err(
                        op.pos,
                        format!(
                            "range can only initialize variables; found {}",
                            describe(&op.tok)
                        ),
                    );
                }
                pipe.is_assign = op.tok == Tok::Assign;
                pipe.decl.push(name2.clone());
                self.vars.push(name2);
            }
            Tok::Char(',') => {
                return self.err(after.pos, format!("too many declarations in {context}"));
            }
            _ => self.i = save,
        }
        Ok(())
    }

    fn check_pipeline(&self, pipe: Pipe, context: &str, pos: usize) -> PResult<Pipe> {
        if pipe.cmds.is_empty() {
            return self.err(pos, format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Number(_) | Arg::Str(_)
            ) {
                return self.err(
                    c.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(pipe)
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space_pos();
        let mut args = Vec::new();
        let mut arg_pos = Vec::new();
        loop {
            self.peek_non_space();
            let mut at = self.peek_non_space_pos();
            if let Some(op) = self.operand()? {
                if let (Arg::Field(f), Some(second)) = (&op, self.chain_pos.take())
                    && f.len() > 1
                {
                    at = second;
                }
                args.push(op);
                arg_pos.push(at);
            }
            let it = self.next();
            match it.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return self.unexpected(&it, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.err(pos, "empty command");
        }
        Ok(Command { pos, args, arg_pos })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        self.chain_pos = None;
        if let Tok::Field(_) = self.peek() {
            self.chain_pos = self.items.get(self.i).map(|it| it.pos);
            let mut fields = Vec::new();
            while let Tok::Field(f) = self.peek() {
                self.next();
                fields.push(f);
            }
            return match term {
                Arg::Field(mut f) => {
                    f.extend(fields);
                    Ok(Some(Arg::Field(f)))
                }
                Arg::Variable(v, mut f) => {
                    f.extend(fields);
                    Ok(Some(Arg::Variable(v, f)))
                }
                Arg::Bool(_) | Arg::Str(_) | Arg::Number(_) | Arg::Nil | Arg::Dot => {
                    let pos = self.items.get(self.i - 1).map_or(0, |i| i.pos);
                    self.err(
                        pos,
                        format!("unexpected . after term {}", quote_go(&term.to_string())),
                    )
                }
                other => Ok(Some(Arg::Chain(Box::new(other), fields))),
            };
        }
        Ok(Some(term))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let it = self.next_non_space();
        let arg = match it.tok {
            Tok::Ident(name) => {
                if !(self.is_func)(&name) {
                    return self.err(it.pos, format!("function {name:?} not defined"));
                }
                Arg::Identifier(name)
            }
            Tok::Dot => Arg::Dot,
            Tok::Keyword("nil") => Arg::Nil,
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.err(it.pos, format!("undefined variable {name:?}"));
                }
                Arg::Variable(name, Vec::new())
            }
            Tok::Field(f) => Arg::Field(vec![f]),
            Tok::Bool(b) => Arg::Bool(b),
            Tok::CharConst(raw) | Tok::Number(raw) => {
                Arg::Number(number(&raw).map_err(|msg| ParseError { pos: it.pos, msg })?)
            }
            Tok::LeftParen => {
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RightParen)?;
                Arg::Pipe(Box::new(pipe))
            }
            Tok::Str(raw) | Tok::RawStr(raw) => Arg::Str(unquote(&raw).ok_or(ParseError {
                pos: it.pos,
                msg: "invalid syntax".into(),
            })?),
            Tok::Error(m) => return self.err(it.pos, m),
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }
}

fn describe(t: &Tok) -> String {
    let val: String = match t {
        Tok::Eof => return "EOF".into(),
        Tok::Error(e) => return e.clone(),
        Tok::Keyword(k) => return format!("<{k}>"),
        Tok::Dot => return "<.>".into(),
        Tok::RightDelim => "}}".into(),
        Tok::LeftDelim => "{{".into(),
        Tok::RightParen => ")".into(),
        Tok::LeftParen => "(".into(),
        Tok::Pipe => "|".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::Space => " ".into(),
        Tok::Text(s)
        | Tok::Ident(s)
        | Tok::Number(s)
        | Tok::Str(s)
        | Tok::RawStr(s)
        | Tok::CharConst(s)
        | Tok::Variable(s) => s.clone(),
        Tok::Field(f) => format!(".{f}"),
        Tok::Bool(b) => b.to_string(),
        Tok::Char(c) => c.to_string(),
    };
    if val.chars().count() > 10 {
        let head: String = val.chars().take(10).collect();
        return format!("{}...", quote_go(&head));
    }
    quote_go(&val)
}

fn quote_go(s: &str) -> String {
    super::printf::go_quote(s)
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Dot => f.write_str("."),
            Arg::Nil => f.write_str("nil"),
            Arg::Bool(b) => write!(f, "{b}"),
            Arg::Number(n) => f.write_str(&n.text),
            Arg::Str(s) => f.write_str(&quote_go(s)),
            Arg::Field(fs) => fs.iter().try_for_each(|x| write!(f, ".{x}")),
            Arg::Variable(v, fs) => {
                f.write_str(v)?;
                fs.iter().try_for_each(|x| write!(f, ".{x}"))
            }
            Arg::Identifier(n) => f.write_str(n),
            Arg::Pipe(p) => write!(f, "({p})"),
            Arg::Chain(a, fs) => {
                match a.as_ref() {
                    Arg::Pipe(_) => write!(f, "{a}")?,
                    other => write!(f, "{other}")?,
                }
                fs.iter().try_for_each(|x| write!(f, ".{x}"))
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
