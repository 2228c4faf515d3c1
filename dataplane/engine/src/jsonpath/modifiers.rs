//! The Go-only gjson modifiers (`@keys`, `@values`, `@tostr`, `@fromstr`, `@group`) that the
//! Rust `gjson` crate lacks, evaluated around it.

use std::borrow::Cow;

use super::{Found, get, plain_get};

const EXTRA_MODIFIERS: [&str; 5] = ["keys", "values", "tostr", "fromstr", "group"];

/// Every modifier name Go gjson v1.17 knows (`dig` is known but not evaluated here).
const GO_MODIFIERS: [&str; 13] = [
    "this", "reverse", "ugly", "pretty", "valid", "flatten", "join", "keys", "values", "tostr",
    "fromstr", "group", "dig",
];

/// Where a Go-only modifier sits in a path: the input path before it, the modifier name and
/// the path applied to its output.
pub(super) struct ModifierSplit<'p> {
    before: Option<&'p str>,
    name: &'p str,
    after: Option<&'p str>,
}

/// An `@` starting a path component outside queries and multipaths.
struct ComponentAt {
    at: usize,
    /// The `@` follows a `.` inside a `#` group, where it applies to each element.
    in_hash_group: bool,
}

fn component_ats(path: &str) -> Vec<ComponentAt> {
    let mut found = Vec::new();
    if !path.contains('@') {
        return found;
    }
    let bytes = path.as_bytes();
    let (mut depth, mut in_hash_group, mut i) = (0usize, false, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' if depth > 0 => i = skip_quoted(bytes, i),
            b'#' if depth == 0 => in_hash_group = true,
            b'|' if depth == 0 => in_hash_group = false,
            b'@' if depth == 0 => {
                let previous = i.checked_sub(1).map(|p| bytes[p]);
                let starts_component = match previous {
                    None | Some(b'|') => true,
                    Some(b'.') => !escaped(bytes, i - 1),
                    Some(_) => false,
                };
                if starts_component {
                    found.push(ComponentAt {
                        at: i,
                        in_hash_group: in_hash_group && previous == Some(b'.'),
                    });
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn modifier_name(path: &str, at: usize) -> &str {
    let rest = &path[at + 1..];
    &rest[..rest.find(['.', '|', ':']).unwrap_or(rest.len())]
}

/// Go gjson reads `@name` as a plain key when `name` is not a modifier (`body.@timestamp`);
/// the Rust crate would try a modifier and find nothing, so such `@`s are escaped.
pub(super) fn escape_non_modifiers(path: &str) -> Cow<'_, str> {
    let keys: Vec<usize> = component_ats(path)
        .into_iter()
        .map(|c| c.at)
        .filter(|at| !GO_MODIFIERS.contains(&modifier_name(path, *at)))
        .collect();
    if keys.is_empty() {
        return Cow::Borrowed(path);
    }
    let mut escaped = String::with_capacity(path.len() + keys.len());
    let mut copied = 0;
    for at in keys {
        escaped.push_str(&path[copied..at]);
        escaped.push('\\');
        copied = at;
    }
    escaped.push_str(&path[copied..]);
    Cow::Owned(escaped)
}

/// The first Go-only modifier the wrapper must evaluate itself, if any.
pub(super) fn find_extra_modifier(path: &str) -> Option<ModifierSplit<'_>> {
    component_ats(path)
        .into_iter()
        .filter(|c| !c.in_hash_group)
        .find_map(|c| split_at_modifier(path, c.at))
}

fn escaped(bytes: &[u8], at: usize) -> bool {
    let slashes = bytes[..at]
        .iter()
        .rev()
        .take_while(|b| **b == b'\\')
        .count();
    slashes % 2 == 1
}

fn skip_quoted(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

fn split_at_modifier(path: &str, at: usize) -> Option<ModifierSplit<'_>> {
    let name = modifier_name(path, at);
    if !EXTRA_MODIFIERS.contains(&name) {
        return None;
    }
    let name_len = name.len();
    let mut end = at + 1 + name_len;
    if path.as_bytes().get(end) == Some(&b':') {
        end = skip_modifier_arg(path, end + 1);
    }
    let before = (at > 0).then(|| &path[..at - 1]);
    let after = (end < path.len()).then(|| &path[end + 1..]);
    Some(ModifierSplit {
        before,
        name,
        after,
    })
}

/// Skips a modifier argument: a JSON value (`{…}`, `[…]`, `"…"`) or text up to `.`/`|`.
fn skip_modifier_arg(path: &str, start: usize) -> usize {
    let bytes = path.as_bytes();
    match bytes.get(start) {
        Some(b'"') => (skip_quoted(bytes, start) + 1).min(bytes.len()),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => i = skip_quoted(bytes, i),
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            bytes.len()
        }
        _ => path[start..]
            .find(['.', '|'])
            .map_or(path.len(), |n| start + n),
    }
}

pub(super) fn get_with_modifier<'a>(json: &'a str, split: &ModifierSplit<'_>) -> Option<Found<'a>> {
    let input: Cow<'a, str> = match split.before {
        None => Cow::Borrowed(json),
        Some(before) => plain_get(json, before)?.raw,
    };
    let output = apply_modifier(split.name, &input);
    if output.is_empty() {
        return None;
    }
    match split.after {
        None => Found::from_raw(Cow::Owned(output)).map(Found::into_owned),
        Some(after) => get(&output, after).map(Found::into_owned),
    }
}

fn apply_modifier(name: &str, json: &str) -> String {
    match name {
        "keys" => modifier_keys(json),
        "values" => modifier_values(json),
        "tostr" => go_json_string(json),
        "fromstr" => {
            if gjson::valid(json) {
                gjson::parse(json).str().to_owned()
            } else {
                String::new()
            }
        }
        "group" => modifier_group(json),
        _ => String::new(),
    }
}

fn modifier_keys(json: &str) -> String {
    let value = gjson::parse(json);
    if !value.exists() {
        return "[]".to_owned();
    }
    let is_object = value.kind() == gjson::Kind::Object;
    let mut parts = Vec::new();
    value.each(|key, _| {
        parts.push(if is_object {
            key.json().to_owned()
        } else {
            "null".to_owned()
        });
        true
    });
    format!("[{}]", parts.join(","))
}

fn modifier_values(json: &str) -> String {
    let value = gjson::parse(json);
    if !value.exists() {
        return "[]".to_owned();
    }
    if value.kind() == gjson::Kind::Array {
        return json.to_owned();
    }
    let mut parts = Vec::new();
    value.each(|_, v| {
        parts.push(v.json().to_owned());
        true
    });
    format!("[{}]", parts.join(","))
}

fn modifier_group(json: &str) -> String {
    let value = gjson::parse(json);
    if value.kind() != gjson::Kind::Object {
        return String::new();
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    value.each(|key, column| {
        if column.kind() == gjson::Kind::Array {
            let mut idx = 0;
            column.each(|_, cell| {
                if idx == rows.len() {
                    rows.push(Vec::new());
                }
                rows[idx].push(format!("{}:{}", key.json(), cell.json()));
                idx += 1;
                true
            });
        }
        true
    });
    let objects: Vec<String> = rows
        .iter()
        .map(|r| format!("{{{}}}", r.join(",")))
        .collect();
    format!("[{}]", objects.join(","))
}

/// gjson `AppendJSONString`: a JSON string literal with `<`, `>`, `&`, U+2028/9 escaped (what
/// Go's `encoding/json` writes for a string, too).
pub fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
