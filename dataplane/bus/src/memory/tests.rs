use std::time::Duration;

use super::*;
use crate::StartAt;

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
        data: br#"{"n":1}"#.to_vec(),
    }
}

fn sub(trigger: &str, dependency: &str, source: &str, name: &str) -> Subscription {
    Subscription {
        sensor: "sensor".into(),
        trigger: trigger.into(),
        dependency: dependency.into(),
        event_source: source.into(),
        event_name: name.into(),
    }
}

fn bus_with(ack_wait_ms: u64) -> MemoryBus {
    MemoryBus::with_options(MemoryBusOptions {
        ack_wait: Duration::from_millis(ack_wait_ms),
        ..MemoryBusOptions::default()
    })
}

const SHORT: Duration = Duration::from_millis(30);
const LONG: Duration = Duration::from_secs(5);

fn ids(batch: &[Delivery]) -> Vec<&str> {
    batch.iter().map(|d| d.event.id.as_str()).collect()
}

#[tokio::test]
async fn consumer_starts_at_the_end_of_the_stream() {
    let bus = MemoryBus::new();
    let s = sub("t", "d", "webhook", "push");
    // A consumer elsewhere keeps e1 in the stream; ours must still not see it.
    let _other = bus
        .subscribe(&sub("t2", "d", "webhook", "push"))
        .await
        .unwrap();
    bus.publish(&ev("e1", "webhook", "push")).await.unwrap();
    let mut c = bus.subscribe(&s).await.unwrap();
    assert!(c.fetch(10, SHORT).await.unwrap().is_empty());
    bus.publish(&ev("e2", "webhook", "push")).await.unwrap();
    let batch = c.fetch(10, SHORT).await.unwrap();
    assert_eq!(ids(&batch), ["e2"]);
    assert_eq!(batch[0].stream_sequence, 2);
    assert_eq!(batch[0].delivered, 1);
    assert_eq!(batch[0].event, ev("e2", "webhook", "push"));
}

#[tokio::test]
async fn duplicate_ids_are_stored_once_within_the_window() {
    let bus = MemoryBus::with_options(MemoryBusOptions {
        duplicates: Duration::from_millis(200),
        ..MemoryBusOptions::default()
    });
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    bus.publish(&ev("same", "w", "e")).await.unwrap();
    bus.publish(&ev("same", "w", "e")).await.unwrap();
    assert_eq!(bus.last_sequence(), 1);
    let batch = c.fetch(10, SHORT).await.unwrap();
    assert_eq!(ids(&batch), ["same"]);
    batch[0].acker.ack().await.unwrap();
    // Past the window the id is new again.
    tokio::time::sleep(Duration::from_millis(250)).await;
    bus.publish(&ev("same", "w", "e")).await.unwrap();
    assert_eq!(bus.last_sequence(), 2);
    // Events without an id are never deduplicated.
    bus.publish(&ev("", "w", "e")).await.unwrap();
    bus.publish(&ev("", "w", "e")).await.unwrap();
    assert_eq!(bus.last_sequence(), 4);
}

#[tokio::test]
async fn acked_events_are_not_delivered_again() {
    let bus = bus_with(50);
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    bus.publish(&ev("e1", "w", "e")).await.unwrap();
    let batch = c.fetch(1, SHORT).await.unwrap();
    batch[0].acker.ack().await.unwrap();
    // Acking twice is harmless.
    batch[0].acker.ack().await.unwrap();
    assert!(
        c.fetch(1, Duration::from_millis(150))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(bus.stored(), 0);
}

#[tokio::test]
async fn nak_redelivers_at_once_or_after_its_delay() {
    let bus = MemoryBus::new();
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    bus.publish(&ev("e1", "w", "e")).await.unwrap();
    let first = c.fetch(1, SHORT).await.unwrap();
    first[0].acker.nak(None).await.unwrap();
    let second = c.fetch(1, SHORT).await.unwrap();
    assert_eq!(ids(&second), ["e1"]);
    assert_eq!(second[0].delivered, 2);
    assert_eq!(second[0].stream_sequence, first[0].stream_sequence);

    second[0]
        .acker
        .nak(Some(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(
        c.fetch(1, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty()
    );
    let started = Instant::now();
    let third = c.fetch(1, LONG).await.unwrap();
    assert_eq!(third[0].delivered, 3);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn unacked_events_come_back_after_the_ack_wait() {
    let bus = bus_with(150);
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    bus.publish(&ev("e1", "w", "e")).await.unwrap();
    let started = Instant::now();
    let first = c.fetch(1, SHORT).await.unwrap();
    assert_eq!(first[0].delivered, 1);
    let again = c.fetch(1, LONG).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(ids(&again), ["e1"]);
    assert_eq!(again[0].delivered, 2);
}

#[tokio::test]
async fn in_progress_pushes_the_redelivery_back() {
    let bus = bus_with(400);
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    bus.publish(&ev("e1", "w", "e")).await.unwrap();
    let first = c.fetch(1, SHORT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    first[0].acker.in_progress().await.unwrap();
    // Without in_progress it would be due at 400 ms; now at about 650 ms.
    assert!(
        c.fetch(1, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    let again = c.fetch(1, LONG).await.unwrap();
    assert_eq!(again[0].delivered, 2);
}

#[tokio::test]
async fn fetch_waits_for_a_new_event_and_times_out_empty() {
    let bus = MemoryBus::new();
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    let started = Instant::now();
    assert!(
        c.fetch(1, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(started.elapsed() >= Duration::from_millis(100));

    let publisher = bus.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.publish(&ev("late", "w", "e")).await.unwrap();
    });
    let started = Instant::now();
    let batch = c.fetch(5, LONG).await.unwrap();
    assert_eq!(ids(&batch), ["late"]);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(c.fetch(0, LONG).await.unwrap().is_empty());
}

#[tokio::test]
async fn consumers_get_only_their_event_and_each_their_own_copy() {
    let bus = MemoryBus::new();
    let mut push_a = bus.subscribe(&sub("a", "d", "w", "push")).await.unwrap();
    let mut push_b = bus.subscribe(&sub("b", "d", "w", "push")).await.unwrap();
    let mut pull = bus.subscribe(&sub("a", "d2", "w", "pull")).await.unwrap();
    bus.publish(&ev("1", "w", "push")).await.unwrap();
    bus.publish(&ev("2", "w", "pull")).await.unwrap();
    bus.publish(&ev("3", "other", "push")).await.unwrap();
    assert_eq!(ids(&push_a.fetch(10, SHORT).await.unwrap()), ["1"]);
    assert_eq!(ids(&push_b.fetch(10, SHORT).await.unwrap()), ["1"]);
    assert_eq!(ids(&pull.fetch(10, SHORT).await.unwrap()), ["2"]);
}

#[tokio::test]
async fn fetch_returns_at_most_max() {
    let bus = MemoryBus::new();
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    for id in ["1", "2", "3"] {
        bus.publish(&ev(id, "w", "e")).await.unwrap();
    }
    assert_eq!(ids(&c.fetch(2, SHORT).await.unwrap()), ["1", "2"]);
    assert_eq!(ids(&c.fetch(2, SHORT).await.unwrap()), ["3"]);
}

#[tokio::test]
async fn durable_consumers_survive_their_handle() {
    let bus = bus_with(100);
    let s = sub("t", "d", "w", "e");
    let mut c = bus.subscribe(&s).await.unwrap();
    bus.publish(&ev("e1", "w", "e")).await.unwrap();
    let unacked = c.fetch(1, SHORT).await.unwrap();
    drop(c);
    drop(unacked);
    // Published while no handle is open: still delivered to the durable.
    bus.publish(&ev("e2", "w", "e")).await.unwrap();
    let mut c = bus.subscribe(&s).await.unwrap();
    let batch = c.fetch(10, SHORT).await.unwrap();
    assert_eq!(ids(&batch), ["e2"]);
    batch[0].acker.ack().await.unwrap();
    let again = c.fetch(10, LONG).await.unwrap();
    assert_eq!(ids(&again), ["e1"]);
    assert_eq!(again[0].delivered, 2);
}

#[tokio::test]
async fn unsubscribe_deletes_the_durable() {
    let bus = MemoryBus::new();
    let s = sub("t", "d", "w", "e");
    let mut c = bus.subscribe(&s).await.unwrap();
    bus.publish(&ev("e1", "w", "e")).await.unwrap();
    let batch = c.fetch(1, SHORT).await.unwrap();
    bus.unsubscribe(&s).await.unwrap();
    // Unsubscribing again is fine.
    bus.unsubscribe(&s).await.unwrap();
    let err = c.fetch(1, SHORT).await.unwrap_err();
    assert!(matches!(err, BusError::Refused { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&naming::durable_name("sensor", "t", "d"))
    );
    assert!(batch[0].acker.ack().await.is_err());
    // A new durable of the same name starts at the end again.
    let mut c = bus.subscribe(&s).await.unwrap();
    assert!(c.fetch(1, SHORT).await.unwrap().is_empty());
    // The old delivery cannot settle the new consumer's messages.
    bus.publish(&ev("e2", "w", "e")).await.unwrap();
    assert!(batch[0].acker.ack().await.is_err());
    assert_eq!(ids(&c.fetch(1, SHORT).await.unwrap()), ["e2"]);
}

#[tokio::test]
async fn a_durable_name_cannot_change_its_event() {
    let bus = MemoryBus::new();
    bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    let err = bus
        .subscribe(&sub("t", "d", "w", "other"))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("exists for w.e"), "{err}");
}

#[tokio::test]
async fn names_that_break_the_subject_layout_are_refused() {
    let bus = MemoryBus::new();
    let err = bus.publish(&ev("1", "my.source", "e")).await.unwrap_err();
    assert!(err.to_string().contains("\"my.source\""), "{err}");
    let err = bus
        .subscribe(&sub("t", "d", "w", "a b"))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("\"a b\""), "{err}");
}

#[tokio::test]
async fn a_bounded_stream_refuses_with_discard_new() {
    let bus = MemoryBus::with_options(MemoryBusOptions {
        max_msgs: Some(2),
        ..MemoryBusOptions::default()
    });
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
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
    assert!(err.to_string().contains("full"), "{err}");
    // Settling one makes room.
    let batch = c.fetch(1, SHORT).await.unwrap();
    batch[0].acker.ack().await.unwrap();
    bus.publish(&ev("3", "w", "e")).await.unwrap();
    assert_eq!(ids(&c.fetch(10, SHORT).await.unwrap()), ["2", "3"]);
}

#[tokio::test]
async fn a_bounded_stream_drops_the_oldest_with_discard_old() {
    let bus = MemoryBus::with_options(MemoryBusOptions {
        max_msgs: Some(2),
        discard: Discard::Old,
        ..MemoryBusOptions::default()
    });
    let mut c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    for id in ["1", "2", "3"] {
        bus.publish(&ev(id, "w", "e")).await.unwrap();
    }
    assert_eq!(ids(&c.fetch(10, SHORT).await.unwrap()), ["2", "3"]);
}

#[tokio::test]
async fn events_nobody_can_read_are_not_kept() {
    let bus = MemoryBus::new();
    bus.publish(&ev("1", "w", "e")).await.unwrap();
    assert_eq!(bus.stored(), 0);
    let _c = bus.subscribe(&sub("t", "d", "w", "e")).await.unwrap();
    bus.publish(&ev("2", "w", "other")).await.unwrap();
    assert_eq!(bus.stored(), 0, "an event no consumer filters for");
    bus.publish(&ev("3", "w", "e")).await.unwrap();
    assert_eq!(bus.stored(), 1);
}

#[tokio::test]
async fn key_value_buckets() {
    let bus = MemoryBus::new();
    let kv = bus.key_value("sensor-a").await.unwrap();
    assert!(kv.keys().await.unwrap().is_empty());
    assert_eq!(kv.get("Triggers").await.unwrap(), None);
    kv.delete("missing").await.unwrap();
    kv.put("b/dep", Bytes::from_static(b"2")).await.unwrap();
    kv.put("Triggers", Bytes::from_static(b"[\"b\"]"))
        .await
        .unwrap();
    kv.put("b/dep", Bytes::from_static(b"3")).await.unwrap();
    assert_eq!(
        kv.get("b/dep").await.unwrap().unwrap(),
        Bytes::from_static(b"3")
    );
    assert_eq!(kv.keys().await.unwrap(), ["Triggers", "b/dep"]);
    kv.delete("b/dep").await.unwrap();
    assert_eq!(kv.get("b/dep").await.unwrap(), None);
    assert_eq!(kv.keys().await.unwrap(), ["Triggers"]);

    // Another sensor has its own bucket; a clone of the bus shares them.
    let other = bus.key_value("sensor-b").await.unwrap();
    assert!(other.keys().await.unwrap().is_empty());
    let same = bus.clone().key_value("sensor-a").await.unwrap();
    assert_eq!(same.keys().await.unwrap(), ["Triggers"]);
}

#[tokio::test]
async fn inspect_reports_the_subject_and_the_consumer_as_jetstream_does() {
    let bus = MemoryBus::new();
    let push = sub("t", "d", "webhook", "push");
    let pull = sub("t", "other", "webhook", "pull");
    let mut c = bus.subscribe(&push).await.unwrap();
    let _keeps_pull = bus.subscribe(&pull).await.unwrap();
    for id in ["e1", "e2", "e3"] {
        bus.publish(&ev(id, "webhook", "push")).await.unwrap();
    }
    bus.publish(&ev("p1", "webhook", "pull")).await.unwrap();
    let batch = c.fetch(1, SHORT).await.unwrap();
    assert_eq!(ids(&batch), ["e1"]);

    let state = bus.inspect(&push).await.unwrap();
    assert_eq!(state.subject, "default.webhook.push");
    assert_eq!(state.consumer, naming::durable_name("sensor", "t", "d"));
    assert_eq!(state.messages, 3);
    assert_eq!(
        state.consumer_state,
        Some(ConsumerReport {
            pending: 2,
            ack_pending: 1,
            redelivered: 0,
            delivered_stream_seq: 1,
            ack_floor_stream_seq: 0,
        })
    );
    assert_eq!(bus.inspect(&pull).await.unwrap().messages, 1);

    // Delivered again: counted as redelivered until acknowledged.
    batch[0].acker.nak(None).await.unwrap();
    let again = c.fetch(1, SHORT).await.unwrap();
    assert_eq!((ids(&again), again[0].delivered), (vec!["e1"], 2));
    let s = bus.inspect(&push).await.unwrap().consumer_state.unwrap();
    assert_eq!((s.pending, s.ack_pending, s.redelivered), (2, 1, 1));
    again[0].acker.ack().await.unwrap();
    for d in c.fetch(10, SHORT).await.unwrap() {
        d.acker.ack().await.unwrap();
    }
    let s = bus.inspect(&push).await.unwrap().consumer_state.unwrap();
    assert_eq!(
        s,
        ConsumerReport {
            pending: 0,
            ack_pending: 0,
            redelivered: 0,
            // Past the unrelated pull event too, as JetStream moves past what its filter skips.
            delivered_stream_seq: 4,
            ack_floor_stream_seq: 4,
        }
    );

    // A consumer that does not exist is no error.
    let missing = bus
        .inspect(&sub("never", "d", "webhook", "push"))
        .await
        .unwrap();
    assert_eq!(missing.consumer_state, None);
    assert_eq!(
        missing.consumer,
        naming::durable_name("sensor", "never", "d")
    );
    assert!(matches!(
        bus.inspect(&sub("t", "d", "web.hook", "push")).await,
        Err(BusError::Refused {
            operation: "inspect",
            ..
        })
    ));
}

fn range(from: StartAt, limit: usize) -> StoredRange {
    StoredRange {
        from,
        limit,
        max_bytes: usize::MAX,
    }
}

fn seqs(page: &StoredPage) -> Vec<u64> {
    page.messages.iter().map(|m| m.sequence).collect()
}

#[tokio::test]
async fn stored_messages_are_read_without_touching_the_consumers() {
    let bus = MemoryBus::new();
    let push = sub("t", "d", "webhook", "push");
    let mut c = bus.subscribe(&push).await.unwrap();
    for id in ["e1", "e2"] {
        bus.publish(&ev(id, "webhook", "push")).await.unwrap();
    }
    bus.publish(&ev("p1", "webhook", "pull")).await.unwrap();
    // e1 and e2 settled (they leave the stream for the history), e3 and e4 still pending.
    for d in c.fetch(10, SHORT).await.unwrap() {
        d.acker.ack().await.unwrap();
    }
    let between = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for id in ["e3", "e4"] {
        bus.publish(&ev(id, "webhook", "push")).await.unwrap();
    }
    assert_eq!(bus.stored(), 2, "only e3 and e4 are left to settle");
    let before = bus.inspect(&push).await.unwrap();
    assert_eq!(before.messages, 4, "the history counts as held");

    let all = bus
        .stored_messages("webhook", "push", range(StartAt::First, 100))
        .await
        .unwrap();
    assert_eq!(all.subject, "default.webhook.push");
    assert_eq!(seqs(&all), [1, 2, 4, 5]);
    assert!(!all.truncated);
    assert_eq!(all.messages[0].event, Ok(ev("e1", "webhook", "push")));
    assert!(all.messages[0].stored_at <= between);
    assert!(all.messages[2].stored_at >= between);

    let from_seq = bus
        .stored_messages("webhook", "push", range(StartAt::Sequence(2), 2))
        .await
        .unwrap();
    assert_eq!((seqs(&from_seq), from_seq.truncated), (vec![2, 4], true));
    let from_time = bus
        .stored_messages("webhook", "push", range(StartAt::Time(between), 100))
        .await
        .unwrap();
    assert_eq!((seqs(&from_time), from_time.truncated), (vec![4, 5], false));
    // The byte budget: the first message always, then as many as fit.
    let size = ev("e1", "webhook", "push").data.len();
    let budget = StoredRange {
        from: StartAt::First,
        limit: 100,
        max_bytes: size * 2 + 1,
    };
    let page = bus
        .stored_messages("webhook", "push", budget)
        .await
        .unwrap();
    assert_eq!((seqs(&page), page.truncated), (vec![1, 2], true));
    let tiny = StoredRange {
        max_bytes: 0,
        ..budget
    };
    assert_eq!(
        seqs(&bus.stored_messages("webhook", "push", tiny).await.unwrap()),
        [1]
    );
    let other = bus
        .stored_messages("webhook", "pull", range(StartAt::First, 100))
        .await
        .unwrap();
    assert_eq!(seqs(&other), [3]);
    assert!(
        bus.stored_messages("webhook", "none", range(StartAt::First, 100))
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    assert!(matches!(
        bus.stored_messages("web.hook", "push", range(StartAt::First, 1))
            .await,
        Err(BusError::Refused { .. })
    ));

    // Reading changed nothing: the consumer's figures, and it still gets e3 and e4 once.
    assert_eq!(bus.inspect(&push).await.unwrap(), before);
    assert_eq!(ids(&c.fetch(10, SHORT).await.unwrap()), ["e3", "e4"]);
}

#[tokio::test]
async fn the_history_keeps_the_newest_settled_events() {
    let bus = MemoryBus::with_options(MemoryBusOptions {
        history: 2,
        ..MemoryBusOptions::default()
    });
    // No consumer: every event leaves the stream at once, into the history.
    for id in ["1", "2", "3"] {
        bus.publish(&ev(id, "w", "e")).await.unwrap();
    }
    assert_eq!(bus.stored(), 0);
    let page = bus
        .stored_messages("w", "e", range(StartAt::First, 10))
        .await
        .unwrap();
    assert_eq!(seqs(&page), [2, 3]);
    let none = MemoryBus::with_options(MemoryBusOptions {
        history: 0,
        ..MemoryBusOptions::default()
    });
    none.publish(&ev("1", "w", "e")).await.unwrap();
    assert!(
        none.stored_messages("w", "e", range(StartAt::First, 10))
            .await
            .unwrap()
            .messages
            .is_empty()
    );
}
