//! Peak memory of one AdmissionReview by size, in process: Sensors with 1k, 5k and 10k log
//! triggers (and the largest object the API server stores, ~1.5 MiB), 16 such reviews at
//! once, each next to a bare ceiling measured in the same run (the same body parsed into a
//! `serde_json::Value` and dropped, which any review must at least do).
//!
//! Peak RSS is the kernel's `VmHWM`, reset before each case through `/proc/self/clear_refs`
//! (Linux); the figure given is the peak minus the RSS before the case. Uses mimalloc, as the
//! binary does.
//!
//! `cargo bench -p argo-events-webhook --bench memory`. Prints one JSON object on stdout.

use std::hint::black_box;

use argo_events_api::manifest::Document;
use argo_events_webhook::admission::Review;
use argo_events_webhook::policy;
use argo_events_webhook::snapshot::{Facts, Snapshot};
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NS: &str = "argo-events";

#[path = "support/many_triggers.rs"]
mod many_triggers;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        return child(&args[i + 1..]);
    }
    let mut out = serde_json::Map::new();
    // A trigger's share of the body, to size a Sensor as large as the API server stores
    // (about 1.5 MiB, its default request limit).
    let per_trigger = (review_body(1_000).len() - review_body(0).len()) / 1_000;
    let largest = 1_500_000 / per_trigger;
    let cases = [
        ("sensor_1000_triggers", 1_000, 1),
        ("sensor_5000_triggers", 5_000, 1),
        ("sensor_10000_triggers", 10_000, 1),
        ("sensor_1.5MiB", largest, 1),
        ("concurrent_16_x_5000_triggers", 5_000, 16),
        ("concurrent_16_x_1.5MiB", largest, 16),
    ];
    let dir = tempfile::tempdir()?;
    for (name, triggers, concurrency) in cases {
        let file = dir.path().join(format!("{triggers}.json"));
        std::fs::write(&file, review_body(triggers))?;
        let run = |what: &str| -> anyhow::Result<Value> {
            let exe = std::env::current_exe()?;
            let output = std::process::Command::new(exe)
                .arg("--case")
                .arg(what)
                .arg(&file)
                .arg(concurrency.to_string())
                .output()?;
            if !output.status.success() {
                anyhow::bail!(
                    "case {name} {what}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(serde_json::from_slice(&output.stdout)?)
        };
        let review = run("review")?;
        let ceiling = run("ceiling")?;
        let (r, c) = (kb(&review), kb(&ceiling));
        out.insert(
            name.to_owned(),
            json!({
                "triggers": triggers,
                "concurrent": concurrency,
                "body_bytes": review["body_bytes"],
                "peak_rss_mib_review": mib(r),
                "peak_rss_mib_ceiling (the body parsed into a serde_json::Value only)": mib(c),
                "review_over_ceiling": ratio(r, c),
                "review_over_body": ratio(r * 1024, review["body_bytes"].as_u64().unwrap_or(1) * concurrency),
                "allowed": review["allowed"],
            }),
        );
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(())
}

fn kb(v: &Value) -> u64 {
    v["peak_kb"].as_u64().unwrap_or(0)
}

fn mib(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

/// One measurement in a fresh process (so no allocator holds memory from an earlier case):
/// `review|ceiling BODY_FILE CONCURRENCY`; prints `{"peak_kb", "body_bytes", "allowed"}`.
fn child(args: &[String]) -> anyhow::Result<()> {
    let what = args.first().map(String::as_str).unwrap_or("review");
    let file = args.get(1).map(String::as_str).unwrap_or_default();
    let concurrency: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(1);
    let facts = Facts::new(snapshot());
    let policies = policy::default_bundle()?;
    // Warm up on a small review, so lazily built state (policies, regexes) is not counted.
    black_box(answer(&review_body(2), &facts, &policies));
    let body = std::fs::read(file)?;
    let allowed = std::sync::Mutex::new(None);
    let peak = peak_kb(|| {
        std::thread::scope(|s| {
            for _ in 0..concurrency {
                s.spawn(|| match what {
                    "ceiling" => {
                        black_box(serde_json::from_slice::<Value>(&body).ok());
                    }
                    _ => {
                        let a = answer(&body, &facts, &policies);
                        if let Ok(mut slot) = allowed.lock() {
                            *slot = a;
                        }
                    }
                });
            }
        });
    })?;
    let allowed = allowed.lock().map(|a| *a).unwrap_or(None);
    println!(
        "{}",
        json!({"peak_kb": peak, "body_bytes": body.len(), "allowed": allowed})
    );
    Ok(())
}

fn ratio(a: u64, b: u64) -> f64 {
    (a as f64 / b.max(1) as f64 * 100.0).round() / 100.0
}

/// Parses the review and answers it as the server does; `Some(allowed)`.
fn answer(body: &[u8], facts: &Facts, policies: &[policy::Policy]) -> Option<bool> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let review = Review::parse(value, false).ok()?;
    let response = review.answer(facts, policies, None);
    let bytes = serde_json::to_vec(&response).ok()?;
    black_box(&bytes);
    response
        .pointer("/response/allowed")
        .and_then(Value::as_bool)
}

fn status_kb(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/self/status"))
}

/// The growth of peak RSS while `f` runs, in KiB.
fn peak_kb(f: impl FnOnce()) -> anyhow::Result<u64> {
    // "5" resets VmHWM to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let before = status_kb("VmRSS:")?;
    f();
    Ok(status_kb("VmHWM:")?.saturating_sub(before))
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": NS})
}

/// The facts: an EventBus and an EventSource with the `push` event the triggers depend on.
fn snapshot() -> Snapshot {
    let docs = [
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
            "metadata": meta("default"), "spec": {"jetstream": {"version": "latest"}}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": meta("webhook"),
            "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}}),
    ];
    let docs: Vec<Document> = docs
        .into_iter()
        .enumerate()
        .map(|(index, value)| Document {
            file: "bench.json".into(),
            index,
            value,
        })
        .collect();
    Snapshot::from_documents(&docs, None)
}

/// The many-trigger review, with request uid `u`.
fn review_body(triggers: usize) -> Vec<u8> {
    many_triggers::review_body(NS, "u", triggers)
}
