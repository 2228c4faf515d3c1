//! The `argo-events` binary's own commands, without a bus or a cluster.

use std::process::{Command, Output};

#[path = "cli/otlp.rs"]
mod otlp;

const BIN: &str = env!("CARGO_BIN_EXE_argo-events");

fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn version_prints_the_build_as_text_and_json() {
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["version", "-o", "json"]).stdout).expect("JSON");
    assert_eq!(json["binary"], "argo-events");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    let text = String::from_utf8(run(&["version"]).stdout).expect("UTF-8");
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| {
            let (key, value) = l.split_once(':').expect("Key: value");
            (key, value.trim())
        })
        .collect();
    let value = |field: &str| json[field].as_str().expect("a string");
    assert_eq!(
        lines,
        [
            ("Binary", "argo-events"),
            ("Version", env!("CARGO_PKG_VERSION")),
            ("Git Commit", value("gitCommit")),
            ("Build Date", value("buildDate")),
            ("Rustc", value("rustcVersion")),
            ("Target", value("target")),
        ],
        "{text}"
    );
}

#[test]
fn version_needs_no_bus_or_object_in_the_environment() {
    // A pod's environment without EVENTBUS_CONFIG or the object: `version` still answers.
    let out = Command::new(BIN)
        .arg("version")
        .env_remove("EVENTBUS_CONFIG")
        .env_remove("SENSOR_OBJECT")
        .env_remove("EVENTSOURCE_OBJECT")
        .env("EVENTBUS_URL", "nats://127.0.0.1:1")
        .output()
        .expect("the binary runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Binary:"));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
