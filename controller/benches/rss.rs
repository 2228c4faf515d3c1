//! Resident memory of the controller with 0, 1 000 and 10 000 Sensors (each with its up-to-date
//! Deployment, one ready EventBus) fed through the in-memory API double into the same caches
//! and Controllers `argo-events-controller run` uses. Each size runs in a fresh process (this
//! binary re-executed) so the figures do not include a previous run's high-water mark; each
//! waits until every Sensor was reconciled once, then prints VmRSS and VmHWM from
//! /proc/self/status. Targets: < 20 MiB idle, < 100 MiB at 10 000 Sensors.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use argo_events_controller::admin::{Health, Metrics};
use argo_events_controller::desired::ControllerConfig;
use argo_events_controller::render::placeholder_global_config;
use argo_events_controller::run::fake::{ListFn, fake_client, list_text, scenario};
use argo_events_controller::run::{Setup, controllers, generate_credentials, system_clock};

const SIZES: [usize; 3] = [0, 1_000, 10_000];
const ENV: &str = "ARGO_EVENTS_RSS_BENCH_N";

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn child(n: usize) {
    let cfg = ControllerConfig::new("quay.io/argoproj/argo-events:v1.9.0");
    let bus = scenario::ready_bus_text();
    let mut lists: HashMap<String, ListFn> = HashMap::new();
    let b = bus.clone();
    lists.insert(
        "/apis/argoproj.io/v1alpha1/eventbus".into(),
        Arc::new(move |_| list_text("EventBusList", std::iter::once(b.clone()))),
    );
    lists.insert(
        "/apis/argoproj.io/v1alpha1/sensors".into(),
        Arc::new(move |_| {
            list_text(
                "SensorList",
                (0..n).map(|i| scenario::sensor_text(i, true, true)),
            )
        }),
    );
    // Generated per request (the desired Deployment is built to get its hash), so the double
    // keeps no copy of the children.
    let (b, c) = (bus.clone(), cfg.clone());
    lists.insert(
        "/apis/apps/v1/deployments".into(),
        Arc::new(move |query: &str| {
            let n = if query.contains("sensor-controller") {
                n
            } else {
                0
            };
            list_text(
                "PartialObjectMetadataList",
                (0..n).map(|i| {
                    scenario::deployment_meta_text(&scenario::sensor_text(i, true, true), &b, &c)
                        .unwrap_or_else(|e| panic!("{e}"))
                }),
            )
        }),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async move {
        let before = status_kib("VmRSS:");
        let (client, writes) = fake_client(lists);
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let start = Instant::now();
        let run = tokio::spawn(controllers(Setup {
            client,
            namespace: None,
            cfg,
            global: placeholder_global_config(),
        stan: Default::default(),
            metrics: metrics.clone(),
            health: health.clone(),
            clock: system_clock,
            credentials: generate_credentials,
        token: argo_events_controller::desired::stan::generate_token,
        }));
        let deadline = Instant::now() + Duration::from_secs(300);
        while (metrics.reconciles("Sensor") < n as u64
            || metrics.reconciles("EventBus") < 1
            || !health.ready.load(Ordering::Relaxed))
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = start.elapsed();
        // Let the allocator settle after the initial lists.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let writes = writes.lock().map(|w| w.len()).unwrap_or(0);
        println!(
            "sensors={n:>6} reconciled={:>6} errors={} writes={} in {:>6.2}s  VmRSS={:>6.1} MiB (before start {:.1})  VmHWM={:>6.1} MiB",
            metrics.reconciles("Sensor"),
            metrics.errors("Sensor"),
            writes,
            elapsed.as_secs_f64(),
            mib(status_kib("VmRSS:")),
            mib(before),
            mib(status_kib("VmHWM:")),
        );
        run.abort();
        if metrics.reconciles("Sensor") < n as u64 {
            eprintln!("not every Sensor was reconciled within 300 s");
            std::process::exit(1);
        }
    });
}

fn main() {
    if let Ok(n) = std::env::var(ENV) {
        child(n.parse().unwrap_or(0));
        return;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    for n in SIZES {
        let out = Command::new(&exe)
            .env(ENV, n.to_string())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()));
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
    }
}
