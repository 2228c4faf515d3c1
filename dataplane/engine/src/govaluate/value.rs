//! Runtime values of govaluate expressions and their Go-style formatting.

use std::collections::BTreeMap;
use std::fmt;

/// A runtime value, mirroring the Go types govaluate works with.
///
/// Equality (`==`) is Go's `reflect.DeepEqual`: same variant and same content, no coercion
/// (`"2" != 2`), and `NaN` never equals anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number; govaluate and JSON numbers are always `float64`.
    Number(f64),
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// Go `nil`: a JSON `null`, an unmatched ternary, or the value of `()`.
    Null,
    /// A list: the result of `(a, b)` (used by `IN`) or a JSON array.
    Array(Vec<Value>),
    /// A JSON object. Opaque: only `==`, `!=`, `??`, `?:` and string `+` accept it.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// Converts a JSON value: numbers become `f64`, objects become [`Value::Map`].
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// A short name of the value's type, as used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Bool(_) => "bool",
            Value::Null => "null",
            Value::Array(_) => "list",
            Value::Map(_) => "object",
        }
    }

    /// The type name followed by the value, e.g. `string "abc"` or `number 5`.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::Map(_) => "an object".to_string(),
            other => format!("{} {}", other.type_name(), other),
        }
    }

    /// Formats the value like Go's `fmt.Sprintf("%v", v)`; this is what string `+` concatenates.
    pub fn go_format(&self) -> String {
        match self {
            Value::Number(n) => go_float(*n),
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "<nil>".to_string(),
            Value::Array(items) => {
                let parts: Vec<String> = items.iter().map(Value::go_format).collect();
                format!("[{}]", parts.join(" "))
            }
            Value::Map(map) => {
                let parts: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", v.go_format()))
                    .collect();
                format!("map[{}]", parts.join(" "))
            }
        }
    }
}

/// JSON-like rendering for people: strings are quoted, whole numbers have no exponent.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Number(n) => f.write_str(&go_float(*n)),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                f.write_str("{")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Go's `%v` for a float64: shortest round-trip digits, `%e` form when the decimal exponent
/// is below -4 or at least 6 (`1e+06`, `1.5e-07`), `%f` form otherwise.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` yields the shortest round-trip digits, e.g. "1.234567e6".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = point as usize;
    if digits.len() <= point {
        let zeros = "0".repeat(point - digits.len());
        format!("{sign}{digits}{zeros}")
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}
