use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sensor() -> Sensor {
    let value = json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {
            "dependencies": [
                {"name": "push", "eventSourceName": "webhook", "eventName": "push"},
                {"name": "tag", "eventSourceName": "webhook", "eventName": "tag"},
                {"name": "unused", "eventSourceName": "webhook", "eventName": "other"},
            ],
            "triggers": [
                {"template": {"name": "build", "conditions": "push", "log": {}}},
                {"template": {"name": "notify", "conditions": "push || tag", "log": {}}},
            ],
        },
    });
    argo_events_api::gocompat::from_value(&value).unwrap().value
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

#[test]
fn a_selection_defaults_to_the_oldest_message_and_the_default_limit() {
    assert_eq!(
        parse_selection(&pairs(&[("dependency", "push")])).unwrap(),
        Selection {
            dependency: "push".into(),
            trigger: None,
            from: StartAt::First,
            limit: DEFAULT_MESSAGE_LIMIT,
        }
    );
    let s = parse_selection(&pairs(&[
        ("limit", "1000"),
        ("fromSeq", "7"),
        ("trigger", "build"),
        ("dependency", "push"),
    ]))
    .unwrap();
    assert_eq!(
        (s.trigger.as_deref(), s.from, s.limit),
        (Some("build"), StartAt::Sequence(7), 1000)
    );
    let s = parse_selection(&pairs(&[
        ("dependency", "push"),
        ("since", "2024-05-01T12:00:00.5+02:00"),
    ]))
    .unwrap();
    assert_eq!(
        s.from,
        StartAt::Time(UNIX_EPOCH + Duration::from_millis(1_714_557_600_500))
    );
}

#[test]
fn bad_parameters_are_named() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (&[], "dependency", "required"),
        (&[("dependency", "")], "dependency", "empty"),
        (
            &[("dependency", "push"), ("dependency", "tag")],
            "dependency",
            "given more than once",
        ),
        (
            &[("dependency", "push"), ("fromseq", "1")],
            "fromseq",
            "unknown (the parameters are dependency, trigger, since, fromSeq, limit)",
        ),
        (
            &[("dependency", "push"), ("trigger", "")],
            "trigger",
            "empty",
        ),
        (
            &[("dependency", "push"), ("fromSeq", "0")],
            "fromSeq",
            "\"0\" is not a stream sequence",
        ),
        (
            &[("dependency", "push"), ("fromSeq", "-1")],
            "fromSeq",
            "is not a stream sequence",
        ),
        (
            &[("dependency", "push"), ("since", "yesterday")],
            "since",
            "\"yesterday\" is not an RFC 3339 time",
        ),
        (
            &[
                ("dependency", "push"),
                ("since", "2024-05-01T12:00:00Z"),
                ("fromSeq", "1"),
            ],
            "since and fromSeq",
            "give one or the other",
        ),
        (
            &[("dependency", "push"), ("limit", "0")],
            "limit",
            "\"0\" is not a whole number from 1 to 1000",
        ),
        (
            &[("dependency", "push"), ("limit", "1001")],
            "limit",
            "from 1 to 1000",
        ),
        (
            &[("dependency", "push"), ("limit", "ten")],
            "limit",
            "\"ten\"",
        ),
    ];
    for (query, parameter, message) in cases {
        let err = parse_selection(&pairs(query)).unwrap_err();
        assert_eq!(err.parameter, *parameter, "{query:?}");
        assert!(err.message.contains(message), "{query:?}: {}", err.message);
        assert!(
            err.to_string()
                .starts_with(&format!("query parameter {parameter}: ")),
            "{err}"
        );
    }
}

fn select(dependency: &str, trigger: Option<&str>) -> Selection {
    Selection {
        dependency: dependency.into(),
        trigger: trigger.map(str::to_owned),
        from: StartAt::First,
        limit: 1,
    }
}

#[test]
fn a_selection_resolves_to_the_triggers_using_the_dependency() {
    let catalog = Catalog::of(&sensor());
    let t = catalog.resolve(&select("push", None)).unwrap();
    assert_eq!(
        t,
        Target {
            dependency: "push".into(),
            event_source: "webhook".into(),
            event_name: "push".into(),
            triggers: vec!["build".into(), "notify".into()],
        }
    );
    assert_eq!(
        catalog.resolve(&select("tag", None)).unwrap().triggers,
        ["notify"]
    );
    assert_eq!(
        catalog
            .resolve(&select("push", Some("notify")))
            .unwrap()
            .triggers,
        ["notify"]
    );
    // A dependency no trigger uses: its subject can be read, no trigger would be reached.
    let unused = catalog.resolve(&select("unused", None)).unwrap();
    assert_eq!(
        (unused.event_name.as_str(), unused.triggers.len()),
        ("other", 0)
    );

    assert_eq!(
        catalog
            .resolve(&select("pull", None))
            .unwrap_err()
            .to_string(),
        "dependency \"pull\" is not one of Sensor ns/s's dependencies (push, tag, unused)"
    );
    assert_eq!(
        catalog
            .resolve(&select("push", Some("deploy")))
            .unwrap_err()
            .to_string(),
        "trigger \"deploy\" is not one of Sensor ns/s's triggers (build, notify)"
    );
    assert_eq!(
        catalog
            .resolve(&select("tag", Some("build")))
            .unwrap_err()
            .to_string(),
        "trigger \"build\" does not use dependency \"tag\" (its conditions name push)"
    );
}

#[tokio::test]
async fn replays_reach_every_running_loop_or_none() {
    let replays = Arc::new(Replays::default());
    let targets = vec!["build".to_owned(), "notify".to_owned()];
    let events = vec![(1, event("e1")), (2, event("e2"))];
    assert_eq!(
        replays.hand_over(&targets, "push", &events),
        Err(HandOverError::NotRunning {
            triggers: "build, notify".into()
        })
    );
    let mut build = replays.open("build");
    // One loop of two: nothing is handed over.
    assert!(matches!(
        replays.hand_over(&targets, "push", &events),
        Err(HandOverError::NotRunning { triggers }) if triggers == "notify"
    ));
    let mut notify = replays.open("notify");
    assert_eq!(replays.running(), ["build", "notify"]);
    replays.hand_over(&targets, "push", &events).unwrap();
    for inlet in [&mut build, &mut notify] {
        for (seq, id) in [(1, "e1"), (2, "e2")] {
            let got = inlet.recv().await.unwrap();
            assert_eq!(
                (got.dependency.as_str(), got.sequence, got.event.id.as_str()),
                ("push", seq, id)
            );
            assert_eq!(got.delivered, 1);
        }
    }
    // What a loop puts back comes round again.
    let again = build.again();
    let back = Injected {
        dependency: "push".into(),
        event: event("e1"),
        sequence: 1,
        delivered: 2,
    };
    again.send(back.clone()).await.unwrap();
    assert_eq!(build.recv().await.unwrap(), back);
    let (dependency, delivery) = back.into_delivery();
    assert_eq!(
        (
            dependency.as_str(),
            delivery.stream_sequence,
            delivery.delivered
        ),
        ("push", 1, 2)
    );
    delivery.acker.ack().await.unwrap();
    delivery.acker.nak(None).await.unwrap();
    delivery.acker.in_progress().await.unwrap();

    // A loop that stops takes nothing more.
    drop(notify);
    assert_eq!(replays.running(), ["build"]);
    assert!(replays.hand_over(&targets, "push", &events).is_err());
    assert!(
        replays
            .hand_over(&["build".to_owned()], "push", &[])
            .is_ok()
    );
}

#[tokio::test]
async fn a_full_queue_refuses_the_whole_replay() {
    let replays = Arc::new(Replays::default());
    let mut build = replays.open("build");
    let mut notify = replays.open("notify");
    let targets = vec!["build".to_owned(), "notify".to_owned()];
    let many: Vec<(u64, Event)> = (1..=QUEUE as u64 - 1)
        .map(|seq| (seq, event(&format!("e{seq}"))))
        .collect();
    replays
        .hand_over(&["notify".to_owned()], "push", &many)
        .unwrap();
    let two = vec![(1, event("a")), (2, event("b"))];
    assert_eq!(
        replays.hand_over(&targets, "push", &two),
        Err(HandOverError::Full {
            trigger: "notify".into(),
            queued: QUEUE - 1,
            wanted: 2,
        })
    );
    // build got none of it: the replay was refused as a whole.
    assert!(build.rx.try_recv().is_err());
    // Once notify ran one, it fits.
    notify.recv().await.unwrap();
    replays.hand_over(&targets, "push", &two).unwrap();
    assert_eq!(build.recv().await.unwrap().event.id, "a");
}

#[test]
fn a_reopened_loop_is_not_unregistered_by_the_old_one() {
    let replays = Arc::new(Replays::default());
    let old = replays.open("build");
    let new = replays.open("build");
    drop(old);
    assert_eq!(replays.running(), ["build"]);
    drop(new);
    assert!(replays.running().is_empty());
}
