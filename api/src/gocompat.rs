//! Go `encoding/json` decoding rules on top of serde.
//!
//! Upstream decodes every object with Go's `encoding/json`, and users' manifests rely on its
//! rules, so [`from_value`] reproduces them for any `Deserialize` type:
//!
//! - a struct field matches a JSON key exactly, else case-insensitively (`openwhisk` fills
//!   `openWhisk`); when two keys land on one field the later one wins;
//! - keys that match no field are ignored, and reported back as [`Decoded::unknown_fields`];
//! - `null` leaves a field at its zero value (and an `Option` at `None`);
//! - scalar types are strict: a number is never a string and a string is never a number; an
//!   integer field takes a JSON number only when it has no fractional part.
//!
//! Errors carry the field path where they happened (`spec.webhook.push.port`).

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Map, Value};

/// A decoded value plus the paths of the keys that matched no field.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// The decoded value.
    pub value: T,
    /// Paths of ignored keys, in document order (e.g. `spec.type`).
    pub unknown_fields: Vec<String>,
}

/// A decoding failure at a field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if path.is_empty() { "(root)" } else { path.as_str() })]
pub struct DecodeError {
    /// Where the failure happened, e.g. `spec.webhook.push.port`; empty for the root.
    pub path: String,
    /// What was wrong, e.g. `expected a string, got 12000`.
    pub message: String,
}

/// Decodes `value` into `T` with Go's `encoding/json` rules (see the module docs).
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<Decoded<T>, DecodeError> {
    let unknown = RefCell::new(Vec::new());
    let root = Path::Root;
    let de = De {
        value,
        path: &root,
        unknown: &unknown,
    };
    match T::deserialize(de) {
        Ok(value) => Ok(Decoded {
            value,
            unknown_fields: unknown.into_inner(),
        }),
        Err(err) => Err(DecodeError {
            path: err.path.unwrap_or_default(),
            message: err.message,
        }),
    }
}

/// A field path as a chain of borrowed segments on the stack; rendered as `a.b[0].c`, with map
/// keys that are not plain words in brackets (`labels["app.kubernetes.io/name"]`). Building one
/// costs nothing; it becomes a `String` only when an error or an unknown field is reported.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut s = String::new();
        self.render_into(&mut s);
        s
    }

    fn render_into(&self, s: &mut String) {
        match *self {
            Path::Root => {}
            Path::Field(parent, name) => {
                parent.render_into(s);
                let plain = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if plain {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(name);
                } else {
                    // Writing to a String cannot fail.
                    let _ = write!(s, "[{name:?}]");
                }
            }
            Path::Index(parent, i) => {
                parent.render_into(s);
                let _ = write!(s, "[{i}]");
            }
        }
    }
}

/// The error type used while decoding; the path is attached by the innermost access that sees
/// it, so it names the deepest field involved.
#[derive(Debug)]
struct Error {
    path: Option<String>,
    message: String,
}

impl Error {
    fn at(path: &Path<'_>, message: String) -> Self {
        Error {
            path: Some(path.render()),
            message,
        }
    }

    fn or_at(mut self, path: &Path<'_>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.render());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Error {
            path: None,
            message: msg.to_string(),
        }
    }
}

/// Short description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            let head: String = s.chars().take(40).collect();
            format!("{:?}…", head)
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[derive(Clone, Copy)]
struct De<'a> {
    value: &'a Value,
    path: &'a Path<'a>,
    unknown: &'a RefCell<Vec<String>>,
}

impl De<'_> {
    fn mismatch(&self, expected: &str) -> Error {
        Error::at(
            self.path,
            format!("expected {expected}, got {}", describe(self.value)),
        )
    }

    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_i64(0),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else {
                    // A YAML float such as `3.0` reaches the API server as the integer 3.
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if f.fract() == 0.0 && f.abs() < 9.0e15 {
                        visitor.visit_i64(f as i64)
                    } else {
                        Err(self.mismatch("an integer"))
                    }
                }
            }
            _ => Err(self.mismatch("an integer")),
        }
        .map_err(|e: Error| e.or_at(self.path))
    }
}

macro_rules! integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.integer(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(SeqAccess::new(self, items)),
            Value::Object(map) => visitor.visit_map(MapAccess::map(self, map)),
        }
        .map_err(|e| e.or_at(self.path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_bool(false),
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.mismatch("a boolean")),
        }
    }

    integers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_f64(0.0),
            Value::Number(n) => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            _ => Err(self.mismatch("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_str(""),
            Value::String(s) => visitor.visit_str(s),
            _ => Err(self.mismatch("a string")),
        }
        .map_err(|e| e.or_at(self.path))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.mismatch("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_seq(SeqAccess::new(self, &[])),
            Value::Array(items) => visitor.visit_seq(SeqAccess::new(self, items)),
            _ => Err(self.mismatch("an array")),
        }
        .map_err(|e| e.or_at(self.path))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => visitor.visit_map(MapAccess::map(self, map)),
            Value::Null => {
                let empty = Map::new();
                visitor.visit_map(MapAccess::map(self, &empty))
            }
            _ => Err(self.mismatch("an object")),
        }
        .map_err(|e| e.or_at(self.path))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => visitor.visit_map(MapAccess::fields(self, map, fields)?),
            Value::Null => {
                let empty = Map::new();
                visitor.visit_map(MapAccess::fields(self, &empty, fields)?)
            }
            _ => Err(self.mismatch("an object")),
        }
        .map_err(|e| e.or_at(self.path))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: de::value::Error| Error::at(self.path, e.to_string())),
            _ => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'a> {
    parent: De<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'a> SeqAccess<'a> {
    fn new(parent: De<'a>, items: &'a [Value]) -> Self {
        SeqAccess {
            parent,
            items: items.iter().enumerate(),
        }
    }
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((i, value)) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.parent.path, i);
        let de = De {
            value,
            path: &path,
            unknown: self.parent.unknown,
        };
        seed.deserialize(de).map(Some).map_err(|e| e.or_at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    parent: De<'a>,
    /// The object's entries in document order.
    iter: serde_json::map::Iter<'a>,
    /// For a struct: its field names, and per entry (in step with `iter`) the index of the field
    /// it fills, or `UNMATCHED` for a key that matches no field or is overridden by a later key.
    /// `None` for a map, whose keys are data.
    fields: Option<(&'static [&'static str], Slots)>,
    /// Position of the next entry of `iter`.
    next: usize,
    /// Entries still to hand to the visitor.
    remaining: usize,
    pending: Option<(&'a str, &'a Value)>,
}

/// Marks an entry that fills no field.
const UNMATCHED: u16 = u16::MAX;

/// Objects with at most this many keys keep their field matches on the stack.
const INLINE_KEYS: usize = 32;

/// Per-entry field matches of one object.
enum Slots {
    Inline([u16; INLINE_KEYS]),
    Heap(Vec<u16>),
}

impl Slots {
    fn new(len: usize) -> Self {
        if len <= INLINE_KEYS {
            Slots::Inline([UNMATCHED; INLINE_KEYS])
        } else {
            Slots::Heap(vec![UNMATCHED; len])
        }
    }

    fn as_slice(&self) -> &[u16] {
        match self {
            Slots::Inline(a) => a,
            Slots::Heap(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u16] {
        match self {
            Slots::Inline(a) => a,
            Slots::Heap(v) => v,
        }
    }
}

impl<'a> MapAccess<'a> {
    /// Access to an object read as a map: every key is data.
    fn map(parent: De<'a>, map: &'a Map<String, Value>) -> Self {
        MapAccess {
            parent,
            iter: map.iter(),
            fields: None,
            next: 0,
            remaining: map.len(),
            pending: None,
        }
    }

    /// Access to an object read as a struct of `fields`: keys are matched to fields up front,
    /// so keys that match nothing are reported in document order before any value is read.
    fn fields(
        parent: De<'a>,
        map: &'a Map<String, Value>,
        fields: &'static [&'static str],
    ) -> Result<Self, Error> {
        if fields.len() >= usize::from(UNMATCHED) {
            return Err(Error::at(
                parent.path,
                format!("cannot decode a struct of {} fields", fields.len()),
            ));
        }
        let mut slots = Slots::new(map.len());
        let matches = slots.as_mut_slice();
        let mut remaining = 0;
        for (pos, key) in map.keys().enumerate() {
            let Some(field) = find_field(fields, key) else {
                let path = Path::Field(parent.path, key);
                parent.unknown.borrow_mut().push(path.render());
                continue;
            };
            // The index fits: `fields` is shorter than `UNMATCHED`, checked above.
            let field = field as u16;
            // When two keys land on one field the later one wins, in the later one's place.
            match matches[..pos].iter_mut().find(|m| **m == field) {
                Some(earlier) => *earlier = UNMATCHED,
                None => remaining += 1,
            }
            matches[pos] = field;
        }
        Ok(MapAccess {
            parent,
            iter: map.iter(),
            fields: Some((fields, slots)),
            next: 0,
            remaining,
            pending: None,
        })
    }
}

/// The index of the struct field `key` fills: the field spelled exactly so, else the first one
/// equal to it under Go's case folding.
fn find_field(fields: &[&str], key: &str) -> Option<usize> {
    if let Some(i) = fields.iter().position(|f| *f == key) {
        return Some(i);
    }
    let mut key_lower = None;
    fields.iter().position(|f| fold_eq(f, key, &mut key_lower))
}

/// Go's case folding for field names (simple Unicode folding). ASCII, which covers every real
/// manifest, is compared without allocating; otherwise both sides are lower-cased, `b` once
/// per key through `b_lower`.
fn fold_eq(a: &str, b: &str, b_lower: &mut Option<String>) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    a.to_lowercase() == *b_lower.get_or_insert_with(|| b.to_lowercase())
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let (key, written, value) = loop {
            let Some((k, v)) = self.iter.next() else {
                return Ok(None);
            };
            let pos = self.next;
            self.next += 1;
            match &self.fields {
                None => break (k.as_str(), k.as_str(), v),
                Some((fields, slots)) => match slots.as_slice().get(pos) {
                    Some(&field) if field != UNMATCHED => {
                        break (fields[usize::from(field)], k.as_str(), v);
                    }
                    _ => {}
                },
            }
        };
        self.remaining = self.remaining.saturating_sub(1);
        self.pending = Some((written, value));
        let key: de::value::StrDeserializer<'_, Error> = key.into_deserializer();
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.or_at(&Path::Field(self.parent.path, written)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((written, value)) = self.pending.take() else {
            return Err(de::Error::custom(
                "invariant: value requested before its key",
            ));
        };
        let path = Path::Field(self.parent.path, written);
        let de = De {
            value,
            path: &path,
            unknown: self.parent.unknown,
        };
        seed.deserialize(de).map_err(|e| e.or_at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod matching_tests;
