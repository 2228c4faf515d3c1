//! Trigger-parameter `dest` writes with the rules of Go's `tidwall/sjson` (v1.2), applied to a
//! `serde_json::Value`.
//!
//! Path rules (from sjson's `parsePath`/`appendRawPaths`):
//! * components are separated by `.`; `\` makes the next character literal (`a\.b` is the key
//!   `a.b`); a leading `:` forces a component to be an object key (`users.:2313`);
//! * an existing value is replaced (objects by key, arrays by index);
//! * a missing key is appended to an object (a numeric key on an object is just a key);
//! * on an array a missing numeric index is padded with `null`s up to that index, `-1`
//!   appends, and any other key is an error;
//! * a scalar (or `null`) in the way is replaced by `[]` when the component is numeric (digits
//!   only, including the empty component) and by `{}` otherwise;
//! * newly created levels are arrays when the following component is numeric or `-1`, objects
//!   otherwise.
//!
//! Paths with the gjson query characters `|`, `#`, `@`, `*`, `?` are rejected (sjson would
//! only replace values that already match them).

use serde_json::{Map, Value};

/// Largest array index a dest path may create; sjson has none, but padding a huge array with
/// nulls would only exhaust memory.
pub const MAX_ARRAY_INDEX: usize = 100_000;

/// One parsed path component.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Component {
    /// The key with escapes removed.
    part: String,
    /// Set by a leading `:`: never an array index or append.
    force: bool,
}

impl Component {
    /// sjson `atoui`: digits only (the empty string counts, as 0) and not forced.
    fn index(&self) -> Option<Result<usize, ()>> {
        if self.force || !self.part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut n: usize = 0;
        for b in self.part.bytes() {
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(b - b'0')))
            {
                Some(n) => n,
                None => return Some(Err(())),
            };
        }
        Some(Ok(n))
    }

    fn is_append(&self) -> bool {
        !self.force && self.part == "-1"
    }

    /// gjson's array look-up of an existing element: digits only, at least one.
    fn existing_index(&self) -> Option<usize> {
        if self.part.is_empty() || !self.part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.part.parse().ok()
    }
}

/// Sets `value` at the sjson `path` inside `doc`, creating what is missing.
pub fn set(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        return Err("path cannot be empty".to_owned());
    }
    let components = parse_path(path)?;
    set_at(doc, &components, value, path)
}

/// Reads the existing value at a dest `path` the way gjson does (used for `append`/`prepend`):
/// dotted keys with `\` escapes, numeric array indexes, `*`/`?` key wildcards. Paths using
/// other gjson syntax (`#`, `|`, `@`, multipaths, literals) return `None`.
pub fn get_str<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() || path.starts_with("..") {
        return None;
    }
    let mut node = doc;
    for pattern in split_gjson_path(path)? {
        node = match node {
            Value::Object(map) => map
                .iter()
                .find(|(key, _)| wildcard_match(&pattern, key))
                .map(|(_, v)| v)?,
            Value::Array(items) => {
                let literal = unescaped(&pattern)?;
                if literal.is_empty() || !literal.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                items.get(literal.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(node)
}

fn set_at(node: &mut Value, comps: &[Component], value: Value, path: &str) -> Result<(), String> {
    let Some((comp, rest)) = comps.split_first() else {
        *node = value;
        return Ok(());
    };
    if let Some(child) = existing_child(node, comp) {
        return set_at(child, rest, value, path);
    }
    let index = comp.index();
    if !matches!(node, Value::Object(_) | Value::Array(_)) {
        *node = if index.is_some() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
    }
    match node {
        Value::Object(map) => {
            map.insert(comp.part.clone(), build(rest, value, path)?);
            Ok(())
        }
        Value::Array(items) => match index {
            Some(index) => {
                let target = checked_index(index, path)?;
                if items.len() < target {
                    items.resize(target, Value::Null);
                }
                items.push(build(rest, value, path)?);
                Ok(())
            }
            None if comp.is_append() => {
                items.push(build(rest, value, path)?);
                Ok(())
            }
            None => Err(format!(
                "cannot set array element for non-numeric key '{}'",
                comp.part
            )),
        },
        _ => Err("invariant: node was made a container above".to_owned()),
    }
}

fn existing_child<'a>(node: &'a mut Value, comp: &Component) -> Option<&'a mut Value> {
    match node {
        Value::Object(map) => map.get_mut(&comp.part),
        Value::Array(items) => items.get_mut(comp.existing_index()?),
        _ => None,
    }
}

/// Builds the value for the components that do not exist yet (sjson `appendBuild`).
fn build(comps: &[Component], value: Value, path: &str) -> Result<Value, String> {
    let Some((comp, rest)) = comps.split_first() else {
        return Ok(value);
    };
    let inner = build(rest, value, path)?;
    if let Some(index) = comp.index() {
        let nulls = checked_index(index, path)?;
        let mut items = vec![Value::Null; nulls];
        items.push(inner);
        Ok(Value::Array(items))
    } else if comp.is_append() {
        Ok(Value::Array(vec![inner]))
    } else {
        let mut map = Map::new();
        map.insert(comp.part.clone(), inner);
        Ok(Value::Object(map))
    }
}

fn checked_index(index: Result<usize, ()>, path: &str) -> Result<usize, String> {
    match index {
        Ok(n) if n <= MAX_ARRAY_INDEX => Ok(n),
        _ => Err(format!(
            "array index in dest path '{path}' is too large (at most {MAX_ARRAY_INDEX})"
        )),
    }
}

/// sjson `parsePath` for every component; query characters make the path unsupported.
fn parse_path(path: &str) -> Result<Vec<Component>, String> {
    let mut components = Vec::new();
    let mut rest = path;
    loop {
        let (force, body) = match rest.strip_prefix(':') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let mut part = String::new();
        let mut chars = body.char_indices();
        let mut next = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '.' => {
                    next = Some(&body[i + 1..]);
                    break;
                }
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        part.push(escaped);
                    }
                }
                '|' | '#' | '@' | '*' | '?' => return Err(complex_path_error(path, c)),
                c => part.push(c),
            }
        }
        components.push(Component { part, force });
        match next {
            Some(remaining) => rest = remaining,
            None => return Ok(components),
        }
    }
}

fn complex_path_error(path: &str, c: char) -> String {
    format!(
        "dest path '{path}' contains '{c}', a gjson query character; only plain dotted paths \
         (keys, array indexes, -1) are supported, so escape it as '\\{c}' if it belongs to a key"
    )
}

/// Splits a gjson path into component patterns (escapes kept); `None` for syntax beyond keys.
fn split_gjson_path(path: &str) -> Option<Vec<String>> {
    let mut patterns = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                current.push(chars.next()?);
            }
            '.' => patterns.push(std::mem::take(&mut current)),
            '|' | '#' | '@' => return None,
            '[' | '{' | '!' if current.is_empty() => return None,
            c => current.push(c),
        }
    }
    patterns.push(current);
    Some(patterns)
}

/// The pattern without escapes, or `None` if it holds wildcards.
fn unescaped(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '*' | '?' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// gjson key matching: `*` any run, `?` one character, `\` escapes.
fn wildcard_match(pattern: &str, key: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let key: Vec<char> = key.chars().collect();
    match_from(&pattern, &key)
}

fn match_from(pattern: &[char], key: &[char]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some(('*', rest)) => (0..=key.len()).any(|skip| match_from(rest, &key[skip..])),
        Some(('?', rest)) => !key.is_empty() && match_from(rest, &key[1..]),
        Some(('\\', rest)) => match rest.split_first() {
            Some((c, rest)) => key.first() == Some(c) && match_from(rest, &key[1..]),
            None => false,
        },
        Some((c, rest)) => key.first() == Some(c) && match_from(rest, &key[1..]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn after(mut doc: Value, path: &str, value: Value) -> Value {
        set(&mut doc, path, value).unwrap_or_else(|e| panic!("{path}: {e}"));
        doc
    }

    #[test]
    fn set_rules() {
        let cases: Vec<(Value, &str, Value)> = vec![
            // New keys, nested creation, replacement.
            (json!({}), "name", json!({"name": "v"})),
            (json!({}), "a.b.c", json!({"a": {"b": {"c": "v"}}})),
            (
                json!({"a": {"x": 1}}),
                "a.b",
                json!({"a": {"x": 1, "b": "v"}}),
            ),
            (json!({"a": {"b": 1}}), "a.b", json!({"a": {"b": "v"}})),
            (
                json!({"a": {"b": {"deep": [1]}}}),
                "a.b",
                json!({"a": {"b": "v"}}),
            ),
            // Escaped dots and forced keys.
            (json!({}), r"a\.b", json!({"a.b": "v"})),
            (
                json!({"x": {"a.b": 1}}),
                r"x.a\.b",
                json!({"x": {"a.b": "v"}}),
            ),
            (json!({}), r"x.a\.b.c", json!({"x": {"a.b": {"c": "v"}}})),
            (json!({}), r"a\:b", json!({"a:b": "v"})),
            (
                json!({}),
                "users.:2313.name",
                json!({"users": {"2313": {"name": "v"}}}),
            ),
            (
                json!({"users": {"7": 1}}),
                "users.:7",
                json!({"users": {"7": "v"}}),
            ),
            // Arrays: replace, pad with nulls, append.
            (
                json!({"arr": ["a", "b"]}),
                "arr.1",
                json!({"arr": ["a", "v"]}),
            ),
            (
                json!({"arr": ["a", "b"]}),
                "arr.2",
                json!({"arr": ["a", "b", "v"]}),
            ),
            (
                json!({"arr": ["a", "b"]}),
                "arr.4",
                json!({"arr": ["a", "b", null, null, "v"]}),
            ),
            (
                json!({"arr": []}),
                "arr.2",
                json!({"arr": [null, null, "v"]}),
            ),
            (json!({"arr": ["a"]}), "arr.-1", json!({"arr": ["a", "v"]})),
            (json!({"arr": []}), "arr.-1", json!({"arr": ["v"]})),
            (json!({"arr": ["a"]}), "arr.01", json!({"arr": ["a", "v"]})),
            (
                json!({"arr": [{"n": 1}]}),
                "arr.0.n",
                json!({"arr": [{"n": "v"}]}),
            ),
            (
                json!({"arr": [{"n": 1}]}),
                "arr.0.m",
                json!({"arr": [{"n": 1, "m": "v"}]}),
            ),
            (
                json!({"arr": [[1]]}),
                "arr.0.-1",
                json!({"arr": [[1, "v"]]}),
            ),
            // Missing levels: numeric or -1 next component makes an array.
            (json!({}), "list.2", json!({"list": [null, null, "v"]})),
            (json!({}), "list.0.name", json!({"list": [{"name": "v"}]})),
            (json!({}), "list.-1", json!({"list": ["v"]})),
            (json!({}), "list.-1.x", json!({"list": [{"x": "v"}]})),
            (json!({}), "m.:0", json!({"m": {"0": "v"}})),
            (json!({}), "a.", json!({"a": ["v"]})),
            // A numeric key on an existing object is an object key.
            (json!({"o": {}}), "o.0", json!({"o": {"0": "v"}})),
            (json!({"o": {"1": "x"}}), "o.1", json!({"o": {"1": "v"}})),
            (json!({"o": {}}), "o.-1", json!({"o": {"-1": "v"}})),
            // Scalars in the way are replaced.
            (json!({"a": "x"}), "a.b", json!({"a": {"b": "v"}})),
            (json!({"a": 5}), "a.0", json!({"a": ["v"]})),
            (json!({"a": null}), "a.2", json!({"a": [null, null, "v"]})),
            (json!({"a": true}), "a.-1", json!({"a": {"-1": "v"}})),
            (json!({"a": ""}), "a.:3", json!({"a": {"3": "v"}})),
            (Value::Null, "x", json!({"x": "v"})),
            (Value::Null, "0", json!(["v"])),
            (json!("scalar"), "k.1", json!({"k": [null, "v"]})),
        ];
        for (doc, path, want) in cases {
            assert_eq!(after(doc.clone(), path, json!("v")), want, "{doc} {path}");
        }
    }

    #[test]
    fn values_of_every_type_are_inserted_as_is() {
        let doc = after(json!({}), "a", json!({"k": [1, 2.5, null, true]}));
        assert_eq!(doc, json!({"a": {"k": [1, 2.5, null, true]}}));
        assert_eq!(after(json!({"a": 1}), "a", Value::Null), json!({"a": null}));
    }

    #[test]
    fn new_keys_keep_document_order() {
        let doc = after(json!({"z": 1, "a": 2}), "m", json!(3));
        let keys: Vec<&String> = doc.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn set_errors() {
        let cases: &[(Value, &str, &str)] = &[
            (json!({}), "", "path cannot be empty"),
            (
                json!({"arr": [1]}),
                "arr.x",
                "cannot set array element for non-numeric key 'x'",
            ),
            (
                json!({"arr": [1]}),
                "arr.:5",
                "cannot set array element for non-numeric key '5'",
            ),
            (
                json!([]),
                "name",
                "cannot set array element for non-numeric key 'name'",
            ),
            (
                json!({}),
                "a.100001",
                "array index in dest path 'a.100001' is too large (at most 100000)",
            ),
            (
                json!({"a": []}),
                "a.99999999999999999999999",
                "array index in dest path 'a.99999999999999999999999' is too large (at most 100000)",
            ),
        ];
        for (doc, path, want) in cases {
            let mut doc = doc.clone();
            let before = doc.clone();
            assert_eq!(
                set(&mut doc, path, json!("v")),
                Err((*want).to_owned()),
                "{path}"
            );
            assert_eq!(doc, before, "{path} must not change the document");
        }
        for path in ["a.#", "a|b", "a.@this", "fr*", "a.b?", "list.#(x==1).y"] {
            let err = set(&mut json!({}), path, json!(1)).expect_err(path);
            assert!(
                err.starts_with(&format!("dest path '{path}' contains '")),
                "{err}"
            );
        }
        assert_eq!(after(json!({}), r"a\#b", json!(1)), json!({"a#b": 1}));
    }

    #[test]
    fn get_str_rules() {
        let doc = json!({
            "name": "x", "a.b": 1, "arr": ["p", {"q": 2}], "nested": {"deep": {"k": true}},
            "num": {"0": "zero"}, "fav": "movie"
        });
        let cases: &[(&str, Option<Value>)] = &[
            ("name", Some(json!("x"))),
            (r"a\.b", Some(json!(1))),
            ("arr.0", Some(json!("p"))),
            ("arr.1.q", Some(json!(2))),
            ("arr.01", Some(json!({"q": 2}))),
            ("arr", Some(json!(["p", {"q": 2}]))),
            ("nested.deep.k", Some(json!(true))),
            ("num.0", Some(json!("zero"))),
            ("n?me", Some(json!("x"))),
            ("ne*.deep", Some(json!({"k": true}))),
            ("fa*", Some(json!("movie"))),
            (r"n\?me", None),
            ("arr.-1", None),
            ("arr.2", None),
            ("arr.x", None),
            ("arr.", None),
            ("name.x", None),
            ("missing", None),
            ("", None),
            ("arr.#", None),
            ("arr|0", None),
            ("@this", None),
            ("[name]", None),
            ("..0", None),
        ];
        for (path, want) in cases {
            assert_eq!(get_str(&doc, path).cloned(), *want, "{path}");
        }
    }

    #[test]
    fn get_then_set_round_trip_for_append() {
        let mut doc = json!({"spec": {"args": ["a"]}});
        let current = get_str(&doc, "spec.args.0").map(crate::jsonpath::go_string_of);
        let appended = format!("{}-suffix", current.unwrap_or_default());
        set(&mut doc, "spec.args.0", Value::String(appended)).expect("set");
        assert_eq!(doc, json!({"spec": {"args": ["a-suffix"]}}));
    }
}
