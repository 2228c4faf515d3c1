//! `filter.labels` as the label selector of the list and watch requests, built and checked as
//! upstream builds it (apimachinery's `labels.NewRequirement` and `Selector.String()`).
//!
//! Each selector is one requirement: `operation` is taken as written (empty means `=`);
//! `exists` and `!` take no value (an empty `value`), `in` and `notin` split `value` on commas
//! (nothing trimmed), every other operation takes `value` as its one value. Keys must be
//! qualified names, values valid label values, `gt`/`lt` values integers. The selector text
//! lists the requirements sorted by key (stable), values of a multi-valued requirement sorted.

use argo_events_api::Selector;

/// The operations of a label requirement, as apimachinery's `selection.Operator` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

impl Operation {
    fn parse(op: &str) -> Option<Operation> {
        Some(match op {
            "" | "=" => Operation::Equals,
            "==" => Operation::DoubleEquals,
            "!=" => Operation::NotEquals,
            "in" => Operation::In,
            "notin" => Operation::NotIn,
            "exists" => Operation::Exists,
            "!" => Operation::DoesNotExist,
            "gt" => Operation::GreaterThan,
            "lt" => Operation::LessThan,
            _ => return None,
        })
    }
}

struct Requirement<'a> {
    key: &'a str,
    operation: Operation,
    values: Vec<&'a str>,
}

impl Requirement<'_> {
    fn text(&self) -> String {
        let mut values = self.values.clone();
        values.sort_unstable();
        let joined = values.join(",");
        match self.operation {
            Operation::Exists => self.key.to_owned(),
            Operation::DoesNotExist => format!("!{}", self.key),
            Operation::Equals => format!("{}={joined}", self.key),
            Operation::DoubleEquals => format!("{}=={joined}", self.key),
            Operation::NotEquals => format!("{}!={joined}", self.key),
            Operation::In => format!("{} in ({joined})", self.key),
            Operation::NotIn => format!("{} notin ({joined})", self.key),
            Operation::GreaterThan => format!("{}>{joined}", self.key),
            Operation::LessThan => format!("{}<{joined}", self.key),
        }
    }
}

/// The label selector of `selectors`; empty when there are none. The error names the first
/// selector that is not a valid requirement (`labels[1]: …`) and every problem with it.
pub(crate) fn label_selector(selectors: &[Selector]) -> Result<String, String> {
    let mut requirements = Vec::with_capacity(selectors.len());
    for (i, selector) in selectors.iter().enumerate() {
        let requirement = requirement(selector)
            .map_err(|problems| format!("labels[{i}]: {}", problems.join("; ")))?;
        requirements.push(requirement);
    }
    requirements.sort_by(|a, b| a.key.cmp(b.key));
    Ok(requirements
        .iter()
        .map(Requirement::text)
        .collect::<Vec<_>>()
        .join(","))
}

fn requirement(selector: &Selector) -> Result<Requirement<'_>, Vec<String>> {
    let key = selector.key.as_str();
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = check_qualified_name(key) {
        problems.push(format!("key {key:?}: {e}"));
    }
    let Some(operation) = Operation::parse(&selector.operation) else {
        problems.push(format!(
            "operation {:?} is not supported (=, ==, !=, in, notin, exists, !, gt, lt)",
            selector.operation
        ));
        return Err(problems);
    };
    let values: Vec<&str> = match operation {
        Operation::Exists | Operation::DoesNotExist if selector.value.is_empty() => Vec::new(),
        Operation::In | Operation::NotIn => selector.value.split(',').collect(),
        _ => vec![selector.value.as_str()],
    };
    match operation {
        Operation::Exists | Operation::DoesNotExist if !values.is_empty() => {
            problems.push(format!(
                "operation {:?} takes no value (value {:?} must be empty)",
                selector.operation, selector.value
            ));
        }
        Operation::GreaterThan | Operation::LessThan if selector.value.parse::<i64>().is_err() => {
            problems.push(format!(
                "value {:?}: operation {:?} needs an integer",
                selector.value, selector.operation
            ));
        }
        _ => {}
    }
    for value in &values {
        if let Err(e) = check_label_value(value) {
            problems.push(format!("value {value:?}: {e}"));
        }
    }
    if problems.is_empty() {
        Ok(Requirement {
            key,
            operation,
            values,
        })
    } else {
        Err(problems)
    }
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters.
fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("the prefix before '/' must not be empty".into());
        }
        check_dns_subdomain(prefix)?;
    }
    if name.is_empty() {
        return Err("the name part must not be empty".into());
    }
    if name.len() > 63 {
        return Err("the name part must be at most 63 characters".into());
    }
    if !is_label_text(name) {
        return Err(
            "the name part must consist of alphanumeric characters, '-', '_' or '.', and start \
             and end with an alphanumeric character"
                .into(),
        );
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters of the label-name alphabet.
fn check_label_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err("a label value must be at most 63 characters".into());
    }
    if !value.is_empty() && !is_label_text(value) {
        return Err(
            "a label value must be empty or consist of alphanumeric characters, '-', '_' or \
             '.', and start and end with an alphanumeric character"
                .into(),
        );
    }
    Ok(())
}

fn is_label_text(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated lower-case labels.
fn check_dns_subdomain(s: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        bytes.first().is_some_and(alnum)
            && bytes.last().is_some_and(alnum)
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    };
    if s.len() > 253 || !s.split('.').all(label_ok) {
        return Err(format!(
            "the prefix {s:?} must be a DNS subdomain (lower-case alphanumeric characters, '-' \
             and '.', at most 253 characters)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(key: &str, operation: &str, value: &str) -> Selector {
        Selector {
            key: key.into(),
            operation: operation.into(),
            value: value.into(),
        }
    }

    #[test]
    fn selectors_render_as_apimachinery_prints_them() {
        let cases: Vec<(Vec<Selector>, &str)> = vec![
            (vec![], ""),
            (vec![sel("app", "", "web")], "app=web"),
            (vec![sel("app", "=", "web")], "app=web"),
            (vec![sel("app", "==", "web")], "app==web"),
            (vec![sel("app", "!=", "web")], "app!=web"),
            (vec![sel("app", "=", "")], "app="),
            (vec![sel("tier", "in", "b,a,c")], "tier in (a,b,c)"),
            (vec![sel("tier", "notin", "x")], "tier notin (x)"),
            (vec![sel("tier", "in", "a,a")], "tier in (a,a)"),
            (vec![sel("tier", "in", "")], "tier in ()"),
            (vec![sel("gpu", "exists", "")], "gpu"),
            (vec![sel("gpu", "!", "")], "!gpu"),
            (vec![sel("replicas", "gt", "2")], "replicas>2"),
            (vec![sel("replicas", "lt", "10")], "replicas<10"),
            (
                vec![sel("example.com/team", "=", "a.b_c-d")],
                "example.com/team=a.b_c-d",
            ),
            // Sorted by key, stably (two requirements on one key keep their order).
            (
                vec![
                    sel("z", "=", "1"),
                    sel("b", "!=", "2"),
                    sel("b", "exists", ""),
                    sel("a", "in", "y,x"),
                ],
                "a in (x,y),b!=2,b,z=1",
            ),
        ];
        for (selectors, want) in cases {
            assert_eq!(
                label_selector(&selectors).as_deref(),
                Ok(want),
                "{selectors:?}"
            );
        }
    }

    #[test]
    fn invalid_requirements_are_refused_naming_the_selector() {
        let cases = [
            (
                sel("app", "=~", "web"),
                "labels[0]: operation \"=~\" is not supported",
            ),
            (sel("app", "exists", "yes"), "takes no value"),
            (sel("app", "!", "no"), "takes no value"),
            (sel("n", "gt", "two"), "needs an integer"),
            (sel("n", "lt", ""), "needs an integer"),
            (sel("n", "gt", "1.5"), "needs an integer"),
            // An integer, but not a label value: apimachinery checks both.
            (
                sel("n", "lt", "-1"),
                "value \"-1\": a label value must be empty",
            ),
            (
                sel("", "=", "x"),
                "key \"\": the name part must not be empty",
            ),
            (sel("-app", "=", "x"), "start and end with an alphanumeric"),
            (sel("a/b/c", "=", "x"), "start and end with an alphanumeric"),
            (
                sel("/app", "=", "x"),
                "the prefix before '/' must not be empty",
            ),
            (sel("Example.com/app", "=", "x"), "must be a DNS subdomain"),
            (sel(&"k".repeat(64), "=", "x"), "at most 63 characters"),
            (
                sel("app", "=", "a b"),
                "value \"a b\": a label value must be empty",
            ),
            (sel("app", "in", "a, b"), "value \" b\""),
            (sel("app", "=", &"v".repeat(64)), "at most 63 characters"),
            (
                sel("app", "=", "web-"),
                "start and end with an alphanumeric",
            ),
        ];
        for (selector, want) in cases {
            let selectors = [sel("ok", "=", "fine"), selector];
            let err = label_selector(&selectors).expect_err(want);
            assert!(err.starts_with("labels[1]: "), "{err}");
            assert!(
                err.contains(want.trim_start_matches("labels[0]: ")),
                "{err:?} lacks {want:?}"
            );
        }
    }
}
