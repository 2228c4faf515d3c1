//! Go `strconv` behaviour (`ParseFloat`, `ParseBool`, `FormatFloat`, `Quote`).

use std::borrow::Cow;

/// Why Go `strconv.ParseFloat` rejected its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GoNumError {
    /// `invalid syntax` (Go returns 0).
    Syntax,
    /// `value out of range`; carries the ±Inf Go returns with the error.
    Range(f64),
}

/// Go `strconv.ParseFloat(s, 64)`: decimal and hex floats, `_` digit separators as in Go
/// literals, `inf`/`infinity`/`nan` in any case.
pub fn go_parse_float(s: &str) -> Result<f64, GoNumError> {
    if let Some(special) = parse_special_float(s) {
        return Ok(special);
    }
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.contains('_') && !go_underscores_ok(body) {
        return Err(GoNumError::Syntax);
    }
    let cleaned: Cow<'_, str> = if body.contains('_') {
        Cow::Owned(body.replace('_', ""))
    } else {
        Cow::Borrowed(body)
    };
    let magnitude = if cleaned.len() > 1 && cleaned[..2].eq_ignore_ascii_case("0x") {
        parse_hex_float(&cleaned[2..])?
    } else {
        parse_decimal_float(&cleaned)?
    };
    let value = if negative { -magnitude } else { magnitude };
    if value.is_infinite() {
        Err(GoNumError::Range(value))
    } else {
        Ok(value)
    }
}

/// Go `strconv.ParseFloat` with Go's error text, e.g.
/// `strconv.ParseFloat: parsing "abc": invalid syntax`.
pub fn go_parse_float_msg(s: &str) -> Result<f64, String> {
    go_parse_float(s).map_err(|e| {
        let what = match e {
            GoNumError::Syntax => "invalid syntax",
            GoNumError::Range(_) => "value out of range",
        };
        format!("strconv.ParseFloat: parsing {}: {what}", go_quote(s))
    })
}

/// Go `strconv.ParseBool` with Go's error text
/// (`strconv.ParseBool: parsing "x": invalid syntax`).
pub fn go_parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: shortest exact digits, never an exponent.
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{f}")
    }
}

/// Go `strconv.Quote` (`%q`): a double-quoted Go string literal.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if !go_is_print(c) => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Approximates Go `strconv.IsPrint` for non-ASCII runes.
fn go_is_print(c: char) -> bool {
    if c.is_ascii() {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c as u32, 0xad | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0xfeff)
        || (0xe000..=0xf8ff).contains(&(c as u32)))
}

fn parse_special_float(s: &str) -> Option<f64> {
    let (sign, body, signed) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..], true),
        Some(b'+') => (1.0, &s[1..], true),
        _ => (1.0, s, false),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if !signed && body.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    None
}

/// Go `underscoreOK` for the unsigned body of a float literal.
fn go_underscores_ok(body: &str) -> bool {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut saw = b'^';
    let mut hex = false;
    if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = bytes[1] | 0x20 == b'x';
    }
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Decimal `digits[.digits][e[+-]digits]` with at least one mantissa digit.
fn parse_decimal_float(body: &str) -> Result<f64, GoNumError> {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return Err(GoNumError::Syntax);
    }
    if i < bytes.len() && (bytes[i] | 0x20) == b'e' {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(GoNumError::Syntax);
        }
    }
    if i != bytes.len() {
        return Err(GoNumError::Syntax);
    }
    body.parse::<f64>().map_err(|_| GoNumError::Syntax)
}

/// Hex float after `0x`: `hexdigits[.hexdigits]p[+-]digits` (the exponent is mandatory).
fn parse_hex_float(body: &str) -> Result<f64, GoNumError> {
    let bytes = body.as_bytes();
    let (mut i, mut mantissa, mut digits, mut exp) = (0usize, 0u64, 0u32, 0i64);
    let mut seen_dot = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            digits += 1;
            if mantissa >> 60 == 0 {
                mantissa = mantissa * 16 + u64::from(d);
                if seen_dot {
                    exp -= 4;
                }
            } else {
                mantissa |= u64::from(d != 0); // sticky bit for rounding
                if !seen_dot {
                    exp += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 || i >= bytes.len() || (bytes[i] | 0x20) != b'p' {
        return Err(GoNumError::Syntax);
    }
    let exp_text = &body[i + 1..];
    let exp_digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
    if exp_digits.is_empty() || !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GoNumError::Syntax);
    }
    let fallback = if exp_text.starts_with('-') {
        -5000
    } else {
        5000
    };
    let p: i64 = exp_text.parse().unwrap_or(fallback);
    let mut total = exp.saturating_add(p).clamp(-5000, 5000);
    let mut value = mantissa as f64;
    if mantissa == 0 {
        return Ok(0.0);
    }
    // Scale in steps so intermediate powers of two stay finite and non-zero.
    while total != 0 && value != 0.0 && value.is_finite() {
        let step = total.clamp(-500, 500);
        value *= 2f64.powi(step as i32);
        total -= step;
    }
    Ok(value)
}
