//! Builds the evaluation tree from tokens, following govaluate's `stagePlanner.go`: a
//! right-recursive precedence planner, then `reorderStages`, which mirrors runs of
//! equal-precedence operators along right spines so they evaluate left to right.

use super::ParseError;
use super::lexer::{Kind, TokVal, Token};
use super::value::Value;
use regex::Regex;

/// What a stage does.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Parentheses: yields the right stage's value.
    Noop,
    /// A parameter lookup.
    Variable(String),
    /// A literal value.
    Literal(Value),
    /// A regex literal compiled at parse time (yields its source string when used as a value).
    Pattern(Regex, String),
    /// A dotted Go struct accessor (`a.B`).
    Accessor(Vec<String>),
    Eq,
    Neq,
    Gt,
    Lt,
    Gte,
    Lte,
    Req,
    Nreq,
    In,
    And,
    Or,
    Plus,
    Minus,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Mul,
    Div,
    Mod,
    Exp,
    Negate,
    Invert,
    BitNot,
    TernaryTrue,
    TernaryFalse,
    Coalesce,
    Separate,
}

impl Op {
    /// Precedence class used by the reordering pass (govaluate's `findOperatorPrecedenceForSymbol`).
    fn class(&self) -> u8 {
        use Op::*;
        match self {
            Noop => 0,
            Variable(_) | Literal(_) | Pattern(..) => 1,
            Accessor(_) => 2,
            Negate | Invert | BitNot => 3,
            Exp => 4,
            Plus | Minus => 5,
            BitAnd | BitOr | BitXor => 6,
            Shl | Shr => 7,
            Mul | Div | Mod => 8,
            Eq | Neq | Gt | Lt | Gte | Lte | Req | Nreq | In => 9,
            TernaryTrue | TernaryFalse | Coalesce => 10,
            And => 11,
            Or => 12,
            Separate => 13,
        }
    }

    /// The operator's symbol, for error messages.
    pub fn symbol(&self) -> &'static str {
        use Op::*;
        match self {
            Eq => "==",
            Neq => "!=",
            Gt => ">",
            Lt => "<",
            Gte => ">=",
            Lte => "<=",
            Req => "=~",
            Nreq => "!~",
            In => "in",
            And => "&&",
            Or => "||",
            Plus => "+",
            Minus | Negate => "-",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Mul => "*",
            Div => "/",
            Mod => "%",
            Exp => "**",
            Invert => "!",
            BitNot => "~",
            TernaryTrue => "?",
            TernaryFalse => ":",
            Coalesce => "??",
            Separate => ",",
            Noop | Variable(_) | Literal(_) | Pattern(..) | Accessor(_) => "",
        }
    }
}

/// A node of the evaluation tree; children are indexes into the stage arena.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub op: Op,
    pub left: Option<usize>,
    pub right: Option<usize>,
}

/// Planner levels from loosest to tightest binding.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Separator,
    Ternary,
    Or,
    And,
    Comparator,
    Bitwise,
    Shift,
    Additive,
    Multiplicative,
    Exponential,
    Prefix,
}

impl Level {
    /// The level that parses this level's left operand (`None` for prefix, which has none).
    fn next(self) -> Option<Level> {
        use Level::*;
        match self {
            Separator => Some(Ternary),
            Ternary => Some(Or),
            Or => Some(And),
            And => Some(Comparator),
            Comparator => Some(Bitwise),
            Bitwise => Some(Shift),
            Shift => Some(Additive),
            Additive => Some(Multiplicative),
            Multiplicative => Some(Exponential),
            Exponential | Prefix => None,
        }
    }

    /// The operator this level accepts for `token`, if any.
    fn operator(self, token: &Token) -> Option<Op> {
        use Level::*;
        let symbol = token.symbol()?;
        let op = match (self, token.kind, symbol) {
            (Separator, Kind::Separator, ",") => Op::Separate,
            (Ternary, Kind::Ternary, "?") => Op::TernaryTrue,
            (Ternary, Kind::Ternary, ":") => Op::TernaryFalse,
            (Ternary, Kind::Ternary, "??") => Op::Coalesce,
            (Or, Kind::LogicalOp, "||") => Op::Or,
            (And, Kind::LogicalOp, "&&") => Op::And,
            (Comparator, Kind::Comparator, s) => comparator(s)?,
            (Bitwise, Kind::Modifier, "&") => Op::BitAnd,
            (Bitwise, Kind::Modifier, "|") => Op::BitOr,
            (Bitwise, Kind::Modifier, "^") => Op::BitXor,
            (Shift, Kind::Modifier, "<<") => Op::Shl,
            (Shift, Kind::Modifier, ">>") => Op::Shr,
            (Additive, Kind::Modifier, "+") => Op::Plus,
            (Additive, Kind::Modifier, "-") => Op::Minus,
            (Multiplicative, Kind::Modifier, "*") => Op::Mul,
            (Multiplicative, Kind::Modifier, "/") => Op::Div,
            (Multiplicative, Kind::Modifier, "%") => Op::Mod,
            (Exponential, Kind::Modifier, "**") => Op::Exp,
            (Prefix, Kind::Prefix, "-") => Op::Negate,
            (Prefix, Kind::Prefix, "!") => Op::Invert,
            (Prefix, Kind::Prefix, "~") => Op::BitNot,
            _ => return None,
        };
        Some(op)
    }
}

fn comparator(symbol: &str) -> Option<Op> {
    Some(match symbol {
        "==" => Op::Eq,
        "!=" => Op::Neq,
        ">" => Op::Gt,
        "<" => Op::Lt,
        ">=" => Op::Gte,
        "<=" => Op::Lte,
        "=~" => Op::Req,
        "!~" => Op::Nreq,
        "in" => Op::In,
        _ => return None,
    })
}

/// Plans `tokens` into a stage arena; returns the arena and the root stage.
pub(crate) fn plan(tokens: &[Token]) -> Result<(Vec<Stage>, Option<usize>), ParseError> {
    let mut planner = Planner {
        tokens,
        index: 0,
        stages: Vec::new(),
    };
    let root = planner.plan_tokens()?;
    if let Some(root) = root {
        planner.reorder(root);
    }
    Ok((planner.stages, root))
}

struct Planner<'t> {
    tokens: &'t [Token],
    index: usize,
    stages: Vec<Stage>,
}

impl Planner<'_> {
    fn has_next(&self) -> bool {
        self.index < self.tokens.len()
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.index);
        self.index += 1;
        token
    }

    fn rewind(&mut self) {
        self.index = self.index.saturating_sub(1);
    }

    fn push(&mut self, op: Op, left: Option<usize>, right: Option<usize>) -> usize {
        self.stages.push(Stage { op, left, right });
        self.stages.len() - 1
    }

    fn plan_tokens(&mut self) -> Result<Option<usize>, ParseError> {
        if !self.has_next() {
            return Ok(None);
        }
        self.plan_level(Level::Separator)
    }

    /// govaluate's `planPrecedenceLevel`. Note the unconditional rewind after the loop, which
    /// govaluate also performs (harmless: the last token is never an operator).
    fn plan_level(&mut self, level: Level) -> Result<Option<usize>, ParseError> {
        let left = match level.next() {
            Some(next) => self.plan_level(next)?,
            None if level == Level::Exponential => self.plan_value()?,
            None => None,
        };
        if let Some(op) = self.next().and_then(|token| level.operator(token)) {
            let right = if level == Level::Prefix {
                self.plan_value()?
            } else {
                self.plan_level(level)?
            };
            return Ok(Some(self.push(op, left, right)));
        }
        self.rewind();
        Ok(left)
    }

    /// govaluate's `planFunction`/`planAccessor`/`planValue` (there are no functions in Argo).
    fn plan_value(&mut self) -> Result<Option<usize>, ParseError> {
        let Some(token) = self.next().cloned() else {
            self.rewind();
            return Ok(None);
        };
        let op = match token.value {
            TokVal::Path(parts) if token.kind == Kind::Accessor => {
                return self.plan_accessor(parts);
            }
            _ if token.kind == Kind::Clause => {
                let inner = self.plan_tokens()?;
                self.next(); // the closing parenthesis (balance was checked)
                return Ok(Some(self.push(Op::Noop, None, inner)));
            }
            _ if token.kind == Kind::ClauseClose => {
                self.rewind();
                return Ok(None);
            }
            _ if token.kind == Kind::Prefix => {
                self.rewind();
                return self.plan_level(Level::Prefix);
            }
            TokVal::Text(name) if token.kind == Kind::Variable => Op::Variable(name),
            TokVal::Text(s) if token.kind == Kind::Str => Op::Literal(Value::String(s)),
            TokVal::Num(n) => Op::Literal(Value::Number(n)),
            TokVal::Bool(b) => Op::Literal(Value::Bool(b)),
            TokVal::Regex(re, source) => Op::Pattern(re, source),
            _ => {
                return Err(ParseError::UnexpectedToken {
                    token: token.text,
                    position: token.pos,
                });
            }
        };
        Ok(Some(self.push(op, None, None)))
    }

    /// An accessor directly followed by `(` is a method call whose arguments form its right stage.
    fn plan_accessor(&mut self, parts: Vec<String>) -> Result<Option<usize>, ParseError> {
        let mut right = None;
        if self.has_next() {
            let followed_by_clause = self.next().is_some_and(|t| t.kind == Kind::Clause);
            self.rewind();
            if followed_by_clause {
                right = self.plan_tokens()?;
            }
        }
        Ok(Some(self.push(Op::Accessor(parts), None, right)))
    }

    /// govaluate's `reorderStages`.
    fn reorder(&mut self, root: usize) {
        let mut run: Vec<usize> = Vec::new();
        let mut class = self.stages[root].op.class();
        let mut next = Some(root);
        while let Some(current) = next {
            next = self.stages[current].right;
            if let Some(left) = self.stages[current].left {
                self.reorder(left);
            }
            let current_class = self.stages[current].op.class();
            if current_class == class {
                run.push(current);
                continue;
            }
            if run.len() > 1 {
                self.mirror(&run);
            }
            run = vec![current];
            class = current_class;
        }
        if run.len() > 1 {
            self.mirror(&run);
        }
    }

    /// govaluate's `mirrorStageSubtree`: turns `a op1 (b op2 (c op3 d))` into
    /// `((a op1 b) op2 c) op3 d` for a root-to-leaf run of right children.
    fn mirror(&mut self, run: &[usize]) {
        let n = run.len();
        for &s in run {
            let stage = &mut self.stages[s];
            std::mem::swap(&mut stage.left, &mut stage.right);
        }
        let (root, end) = (run[0], run[n - 1]);
        let carry = self.stages[end].left;
        self.stages[end].left = self.stages[root].right;
        self.stages[root].right = carry;
        for i in 0..(n - 2) / 2 + 1 {
            let (front, inverse) = (run[i + 1], run[n - i - 1]);
            let carry = self.stages[front].right;
            self.stages[front].right = self.stages[inverse].right;
            self.stages[inverse].right = carry;
        }
        for i in 0..n / 2 {
            let (front, inverse) = (run[i], run[n - i - 1]);
            let op = std::mem::replace(&mut self.stages[front].op, Op::Noop);
            let other = std::mem::replace(&mut self.stages[inverse].op, op);
            self.stages[front].op = other;
        }
    }
}
