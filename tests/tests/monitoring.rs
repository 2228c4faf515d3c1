//! The alert rules and the Grafana dashboard (`manifests/monitoring/`), checked with promtool built
//! from Prometheus' Go module (`tests/tools/promtool`, `scripts/test-tools build promtool`):
//!
//! - `promtool check rules` accepts `rules.yaml`, and `promtool test rules` passes its unit tests
//!   (`rules.test.yaml`: each alert fires after its `for` on the series that should raise it and
//!   stays silent on healthy ones), and fails once a rule is broken;
//! - every dashboard panel's expression is valid PromQL (each becomes a recording rule of a
//!   synthetic rule file that promtool checks);
//! - every metric the rules and the dashboard name is one the code exports: the Sensor's and the
//!   EventSource's admin routers (`argo_events_runtime::metrics::admin_router`) are asked for
//!   `/metrics`, the controller's registry is encoded (`argo_events_controller::admin::Metrics`),
//!   and the webhook binary (`argo-events-webhook serve --snapshot`) is started and scraped after
//!   an allowed, a denied and a malformed review. The one outside name, `nats_consumer_num_pending`,
//!   is the EventBus pods' prometheus-nats-exporter's: the test checks that the StatefulSet runs
//!   it with `-prefix=nats -jsz=all` (its JetStream collector then names the metric so);
//! - the chart with `metrics.prometheusRule.enabled` and `metrics.dashboard.enabled` renders the
//!   same rules (promtool checks the rendered PrometheusRule's groups) and the same dashboard,
//!   its ConfigMap passes kubernetes-validate, and its options do what they say.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use argo_events_tests::tools::{self, Output};
use argo_events_tests::workspace_root;
use serde_json::{Value, json};

/// The alerts `rules.yaml` defines, in order.
const ALERTS: [&str; 8] = [
    "ArgoEventsEventSourceProcessingErrors",
    "ArgoEventsEventSourcePublishFailures",
    "ArgoEventsTriggerFailures",
    "ArgoEventsTriggerRetriesExhausted",
    "ArgoEventsConsumerLag",
    "ArgoEventsWebhookDenials",
    "ArgoEventsWebhookMalformedReviews",
    "ArgoEventsControllerReconcileErrors",
];

/// The prometheus-nats-exporter's consumer lag gauge, as the EventBus StatefulSet's `metrics`
/// container (`-prefix=nats`: the prefix replaces the JetStream collector's `jetstream`) names it.
const NATS_CONSUMER_PENDING: &str = "nats_consumer_num_pending";

fn monitoring_dir() -> PathBuf {
    workspace_root().join("manifests/monitoring")
}

fn promtool(args: &[&str], dir: &Path) -> Result<Output, String> {
    let mut cmd = Command::new(tools::promtool());
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    tools::run(cmd, &format!("promtool {}", args.join(" ")))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `rules.yaml` as JSON.
fn rules_file() -> Value {
    serde_yaml_ng::from_str(&read(&monitoring_dir().join("rules.yaml")))
        .expect("rules.yaml is YAML")
}

fn alert_names(groups: &Value) -> Vec<String> {
    groups
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read(&monitoring_dir().join("dashboard.json")))
        .expect("dashboard.json is JSON")
}

/// Every PromQL expression of the dashboard's panels: (panel title, expression).
fn dashboard_exprs(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            let expr = target["expr"].as_str().expect("a target without expr");
            out.push((title, expr.to_owned()));
        }
    }
    out
}

/// The dashboard's template variable queries (`label_values(METRIC{…}, label)`), as the PromQL
/// selector they query.
fn dashboard_variable_selectors(dash: &Value) -> Vec<String> {
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let q = v["query"]["query"]
                .as_str()
                .expect("a query variable's query");
            q.strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map(|(selector, _)| selector.to_owned())
                .unwrap_or_else(|| panic!("not a label_values(SELECTOR, LABEL) query: {q}"))
        })
        .collect()
}

/// Grafana's variables replaced by values PromQL accepts.
fn substitute_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$namespace", ".*")
        .replace("$eventsource", ".*")
        .replace("$sensor", ".*")
}

/// The metric names a PromQL expression reads: identifiers outside label matchers, strings,
/// ranges and `by (…)`-like label lists that are not functions, keywords or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 27] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        // Aggregations, which may be followed by `by (…)` rather than `(`.
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // The previous identifier, when it takes a label list in parentheses.
    let mut label_list_next = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut in_string = None;
                while i < chars.len() {
                    let d = chars[i];
                    match in_string {
                        Some(_) if d == '\\' => i += 1,
                        Some(q) if d == q => in_string = None,
                        Some(_) => {}
                        None if d == '"' || d == '\'' => in_string = Some(d),
                        None if d == close => break,
                        None => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            '"' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if label_list_next => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                label_list_next = false;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let lower = word.to_ascii_lowercase();
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&lower.as_str())
                {
                    label_list_next = true;
                } else if chars.get(j) == Some(&'(') || KEYWORDS.contains(&lower.as_str()) {
                    // A function or aggregation.
                } else {
                    names.insert(word);
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // Numbers, durations (5m) and exponents.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn monitoring_metric_name_extraction() {
    let names = metric_names(
        "histogram_quantile(0.95, sum by (le, kind) (rate(a_bucket{namespace=~\"x{y}\", \
         kind!=\"b c\"}[5m]))) / on(kind) group_left(z) b_total offset 1h > bool 1e3 \
         and max without (x) (c:d)",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["a_bucket", "b_total", "c:d"]
    );
}

/// Every name used by the rules and the dashboard.
fn used_metric_names() -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for group in rules_file()["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            used.extend(metric_names(rule["expr"].as_str().expect("expr")));
        }
    }
    let dash = dashboard();
    for (_, expr) in dashboard_exprs(&dash) {
        used.extend(metric_names(&expr));
    }
    for selector in dashboard_variable_selectors(&dash) {
        used.extend(metric_names(&selector));
    }
    used
}

#[test]
fn monitoring_rules_pass_promtool_check() {
    let out = promtool(&["check", "rules", "rules.yaml"], &monitoring_dir())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stdout
            .contains(&format!("SUCCESS: {} rules found", ALERTS.len())),
        "{}",
        out.stdout
    );
    assert_eq!(alert_names(&rules_file()["groups"]), ALERTS);
    // Every alert has a severity and a summary, and is unit-tested.
    let tests = read(&monitoring_dir().join("rules.test.yaml"));
    for group in rules_file()["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().unwrap_or_default();
            assert!(
                ["critical", "warning", "info"]
                    .contains(&rule["labels"]["severity"].as_str().unwrap_or_default()),
                "{name}: severity"
            );
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{name}: summary"
            );
            assert!(
                tests.contains(&format!("alertname: {name}\n")),
                "{name} has no case in rules.test.yaml"
            );
        }
    }
}

#[test]
fn monitoring_rule_unit_tests_pass_and_catch_a_broken_rule() {
    let out = promtool(&["test", "rules", "rules.test.yaml"], &monitoring_dir())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.stdout.contains("SUCCESS"), "{}", out.stdout);

    // The same tests against rules with a broken threshold and a dropped `for`: they fail,
    // naming the alerts.
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = read(&monitoring_dir().join("rules.yaml"));
    let broken = rules
        .replace(
            "(nats_consumer_num_pending) > 1000",
            "(nats_consumer_num_pending) > 100000",
        )
        .replace("        for: 15m\n", "");
    assert_ne!(broken, rules, "the mutations apply");
    std::fs::write(dir.path().join("rules.yaml"), broken).expect("write");
    std::fs::copy(
        monitoring_dir().join("rules.test.yaml"),
        dir.path().join("rules.test.yaml"),
    )
    .expect("copy");
    let err = promtool(&["test", "rules", "rules.test.yaml"], dir.path())
        .err()
        .expect("the unit tests fail on broken rules");
    for alert in [
        "ArgoEventsConsumerLag",
        "ArgoEventsControllerReconcileErrors",
    ] {
        assert!(err.contains(&format!("alertname: {alert}")), "{err}");
    }
}

#[test]
fn monitoring_dashboard_expressions_are_valid_promql() {
    let dash = dashboard();
    assert_eq!(dash["uid"], "argo-events-rs");
    let exprs = dashboard_exprs(&dash);
    let titles: BTreeSet<&str> = exprs.iter().map(|(t, _)| t.as_str()).collect();
    for want in [
        "Events published / s",
        "Publish failures / s",
        "Triggers / s",
        "Trigger failures / s",
        "Trigger duration p95",
        "Pending messages per consumer",
        "Reviews / s",
        "Denials / s",
        "Reconciles / s",
        "Reconcile errors / s",
    ] {
        assert!(titles.contains(want), "no panel {want:?}: {titles:?}");
    }
    // Panel ids are unique (Grafana keys panels by id).
    let ids: Vec<i64> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| p["id"].as_i64().expect("panel id"))
        .collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<BTreeSet<_>>().len(),
        "{ids:?}"
    );

    // Each expression (and each variable's selector) as a recording rule: promtool parses it.
    let mut rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, e))| json!({"record": format!("dashboard:panel_{i}"), "expr": substitute_variables(e)}))
        .collect();
    rules.extend(
        dashboard_variable_selectors(&dash)
            .iter()
            .enumerate()
            .map(|(i, s)| json!({"record": format!("dashboard:variable_{i}"), "expr": substitute_variables(s)})),
    );
    let n = rules.len();
    let file = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("dashboard-rules.yaml"),
        serde_yaml_ng::to_string(&file).expect("yaml"),
    )
    .expect("write");
    let out = promtool(&["check", "rules", "dashboard-rules.yaml"], dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stdout.contains(&format!("SUCCESS: {n} rules found")),
        "{}",
        out.stdout
    );

    // And promtool refuses a broken one: the check is real.
    let bad = json!({"groups": [{"name": "bad", "rules": [{"record": "x", "expr": "sum by (a (rate(b[5m]))"}]}]});
    std::fs::write(
        dir.path().join("bad.yaml"),
        serde_yaml_ng::to_string(&bad).expect("yaml"),
    )
    .expect("write");
    assert!(promtool(&["check", "rules", "bad.yaml"], dir.path()).is_err());
}

/// The names in an OpenMetrics/Prometheus text exposition (samples, not `# HELP`/`# TYPE`).
fn exposed_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// `/metrics` of a runtime admin router (`argo_events_runtime::metrics::admin_router`).
async fn router_metrics(router: axum::Router) -> String {
    use tower::ServiceExt;
    let response = router
        .oneshot(
            http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("the admin router answers");
    assert_eq!(response.status(), http::StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8(body.to_vec()).expect("UTF-8 metrics")
}

/// The workspace binary `name`, built by `cargo build --workspace --bins` next to this test.
fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(name))
        .expect("invariant: test binaries live in target/<profile>/deps");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace's binaries first with `cargo build --workspace \
         --bins` (scripts/test does)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn curl(args: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "-m", "5"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The webhook's `/metrics` after an allowed, a denied and a malformed review: the binary runs
/// with `--snapshot` (no cluster) and a self-signed certificate.
fn webhook_metrics() -> String {
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let (port, admin) = (free_port(), free_port());
    let snapshot = workspace_root().join("manifests/examples/quickstart");
    let child = Command::new(workspace_binary("argo-events-webhook"))
        .args([
            "serve",
            "--self-signed",
            "--dns-name",
            "localhost",
            "--snapshot",
        ])
        .arg(&snapshot)
        .env("WEBHOOK_ADDR", format!("127.0.0.1:{port}"))
        .env("WEBHOOK_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start argo-events-webhook");
    let _child = Killed(child);
    let ready = format!("http://127.0.0.1:{admin}/ready");
    let started = Instant::now();
    while curl(&[&ready]).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "argo-events-webhook serve --snapshot never became ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("https://127.0.0.1:{port}/validate");
    let post = |body: &str| {
        curl(&[
            "-k",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
            &url,
        ])
        .unwrap_or_default()
    };
    let review = |uid: &str, object: Value| {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": uid,
            "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Sensor"},
            "resource": {"group": "argoproj.io", "version": "v1alpha1", "resource": "sensors"},
            "operation": "CREATE", "namespace": "argo-events", "name": "s",
            "userInfo": {"username": "tester"},
            "object": object}})
        .to_string()
    };
    let valid: Value = serde_yaml_ng::from_str(&read(&snapshot.join("sensor.yaml")))
        .expect("the quickstart Sensor");
    let allowed = post(&review("allowed", valid.clone()));
    let mut invalid = valid;
    invalid["spec"]["dependencies"] = json!([]);
    let denied = post(&review("denied", invalid));
    let _ = post("{not json");
    let metrics = curl(&[&format!("http://127.0.0.1:{admin}/metrics")]).expect("webhook /metrics");
    assert!(
        allowed.contains("\"allowed\":true"),
        "the quickstart Sensor is allowed: {allowed}\n{metrics}"
    );
    assert!(
        denied.contains("\"allowed\":false"),
        "a Sensor without dependencies is denied: {denied}"
    );
    metrics
}

/// Every metric name the rules and the dashboard use is exported by our binaries (or, for
/// `nats_consumer_num_pending`, by the exporter the EventBus StatefulSet runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_uses_only_exported_metric_names() {
    use argo_events_runtime::metrics::{EventSourceMetrics, SensorMetrics, admin_router};
    let ready = || Arc::new(AtomicBool::new(true));

    let sensor = SensorMetrics::new("events", "push", &["workflow"]);
    let sensor_text = router_metrics(admin_router(sensor.registry(), ready())).await;
    let source = EventSourceMetrics::new("events", "webhook", &["push"]);
    let source_text = router_metrics(admin_router(source.registry(), ready())).await;
    let controller_text = argo_events_controller::admin::Metrics::new().encode();
    let webhook_text = tokio::task::spawn_blocking(webhook_metrics)
        .await
        .expect("the webhook scrape");

    // The labels the rules aggregate by are on the exported series.
    for (text, want) in [
        (
            &sensor_text,
            "argo_events_action_failed_total{namespace=\"events\",sensor_name=\"push\",trigger_name=\"workflow\"} 0",
        ),
        (
            &source_text,
            "argo_events_events_sent_failed_total{namespace=\"events\",eventsource_name=\"webhook\",event_name=\"push\"} 0",
        ),
        (
            &controller_text,
            "argo_events_controller_reconcile_errors_total{kind=\"Sensor\"} 0",
        ),
        (
            &webhook_text,
            "argo_events_webhook_reviews_total{kind=\"Sensor\",operation=\"CREATE\",allowed=\"false\"} 1",
        ),
        (
            &webhook_text,
            "argo_events_webhook_reviews_total{kind=\"\",operation=\"\",allowed=\"malformed\"} 1",
        ),
    ] {
        assert!(text.contains(want), "no {want} in\n{text}");
    }

    let mut exported = BTreeSet::new();
    for text in [&sensor_text, &source_text, &controller_text, &webhook_text] {
        exported.extend(exposed_names(text));
    }
    // The EventBus exporter: the StatefulSet the controller renders runs it with the prefix
    // that names its JetStream consumer gauge nats_consumer_num_pending.
    let install = read(&workspace_root().join("tests/golden/manifests/install.yaml"));
    for arg in ["- -prefix=nats", "- -jsz=all"] {
        assert!(
            install.contains(arg),
            "the EventBus metrics container lost {arg}"
        );
    }
    exported.insert(NATS_CONSUMER_PENDING.to_owned());

    let used = used_metric_names();
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the rules or the dashboard use metrics nothing exports: {unknown:?}\nexported: {exported:?}"
    );
    for want in [
        "argo_events_events_processing_failed_total",
        "argo_events_events_sent_failed_total",
        "argo_events_action_failed_total",
        "argo_events_action_duration_milliseconds_bucket",
        NATS_CONSUMER_PENDING,
        "argo_events_webhook_reviews_total",
        "argo_events_controller_reconcile_errors_total",
        "argo_events_controller_reconciles_total",
    ] {
        assert!(used.contains(want), "{want} is not used: {used:?}");
    }
}

fn helm_template(home: &Path, args: &[&str]) -> Result<Vec<Value>, String> {
    let chart = tools::chart_dir();
    let mut cmd = tools::helm_command(home);
    cmd.arg("template").arg(&chart).args(args);
    let out = tools::run(cmd, &format!("helm template {}", args.join(" ")))?;
    let (docs, errors) = argo_events_api::manifest::parse_documents("render", &out.stdout);
    if let Some(e) = errors {
        return Err(format!("the render: {e}"));
    }
    Ok(docs
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect())
}

fn find<'a>(objs: &'a [Value], kind: &str) -> Option<&'a Value> {
    objs.iter().find(|o| o["kind"] == kind)
}

#[test]
fn monitoring_chart_ships_the_rules_and_the_dashboard() {
    let home = tempfile::tempdir().expect("tempdir");
    // Off by default.
    let default = helm_template(home.path(), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(find(&default, "PrometheusRule").is_none());
    assert!(
        !default
            .iter()
            .any(|o| o["metadata"]["name"] == "argo-events-rs-dashboard")
    );

    let on = helm_template(
        home.path(),
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.dashboard.enabled=true",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rule = find(&on, "PrometheusRule").expect("a PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["name"], "argo-events-rs");
    assert_eq!(rule["metadata"]["namespace"], "default");
    // The rendered groups are the file's, and promtool accepts them as they are.
    assert_eq!(rule["spec"]["groups"], rules_file()["groups"]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rendered.yaml"),
        serde_yaml_ng::to_string(&rule["spec"]).expect("yaml"),
    )
    .expect("write");
    let out = promtool(&["check", "rules", "rendered.yaml"], dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stdout
            .contains(&format!("SUCCESS: {} rules found", ALERTS.len()))
    );

    let cm = on
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "argo-events-rs-dashboard")
        .expect("the dashboard ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value = serde_json::from_str(
        cm["data"]["argo-events-rs.json"]
            .as_str()
            .expect("the dashboard JSON"),
    )
    .expect("the shipped dashboard parses");
    assert_eq!(shipped, dashboard());
    // kubernetes-validate knows ConfigMap, not PrometheusRule (a custom resource: its content is
    // what promtool checked above).
    let validated =
        crate::kubevalidate::validate_built_in("the dashboard ConfigMap", std::slice::from_ref(cm))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validated, 1);

    // The options.
    let custom = helm_template(
        home.path(),
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.prometheusRule.namespace=monitoring",
            "--set",
            "metrics.prometheusRule.additionalLabels.release=prometheus",
            "--set",
            "metrics.prometheusRule.additionalRuleLabels.team=platform",
            "--set",
            "metrics.prometheusRule.additionalRuleLabels.severity=page",
            "--set",
            "metrics.prometheusRule.disabled={ArgoEventsWebhookDenials,ArgoEventsWebhookMalformedReviews}",
            "--set-json",
            r#"metrics.prometheusRule.additionalRules=[{"alert":"ArgoEventsSensorDown","expr":"absent(argo_events_action_triggered_total)","for":"5m"}]"#,
            "--set",
            "metrics.dashboard.enabled=true",
            "--set",
            "metrics.dashboard.namespace=grafana",
            "--set",
            "metrics.dashboard.label=dashboards",
            "--set",
            "metrics.dashboard.labelValue=argo",
            "--set",
            "metrics.dashboard.annotations.grafana_folder=Argo",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rule = find(&custom, "PrometheusRule").expect("a PrometheusRule");
    assert_eq!(rule["metadata"]["namespace"], "monitoring");
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let groups = &rule["spec"]["groups"];
    let names = alert_names(groups);
    assert!(
        !names.iter().any(|n| n.starts_with("ArgoEventsWebhook")),
        "{names:?}"
    );
    assert!(
        !groups
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["name"] == "argo-events-webhook"),
        "an emptied group is left out"
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("ArgoEventsSensorDown")
    );
    for r in groups[0]["rules"].as_array().expect("rules") {
        assert_eq!(r["labels"]["team"], "platform");
        // A rule's own severity wins over additionalRuleLabels.
        assert_ne!(r["labels"]["severity"], "page");
    }
    let cm = custom
        .iter()
        .find(|o| o["metadata"]["name"] == "argo-events-rs-dashboard")
        .expect("the dashboard ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "grafana");
    assert_eq!(cm["metadata"]["labels"]["dashboards"], "argo");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Argo");

    // The schema refuses a misspelt option.
    let err = helm_template(
        home.path(),
        &["--set", "metrics.prometheusRule.enable=true"],
    )
    .expect_err("an unknown option is refused");
    assert!(err.contains("enable"), "{err}");
}
