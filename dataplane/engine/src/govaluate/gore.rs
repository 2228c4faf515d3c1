//! Compiles Go RE2 patterns with the `regex` crate, keeping Go's ASCII-only Perl classes.
//!
//! Go's `\d \w \s \b` are ASCII-only while the `regex` crate's are Unicode-aware, and inside a
//! Go character class `[`, `&&` and `~~` are plain characters while the `regex` crate
//! reads them as nested classes and set operators. This module rewrites those few spots.

use regex::Regex;

/// Compiles a Go regular expression (unanchored search, as Go's `regexp.Match`).
pub(crate) fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&translate(pattern))
}

/// Rewrites a Go pattern into an equivalent `regex`-crate pattern.
fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            out.push_str(&translate_escape(next, in_class));
            i += 2;
            continue;
        }
        if in_class {
            i = class_char(&chars, i, &mut out, &mut in_class);
            continue;
        }
        out.push(c);
        i += 1;
        if c == '[' {
            in_class = true;
            i = class_start(&chars, i, &mut out);
        }
    }
    out
}

/// Copies the `^` and a leading literal `]` that may open a class; returns the next index.
fn class_start(chars: &[char], mut i: usize, out: &mut String) -> usize {
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    i
}

/// Handles one character inside a class; returns the next index.
fn class_char(chars: &[char], i: usize, out: &mut String, in_class: &mut bool) -> usize {
    match chars[i] {
        ']' => {
            *in_class = false;
            out.push(']');
            i + 1
        }
        '[' if chars.get(i + 1) == Some(&':') => {
            // POSIX class such as [:alpha:]: copy through the closing ":]".
            let mut j = i + 2;
            while j + 1 < chars.len() && !(chars[j] == ':' && chars[j + 1] == ']') {
                j += 1;
            }
            let end = (j + 2).min(chars.len());
            out.extend(&chars[i..end]);
            end
        }
        '[' | '&' | '~' => {
            out.push('\\');
            out.push(chars[i]);
            i + 1
        }
        other => {
            out.push(other);
            i + 1
        }
    }
}

/// The replacement for `\x` (the backslash already consumed).
fn translate_escape(next: char, in_class: bool) -> String {
    match next {
        'd' => "[0-9]".to_string(),
        'D' => "[^0-9]".to_string(),
        'w' => "[0-9A-Za-z_]".to_string(),
        'W' => "[^0-9A-Za-z_]".to_string(),
        's' => "[\\t\\n\\f\\r ]".to_string(),
        'S' => "[^\\t\\n\\f\\r ]".to_string(),
        'b' if !in_class => "(?-u:\\b)".to_string(),
        'B' if !in_class => "(?-u:\\B)".to_string(),
        other => format!("\\{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_classes_are_ascii_only() {
        let cases: &[(&str, &str, bool)] = &[
            (r"^\d+$", "123", true),
            (r"^\d+$", "١٢٣", false), // Arabic-Indic digits are not \d in Go
            (r"^\w+$", "abc_9", true),
            (r"^\w+$", "é", false),
            (r"^\s$", "\u{a0}", false),
            (r"^[\d.]+$", "1.5", true),
            (r"^[^\d]+$", "abc", true),
            (r"\bfoo\b", "a foo b", true),
            (r"^[a&&b]+$", "a&b", true),
            (r"^[a~~b]+$", "~", true),
            (r"^[[:alpha:]]+$", "abc", true),
            (r"^[]a]+$", "]a", true),
            (r"^[a[]+$", "[a", true),
            (r"x\.y", "x.y", true),
            (r"x\.y", "xzy", false),
            ("(?i)ABC", "xabcx", true),
        ];
        for (pattern, input, want) in cases {
            let re = compile(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(re.is_match(input), *want, "{pattern} on {input:?}");
        }
    }

    #[test]
    fn invalid_patterns_fail() {
        for pattern in ["(", "a[", "*a", "a{2,1}"] {
            assert!(compile(pattern).is_err(), "{pattern} should not compile");
        }
    }
}
