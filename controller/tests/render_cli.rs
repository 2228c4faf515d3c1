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
