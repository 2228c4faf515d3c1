//! The calendar source with a fake clock.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

fn calendar(spec: serde_json::Value) -> argo_events_api::EventSource {
    event_source("cal", json!({"calendar": {"tick": spec}}))
}

fn setup(now: &str, state: Arc<MemoryState>) -> Setup {
    Setup {
        clock: FakeClock::new(utc(now)),
        state,
        ..Setup::default()
    }
}

fn event_times(h: &Harness) -> Vec<String> {
    h.bus
        .events()
        .iter()
        .map(|e| data(e)["eventTime"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn fires_on_schedule_in_its_timezone_and_persists() {
    let state = Arc::new(MemoryState::default());
    let source = calendar(json!({
        "schedule": "0 9 * * *",
        "timezone": "America/New_York",
        "metadata": {"why": "standup"},
    }));
    // 07:00 in New York.
    let h = Harness::start_with(source, setup("2024-01-02T12:00:00Z", state.clone()));
    h.clock.wait_sleeper(utc("2024-01-02T14:00:00Z")).await;
    assert!(h.bus.events().is_empty());

    h.clock.set(utc("2024-01-02T14:00:00.250Z"));
    let events = h.bus.wait_events(1).await;
    let e = &events[0];
    assert_eq!(
        (e.source.as_str(), e.subject.as_str(), e.type_.as_str()),
        ("cal", "tick", "calendar")
    );
    assert_eq!(
        e.time,
        Some(utc("2024-01-02T14:00:00.250Z")),
        "CloudEvent time is now"
    );
    assert_eq!(
        String::from_utf8(e.data.clone()).unwrap(),
        r#"{"eventTime":"2024-01-02 09:00:00 -0500 EST","metadata":{"why":"standup"}}"#
    );
    h.clock.wait_sleeper(utc("2024-01-03T14:00:00Z")).await;
    assert_eq!(
        state.text("tick/lastFire").as_deref(),
        Some("2024-01-02T14:00:00Z")
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn interval_fires_repeatedly() {
    let source = calendar(json!({"interval": "10s"}));
    let h = Harness::start_with(source, setup("2024-01-02T10:00:00Z", Default::default()));
    for n in 1..=3u64 {
        let at = utc("2024-01-02T10:00:00Z") + chrono::Duration::seconds(10 * n as i64);
        h.clock.wait_sleeper(at).await;
        h.clock.set(at);
        h.bus.wait_events(n as usize).await;
    }
    assert_eq!(
        event_times(&h),
        [
            "2024-01-02 10:00:10 +0000 UTC",
            "2024-01-02 10:00:20 +0000 UTC",
            "2024-01-02 10:00:30 +0000 UTC"
        ]
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn exclusion_dates_are_skipped() {
    let source = calendar(json!({
        "schedule": "0 0 * * *",
        "exclusionDates": ["EXDATE:20240103T000000Z,20240104T103000Z"],
    }));
    let h = Harness::start_with(source, setup("2024-01-02T12:00:00Z", Default::default()));
    h.clock.wait_sleeper(utc("2024-01-05T00:00:00Z")).await;
    h.clock.set(utc("2024-01-05T00:00:00Z"));
    h.bus.wait_events(1).await;
    assert_eq!(event_times(&h), ["2024-01-05 00:00:00 +0000 UTC"]);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_neither_fires_twice_nor_skips() {
    let state = Arc::new(MemoryState::default());
    let source = calendar(json!({"schedule": "0 * * * *"}));

    let first = Harness::start_with(source.clone(), setup("2024-01-02T10:30:00Z", state.clone()));
    first.clock.wait_sleeper(utc("2024-01-02T11:00:00Z")).await;
    first.clock.set(utc("2024-01-02T11:00:00Z"));
    first.bus.wait_events(1).await;
    first.clock.wait_sleeper(utc("2024-01-02T12:00:00Z")).await;
    first.stop().await.unwrap();
    assert_eq!(
        state.text("tick/lastFire").as_deref(),
        Some("2024-01-02T11:00:00Z")
    );

    // Restarted within the same hour: the 11:00 tick is not fired again, 12:00 is next.
    let second = Harness::start_with(source.clone(), setup("2024-01-02T11:20:00Z", state.clone()));
    second.clock.wait_sleeper(utc("2024-01-02T12:00:00Z")).await;
    assert!(second.bus.events().is_empty(), "no second 11:00 event");
    second.stop().await.unwrap();

    // Restarted exactly at 12:00 (the tick not fired yet): it is fired, not skipped.
    let third = Harness::start_with(source, setup("2024-01-02T12:00:00Z", state.clone()));
    third.bus.wait_events(1).await;
    assert_eq!(event_times(&third), ["2024-01-02 12:00:00 +0000 UTC"]);
    third.clock.wait_sleeper(utc("2024-01-02T13:00:00Z")).await;
    third.stop().await.unwrap();
    assert_eq!(
        state.text("tick/lastFire").as_deref(),
        Some("2024-01-02T12:00:00Z")
    );
}

#[tokio::test]
async fn missed_ticks_are_caught_up_only_when_enabled() {
    let cases = [
        (json!(null), vec![]),
        (json!({"catchup": {"enabled": false}}), vec![]),
        (
            json!({"catchup": {"enabled": true}}),
            vec![
                "2024-01-02 08:00:00 +0000 UTC",
                "2024-01-02 09:00:00 +0000 UTC",
                "2024-01-02 10:00:00 +0000 UTC",
            ],
        ),
        (
            json!({"catchup": {"enabled": true, "maxDuration": "90m"}}),
            vec!["2024-01-02 10:00:00 +0000 UTC"],
        ),
    ];
    for (persistence, want) in cases {
        let state = Arc::new(MemoryState::default());
        state.set("tick/lastFire", "2024-01-02T07:00:00Z");
        let source = calendar(json!({"schedule": "0 * * * *", "persistence": persistence}));
        let h = Harness::start_with(source, setup("2024-01-02T10:30:00Z", state.clone()));
        h.clock.wait_sleeper(utc("2024-01-02T11:00:00Z")).await;
        assert_eq!(event_times(&h), want, "{persistence}");
        let last = if want.is_empty() {
            "2024-01-02T07:00:00Z"
        } else {
            "2024-01-02T10:00:00Z"
        };
        assert_eq!(
            state.text("tick/lastFire").as_deref(),
            Some(last),
            "{persistence}"
        );
        h.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_failed_publish_is_retried_and_reported() {
    let state = Arc::new(MemoryState::default());
    let source = calendar(json!({"schedule": "0 * * * *"}));
    let h = Harness::start_with(source, setup("2024-01-02T10:30:00Z", state.clone()));
    h.clock.wait_sleeper(utc("2024-01-02T11:00:00Z")).await;
    h.bus.set_mode(BusMode::Fail);
    h.clock.set(utc("2024-01-02T11:00:00Z"));
    // First retry waits 0.5 s on the calendar's clock.
    h.clock.wait_sleeper(utc("2024-01-02T11:00:00.5Z")).await;
    assert_eq!(h.bus.attempts(), 1);
    assert_eq!(h.observer.failed().len(), 1);
    assert!(
        h.observer.failed()[0].1.contains("attempt 1 of 6"),
        "{:?}",
        h.observer.failed()
    );
    assert!(
        state.text("tick/lastFire").is_none(),
        "not persisted before it is stored"
    );

    h.bus.set_mode(BusMode::Store);
    h.clock.advance(Duration::from_millis(500));
    h.bus.wait_events(1).await;
    assert_eq!(event_times(&h), ["2024-01-02 11:00:00 +0000 UTC"]);
    h.clock.wait_sleeper(utc("2024-01-02T12:00:00Z")).await;
    assert_eq!(
        state.text("tick/lastFire").as_deref(),
        Some("2024-01-02T11:00:00Z")
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_tick_that_never_publishes_is_reported_and_skipped() {
    let state = Arc::new(MemoryState::default());
    let source = calendar(json!({"schedule": "0 * * * *"}));
    let h = Harness::start_with(source, setup("2024-01-02T10:30:00Z", state.clone()));
    h.clock.wait_sleeper(utc("2024-01-02T11:00:00Z")).await;
    h.bus.set_mode(BusMode::Fail);
    h.clock.set(utc("2024-01-02T11:00:00Z"));
    // Let every retry pass: the clock jumps past each wait as it is requested.
    while h.bus.attempts() < 6 {
        h.clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.clock.wait_sleeper(utc("2024-01-02T12:00:00Z")).await;
    let failed = h.observer.failed();
    assert_eq!(failed.len(), 6);
    assert!(
        failed[5].1.contains("giving up after 6 attempts"),
        "{failed:?}"
    );
    assert!(state.text("tick/lastFire").is_none());
    h.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_calendars_are_refused() {
    for (spec, want) in [
        (json!({}), "either schedule or interval is required"),
        (json!({"schedule": "every day"}), "schedule \"every day\""),
        (json!({"interval": "1 hour"}), "interval"),
        (
            json!({"schedule": "* * * * *", "timezone": "Nowhere/Land"}),
            "timezone \"Nowhere/Land\"",
        ),
        (
            json!({"schedule": "* * * * *", "exclusionDates": ["2024-01-01"]}),
            "must start with EXDATE:",
        ),
        (json!({"schedule": "0 0 30 2 *"}), "schedule"),
        (
            json!({"schedule": "* * * * *", "persistence": {"catchup": {"enabled": true, "maxDuration": "a while"}}}),
            "persistence.catchup.maxDuration",
        ),
        (
            json!({"interval": "1m", "filter": {"expression": "true"}}),
            "filter expressions are not supported yet",
        ),
    ] {
        let err = start_error(calendar(spec.clone()), Default::default()).await;
        assert!(err.contains("calendar event tick"), "{err}");
        assert!(
            err.contains(want),
            "{spec}: {err:?} should contain {want:?}"
        );
    }
}
