//! Executor: walks the tree with Go `text/template` semantics (missing keys give
//! `<no value>`, `and`/`or` short-circuit, Go's argument type checks, sorted map
//! ranges, `break`/`continue`, variable scoping).

use std::collections::HashMap;

use super::funcs::{self, FuncDef, Ty};
use super::parse::{Arg, Branch, Command, Node, NumberLit, Pipe};
use super::value::{MAX_PRINT, Value, sprint};

/// Maximum nesting of `{{template}}` calls.
const MAX_TEMPLATE_DEPTH: usize = 200;

/// An execution failure: message and the source offset of the failing command.
pub(crate) struct ExecError {
    pub pos: usize,
    pub context: String,
    pub msg: String,
}

type R<T> = Result<T, ExecError>;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State<'a> {
    defines: &'a HashMap<String, Vec<Node>>,
    pub out: String,
    vars: Vec<(String, Value)>,
    depth: usize,
    pos: usize,
    context: String,
}

impl<'a> State<'a> {
    pub(crate) fn new(defines: &'a HashMap<String, Vec<Node>>, data: Value) -> Self {
        State {
            defines,
            out: String::new(),
            vars: vec![("$".into(), data)],
            depth: 0,
            pos: 0,
            context: String::new(),
        }
    }

    fn fail<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(ExecError {
            pos: self.pos,
            context: self.context.clone(),
            msg: msg.into(),
        })
    }

    fn at_arg(&mut self, arg_pos: &[usize], i: usize, node: &Arg) {
        if let Some(p) = arg_pos.get(i) {
            self.pos = *p;
        }
        self.context = node.to_string();
    }

    fn at_cmd(&mut self, cmd: &Command) {
        self.pos = cmd.arg_pos.first().copied().unwrap_or(cmd.pos);
        self.context = cmd.to_string();
    }

    /// Runs a list of nodes with the given dot.
    pub(crate) fn walk_list(&mut self, dot: &Value, list: &[Node]) -> R<()> {
        match self.walk_nodes(dot, list)? {
            Flow::Normal => Ok(()),
            Flow::Break | Flow::Continue => self.fail("break or continue outside range"),
        }
    }

    fn walk_nodes(&mut self, dot: &Value, list: &[Node]) -> R<Flow> {
        for n in list {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> R<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.out.push_str(&sprint(&v));
                }
            }
            Node::If(b) => return self.walk_if_with(dot, b, false),
            Node::With(b) => return self.walk_if_with(dot, b, true),
            Node::Range(b) => return self.walk_range(dot, b),
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                self.walk_template(dot, *pos, name, pipe.as_ref())?
            }
        }
        if self.out.len() > MAX_PRINT {
            return self.fail(format!("template output exceeds {MAX_PRINT} bytes"));
        }
        Ok(Flow::Normal)
    }

    fn walk_if_with(&mut self, dot: &Value, b: &Branch, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if v.truthy() {
            let d = if with { v } else { dot.clone() };
            self.walk_nodes(&d, &b.list)
        } else if let Some(e) = &b.else_list {
            self.walk_nodes(dot, e)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        flow
    }

    fn walk_range(&mut self, dot: &Value, b: &Branch) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::Int(i as i64), e.clone()))
                .collect(),
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, e)| (Value::str(k.clone()), e.clone()))
                .collect(),
            Value::Int(n) | Value::Int64(n) => {
                if b.pipe.decl.len() > 1 {
                    return self.fail(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Missing | Value::Nil => Vec::new(),
            other => return self.fail(format!("range can't iterate over {}", sprint(other))),
        };
        let inner_mark = self.vars.len();
        for (k, e) in &items {
            let n = b.pipe.decl.len();
            if n > 0 {
                self.vars[inner_mark - 1].1 = e.clone();
            }
            if n > 1 {
                self.vars[inner_mark - 2].1 = k.clone();
            }
            let flow = self.walk_nodes(e, &b.list);
            self.vars.truncate(inner_mark);
            if let Flow::Break = flow? {
                break;
            }
        }
        if items.is_empty()
            && let Some(else_list) = &b.else_list
        {
            let flow = self.walk_nodes(dot, else_list);
            self.vars.truncate(mark);
            return flow;
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn walk_template(&mut self, dot: &Value, pos: usize, name: &str, pipe: Option<&Pipe>) -> R<()> {
        self.pos = pos;
        self.context = format!("{{{{template {name:?}}}}}");
        let Some(body) = self.defines.get(name) else {
            return self.fail(format!("template {name:?} not defined"));
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return self.fail(format!(
                "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
            ));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Missing,
        };
        let saved = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        self.depth += 1;
        let r = self.walk_list(&new_dot, body);
        self.depth -= 1;
        self.vars = saved;
        r
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // Go digs a nil interface down to an invalid value: it prints <no value>.
            value = Some(if let Value::Nil = v {
                Value::Missing
            } else {
                v
            });
        }
        let value = value.unwrap_or(Value::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    fn not_a_function(&mut self, cmd_args: &[Arg], fin: &Option<Value>) -> R<()> {
        if cmd_args.len() > 1 || fin.is_some() {
            self.context = cmd_args[0].to_string();
            return self.fail(format!(
                "can't give argument to non-function {}",
                cmd_args[0]
            ));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Command, fin: Option<Value>) -> R<Value> {
        self.at_cmd(cmd);
        let args = &cmd.args;
        match &args[0] {
            Arg::Field(f) => return self.eval_field_chain(dot, dot.clone(), f, args, fin),
            Arg::Chain(node, f) => {
                let recv = self.eval_arg(dot, Ty::Any, node)?;
                let recv = if let Value::Nil = recv {
                    Value::Missing
                } else {
                    recv
                };
                self.at_cmd(cmd);
                return self.eval_field_chain(dot, recv, f, args, fin);
            }
            Arg::Identifier(name) => {
                return self.eval_function(dot, name, args, &cmd.arg_pos, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable(name, fields) => return self.eval_variable(dot, name, fields, args, fin),
            _ => {}
        }
        self.not_a_function(args, &fin)?;
        match &args[0] {
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => self.fail("nil is not a command"),
            Arg::Number(n) => self.ideal_constant(n),
            Arg::Str(s) => Ok(Value::str(s.clone())),
            other => self.fail(format!("can't evaluate command {other}")),
        }
    }

    fn ideal_constant(&self, n: &NumberLit) -> R<Value> {
        if n.float_syntax
            && let Some(f) = n.float
        {
            return Ok(Value::Float(f));
        }
        match (n.int, n.float) {
            (Some(i), _) => Ok(Value::Int(i)),
            (None, Some(_)) => self.fail(format!("{} overflows int", n.text)),
            _ => self.fail(format!("illegal number syntax: {}", n.text)),
        }
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        name: &str,
        fields: &[String],
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let v = self.var_value(name)?;
        if fields.is_empty() {
            self.not_a_function(args, &fin)?;
            return Ok(v);
        }
        self.eval_field_chain(dot, v, fields, args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        recv: Value,
        fields: &[String],
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let mut r = recv;
        let n = fields.len();
        for (i, f) in fields[..n - 1].iter().enumerate() {
            r = self.eval_field(dot, f, r, i > 0, &[], None)?;
        }
        self.eval_field(dot, &fields[n - 1], r, n > 1, args, fin)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        recv: Value,
        from_map: bool,
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let has_args = args.len() > 1 || fin.is_some();
        match &recv {
            Value::Missing => Ok(Value::Missing),
            Value::Nil => self.fail(format!("nil pointer evaluating interface {{}}.{name}")),
            Value::Map(m) => {
                if has_args {
                    return self.fail(format!("{name} is not a method but has arguments"));
                }
                Ok(m.borrow().get(name).cloned().unwrap_or(Value::Missing))
            }
            Value::Time(t) => {
                let extra = self.eval_method_args(dot, args, fin)?;
                super::sprig_time::time_method(t, name, &extra).map_err(|msg| ExecError {
                    pos: self.pos,
                    context: self.context.clone(),
                    msg,
                })
            }
            other => {
                // Values read out of a map are interface{}-typed in Go.
                let ty = if from_map {
                    "interface {}"
                } else {
                    other.type_name()
                };
                self.fail(format!("can't evaluate field {name} in type {ty}"))
            }
        }
    }

    fn eval_method_args(&mut self, dot: &Value, args: &[Arg], fin: Option<Value>) -> R<Vec<Value>> {
        let mut out = Vec::new();
        for a in args.iter().skip(1) {
            out.push(self.eval_arg(dot, Ty::Any, a)?);
        }
        out.extend(fin);
        Ok(out)
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        args: &[Arg],
        arg_pos: &[usize],
        fin: Option<Value>,
    ) -> R<Value> {
        if name == "and" || name == "or" {
            return self.eval_and_or(dot, name == "or", args, arg_pos, fin);
        }
        let Some(def) = funcs::lookup(name) else {
            return self.fail(format!("{name:?} is not a defined function"));
        };
        let argv = self.eval_call_args(dot, name, def, args, arg_pos, fin)?;
        (def.f)(&argv).map_err(|e| ExecError {
            pos: self.pos,
            context: self.context.clone(),
            msg: format!("error calling {name}: {e}"),
        })
    }

    fn eval_and_or(
        &mut self,
        dot: &Value,
        is_or: bool,
        args: &[Arg],
        arg_pos: &[usize],
        fin: Option<Value>,
    ) -> R<Value> {
        let name = if is_or { "or" } else { "and" };
        if args.len() < 2 && fin.is_none() {
            return self.fail(format!(
                "wrong number of args for {name}: want at least 1 got 0"
            ));
        }
        let mut v = Value::Missing;
        for (i, a) in args.iter().enumerate().skip(1) {
            self.at_arg(arg_pos, i, a);
            v = self.eval_arg(dot, Ty::Rv, a)?;
            if v.truthy() == is_or {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = self.validate(f, Ty::Rv)?;
        }
        Ok(v)
    }

    fn eval_call_args(
        &mut self,
        dot: &Value,
        name: &str,
        def: &FuncDef,
        args: &[Arg],
        arg_pos: &[usize],
        fin: Option<Value>,
    ) -> R<Vec<Value>> {
        let nodes = if args.is_empty() { args } else { &args[1..] };
        let num_in = nodes.len() + usize::from(fin.is_some());
        let num_fixed = def.params.len();
        if def.variadic.is_some() && num_in < num_fixed
            || def.variadic.is_none() && num_in != num_fixed
        {
            self.context = name.to_string();
        }
        match def.variadic {
            Some(_) if num_in < num_fixed => {
                return self.fail(format!(
                    "wrong number of args for {name}: want at least {num_fixed} got {}",
                    nodes.len()
                ));
            }
            None if num_in != num_fixed => {
                return self.fail(format!(
                    "wrong number of args for {name}: want {num_fixed} got {num_in}"
                ));
            }
            _ => {}
        }
        let at_cmd = (self.pos, self.context.clone());
        let mut argv = Vec::with_capacity(num_in);
        for (i, node) in nodes.iter().enumerate() {
            let ty = def
                .params
                .get(i)
                .copied()
                .or(def.variadic)
                .unwrap_or(Ty::Any);
            self.at_arg(arg_pos, i + 1, node);
            argv.push(self.eval_arg(dot, ty, node)?);
        }
        (self.pos, self.context) = at_cmd;
        if let Some(f) = fin {
            let ty = match def.variadic {
                Some(vt) if num_in > num_fixed => vt,
                _ => def.params.get(num_in - 1).copied().unwrap_or(Ty::Any),
            };
            argv.push(self.validate(f, ty)?);
        }
        Ok(argv)
    }

    fn eval_arg(&mut self, dot: &Value, ty: Ty, node: &Arg) -> R<Value> {
        let saved = (self.pos, self.context.clone());
        let v = match node {
            Arg::Dot => self.validate(dot.clone(), ty),
            Arg::Nil => match ty.zero() {
                Some(z) => Ok(z),
                None => self.fail(format!("cannot assign nil to {}", ty.go_name())),
            },
            Arg::Field(f) => {
                let v = self.eval_field_chain(dot, dot.clone(), f, &[], None)?;
                self.validate(v, ty)
            }
            Arg::Variable(name, fields) => {
                let v = self.eval_variable(dot, name, fields, &[], None)?;
                self.validate(v, ty)
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                self.validate(v, ty)
            }
            Arg::Identifier(name) => {
                let here = [self.pos];
                let v = self.eval_function(dot, name, std::slice::from_ref(node), &here, None)?;
                self.validate(v, ty)
            }
            Arg::Chain(inner, fields) => {
                let recv = self.eval_arg(dot, Ty::Any, inner)?;
                let recv = if let Value::Nil = recv {
                    Value::Missing
                } else {
                    recv
                };
                let v = self.eval_field_chain(dot, recv, fields, &[], None)?;
                self.validate(v, ty)
            }
            lit => self.eval_literal(ty, lit),
        };
        (self.pos, self.context) = saved;
        v
    }

    fn eval_literal(&self, ty: Ty, lit: &Arg) -> R<Value> {
        match (ty, lit) {
            (Ty::Any | Ty::Rv, Arg::Bool(b)) | (Ty::Bool, Arg::Bool(b)) => Ok(Value::Bool(*b)),
            (Ty::Any | Ty::Rv | Ty::Str, Arg::Str(s)) => Ok(Value::str(s.clone())),
            (Ty::Any | Ty::Rv, Arg::Number(n)) => self.ideal_constant(n),
            (Ty::Int, Arg::Number(NumberLit { int: Some(i), .. })) => Ok(Value::Int(*i)),
            (Ty::Float, Arg::Number(NumberLit { float: Some(f), .. })) => Ok(Value::Float(*f)),
            (Ty::Bool, _) => self.fail(format!("expected bool; found {lit}")),
            (Ty::Str, _) => self.fail(format!("expected string; found {lit}")),
            (Ty::Int, _) => self.fail(format!("expected integer; found {lit}")),
            (Ty::Float, _) => self.fail(format!("expected float; found {lit}")),
            _ => self.fail(format!(
                "can't handle {lit} for arg of type {}",
                ty.go_name()
            )),
        }
    }

    /// Go's `validateType`: checks a computed value against a parameter type.
    fn validate(&self, v: Value, ty: Ty) -> R<Value> {
        if let Value::Missing = v {
            return match ty.zero() {
                Some(z) => Ok(z),
                None => self.fail(format!("invalid value; expected {}", ty.go_name())),
            };
        }
        let ok = matches!(
            (ty, &v),
            (Ty::Any | Ty::Rv, _)
                | (Ty::Str, Value::Str(_))
                | (Ty::Int, Value::Int(_))
                | (Ty::Float, Value::Float(_))
                | (Ty::Bool, Value::Bool(_))
                | (Ty::Map, Value::Map(_))
                | (Ty::Time, Value::Time(_))
        );
        if ok {
            return Ok(v);
        }
        let got = if let Value::Nil = v {
            "interface {}"
        } else {
            v.type_name()
        };
        self.fail(format!(
            "wrong type for value; expected {}; got {got}",
            ty.go_name()
        ))
    }
}
