//! Go `regexp` (RE2) syntax on the Rust `regex` engine.

use regex::Regex;

/// Compiles a Go `regexp` (RE2) pattern with Go's meaning: `\d \w \s \b` are ASCII-only,
/// `{` that does not start a repeat is literal, `\Q…\E` quotes, `[` and `&&`/`~~` inside a
/// class are literal, `\<`/`\>` are plain `<`/`>`, octal escapes are allowed, and stacked
/// repetitions (`a**`) or counts above 1000 are rejected as Go rejects them.
pub fn compile_go_regex(pattern: &str) -> Result<Regex, String> {
    let translated = go_regex_to_rust(pattern).map_err(|e| format!("error parsing regexp: {e}"))?;
    regex::RegexBuilder::new(&translated)
        .octal(true)
        .build()
        .map_err(|err| {
            let detail = err.to_string();
            let last = detail.lines().last().unwrap_or("").trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            format!("error parsing regexp: {last}: `{pattern}`")
        })
}

/// Rewrites Go RE2 syntax into equivalent Rust `regex` syntax (see [`compile_go_regex`]);
/// errors are Go's texts for the checks Rust would not make.
pub fn go_regex_to_rust(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut repeat = RepeatState::default();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' | '+' | '?' => {
                repeat.operator(&chars, i, i)?;
                out.push(c);
                i += 1;
                continue;
            }
            '{' => {
                if let Some(end) = repeat_end(&chars, i) {
                    check_repeat_count(&chars[i..=end])?;
                    repeat.operator(&chars, i, end)?;
                    out.extend(&chars[i..=end]);
                    i = end + 1;
                    continue;
                }
                out.push_str("\\{");
                i += 1;
            }
            '\\' => i = translate_escape(&chars, i, &mut out, false),
            '[' => i = translate_class(&chars, i, &mut out),
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
        repeat = RepeatState::default();
    }
    Ok(out)
}

/// Tracks the previous repetition operator: Go forbids stacking them (`a**`, `a+*`, `a{2}*`)
/// but allows one `?` right after as the non-greedy marker.
#[derive(Default)]
struct RepeatState {
    start: Option<usize>,
    lazy_taken: bool,
}

impl RepeatState {
    fn operator(&mut self, chars: &[char], start: usize, end: usize) -> Result<(), String> {
        match self.start {
            Some(_) if chars[start] == '?' && !self.lazy_taken => {
                self.lazy_taken = true;
                Ok(())
            }
            Some(previous) => {
                let span: String = chars[previous..=end].iter().collect();
                Err(format!("invalid nested repetition operator: `{span}`"))
            }
            None => {
                *self = RepeatState {
                    start: Some(start),
                    lazy_taken: false,
                };
                Ok(())
            }
        }
    }
}

/// Go allows repeat counts up to 1000.
fn check_repeat_count(repeat: &[char]) -> Result<(), String> {
    let text: String = repeat.iter().collect();
    let too_big = text[1..text.len() - 1]
        .split(',')
        .any(|n| n.parse::<u32>().map_or(!n.is_empty(), |n| n > 1000));
    if too_big {
        return Err(format!("invalid repeat count: `{text}`"));
    }
    Ok(())
}

/// Index of the `}` closing a valid Go repeat `{n}`, `{n,}` or `{n,m}` starting at `start`.
fn repeat_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    let digits_from = i;
    while chars.get(i).is_some_and(char::is_ascii_digit) {
        i += 1;
    }
    if i == digits_from {
        return None;
    }
    if chars.get(i) == Some(&',') {
        i += 1;
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
    }
    (chars.get(i) == Some(&'}')).then_some(i)
}

fn translate_escape(chars: &[char], at: usize, out: &mut String, in_class: bool) -> usize {
    let Some(&next) = chars.get(at + 1) else {
        out.push('\\');
        return at + 1;
    };
    const SPACE: &str = "\\t\\n\\x0C\\r ";
    const WORD: &str = "0-9A-Za-z_";
    match next {
        'd' if in_class => out.push_str("0-9"),
        'd' => out.push_str("[0-9]"),
        'D' => out.push_str("[^0-9]"),
        'w' if in_class => out.push_str(WORD),
        'w' => out.push_str(&format!("[{WORD}]")),
        'W' => out.push_str(&format!("[^{WORD}]")),
        's' if in_class => out.push_str(SPACE),
        's' => out.push_str(&format!("[{SPACE}]")),
        'S' => out.push_str(&format!("[^{SPACE}]")),
        'b' if !in_class => out.push_str("(?-u:\\b)"),
        'B' if !in_class => out.push_str("(?-u:\\B)"),
        '<' | '>' => out.push(next),
        'Q' if !in_class => return translate_quoted(chars, at + 2, out),
        'p' | 'P' | 'x' if chars.get(at + 2) == Some(&'{') => {
            // `\p{Greek}`, `\x{263a}`: copy the braced argument untouched.
            let end = chars[at + 2..]
                .iter()
                .position(|c| *c == '}')
                .map_or(chars.len(), |n| at + 2 + n + 1);
            out.extend(&chars[at..end]);
            return end;
        }
        _ => {
            out.push('\\');
            out.push(next);
        }
    }
    at + 2
}

fn translate_quoted(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut i = start;
    let mut literal = String::new();
    while i < chars.len() {
        if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
            out.push_str(&regex::escape(&literal));
            return i + 2;
        }
        literal.push(chars[i]);
        i += 1;
    }
    out.push_str(&regex::escape(&literal));
    i
}

fn translate_class(chars: &[char], at: usize, out: &mut String) -> usize {
    out.push('[');
    let mut i = at + 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            ']' => {
                out.push(']');
                return i + 1;
            }
            '[' if chars.get(i + 1) == Some(&':') => match posix_class_end(chars, i) {
                Some(end) => {
                    out.extend(&chars[i..=end]);
                    i = end + 1;
                    continue;
                }
                None => out.push_str("\\["),
            },
            '[' => out.push_str("\\["),
            '\\' => {
                i = translate_escape(chars, i, out, true);
                continue;
            }
            c @ ('&' | '~') => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        i += 1;
    }
    i
}

/// End (the closing `]`) of a `[:name:]` / `[:^name:]` POSIX class starting at `at`.
fn posix_class_end(chars: &[char], at: usize) -> Option<usize> {
    let mut i = at + 2;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    while chars.get(i).is_some_and(char::is_ascii_lowercase) {
        i += 1;
    }
    (chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&']')).then_some(i + 1)
}
