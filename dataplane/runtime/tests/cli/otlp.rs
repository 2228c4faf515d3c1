//! One trace per event, exported to a real OTLP receiver: the OpenTelemetry Collector's own
//! `otlpreceiver` (the Go module in `tests/otlp/`, built once into the cache), an EventSource
//! and a Sensor run as the `argo-events` binary on a real nats-server, one webhook request
//! with a `traceparent`, and an http trigger to a local sink.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use argo_events_bus::testserver::{NatsServer, free_port};
use base64::Engine as _;
use serde_json::Value;

use super::BIN;

/// The receiver's sources, which name its cached build.
const SOURCES: [(&str, &str); 3] = [
    ("main.go", include_str!("../otlp/main.go")),
    ("go.mod", include_str!("../otlp/go.mod")),
    ("go.sum", include_str!("../otlp/go.sum")),
];

/// `go build`s the receiver into `$ARGO_EVENTS_CACHE` (default `~/.cache/argo-events-rs`) as
/// `otlp-<hash of its sources>`, once.
fn receiver_binary() -> PathBuf {
    let cache = std::env::var_os("ARGO_EVENTS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/argo-events-rs")
        });
    let joined: String = SOURCES.iter().map(|(n, s)| format!("{n}\n{s}")).collect();
    let dir = cache.join(format!(
        "otlp-{:08x}",
        argo_events_bus::naming::fnv32a(&joined)
    ));
    let bin = dir.join("otlp-receiver");
    if bin.exists() {
        return bin;
    }
    std::fs::create_dir_all(&dir).expect("cache dir");
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp");
    let partial = dir.join("otlp-receiver.partial");
    let status = Command::new("go")
        .args(["build", "-mod=mod", "-o"])
        .arg(&partial)
        .arg(".")
        .current_dir(&module)
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "-buildvcs=false")
        .status()
        .expect("go runs (the receiver is a Go module)");
    assert!(status.success(), "go build of {}", module.display());
    std::fs::rename(&partial, &bin).expect("install the receiver");
    bin
}

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP request over a plain TCP connection; the status code.
fn http(port: u16, request: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A sink answering `200` to every request and handing its headers to the test.
fn sink() -> (u16, mpsc::Receiver<HashMap<String, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = HashMap::new();
            let mut length = 0usize;
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.trim().split_once(':') {
                    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    if k == "content-length" {
                        length = v.parse().unwrap_or(0);
                    }
                    headers.insert(k, v);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            let _ = tx.send(headers);
        }
    });
    (port, rx)
}

/// Every span the receiver wrote: (name, traceId, spanId, parentSpanId, attributes).
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: HashMap<String, Value>,
    service: String,
}

fn received_spans(file: &Path) -> Vec<Span> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut spans = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let export: Value = serde_json::from_str(line).expect("OTLP JSON");
        for rs in export["resourceSpans"].as_array().into_iter().flatten() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let attributes = s["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let v = a["value"].as_object().and_then(|o| o.values().next());
                            (
                                a["key"].as_str().unwrap_or_default().to_owned(),
                                v.cloned().unwrap_or(Value::Null),
                            )
                        })
                        .collect();
                    spans.push(Span {
                        name: s["name"].as_str().unwrap_or_default().to_owned(),
                        trace_id: s["traceId"].as_str().unwrap_or_default().to_owned(),
                        span_id: s["spanId"].as_str().unwrap_or_default().to_owned(),
                        parent: s["parentSpanId"].as_str().unwrap_or_default().to_owned(),
                        attributes,
                        service: service.clone(),
                    });
                }
            }
        }
    }
    spans
}

#[test]
fn one_trace_from_the_webhook_request_to_the_http_trigger_reaches_a_real_otlp_receiver() {
    let receiver = receiver_binary();
    let nats = NatsServer::start().expect("nats-server -js (install it as scripts/test does)");
    let dir = tempfile::tempdir().expect("tempdir");
    let spans_file = dir.path().join("spans.jsonl");
    let otlp_port = free_port().expect("port");
    let mut otlp = Running(
        Command::new(&receiver)
            .arg("-endpoint")
            .arg(format!("127.0.0.1:{otlp_port}"))
            .arg("-out")
            .arg(&spans_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts"),
    );
    let mut ready = String::new();
    BufReader::new(otlp.0.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("the receiver says it listens");
    assert!(ready.starts_with("listening"), "{ready}");

    let (sink_port, sink_requests) = sink();
    let webhook_port = free_port().expect("port");
    let es = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: EventSource\nmetadata: {{name: hooks, namespace: ns}}\n\
         spec:\n  webhook:\n    push: {{port: \"{webhook_port}\", endpoint: /push, method: POST}}\n"
    );
    let sensor = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Sensor\nmetadata: {{name: deploy, namespace: ns}}\n\
         spec:\n  dependencies:\n  - name: main\n    eventSourceName: hooks\n    eventName: push\n\
         \x20   filters:\n      data:\n      - {{path: body.ref, type: string, value: [refs/heads/main]}}\n\
         \x20 triggers:\n  - template:\n      name: notify\n      http:\n        url: http://127.0.0.1:{sink_port}/hook\n\
         \x20       method: POST\n        payload:\n        - {{src: {{dependencyName: main, dataKey: body.ref}}, dest: ref}}\n"
    );
    std::fs::write(dir.path().join("es.yaml"), es).expect("write");
    std::fs::write(dir.path().join("sensor.yaml"), sensor).expect("write");
    let bus = base64::engine::general_purpose::STANDARD
        .encode(format!(r#"{{"jetstream":{{"url":"{}"}}}}"#, nats.url));
    let start = |kind: &str, file: &str, log: &Path| {
        let log_file = std::fs::File::create(log).expect("log file");
        Running(
            Command::new(BIN)
                .args([kind, "run", "-f"])
                .arg(dir.path().join(file))
                .env("EVENTBUS_CONFIG", &bus)
                .env(
                    "METRICS_ADDR",
                    format!("127.0.0.1:{}", free_port().expect("port")),
                )
                .env("LOG_FORMAT", "json")
                .env("LOG_LEVEL", "info,argo_events_bus=debug")
                .env(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("http://127.0.0.1:{otlp_port}"),
                )
                .env("OTEL_BSP_SCHEDULE_DELAY", "100")
                .env_remove("OTEL_SERVICE_NAME")
                .env_remove("LEADER_ELECTION")
                .stderr(log_file)
                .spawn()
                .expect("argo-events starts"),
        )
    };
    let es_log = dir.path().join("eventsource.log");
    let sensor_log = dir.path().join("sensor.log");
    let _sensor = start("sensor", "sensor.yaml", &sensor_log);
    let _es = start("eventsource", "es.yaml", &es_log);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    wait_for(
        "the Sensor's durable consumer",
        Duration::from_secs(30),
        || read(&sensor_log).contains("subscribed"),
    );
    wait_for("the webhook listener", Duration::from_secs(30), || {
        http(
            webhook_port,
            "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        ) == Some(200)
    });

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let body = r#"{"ref":"refs/heads/main"}"#;
    let status = http(
        webhook_port,
        &format!(
            "POST /push HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             traceparent: 00-{trace_id}-{caller_span}-01\r\ntracestate: congo=t61rcWkgMzE\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, Some(200), "{}", read(&es_log));

    let sink_headers = sink_requests
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("the http trigger fired\n{}", read(&sensor_log)));
    let sink_traceparent = sink_headers.get("traceparent").expect("traceparent sent");
    let parts: Vec<&str> = sink_traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sink_traceparent}");
    assert_eq!(parts[1], trace_id, "the sink's request continues the trace");
    assert_eq!(
        sink_headers.get("tracestate").map(String::as_str),
        Some("congo=t61rcWkgMzE")
    );

    let names = ["POST /push", "publish", "process", "evaluate", "trigger"];
    let mut spans = Vec::new();
    wait_for("the spans at the receiver", Duration::from_secs(30), || {
        spans = received_spans(&spans_file);
        names
            .iter()
            .all(|n| spans.iter().any(|s| s.name.starts_with(n)))
    });
    let find = |prefix: &str| -> Span {
        let found: Vec<&Span> = spans
            .iter()
            .filter(|s| s.name.starts_with(prefix))
            .collect();
        assert_eq!(found.len(), 1, "one {prefix} span: {spans:#?}");
        found[0].clone()
    };
    let receive = find("POST /push");
    let publish = find("publish ");
    let process = find("process ");
    let evaluate = find("evaluate ");
    let trigger = find("trigger ");
    for s in [&receive, &publish, &process, &evaluate, &trigger] {
        assert_eq!(s.trace_id, trace_id, "one trace: {s:?}");
    }
    assert_eq!(
        receive.parent, caller_span,
        "the caller's span is the parent"
    );
    assert_eq!(publish.parent, receive.span_id);
    assert_eq!(process.parent, publish.span_id, "across the bus");
    assert_eq!(evaluate.parent, process.span_id);
    assert_eq!(trigger.parent, process.span_id);
    assert_eq!(
        parts[2], trigger.span_id,
        "the sink's parent is the trigger span"
    );
    assert_eq!(receive.service, "argo-events-eventsource");
    assert_eq!(process.service, "argo-events-sensor");
    assert_eq!(publish.name, "publish default.hooks.push");
    assert_eq!(publish.attributes["messaging.system"], "nats");
    assert_eq!(
        publish.attributes["messaging.destination.name"],
        "default.hooks.push"
    );
    assert_eq!(receive.attributes["http.response.status_code"], "200");
    assert_eq!(evaluate.attributes["argo.dependency.matched"], true);
    assert_eq!(evaluate.attributes["argo.trigger.fired"], true);
    assert_eq!(trigger.attributes["argo.trigger.kind"], "http");
    assert_eq!(trigger.attributes["argo.trigger.name"], "notify");
    assert!(
        trigger.attributes["argo.trigger.result"]
            .as_str()
            .is_some_and(|r| r.ends_with("→ 200")),
        "{:?}",
        trigger.attributes
    );

    // Log lines carry the trace id, in both processes.
    for (what, log) in [("EventSource", &es_log), ("Sensor", &sensor_log)] {
        let text = read(log);
        let line = text
            .lines()
            .find(|l| l.contains(&format!("\"trace_id\":\"{trace_id}\"")))
            .unwrap_or_else(|| panic!("a {what} log line with the trace id:\n{text}"));
        let v: Value = serde_json::from_str(line).expect("a JSON log line");
        assert_eq!(v["span_id"].as_str().map(str::len), Some(16), "{line}");
    }
}
