//! The JetStream bus against a real `nats-server -js` on loopback (one per test).

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::ConsumerState;
use argo_events_bus::config::{Credentials, JetStreamOptions, StreamSettings, TlsOptions};
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::testserver::NatsServer;
use argo_events_bus::{
    BusError, Consumer, Delivery, EventBus, StartAt, StoredPage, StoredRange, Subscription, naming,
};
use async_nats::jetstream::{self as js, consumer::pull, stream};
use bytes::Bytes;

/// Every test is bounded so none can hang.
async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(90), f)
        .await
        .expect("test timed out")
}

fn server() -> NatsServer {
    NatsServer::start().expect("starting nats-server")
}

async fn connect(server: &NatsServer) -> JetStreamBus {
    JetStreamBus::connect(JetStreamOptions::new(&server.url))
        .await
        .expect("connecting")
}

async fn raw(server: &NatsServer) -> js::Context {
    js::new(async_nats::connect(&server.url).await.expect("raw connect"))
}

fn ev(id: &str, source: &str, subject: &str) -> Event {
    Event {
        id: id.into(),
        source: source.into(),
        specversion: "1.0".into(),
        type_: "webhook".into(),
        datacontenttype: "application/json".into(),
        subject: subject.into(),
        time: None,
        trace: Default::default(),
        data: br#"{"body":{"n":1}}"#.to_vec(),
    }
}

fn sub(trigger: &str, source: &str, name: &str) -> Subscription {
    Subscription {
        sensor: "sensor".into(),
        trigger: trigger.into(),
        dependency: "dep".into(),
        event_source: source.into(),
        event_name: name.into(),
    }
}

fn ids(batch: &[Delivery]) -> Vec<&str> {
    batch.iter().map(|d| d.event.id.as_str()).collect()
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

/// Fetches until `count` deliveries arrived (or `LONG` passed per fetch).
async fn fetch_n(consumer: &mut Box<dyn Consumer>, count: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < count && started.elapsed() < Duration::from_secs(20) {
        out.extend(
            consumer
                .fetch(count - out.len(), LONG)
                .await
                .expect("fetch"),
        );
    }
    out
}

#[tokio::test]
async fn publish_pull_ack() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        let mut consumer = bus.subscribe(&sub("t", "webhook", "push")).await.unwrap();
        let event = ev("e1", "webhook", "push");
        bus.publish(&event).await.unwrap();

        let batch = consumer.fetch(10, LONG).await.unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].event, event);
        assert_eq!(batch[0].stream_sequence, 1);
        assert_eq!(batch[0].delivered, 1);
        batch[0].acker.ack().await.unwrap();
        assert!(consumer.fetch(10, SHORT).await.unwrap().is_empty());

        // On the wire: upstream's subject, Nats-Msg-Id, the CloudEvent JSON.
        let raw = raw(&server).await;
        let stream = raw.get_stream("default").await.unwrap();
        let message = stream.get_raw_message(1).await.unwrap();
        assert_eq!(message.subject.as_str(), "default.webhook.push");
        assert_eq!(
            message.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some("e1")
        );
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["source"], "webhook");
        assert_eq!(body["subject"], "push");
        assert_eq!(body["data"]["body"]["n"], 1);

        // The stream as this client creates it: our defaults, upstream's layout.
        let config = &stream.cached_info().config;
        assert_eq!(config.subjects, ["default.*.*"]);
        assert_eq!(config.storage, stream::StorageType::File);
        assert_eq!(config.discard, stream::DiscardPolicy::New);
        assert_eq!(config.retention, stream::RetentionPolicy::Limits);
        assert_eq!(config.max_age, Duration::ZERO);
        assert_eq!(config.max_messages, -1);
        assert_eq!(config.max_bytes, 1 << 30);
        assert_eq!(config.duplicate_window, Duration::from_secs(300));

        // The durable consumer as upstream lays it out.
        let durable = naming::durable_name("sensor", "t", "dep");
        let info = raw
            .get_consumer_from_stream::<pull::Config, _, _>(&durable, "default")
            .await
            .unwrap();
        let config = &info.cached_info().config;
        assert_eq!(config.durable_name.as_deref(), Some(durable.as_str()));
        assert_eq!(config.filter_subject, "default.webhook.push");
        assert_eq!(config.ack_policy, js::consumer::AckPolicy::Explicit);
        assert_eq!(config.deliver_policy, js::consumer::DeliverPolicy::New);
        assert_eq!(config.ack_wait, Duration::from_secs(30));
    })
    .await;
}

#[tokio::test]
async fn consumers_start_at_the_end_and_see_only_their_event() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        bus.publish(&ev("before", "w", "a")).await.unwrap();
        let mut a = bus.subscribe(&sub("t", "w", "a")).await.unwrap();
        let mut b = bus.subscribe(&sub("t2", "w", "b")).await.unwrap();
        bus.publish(&ev("1", "w", "a")).await.unwrap();
        bus.publish(&ev("2", "w", "b")).await.unwrap();
        bus.publish(&ev("3", "w", "a")).await.unwrap();
        assert_eq!(ids(&a.fetch(10, LONG).await.unwrap()), ["1", "3"]);
        assert_eq!(ids(&b.fetch(10, LONG).await.unwrap()), ["2"]);
    })
    .await;
}

#[tokio::test]
async fn duplicate_message_ids_are_stored_once() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        let mut consumer = bus.subscribe(&sub("t", "w", "e")).await.unwrap();
        bus.publish(&ev("same", "w", "e")).await.unwrap();
        bus.publish(&ev("same", "w", "e")).await.unwrap();
        bus.publish(&ev("other", "w", "e")).await.unwrap();
        let mut stream = raw(&server).await.get_stream("default").await.unwrap();
        assert_eq!(stream.info().await.unwrap().state.messages, 2);
        let batch = fetch_n(&mut consumer, 2).await;
        assert_eq!(ids(&batch), ["same", "other"]);
        assert!(consumer.fetch(10, SHORT).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn nak_redelivers_and_in_progress_is_accepted() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        let mut consumer = bus.subscribe(&sub("t", "w", "e")).await.unwrap();
        bus.publish(&ev("e1", "w", "e")).await.unwrap();
        let first = consumer.fetch(1, LONG).await.unwrap();
        first[0].acker.in_progress().await.unwrap();
        first[0].acker.nak(None).await.unwrap();
        let second = consumer.fetch(1, LONG).await.unwrap();
        assert_eq!(ids(&second), ["e1"]);
        assert_eq!(second[0].delivered, 2);
        second[0]
            .acker
            .nak(Some(Duration::from_millis(500)))
            .await
            .unwrap();
        assert!(
            consumer
                .fetch(1, Duration::from_millis(100))
                .await
                .unwrap()
                .is_empty()
        );
        let third = consumer.fetch(1, LONG).await.unwrap();
        assert_eq!(third[0].delivered, 3);
        third[0].acker.ack().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn durable_consumers_survive_a_new_connection() {
    bounded(async {
        let server = server();
        let options = JetStreamOptions {
            ack_wait: Duration::from_secs(1),
            ..JetStreamOptions::new(&server.url)
        };
        let s = sub("t", "w", "e");
        let first = JetStreamBus::connect(options.clone()).await.unwrap();
        let mut consumer = first.subscribe(&s).await.unwrap();
        first.publish(&ev("e1", "w", "e")).await.unwrap();
        let unacked = consumer.fetch(1, LONG).await.unwrap();
        assert_eq!(ids(&unacked), ["e1"]);
        drop(consumer);
        drop(unacked);
        first.close().await.unwrap();

        let second = JetStreamBus::connect(options).await.unwrap();
        second.publish(&ev("e2", "w", "e")).await.unwrap();
        let mut consumer = second.subscribe(&s).await.unwrap();
        let mut batch = fetch_n(&mut consumer, 2).await;
        batch.sort_by_key(|d| d.stream_sequence);
        assert_eq!(ids(&batch), ["e1", "e2"]);
        assert_eq!(batch[0].delivered, 2, "e1 is a redelivery");
        assert_eq!(batch[1].delivered, 1);
        for d in &batch {
            d.acker.ack().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn publish_fails_quickly_while_the_server_is_down_and_recovers() {
    bounded(async {
        let mut server = server();
        // Default request timeout (5 s); a short ack wait since a pull request sent while the
        // server is down may reach it after the restart and count as a delivery.
        let options = JetStreamOptions {
            ack_wait: Duration::from_secs(1),
            ..JetStreamOptions::new(&server.url)
        };
        let bus = JetStreamBus::connect(options).await.unwrap();
        let mut consumer = bus.subscribe(&sub("t", "w", "e")).await.unwrap();
        bus.publish(&ev("e1", "w", "e")).await.unwrap();

        server.stop();
        let started = Instant::now();
        let err = bus.publish(&ev("e2", "w", "e")).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, BusError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("default.w.e"), "{err}");
        assert!(took < Duration::from_secs(11), "publish took {took:?}");

        // Fetching is bounded too, and says the bus is unavailable rather than "no events".
        let started = Instant::now();
        let err = consumer.fetch(1, SHORT).await.unwrap_err();
        assert!(matches!(err, BusError::Unavailable(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(12));

        // Same port and store: the client reconnects by itself; stream and consumer persisted.
        server.restart().unwrap();
        let started = Instant::now();
        loop {
            match bus.publish(&ev("e3", "w", "e")).await {
                Ok(()) => break,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("no recovery after restart: {e}"),
            }
        }
        let batch = fetch_n(&mut consumer, 2).await;
        let got = ids(&batch);
        assert!(got.contains(&"e1") && got.contains(&"e3"), "{got:?}");
    })
    .await;
}

#[tokio::test]
async fn connecting_to_nothing_is_unavailable() {
    bounded(async {
        let port = argo_events_bus::testserver::free_port().unwrap();
        let err = JetStreamBus::connect(JetStreamOptions::new(format!("nats://127.0.0.1:{port}")))
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains(&port.to_string()), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_full_stream_with_discard_new_refuses() {
    bounded(async {
        let server = server();
        let options = JetStreamOptions {
            stream: StreamSettings::from_stream_config("maxMsgs: 2").unwrap(),
            ..JetStreamOptions::new(&server.url)
        };
        let bus = JetStreamBus::connect(options).await.unwrap();
        bus.publish(&ev("1", "w", "e")).await.unwrap();
        bus.publish(&ev("2", "w", "e")).await.unwrap();
        let err = bus.publish(&ev("3", "w", "e")).await.unwrap_err();
        assert!(
            matches!(
                err,
                BusError::Refused {
                    operation: "publish",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("maximum messages"), "{err}");
        assert!(err.to_string().contains("event 3"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn an_existing_stream_is_never_updated() {
    bounded(async {
        let server = server();
        let _first = connect(&server).await;
        let options = JetStreamOptions {
            stream: StreamSettings::from_stream_config("maxMsgs: 5\ndiscard: 0").unwrap(),
            ..JetStreamOptions::new(&server.url)
        };
        let _second = JetStreamBus::connect(options).await.unwrap();
        let stream = raw(&server).await.get_stream("default").await.unwrap();
        assert_eq!(stream.cached_info().config.max_messages, -1);
        assert_eq!(
            stream.cached_info().config.discard,
            stream::DiscardPolicy::New
        );
    })
    .await;
}

#[tokio::test]
async fn messages_that_are_not_cloudevents_are_terminated_not_blocking() {
    bounded(async {
        let server = server();
        let options = JetStreamOptions {
            ack_wait: Duration::from_secs(1),
            ..JetStreamOptions::new(&server.url)
        };
        let bus = JetStreamBus::connect(options).await.unwrap();
        let mut consumer = bus.subscribe(&sub("t", "w", "e")).await.unwrap();
        let raw = raw(&server).await;
        raw.publish("default.w.e", Bytes::from_static(b"not json"))
            .await
            .unwrap()
            .await
            .unwrap();
        let err = consumer.fetch(1, LONG).await.unwrap_err();
        assert!(
            matches!(err, BusError::BadMessage { sequence: 1, .. }),
            "{err}"
        );

        // A bad message between good ones: the good ones come, the error follows.
        raw.publish(
            "default.w.e",
            Bytes::from_static(br#"{"specversion":"0.2"}"#),
        )
        .await
        .unwrap()
        .await
        .unwrap();
        bus.publish(&ev("good", "w", "e")).await.unwrap();
        let batch = consumer.fetch(10, LONG).await.unwrap();
        assert_eq!(ids(&batch), ["good"]);
        batch[0].acker.ack().await.unwrap();
        let err = consumer.fetch(1, SHORT).await.unwrap_err();
        assert!(
            matches!(err, BusError::BadMessage { sequence: 2, .. }),
            "{err}"
        );
        // Terminated: not redelivered after the ack wait.
        assert!(
            consumer
                .fetch(10, Duration::from_millis(1500))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn unsubscribe_deletes_the_durable_consumer() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        let s = sub("t", "w", "e");
        let _consumer = bus.subscribe(&s).await.unwrap();
        bus.unsubscribe(&s).await.unwrap();
        bus.unsubscribe(&s).await.unwrap();
        let durable = naming::durable_name("sensor", "t", "dep");
        let found = raw(&server)
            .await
            .get_consumer_from_stream::<pull::Config, _, _>(&durable, "default")
            .await;
        assert!(found.is_err());
    })
    .await;
}

#[tokio::test]
async fn inspect_reports_the_subject_count_and_the_consumer_as_jetstream_does() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        let push = sub("t", "webhook", "push");
        let mut consumer = bus.subscribe(&push).await.unwrap();
        for id in ["e1", "e2", "e3"] {
            bus.publish(&ev(id, "webhook", "push")).await.unwrap();
        }
        bus.publish(&ev("p1", "webhook", "pull")).await.unwrap();
        let batch = consumer.fetch(1, LONG).await.unwrap();
        assert_eq!(ids(&batch), ["e1"]);

        let state = bus.inspect(&push).await.unwrap();
        assert_eq!(state.subject, "default.webhook.push");
        assert_eq!(state.consumer, naming::durable_name("sensor", "t", "dep"));
        assert_eq!(state.messages, 3);
        assert_eq!(
            state.consumer_state,
            Some(ConsumerState {
                pending: 2,
                ack_pending: 1,
                redelivered: 0,
                delivered_stream_seq: 1,
                ack_floor_stream_seq: 0,
            })
        );

        // Delivered again: counted as redelivered until acknowledged.
        batch[0].acker.nak(None).await.unwrap();
        let rest = fetch_n(&mut consumer, 3).await;
        let mut seen: Vec<(&str, u64)> = rest
            .iter()
            .map(|d| (d.event.id.as_str(), d.delivered))
            .collect();
        seen.sort();
        assert_eq!(seen, [("e1", 2), ("e2", 1), ("e3", 1)]);
        let s = bus.inspect(&push).await.unwrap().consumer_state.unwrap();
        assert_eq!((s.pending, s.ack_pending, s.redelivered), (0, 3, 1));
        assert_eq!(s.ack_floor_stream_seq, 0);

        // No consumer on the other subject: its count, and no state (not an error).
        let pull = bus.inspect(&sub("other", "webhook", "pull")).await.unwrap();
        assert_eq!(pull.subject, "default.webhook.pull");
        assert_eq!(pull.messages, 1);
        assert_eq!(pull.consumer_state, None);
        let none = bus.inspect(&sub("t2", "webhook", "never")).await.unwrap();
        assert_eq!((none.messages, none.consumer_state), (0, None));
    })
    .await;
}

fn stored_range(from: StartAt, limit: usize) -> StoredRange {
    StoredRange {
        from,
        limit,
        max_bytes: usize::MAX,
    }
}

fn stored_seqs(page: &StoredPage) -> Vec<u64> {
    page.messages.iter().map(|m| m.sequence).collect()
}

#[tokio::test]
async fn stored_messages_are_read_without_touching_durable_consumers() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        let push = sub("t", "webhook", "push");
        let mut consumer = bus.subscribe(&push).await.unwrap();
        for id in ["e1", "e2", "e3"] {
            bus.publish(&ev(id, "webhook", "push")).await.unwrap();
        }
        bus.publish(&ev("p1", "webhook", "pull")).await.unwrap();
        // Apart on the clock, so a start time falls between them.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let between = std::time::SystemTime::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus.publish(&ev("e4", "webhook", "push")).await.unwrap();
        bus.publish(&ev("e5", "webhook", "push")).await.unwrap();
        // A message that is no CloudEvent, on the same subject.
        let raw = raw(&server).await;
        raw.publish("default.webhook.push", Bytes::from_static(b"not json"))
            .await
            .unwrap()
            .await
            .unwrap();
        // The durable consumer's state: e1 acked, e2 delivered and not acked.
        let first = fetch_n(&mut consumer, 2).await;
        assert_eq!(ids(&first), ["e1", "e2"]);
        first[0].acker.ack().await.unwrap();
        let before = bus.inspect(&push).await.unwrap();
        assert_eq!(
            before.consumer_state,
            Some(ConsumerState {
                pending: 4,
                ack_pending: 1,
                redelivered: 0,
                delivered_stream_seq: 2,
                ack_floor_stream_seq: 1,
            })
        );

        let all = bus
            .stored_messages("webhook", "push", stored_range(StartAt::First, 100))
            .await
            .unwrap();
        assert_eq!(all.subject, "default.webhook.push");
        assert_eq!(stored_seqs(&all), [1, 2, 3, 5, 6, 7]);
        assert!(!all.truncated);
        assert_eq!(all.messages[0].event, Ok(ev("e1", "webhook", "push")));
        assert_eq!(all.messages[4].event, Ok(ev("e5", "webhook", "push")));
        let bad = all.messages[5].event.as_ref().unwrap_err();
        assert!(bad.starts_with("not JSON"), "{bad}");
        assert!(all.messages[2].stored_at < between);
        assert!(all.messages[3].stored_at >= between);

        let from_seq = bus
            .stored_messages("webhook", "push", stored_range(StartAt::Sequence(2), 100))
            .await
            .unwrap();
        assert_eq!(stored_seqs(&from_seq), [2, 3, 5, 6, 7]);
        let from_time = bus
            .stored_messages("webhook", "push", stored_range(StartAt::Time(between), 100))
            .await
            .unwrap();
        assert_eq!(stored_seqs(&from_time), [5, 6, 7]);
        let limited = bus
            .stored_messages("webhook", "push", stored_range(StartAt::Sequence(2), 2))
            .await
            .unwrap();
        assert_eq!(
            (stored_seqs(&limited), limited.truncated),
            (vec![2, 3], true)
        );
        let exact = bus
            .stored_messages("webhook", "push", stored_range(StartAt::Sequence(6), 2))
            .await
            .unwrap();
        assert_eq!((stored_seqs(&exact), exact.truncated), (vec![6, 7], false));
        // The byte budget: the first message whatever its size, then what fits.
        let budget = StoredRange {
            from: StartAt::First,
            limit: 100,
            max_bytes: 0,
        };
        let page = bus
            .stored_messages("webhook", "push", budget)
            .await
            .unwrap();
        assert_eq!((stored_seqs(&page), page.truncated), (vec![1], true));
        let past_the_end = bus
            .stored_messages("webhook", "push", stored_range(StartAt::Sequence(100), 10))
            .await
            .unwrap();
        assert_eq!(
            (past_the_end.messages.len(), past_the_end.truncated),
            (0, false)
        );
        let other = bus
            .stored_messages("webhook", "pull", stored_range(StartAt::First, 100))
            .await
            .unwrap();
        assert_eq!(stored_seqs(&other), [4]);
        assert!(matches!(
            bus.stored_messages("web.hook", "push", stored_range(StartAt::First, 1))
                .await,
            Err(BusError::Refused { .. })
        ));

        // Nothing changed for the durable consumer, and the readers are gone from the stream.
        assert_eq!(bus.inspect(&push).await.unwrap(), before);
        let stream = raw.get_stream("default").await.unwrap();
        let names: Vec<String> = futures::TryStreamExt::try_collect(stream.consumer_names())
            .await
            .unwrap();
        assert_eq!(names, [naming::durable_name("sensor", "t", "dep")]);
        // It still gets what it had left, once: e3, e4, e5 (the bad message is terminated).
        let rest = fetch_n(&mut consumer, 3).await;
        assert_eq!(ids(&rest), ["e3", "e4", "e5"]);
    })
    .await;
}

#[tokio::test]
async fn key_value_bucket() {
    bounded(async {
        let server = server();
        let bus = connect(&server).await;
        let kv = bus.key_value("my-sensor").await.unwrap();
        assert!(kv.keys().await.unwrap().is_empty());
        assert_eq!(kv.get("Triggers").await.unwrap(), None);
        kv.delete("missing").await.unwrap();
        kv.put("Triggers", Bytes::from_static(b"[\"t\"]"))
            .await
            .unwrap();
        kv.put("t/dep", Bytes::from_static(b"1")).await.unwrap();
        kv.put("t/dep", Bytes::from_static(b"2")).await.unwrap();
        assert_eq!(
            kv.get("t/dep").await.unwrap().unwrap(),
            Bytes::from_static(b"2")
        );
        assert_eq!(kv.keys().await.unwrap(), ["Triggers", "t/dep"]);
        kv.delete("t/dep").await.unwrap();
        assert_eq!(kv.get("t/dep").await.unwrap(), None);
        assert_eq!(kv.keys().await.unwrap(), ["Triggers"]);

        // Reopening finds the same bucket, named after the Sensor, history 1.
        let again = bus.key_value("my-sensor").await.unwrap();
        assert_eq!(again.keys().await.unwrap(), ["Triggers"]);
        let store = raw(&server).await.get_key_value("my-sensor").await.unwrap();
        assert_eq!(store.status().await.unwrap().history(), 1);

        let err = bus.key_value("bad.name").await.err().unwrap();
        assert!(err.to_string().contains("\"bad.name\""), "{err}");
    })
    .await;
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn tls_server(verify_clients: bool) -> NatsServer {
    let cert = fixture("server-cert.pem");
    let key = fixture("server-key.pem");
    let ca = fixture("ca.pem");
    let mut args = vec![
        "--tls".to_owned(),
        "--tlscert".to_owned(),
        cert.display().to_string(),
        "--tlskey".to_owned(),
        key.display().to_string(),
    ];
    if verify_clients {
        args.extend([
            "--tlsverify".to_owned(),
            "--tlscacert".to_owned(),
            ca.display().to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    NatsServer::start_with_args(&args).expect("starting nats-server with TLS")
}

async fn round_trip(bus: &JetStreamBus) {
    let mut consumer = bus
        .subscribe(&sub("t", "w", "e"))
        .await
        .expect("subscribing");
    bus.publish(&ev("tls", "w", "e")).await.expect("publishing");
    let batch = consumer.fetch(1, LONG).await.expect("fetching");
    assert_eq!(ids(&batch), ["tls"]);
}

#[tokio::test]
async fn tls_with_a_ca_file_and_upstreams_unverified_default() {
    bounded(async {
        let server = tls_server(false);
        let verified = JetStreamOptions {
            tls: Some(TlsOptions {
                ca_file: Some(fixture("ca.pem")),
                ..TlsOptions::default()
            }),
            ..JetStreamOptions::new(&server.url)
        };
        round_trip(&JetStreamBus::connect(verified).await.unwrap()).await;

        // No tls block: TLS because the server demands it, certificate unverified (upstream).
        let bus = connect(&server).await;
        bus.publish(&ev("x", "w", "e")).await.unwrap();

        // A TLS block without a CA verifies against the system roots: this CA is not one.
        let system_roots = JetStreamOptions {
            tls: Some(TlsOptions::default()),
            ..JetStreamOptions::new(&server.url)
        };
        let err = JetStreamBus::connect(system_roots).await.unwrap_err();
        assert!(matches!(err, BusError::Unavailable(_)), "{err}");

        let insecure = JetStreamOptions {
            tls: Some(TlsOptions {
                insecure_skip_verify: true,
                ..TlsOptions::default()
            }),
            ..JetStreamOptions::new(&server.url)
        };
        JetStreamBus::connect(insecure).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn tls_client_certificates() {
    bounded(async {
        let server = tls_server(true);
        let with_cert = JetStreamOptions {
            tls: Some(TlsOptions {
                ca_file: Some(fixture("ca.pem")),
                cert_file: Some(fixture("client-cert.pem")),
                key_file: Some(fixture("client-key.pem")),
                insecure_skip_verify: false,
            }),
            ..JetStreamOptions::new(&server.url)
        };
        round_trip(&JetStreamBus::connect(with_cert).await.unwrap()).await;

        let without_cert = JetStreamOptions {
            tls: Some(TlsOptions {
                ca_file: Some(fixture("ca.pem")),
                ..TlsOptions::default()
            }),
            ..JetStreamOptions::new(&server.url)
        };
        assert!(JetStreamBus::connect(without_cert).await.is_err());

        let missing = JetStreamOptions {
            tls: Some(TlsOptions {
                ca_file: Some(fixture("nope.pem")),
                ..TlsOptions::default()
            }),
            ..JetStreamOptions::new(&server.url)
        };
        let err = JetStreamBus::connect(missing).await.unwrap_err();
        assert!(
            matches!(err, BusError::Config(_)) && err.to_string().contains("nope.pem"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn user_password_and_token_credentials() {
    bounded(async {
        let server = NatsServer::start_with_args(&["--user", "u", "--pass", "p"]).unwrap();
        let good = JetStreamOptions {
            credentials: Credentials::UserPassword {
                user: "u".into(),
                password: "p".into(),
            },
            ..JetStreamOptions::new(&server.url)
        };
        round_trip(&JetStreamBus::connect(good).await.unwrap()).await;
        let bad = JetStreamOptions {
            credentials: Credentials::UserPassword {
                user: "u".into(),
                password: "wrong".into(),
            },
            ..JetStreamOptions::new(&server.url)
        };
        let err = JetStreamBus::connect(bad).await.unwrap_err();
        assert!(matches!(err, BusError::Unavailable(_)), "{err}");

        let server = NatsServer::start_with_args(&["--auth", "s3cret"]).unwrap();
        let token = JetStreamOptions {
            credentials: Credentials::Token("s3cret".into()),
            ..JetStreamOptions::new(&server.url)
        };
        round_trip(&JetStreamBus::connect(token).await.unwrap()).await;
        assert!(
            JetStreamBus::connect(JetStreamOptions::new(&server.url))
                .await
                .is_err()
        );
    })
    .await;
}

#[test]
fn the_test_server_keeps_a_callers_store_dir() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let port = argo_events_bus::testserver::free_port().unwrap();
    {
        let mut server = NatsServer::start_at(port, &store).unwrap();
        assert!(server.is_running());
        assert_eq!(server.url, format!("nats://127.0.0.1:{port}"));
        server.stop();
        assert!(!server.is_running());
    }
    assert!(store.exists());
}
