//! Bounds on a YAML text checked before it is decoded, so hostile input fails fast with the
//! right error instead of exhausting time or memory: nesting depth (the decoder's own limit,
//! reached only after quadratic work on 100 000-deep flow collections) and the bytes alias
//! expansion would produce (a 1 MB anchor referenced 10 000 times is 10 GB of values; the
//! decoder bounds alias *count* only).
//!
//! The check walks the parse events of `saphyr-parser` (no tree is built): a node's expanded
//! size is its scalar bytes, or the sum of its children, or for an alias the expanded size of
//! the node its anchor names. Where that parser rejects the text for another reason, the
//! decoder's verdict stands (the syntax error is reported by it, as before).

use saphyr_parser::{Event, Parser};

/// Deepest nesting accepted: the decoder's recursion limit.
pub const MAX_DEPTH: usize = 128;
/// Expansion always allowed, whatever the text's size.
pub const MIN_EXPANSION_BUDGET: usize = 16 << 20;
/// Beyond [`MIN_EXPANSION_BUDGET`], how many times its own size a text may expand to.
pub const EXPANSION_FACTOR: usize = 4;

/// Why a text is refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels at line {line} column {column}")]
    TooDeep {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Aliases would expand past the budget.
    #[error(
        "aliases would expand this document past {budget} bytes (at line {line} column {column}); \
         the budget is {EXPANSION_FACTOR}× the file or {MIN_EXPANSION_BUDGET} bytes, whichever is larger"
    )]
    ExpansionTooLarge {
        /// The budget in bytes.
        budget: usize,
        /// 1-based line of the alias that crossed it.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

/// The budget for a text of `len` bytes.
pub fn expansion_budget(len: usize) -> usize {
    MIN_EXPANSION_BUDGET.max(len.saturating_mul(EXPANSION_FACTOR))
}

/// Checks `text` (one or more YAML documents) against the bounds; on a refusal, the 0-based
/// index of the document where it happened.
pub fn check(text: &str) -> Result<(), (usize, Refusal)> {
    let mut index = 0usize;
    let mut started = false;
    check_counting(text, &mut index, &mut started).map_err(|r| (index, r))
}

fn check_counting(text: &str, index: &mut usize, started: &mut bool) -> Result<(), Refusal> {
    let budget = expansion_budget(text.len());
    // Expanded size of each anchored node, by anchor id.
    let mut anchors: Vec<usize> = Vec::new();
    // Open collections: (anchor id, expanded size so far).
    let mut open: Vec<(usize, usize)> = Vec::new();
    // Expanded size of the current document.
    let mut document = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(x) => x,
            Err(e) if e.info().contains("recursion limit") => {
                return Err(Refusal::TooDeep {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                });
            }
            // Not ours to judge: the decoder reports the syntax error.
            Err(_) => return Ok(()),
        };
        let at = (span.start.line(), span.start.col() + 1);
        // A completed node: its anchor and expanded size.
        let done = match event {
            Event::DocumentStart(_) => {
                if *started {
                    *index += 1;
                }
                *started = true;
                document = 0;
                None
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(Refusal::TooDeep {
                        line: at.0,
                        column: at.1,
                    });
                }
                open.push((anchor, 2));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => open.pop(),
            Event::Scalar(value, _, anchor, _) => Some((anchor, value.len() + 1)),
            Event::Alias(anchor) => Some((0, anchors.get(anchor).copied().unwrap_or(1))),
            _ => None,
        };
        let Some((anchor, size)) = done else { continue };
        if anchor > 0 {
            if anchors.len() <= anchor {
                anchors.resize(anchor + 1, 0);
            }
            anchors[anchor] = size;
        }
        let total = match open.last_mut() {
            Some((_, parent)) => {
                *parent = parent.saturating_add(size);
                document.saturating_add(size)
            }
            None => {
                document = document.saturating_add(size);
                document
            }
        };
        // Every open ancestor will carry this size too: checking the innermost parent and the
        // document's completed part bounds what any of them can reach.
        let open_total = open.first().map(|(_, s)| *s).unwrap_or(0);
        if total > budget || open_total > budget {
            return Err(Refusal::ExpansionTooLarge {
                budget,
                line: at.0,
                column: at.1,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_manifests_pass() {
        let text = "a: &x {b: [1, 2], c: d}\ne: *x\nf:\n  - *x\n  - g: h\n---\nk: v\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn depth_is_bounded_before_any_decoding() {
        let ok = format!(
            "a: {}{}\n",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(
            check(&ok),
            Ok(()),
            "the root mapping plus {} sequences",
            MAX_DEPTH - 1
        );
        let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            matches!(check(&deep), Err((0, Refusal::TooDeep { line: 1, .. }))),
            "{:?}",
            check(&deep)
        );
        let block: String = (0..200)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect();
        assert!(matches!(check(&block), Err((0, Refusal::TooDeep { .. }))));
    }

    #[test]
    fn alias_expansion_is_bounded_in_bytes() {
        let big = "x".repeat(1_000_000);
        let mut text = format!("data:\n  big: &big \"{big}\"\n  refs:\n");
        for _ in 0..10_000 {
            text.push_str("  - *big\n");
        }
        let (index, err) = check(&format!("a: 1\n---\n{text}")).expect_err("10 GB of expansion");
        assert!(matches!(err, Refusal::ExpansionTooLarge { .. }), "{err}");
        assert_eq!(index, 1, "the second document");
        // Nested anchors multiply: each level doubles; 40 levels is a terabyte.
        let mut nested = String::from("a0: &a0 [x, x]\n");
        for i in 1..40 {
            nested.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        assert!(matches!(
            check(&nested),
            Err((0, Refusal::ExpansionTooLarge { .. }))
        ));
        // A few references to a small anchor are fine.
        let mut fine = String::from("base: &b {image: x, resources: {limits: {cpu: 1}}}\n");
        for i in 0..1000 {
            fine.push_str(&format!("c{i}: *b\n"));
        }
        assert_eq!(check(&fine), Ok(()));
    }

    #[test]
    fn other_syntax_errors_are_left_to_the_decoder() {
        assert_eq!(check("a: [1, 2\n"), Ok(()));
    }
}
