//! Property tests where they are cheap: state and envelope encodings round-trip, conditions
//! print and parse back, parameter destinations read back what was written.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use crate::conditions::Conditions;
use crate::machine::{State, StoredEvent, TriggerState};
use argo_events_api::cloudevent::Event;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

fn event() -> impl Strategy<Value = Event> {
    (
        name(),
        name(),
        any::<Vec<u8>>(),
        prop::bool::ANY,
        0i64..4_000_000_000,
        "[a-zA-Z0-9 ]{0,20}",
    )
        .prop_map(|(source, subject, bytes, as_json, secs, text)| Event {
            id: format!("{source}-{secs}"),
            source,
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: if as_json {
                "application/json".into()
            } else {
                "application/octet-stream".into()
            },
            subject,
            time: Utc.timestamp_opt(secs, 0).single(),
            trace: Default::default(),
            data: if as_json {
                json!({"text": text, "n": secs}).to_string().into_bytes()
            } else {
                bytes
            },
        })
}

fn conditions() -> impl Strategy<Value = Conditions> {
    let leaf = name().prop_map(Conditions::Dep);
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Conditions::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Conditions::Or(Box::new(a), Box::new(b))),
        ]
    })
}

proptest! {
    #[test]
    fn events_round_trip_through_the_cloudevent_form(e in event()) {
        let back = Event::from_cloudevent(&e.to_cloudevent()).unwrap();
        prop_assert_eq!(back, e);
    }

    #[test]
    fn state_round_trips_through_json(
        entries in prop::collection::btree_map(name(), prop::collection::btree_map(name(), event(), 0..3), 0..3)
    ) {
        let state = State {
            triggers: entries
                .into_iter()
                .map(|(t, deps)| {
                    let events: BTreeMap<String, StoredEvent> = deps
                        .into_iter()
                        .map(|(d, event)| {
                            let stored_at = event.time.unwrap_or_default();
                            (d, StoredEvent { event, stored_at })
                        })
                        .collect();
                    (t, TriggerState { events })
                })
                .collect(),
        };
        let text = serde_json::to_string(&state).unwrap();
        let back: State = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, state);
    }

    #[test]
    fn conditions_print_and_parse_back_to_the_same_meaning(c in conditions(), met in prop::collection::vec(name(), 0..6)) {
        let parsed = Conditions::parse(&c.to_string()).unwrap();
        let is_met = |n: &str| met.iter().any(|m| m == n);
        prop_assert_eq!(parsed.eval(&is_met), c.eval(&is_met));
        prop_assert_eq!(parsed.names(), c.names());
    }

    #[test]
    fn sjson_reads_back_what_it_wrote(keys in prop::collection::vec("[a-z]{1,5}", 1..4), index in 0usize..4, value in "[a-z0-9]{0,10}") {
        let mut doc = serde_json::Value::Null;
        let path = format!("{}.{index}", keys.join("."));
        crate::sjson::set(&mut doc, &path, json!(value)).unwrap();
        prop_assert_eq!(crate::sjson::get_str(&doc, &path), Some(&json!(value)));
    }
}
