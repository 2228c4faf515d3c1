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

#[test]
fn version_prints_the_build_as_text_and_json() {
    let bin = env!("CARGO_BIN_EXE_argo-events-controller");
    let out = Command::new(bin).arg("version").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .map(|line| line.split(':').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "Binary",
            "Version",
            "Git Commit",
            "Build Date",
            "Rustc",
            "Target"
        ],
        "{text}"
    );
    assert!(
        text.starts_with("Binary:     argo-events-controller\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Version:    {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );

    let out = Command::new(bin)
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["binary"], "argo-events-controller");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    // The text shows the same values as the JSON.
    for (key, field) in [
        ("Git Commit", "gitCommit"),
        ("Build Date", "buildDate"),
        ("Rustc", "rustcVersion"),
        ("Target", "target"),
    ] {
        let value = json[field].as_str().unwrap();
        assert!(!value.is_empty(), "{field}");
        assert!(
            text.lines()
                .any(|l| l.starts_with(key) && l.ends_with(value)),
            "{key}: {value}\n{text}"
        );
    }

    // clap's --version stays, and names the commit.
    let out = Command::new(bin).arg("--version").output().unwrap();
    let long = String::from_utf8(out.stdout).unwrap();
    assert!(
        long.starts_with(&format!(
            "argo-events-controller {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{long}"
    );
    assert!(long.contains(json["gitCommit"].as_str().unwrap()), "{long}");
}
