//! Go literal syntax: string unquoting and number/character constants as Go's
//! template parser reads them (`0x10`, `0o17`, `017`, `1_000`, `1e3`, `0x1p4`, `'a'`).

use super::parse::NumberLit;

/// Unquotes a Go string literal (`"..."` with escapes, or a raw `` `...` ``).
pub(crate) fn unquote(raw: &str) -> Option<String> {
    if let Some(inner) = raw.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Some(inner.replace('\r', ""));
    }
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    unescape(inner, '"')
}

fn unescape(inner: &str, quote: char) -> Option<String> {
    let mut out = Vec::<u8>::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next()?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' if quote == '\'' => Some(b'\''),
            '"' if quote == '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (len, radix) = match e {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return None,
        };
        let mut digits: String = if e.is_ascii_digit() {
            e.to_string()
        } else {
            String::new()
        };
        for _ in 0..len {
            digits.push(chars.next()?);
        }
        let v = u32::from_str_radix(&digits, radix).ok()?;
        if e == 'x' || e.is_ascii_digit() {
            out.push(u8::try_from(v).ok()?);
        } else {
            let ch = char::from_u32(v)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Parses a number or character constant the way Go's parser does.
pub(crate) fn number(text: &str) -> Result<NumberLit, String> {
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        let s = unescape(inner, '\'').ok_or_else(|| "invalid syntax".to_string())?;
        let mut it = s.chars();
        let Some(c) = it.next() else {
            return Err("invalid syntax".into());
        };
        if it.next().is_some() {
            return Err(format!("malformed character constant: {text}"));
        }
        return Ok(NumberLit {
            text: text.into(),
            int: Some(c as i64),
            float: Some(c as u32 as f64),
            float_syntax: false,
        });
    }
    if text.ends_with('i') {
        return Err(format!("complex constants are not supported: {text:?}"));
    }
    let int = parse_int(text);
    let hex = text
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .starts_with("0x");
    let float_syntax = !hex && text.contains(['.', 'e', 'E']) || hex && text.contains(['p', 'P']);
    let mut lit = NumberLit {
        text: text.into(),
        int,
        float: int.map(|i| i as f64),
        float_syntax,
    };
    if lit.float.is_none()
        && let Some(f) = parse_float(text)
    {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {text:?}"));
        }
        lit.float = Some(f);
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            lit.int = Some(f as i64);
        }
    }
    if lit.int.is_none() && lit.float.is_none() {
        return Err(format!("illegal number syntax: {text:?}"));
    }
    Ok(lit)
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d.to_string(), 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d.to_string(), 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d.to_string(), 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (lower[1..].to_string(), 8)
    } else {
        (lower, 10)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

fn parse_float(text: &str) -> Option<f64> {
    let t = text.replace('_', "");
    let lower = t.to_ascii_lowercase();
    let (neg, body) = match lower.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, lower.trim_start_matches('+').to_string()),
    };
    let v = if let Some(hex) = body.strip_prefix("0x") {
        if !hex.contains('p') || !hex.starts_with(|c: char| c.is_ascii_hexdigit() || c == '.') {
            return None;
        }
        parse_hex_float(hex)?
    } else {
        if body.starts_with(['+', '-']) || body.contains("inf") || body.contains("nan") {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_hex_float(hex: &str) -> Option<f64> {
    let (mant, exp) = hex.split_once('p').unwrap_or((hex, "0"));
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}
