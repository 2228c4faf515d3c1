//! Upstream's JetStream layout, as pure functions: one stream per EventBus (named `default`),
//! subjects `<stream>.<eventSourceName>.<eventName>`, a durable consumer per Sensor dependency
//! named from an FNV-32a hash, and a key-value bucket per Sensor.

/// The stream every EventSource publishes to and every Sensor reads from.
pub const STREAM_NAME: &str = "default";
/// KV key holding the JSON array of trigger names.
pub const KV_TRIGGERS_KEY: &str = "Triggers";
/// KV key holding the JSON map of dependency name → spec hash.
pub const KV_DEPS_KEY: &str = "Deps";

/// The subject an event is published on.
pub fn subject(stream: &str, event_source: &str, event_name: &str) -> String {
    format!("{stream}.{event_source}.{event_name}")
}

/// The subjects the stream is created with.
pub fn stream_subjects(stream: &str) -> Vec<String> {
    vec![format!("{stream}.*.*")]
}

/// Whether a name can be one token of a subject (no `.`, `*`, `>` or whitespace, not empty).
pub fn is_subject_token(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace())
}

/// FNV-1a, 32 bits.
pub fn fnv32a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The durable consumer of a Sensor dependency: `group-<fnv32a("<sensor>-<trigger>-<dep>")>`.
pub fn durable_name(sensor: &str, trigger: &str, dependency: &str) -> String {
    format!(
        "group-{}",
        fnv32a(&format!("{sensor}-{trigger}-{dependency}"))
    )
}

/// The key-value bucket of a Sensor: its name.
pub fn kv_bucket(sensor: &str) -> String {
    sensor.to_owned()
}

/// KV key of a trigger's stored event for one dependency.
pub fn kv_dependency_key(trigger: &str, dependency: &str) -> String {
    format!("{trigger}/{dependency}")
}

/// KV key of a trigger's conditions expression.
pub fn kv_expression_key(trigger: &str) -> String {
    format!("{trigger}/Expression")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        assert_eq!(fnv32a(""), 0x811c_9dc5);
        assert_eq!(fnv32a("a"), 0xe40c_292c);
        assert_eq!(fnv32a("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn names_follow_upstream() {
        assert_eq!(
            subject(STREAM_NAME, "webhook", "push"),
            "default.webhook.push"
        );
        assert_eq!(stream_subjects("default"), ["default.*.*"]);
        assert_eq!(
            durable_name("s", "t", "d"),
            format!("group-{}", fnv32a("s-t-d"))
        );
        assert_eq!(kv_dependency_key("build", "push"), "build/push");
        assert_eq!(kv_expression_key("build"), "build/Expression");
    }

    #[test]
    fn subject_tokens() {
        assert!(is_subject_token("push-1_a"));
        for bad in ["", "a.b", "a*", ">", "a b"] {
            assert!(!is_subject_token(bad), "{bad:?}");
        }
    }
}
