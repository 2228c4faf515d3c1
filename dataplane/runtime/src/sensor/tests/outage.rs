//! A single-replica Sensor on a real nats-server rides out bus outages: stopped longer than
//! the renew deadline and started again on the same port and store, it is still running, an
//! event published before the outage and not yet acknowledged is delivered, and an event
//! published after the return fires. Started while the bus is down, it waits and then runs.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::testserver::{NatsServer, free_port};
use argo_events_eventsource::secrets::MapSecrets;
use serde_json::json;
use tokio::sync::Notify;

use super::sink::{Rule, Seen, Sink, wait_until};
use super::*;
use crate::election::bus::BusElector;
use crate::election::{OnOutage, Timings, run_elected};
use crate::triggers::{KubeTarget, LogSink, TriggerContext};

/// Short election timings (the test stops the bus for longer than the renew deadline).
fn timings() -> Timings {
    Timings {
        lease_duration: Duration::from_millis(3000),
        renew_deadline: Duration::from_millis(2000),
        retry_period: Duration::from_millis(250),
    }
}

fn event(id: &str) -> Event {
    Event {
        id: id.into(),
        source: "webhook".into(),
        specversion: "1.0".into(),
        type_: "webhook".into(),
        datacontenttype: "application/json".into(),
        subject: "push".into(),
        time: None,
        trace: Default::default(),
        data: b"{}".to_vec(),
    }
}

fn sensor(base: &str) -> Sensor {
    value_sensor(&json!({
        "metadata": {"name": "rides", "namespace": "ns"},
        "spec": {
            "dependencies": [{"name": "d", "eventSourceName": "webhook", "eventName": "push"}],
            "triggers": [{"template": {"name": "call", "http": {
                "url": format!("{base}/hook"),
                "method": "POST",
                "payload": [{"src": {"dependencyName": "d", "contextKey": "id"}, "dest": "id"}],
            }}}],
        },
    }))
}

/// A single replica as `sensor run` runs it: connect (waiting for the bus), elect with
/// [`OnOutage::RideOut`], run the loops while leading.
struct Replica {
    leading: Arc<AtomicBool>,
    connect_attempts: Arc<AtomicU32>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start_replica(url: &str, base: &str) -> Replica {
    let options = JetStreamOptions::new(url);
    let sensor = sensor(base);
    let leading = Arc::new(AtomicBool::new(false));
    let connect_attempts = Arc::new(AtomicU32::new(0));
    let shutdown = CancellationToken::new();
    let (flag, attempts, stop) = (leading.clone(), connect_attempts.clone(), shutdown.clone());
    let task = tokio::spawn(async move {
        let counted = attempts.clone();
        let Some(bus) =
            crate::busconnect::connect_retrying(options.clone(), &stop, move |n, wait, e| {
                counted.store(n, Ordering::SeqCst);
                crate::busconnect::log_retry(n, wait, e);
            })
            .await?
        else {
            return Ok(());
        };
        let runner = Arc::new(SensorRunner {
            sensor,
            bus,
            executor: Arc::new(Executor::new(TriggerContext {
                sensor: "rides".into(),
                namespace: "ns".into(),
                secrets: Arc::new(MapSecrets::default()),
                kube: KubeTarget::Unavailable("no Kubernetes in this test".into()),
                http: reqwest::Client::new(),
                sink: Arc::new(LogSink),
            })),
            loader: Arc::new(argo_events_engine::render::InlineOnly),
            metrics: Arc::new(SensorMetrics::new("ns", "rides", &["call"])),
            observer: Arc::new(LogObserver),
            options: Options {
                fetch_wait: Duration::from_millis(100),
                // Events of the trigger one at a time: the second waits behind the first.
                concurrency: 1,
                ..Options::default()
            },
        });
        let mut elector = BusElector::new(options, "ns-sensor-rides", "pod-0", timings())
            .with_on_outage(OnOutage::RideOut);
        let set = move |l: bool| flag.store(l, Ordering::SeqCst);
        let replays = Arc::new(Replays::default());
        let result = run_elected(&mut elector, &stop, &set, |token| {
            runner.clone().run_shared(token, replays.clone())
        })
        .await?;
        // `None`: shutdown came while standing by.
        result.transpose()?;
        Ok(())
    });
    Replica {
        leading,
        connect_attempts,
        shutdown,
        task,
    }
}

/// Waits until the loop's durable consumer exists (consumers start at the end of the stream).
async fn wait_subscribed(bus: &JetStreamBus, base: &str) {
    let subscription = subscriptions(&sensor(base)).remove(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(state) = bus.inspect(&subscription).await
            && state.consumer_state.is_some()
        {
            return;
        }
        assert!(Instant::now() < deadline, "the loop never subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes, retrying while the (restarted) server is not answering yet; bounded.
async fn publish(bus: &JetStreamBus, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match bus.publish(&event(id)).await {
            Ok(()) => return,
            Err(e) => assert!(Instant::now() < deadline, "publishing {id}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_single_replica_rides_out_an_outage_longer_than_the_renew_deadline() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut server = NatsServer::start().unwrap();
    let (sink, base, sink_task) = Sink::start().await;
    let release_e1 = Arc::new(Notify::new());
    sink.rule("/hook", "e1", Rule::HoldOnce(release_e1.clone()));
    let replica = start_replica(&server.url, &base);
    let publisher = JetStreamBus::connect(JetStreamOptions::new(&server.url))
        .await
        .unwrap();
    wait_subscribed(&publisher, &base).await;
    assert!(replica.leading.load(Ordering::SeqCst));

    // e1 is being triggered (its request held by the sink); e2 waits behind it, unacked.
    publish(&publisher, "e1").await;
    wait_until("e1 at the sink", Duration::from_secs(30), || {
        sink.count(&Seen::arrived("/hook", "e1")) == 1
    })
    .await;
    publish(&publisher, "e2").await;

    // The bus goes away for longer than the renew deadline.
    server.stop();
    tokio::time::sleep(timings().renew_deadline + Duration::from_secs(1)).await;
    assert!(
        !replica.task.is_finished(),
        "the Sensor stopped in the outage"
    );
    assert!(
        replica.leading.load(Ordering::SeqCst),
        "a single replica gave up its lock in the outage"
    );
    assert_eq!(sink.count(&Seen::arrived("/hook", "e2")), 0);

    // Back on the same port and store; e1's request is answered.
    server.restart().unwrap();
    release_e1.notify_one();
    wait_until(
        "e2 (published before the outage) at the sink",
        Duration::from_secs(30),
        || sink.count(&Seen::arrived("/hook", "e2")) >= 1,
    )
    .await;
    publish(&publisher, "e3").await;
    wait_until(
        "e3 (published after the return) at the sink",
        Duration::from_secs(30),
        || sink.count(&Seen::arrived("/hook", "e3")) >= 1,
    )
    .await;
    assert!(!replica.task.is_finished(), "the Sensor stopped");
    assert!(replica.leading.load(Ordering::SeqCst));

    replica.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), replica.task)
        .await
        .expect("the Sensor stops on shutdown")
        .unwrap()
        .unwrap();
    sink_task.abort();
}

#[tokio::test]
async fn a_sensor_started_while_the_bus_is_down_waits_for_it_and_runs() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port().unwrap();
    let store = tempfile::tempdir().unwrap();
    let (sink, base, sink_task) = Sink::start().await;
    let replica = start_replica(&format!("nats://127.0.0.1:{port}"), &base);
    // It tries, fails, and tries again rather than exiting.
    wait_until(
        "two failed connection attempts",
        Duration::from_secs(30),
        || replica.connect_attempts.load(Ordering::SeqCst) >= 2,
    )
    .await;
    assert!(
        !replica.task.is_finished(),
        "the Sensor exited without a bus"
    );

    let server = NatsServer::start_at(port, store.path().join("js")).unwrap();
    let publisher = JetStreamBus::connect(JetStreamOptions::new(&server.url))
        .await
        .unwrap();
    wait_subscribed(&publisher, &base).await;
    publish(&publisher, "e1").await;
    wait_until("e1 at the sink", Duration::from_secs(30), || {
        sink.count(&Seen::arrived("/hook", "e1")) == 1
    })
    .await;
    assert!(replica.leading.load(Ordering::SeqCst));

    replica.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), replica.task)
        .await
        .expect("the Sensor stops on shutdown")
        .unwrap()
        .unwrap();
    drop(server);
    sink_task.abort();
}
