//! The `argo-events-controller render` binary on corpus examples.

use std::process::Command;

#[test]
fn render_json_prints_one_array_and_notes_on_stderr() {
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/argo-events-examples"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_argo-events-controller"))
        .args([
            "render",
            "-f",
            &format!("{corpus}/event-sources/webhook.yaml"),
            "-f",
            &format!("{corpus}/sensors/special-workflow-trigger.yaml"),
            "-o",
            "json",
            "-n",
            "argo-events",
            "--image",
            "img:1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(objects.len(), 3);
    assert_eq!(
        objects[0]["spec"]["template"]["spec"]["containers"][0]["image"],
        "img:1"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("synthetic ready JetStream bus"), "{stderr}");
}

#[test]
fn render_fails_on_missing_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_argo-events-controller"))
        .args(["render", "-f", "/nonexistent/x.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.yaml"));
}

/// The shipped ConfigMap is taken as it is: its `controller-config.yaml` key is the
/// configuration, and the JetStream images come from it.
#[test]
fn render_takes_the_shipped_controller_config_map() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO_BIN_EXE_argo-events-controller"))
        .args([
            "render",
            "-f",
            &format!("{root}/manifests/base/eventbus/eventbus-default.yaml"),
            "--controller-config",
            &format!("{root}/manifests/base/controller/controller-config.yaml"),
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let sts = objects
        .iter()
        .find(|o| o["kind"] == "StatefulSet")
        .expect("the bus StatefulSet");
    let image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.starts_with("nats:2.10.29"), "{image}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("placeholders"), "{stderr}");
}
