//! gjson path look-ups with the exact value coercions of Go's `tidwall/gjson`.
//!
//! Argo Events reads event data with the Go library `tidwall/gjson` (v1.17). This module wraps
//! the Rust port (`gjson` crate, same author) and corrects the places where the port's
//! coercions differ from the Go library that upstream uses:
//!
//! * `String()` of a non-integer number is Go `FormatFloat(f, 'f', -1)` (`1.0` → `"1"`,
//!   `1e3` → `"1000"`), while the port returns the raw text;
//! * `Bool()` lower-cases a string and parses it with Go `strconv.ParseBool`, and a number is
//!   true when it is not 0 (the port truncates to an integer first: `0.5` would be false);
//! * `Float()` parses strings with Go `strconv.ParseFloat` (hex floats, underscores, `Inf`);
//! * the Go-only modifiers `@keys`, `@values`, `@tostr`, `@fromstr` and `@group` are
//!   evaluated here when they start the path or follow a `|` (or a `.` outside a `#` group).
//!
//! The module also hosts the small Go `strconv` helpers the engine needs (`ParseFloat`,
//! `ParseBool`, `FormatFloat`, `Quote`) so that every module formats numbers the Go way.

use std::borrow::Cow;

/// The type of a gjson result, as Go's `gjson.Type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// JSON `null`.
    Null,
    /// JSON `false`.
    False,
    /// JSON `true`.
    True,
    /// A JSON number.
    Number,
    /// A JSON string.
    String,
    /// An object or array (including multipath and `#` collection results).
    Json,
}

impl Kind {
    /// Go's `gjson.Type.String()` name: `Null`, `False`, `Number`, `String`, `True`, `JSON`.
    pub fn go_name(self) -> &'static str {
        match self {
            Kind::Null => "Null",
            Kind::False => "False",
            Kind::True => "True",
            Kind::Number => "Number",
            Kind::String => "String",
            Kind::Json => "JSON",
        }
    }
}

/// A value found by [`get`]: its raw JSON text and its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<'a> {
    raw: Cow<'a, str>,
    kind: Kind,
}

/// Looks `path` up in `json` with gjson syntax; `None` when the path does not exist.
///
/// `json` should be valid JSON (check with [`valid`] first, as upstream does); invalid input
/// does not panic but may give odd results, exactly like gjson.
pub fn get<'a>(json: &'a str, path: &str) -> Option<Found<'a>> {
    let path = escape_non_modifiers(path);
    match find_extra_modifier(&path) {
        Some(split) => get_with_modifier(json, &split),
        None => plain_get(json, &path),
    }
}

/// Go `gjson.Valid`: whether `json` is one well-formed JSON value.
pub fn valid(json: &str) -> bool {
    gjson::valid(json)
}

impl<'a> Found<'a> {
    /// Builds a result from one raw JSON value (the kind is read from its first byte).
    /// Returns `None` for text that is not a JSON value.
    pub fn from_raw(raw: Cow<'a, str>) -> Option<Found<'a>> {
        let kind = {
            let parsed = gjson::parse(&raw);
            if !parsed.exists() {
                return None;
            }
            kind_of(parsed.kind())
        };
        Some(Found { raw, kind })
    }

    /// gjson `String()`: integers give their raw digits, other numbers Go
    /// `FormatFloat(f,'f',-1)`, objects/arrays/multipaths their raw JSON, null `""`,
    /// booleans `"true"`/`"false"`, strings their unescaped text.
    pub fn go_string(&self) -> String {
        self.str_form().into_owned()
    }

    /// Same as [`Found::go_string`] but borrowed where possible (no allocation for plain
    /// strings, integers, booleans and JSON blocks).
    pub fn str_form(&self) -> Cow<'_, str> {
        match self.kind {
            Kind::Null => Cow::Borrowed(""),
            Kind::False => Cow::Borrowed("false"),
            Kind::True => Cow::Borrowed("true"),
            Kind::Json => Cow::Borrowed(&self.raw),
            Kind::String => unescape_json_string(&self.raw),
            Kind::Number => {
                if is_go_integer_text(&self.raw) {
                    Cow::Borrowed(&self.raw)
                } else {
                    Cow::Owned(go_format_float(self.go_float()))
                }
            }
        }
    }

    /// gjson `Float()`: numbers as parsed by Go, numeric strings parsed with Go
    /// `ParseFloat` (others give 0), `true` → 1, everything else 0.
    pub fn go_float(&self) -> f64 {
        match self.kind {
            Kind::True => 1.0,
            Kind::Number => float_or_zero(&self.raw),
            Kind::String => float_or_zero(&unescape_json_string(&self.raw)),
            Kind::Null | Kind::False | Kind::Json => 0.0,
        }
    }

    /// gjson `Bool()`: `true`; strings lower-cased then Go `ParseBool` (`1`, `t`, `true`;
    /// anything unparseable is false); numbers ≠ 0; everything else false.
    pub fn go_bool(&self) -> bool {
        match self.kind {
            Kind::True => true,
            Kind::String => go_string_bool(&unescape_json_string(&self.raw)),
            Kind::Number => self.go_float() != 0.0,
            Kind::Null | Kind::False | Kind::Json => false,
        }
    }

    /// The raw JSON text of the value (for strings: with quotes and escapes).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The kind of the value.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The value as a `serde_json::Value` (integers stay integers; Go would use float64).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.raw).unwrap_or_else(|_| match self.kind {
            // Raw text serde refuses (e.g. gjson's lenient numbers): fall back on coercions.
            Kind::Number => serde_json::Number::from_f64(self.go_float())
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Kind::String => serde_json::Value::String(self.go_string()),
            Kind::True => serde_json::Value::Bool(true),
            Kind::False => serde_json::Value::Bool(false),
            Kind::Null | Kind::Json => serde_json::Value::Null,
        })
    }

    /// Detaches the result from the input text.
    pub fn into_owned(self) -> Found<'static> {
        Found {
            raw: Cow::Owned(self.raw.into_owned()),
            kind: self.kind,
        }
    }
}

/// gjson `Bool()` of a JSON *string* value: Go `ParseBool(strings.ToLower(s))`, errors → false.
pub fn go_string_bool(s: &str) -> bool {
    // Only ASCII letters can lower-case into "t"/"true" (no other rune folds to them).
    s == "1" || s.eq_ignore_ascii_case("t") || s.eq_ignore_ascii_case("true")
}

/// gjson `Float()` of a JSON *string* value: Go `ParseFloat`, syntax errors → 0,
/// out-of-range values → ±Inf (the value Go returns alongside its range error).
pub fn go_string_float(s: &str) -> f64 {
    float_or_zero(s)
}

/// gjson `String()` of a value already decoded into `serde_json` (used for the existing value
/// at a parameter `dest`): strings as-is, integers as digits, floats Go-formatted, null `""`,
/// objects/arrays compact JSON.
pub fn go_string_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                n.to_string()
            } else {
                go_format_float(n.as_f64().unwrap_or(0.0))
            }
        }
        other => other.to_string(),
    }
}

fn float_or_zero(s: &str) -> f64 {
    match go_parse_float(s) {
        Ok(f) => f,
        Err(GoNumError::Range(f)) => f,
        Err(GoNumError::Syntax) => 0.0,
    }
}

fn kind_of(kind: gjson::Kind) -> Kind {
    match kind {
        gjson::Kind::Null => Kind::Null,
        gjson::Kind::False => Kind::False,
        gjson::Kind::True => Kind::True,
        gjson::Kind::Number => Kind::Number,
        gjson::Kind::String => Kind::String,
        gjson::Kind::Array | gjson::Kind::Object => Kind::Json,
    }
}

/// Go gjson prints a number's raw text only when it is `-?[0-9]*`.
fn is_go_integer_text(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    digits.bytes().all(|b| b.is_ascii_digit())
}

fn unescape_json_string(raw: &str) -> Cow<'_, str> {
    if raw.len() < 2 {
        return Cow::Borrowed("");
    }
    if !raw.contains('\\') {
        return Cow::Borrowed(&raw[1..raw.len() - 1]);
    }
    let parsed = gjson::parse(raw);
    Cow::Owned(parsed.str().to_owned())
}

fn plain_get<'a>(json: &'a str, path: &str) -> Option<Found<'a>> {
    let value = gjson::get(json, path);
    if !value.exists() {
        return None;
    }
    let kind = kind_of(value.kind());
    let text = value.json();
    Some(Found {
        raw: rebase(json, text),
        kind,
    })
}

/// Re-borrows `text` from `json` when it is a slice of it, so results outlive the path.
fn rebase<'a>(json: &'a str, text: &str) -> Cow<'a, str> {
    let base = json.as_ptr() as usize;
    let start = text.as_ptr() as usize;
    if start >= base && start + text.len() <= base + json.len() {
        let offset = start - base;
        if let Some(slice) = json.get(offset..offset + text.len()) {
            return Cow::Borrowed(slice);
        }
    }
    Cow::Owned(text.to_owned())
}

mod gostrconv;
mod modifiers;

pub use modifiers::go_json_string;

pub use gostrconv::{
    GoNumError, go_format_float, go_parse_bool, go_parse_float, go_parse_float_msg, go_quote,
};
use modifiers::{escape_non_modifiers, find_extra_modifier, get_with_modifier};

#[cfg(test)]
mod tests;
