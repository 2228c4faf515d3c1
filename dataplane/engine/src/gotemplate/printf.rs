//! Go `fmt` formatting: `Sprint`, `Sprintln`, `Sprintf` (flags `+ - # 0 space`,
//! width, precision, `*`; verbs `v s q d b o O x X c U e E f F g G t T %`), and
//! `strconv.Quote`.

use super::value::{Value, format_float, sprint};

/// Go's `fmt.Sprint`: operands joined, with a space between two non-strings.
pub(crate) fn sprint_args(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        let is_str = matches!(v, Value::Str(_));
        if i > 0 && !is_str && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&sprint(v));
    }
    out
}

/// Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(crate) fn sprintln_args(a: &[Value]) -> String {
    let parts: Vec<String> = a.iter().map(sprint).collect();
    parts.join(" ") + "\n"
}

/// Go's `unicode.IsPrint`, approximated: letters, marks, numbers, punctuation,
/// symbols and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xD800..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF
        | 0xE0000..=0xE007F | 0xF0000..)
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if is_print(c) => out.push(c),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`.
fn quote_rune(i: i64) -> String {
    let c = u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}');
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '+' => sp.plus = true,
                '-' => sp.minus = true,
                '#' => sp.sharp = true,
                '0' => sp.zero = true,
                ' ' => sp.space = true,
                _ => break,
            }
            chars.next();
        }
        sp.width = read_num(&mut chars, args, &mut argi, &mut out);
        if chars.peek() == Some(&'.') {
            chars.next();
            sp.prec = Some(read_num(&mut chars, args, &mut argi, &mut out).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        out.push_str(&format_one(arg, verb, sp));
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), sprint(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn read_num(
    chars: &mut std::iter::Peekable<std::str::Chars>,
    args: &[Value],
    argi: &mut usize,
    out: &mut String,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let v = args.get(*argi).and_then(Value::as_int);
        *argi += 1;
        if v.is_none() {
            out.push_str("%!(BADWIDTH)");
        }
        return v.map(|n| n.unsigned_abs() as usize);
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn bad_verb(v: &Value, verb: char) -> String {
    match v {
        Value::Missing | Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), sprint(v)),
    }
}

fn format_one(v: &Value, verb: char, sp: Spec) -> String {
    if verb == 'T' {
        return pad(v.type_name().to_string(), sp, false);
    }
    match v {
        Value::List(l) => {
            let parts: Vec<String> = l.iter().map(|e| format_elem(e, verb, sp)).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(m) => {
            let parts: Vec<String> = m
                .borrow()
                .iter()
                .map(|(k, e)| {
                    format!(
                        "{}:{}",
                        format_one(&Value::str(k.clone()), verb, sp),
                        format_elem(e, verb, sp)
                    )
                })
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Missing | Value::Nil if verb == 'v' => pad("<nil>".into(), sp, false),
        Value::Bool(b) if matches!(verb, 'v' | 't') => pad(b.to_string(), sp, false),
        Value::Int(i) | Value::Int64(i) => format_int(v, *i, verb, sp),
        Value::Float(f) => format_float_verb(v, *f, verb, sp),
        Value::Str(s) => format_str(v, s, verb, sp),
        Value::Time(_) if matches!(verb, 'v' | 's') => pad(sprint(v), sp, false),
        _ => bad_verb(v, verb),
    }
}

/// An element inside a list or map: nil prints `<nil>` whatever the verb.
fn format_elem(e: &Value, verb: char, sp: Spec) -> String {
    if e.is_nil() {
        return pad("<nil>".into(), sp, false);
    }
    format_one(e, verb, sp)
}

fn pad(s: String, sp: Spec, numeric: bool) -> String {
    let w = sp.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if sp.minus {
        return s + &" ".repeat(fill);
    }
    if sp.zero && numeric {
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('+' | '-' | ' ')) => (c.to_string(), s[1..].to_string()),
            _ => (String::new(), s.clone()),
        };
        return sign + &"0".repeat(fill) + &digits;
    }
    " ".repeat(fill) + &s
}

fn sign_prefix(neg: bool, sp: Spec) -> &'static str {
    if neg {
        "-"
    } else if sp.plus {
        "+"
    } else if sp.space {
        " "
    } else {
        ""
    }
}

fn format_int(v: &Value, i: i64, verb: char, sp: Spec) -> String {
    let u = i.unsigned_abs();
    let (digits, prefix) = match verb {
        'v' | 'd' => (u.to_string(), ""),
        'b' => (format!("{u:b}"), if sp.sharp { "0b" } else { "" }),
        'o' => (format!("{u:o}"), if sp.sharp { "0" } else { "" }),
        'O' => (format!("{u:o}"), "0o"),
        'x' => (format!("{u:x}"), if sp.sharp { "0x" } else { "" }),
        'X' => (format!("{u:X}"), if sp.sharp { "0X" } else { "" }),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            return pad(c.to_string(), sp, false);
        }
        'q' => return pad(quote_rune(i), sp, false),
        'U' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32);
            let s = match c {
                Some(c) if sp.sharp && is_print(c) => format!("U+{u:04X} '{c}'"),
                _ => format!("U+{u:04X}"),
            };
            return pad(s, sp, false);
        }
        _ => return bad_verb(v, verb),
    };
    let digits = match sp.prec {
        Some(p) if digits.len() < p => "0".repeat(p - digits.len()) + &digits,
        Some(0) if i == 0 => String::new(),
        _ => digits,
    };
    let s = format!("{}{prefix}{digits}", sign_prefix(i < 0, sp));
    pad(
        s,
        Spec {
            zero: sp.zero && sp.prec.is_none(),
            ..sp
        },
        true,
    )
}

fn format_float_verb(v: &Value, f: f64, verb: char, sp: Spec) -> String {
    let body = match verb {
        'v' | 'g' | 'G' => format_float(f, if verb == 'G' { 'G' } else { 'g' }, sp.prec),
        'e' | 'E' => format_float(f, verb, Some(sp.prec.unwrap_or(6))),
        'f' | 'F' => format_float(f, 'f', Some(sp.prec.unwrap_or(6))),
        _ => return bad_verb(v, verb),
    };
    let s = if body.starts_with('-') || !f.is_finite() && body.starts_with('+') {
        if body.starts_with('+') && !sp.plus {
            body[1..].to_string()
        } else {
            body
        }
    } else {
        format!("{}{body}", sign_prefix(false, sp))
    };
    pad(s, sp, f.is_finite())
}

fn format_str(v: &Value, s: &str, verb: char, sp: Spec) -> String {
    let s: String = match sp.prec {
        Some(p) if matches!(verb, 'v' | 's' | 'q') => s.chars().take(p).collect(),
        _ => s.to_string(),
    };
    let out = match verb {
        'v' | 's' => s,
        'q' if sp.sharp && !s.contains('`') && s.chars().all(|c| c == '\t' || !c.is_control()) => {
            format!("`{s}`")
        }
        'q' => go_quote(&s),
        'x' | 'X' => {
            let hex: Vec<String> = s
                .bytes()
                .map(|b| {
                    if verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect();
            hex.join(if sp.space { " " } else { "" })
        }
        _ => return bad_verb(v, verb),
    };
    pad(out, sp, false)
}
