//! Engine throughput on one core, printed as JSON (not a test; no assertions):
//! `cargo bench -p argo-events-engine --bench engine`.
//!
//! - `data_filter_evals_per_sec`: one simple string data filter (`body.ref` ~ `^refs/heads/main$`)
//!   on a GitHub push payload already checked to be JSON (the engine checks each event once);
//! - `data_filter_evals_incl_json_validation_per_sec`: the same, validating the payload each time;
//! - `events_per_sec`: the quickstart Sensor, event → filter → verdict → rendered Workflow;
//! - `raw_gjson_gets_per_sec`: the ceiling, a bare gjson lookup of the same path.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use argo_events_engine::datafilter::{self, DataFilterSpec};
use argo_events_engine::render::InlineOnly;
use argo_events_engine::{Event, SensorMachine, State};

fn rate(label: &str, budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up, then run for the budget.
    for _ in 0..1_000 {
        f();
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..1_000 {
            f();
        }
        n += 1_000;
    }
    let per_sec = n as f64 / start.elapsed().as_secs_f64();
    eprintln!("{label}: {per_sec:.0}/s");
    per_sec
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/examples/quickstart");
    let event_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("events/push-main.json")).expect("event file"),
    )
    .expect("event JSON");
    let event = Event::from_cloudevent(&event_json).expect("CloudEvent");
    let sensor_text = std::fs::read_to_string(root.join("sensor.yaml")).expect("sensor file");
    let (docs, _) = argo_events_api::manifest::parse_documents("sensor.yaml", &sensor_text);
    let sensor = argo_events_api::gocompat::from_value::<argo_events_api::Sensor>(&docs[0].value)
        .expect("Sensor")
        .value;

    let filters = datafilter::compile(&[DataFilterSpec {
        path: "body.ref".into(),
        type_: "string".into(),
        values: vec!["^refs/heads/main$".into()],
        comparator: String::new(),
        template: String::new(),
    }])
    .expect("filter compiles");
    let no_template = |_: &str, _: &str| -> Result<String, String> { Err("unused".into()) };
    let budget = Duration::from_secs(2);
    let data = event.data.clone();
    let text = String::from_utf8(data.clone()).expect("utf-8");

    let raw = rate("raw gjson get", budget, || {
        black_box(gjson::get(black_box(&text), "body.ref"));
    });
    let filter = rate("data filter", budget, || {
        let out = filters.evaluate_json(black_box(&text), false, &no_template);
        assert!(out.passed);
        black_box(out);
    });
    let checked = rate("data filter incl. JSON validation", budget, || {
        let out = filters.evaluate(black_box(&data), false, &no_template);
        assert!(out.passed);
        black_box(out);
    });
    let machine = SensorMachine::new(&sensor);
    let now = event.time.unwrap_or_default();
    let full = rate("event -> rendered trigger", budget, || {
        let mut state = State::default();
        let outcome = machine
            .on_event(&mut state, black_box(&event), None, now, &InlineOnly)
            .expect("routes");
        assert!(outcome.triggers.first().is_some_and(|t| t.fired));
        black_box(outcome);
    });
    println!(
        "{}",
        serde_json::json!({
            "payload_bytes": data.len(),
            "raw_gjson_gets_per_sec": raw.round(),
            "data_filter_evals_per_sec": filter.round(),
            "data_filter_evals_incl_json_validation_per_sec": checked.round(),
            "events_per_sec": full.round(),
            "target_data_filter_evals_per_sec": 1_000_000,
        })
    );
}
