//! Table-driven tests of the validators: each case patches a valid object and says which
//! errors (path, message) must come out — none for the passing cases.

mod messaging;
mod sensor;
mod sources;
mod triggers;

use serde_json::{Value, json};

use super::*;

/// A patch: JSON pointer and new value; `null` removes the key.
type Patch = (&'static str, Value);

/// One case: the patches to apply and every error expected (path, message prefix).
pub(super) struct Case {
    pub patches: Vec<Patch>,
    pub expect: Vec<(&'static str, &'static str)>,
}

/// A case expecting the given errors.
pub(super) fn fails(patches: Vec<Patch>, expect: &[(&'static str, &'static str)]) -> Case {
    Case {
        patches,
        expect: expect.to_vec(),
    }
}

/// A case expecting no error.
pub(super) fn passes(patches: Vec<Patch>) -> Case {
    Case {
        patches,
        expect: Vec::new(),
    }
}

/// `base` with `patches` applied; missing parents are created as objects.
pub(super) fn patched(base: &Value, patches: &[Patch]) -> Value {
    let mut doc = base.clone();
    for (pointer, value) in patches {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
        let mut target = &mut doc;
        for part in parent.split('/').skip(1) {
            target = match target {
                Value::Array(items) => &mut items[part.parse::<usize>().expect("index")],
                Value::Object(map) => map.entry(part).or_insert_with(|| json!({})),
                other => panic!("{pointer}: cannot descend into {other}"),
            };
        }
        match (target, value) {
            (Value::Object(map), Value::Null) => {
                map.remove(key);
            }
            (Value::Object(map), v) => {
                map.insert(key.to_owned(), v.clone());
            }
            (Value::Array(items), v) => {
                let i = key.parse::<usize>().expect("index");
                if i == items.len() {
                    items.push(v.clone());
                } else {
                    items[i] = v.clone();
                }
            }
            (other, _) => panic!("{pointer}: cannot set in {other}"),
        }
    }
    doc
}

/// Runs every case against `validate(patched base)` and checks the errors exactly: same
/// count, same paths, messages starting with the expected text.
pub(super) fn check(
    what: &str,
    base: &Value,
    cases: &[Case],
    validate: impl Fn(&Value) -> Vec<FieldError>,
) {
    assert_eq!(validate(base), vec![], "{what}: the base must be valid");
    for case in cases {
        let doc = patched(base, &case.patches);
        let got = validate(&doc);
        let ok = got.len() == case.expect.len()
            && got
                .iter()
                .zip(&case.expect)
                .all(|(e, (path, msg))| e.path == *path && e.message.starts_with(msg));
        assert!(
            ok,
            "{what} with {:?}:\n  expected {:?}\n  got      {got:#?}",
            case.patches, case.expect
        );
    }
}

pub(super) fn secret() -> Value {
    json!({"name": "s", "key": "k"})
}

fn bus(spec: Value) -> Vec<FieldError> {
    let bus: EventBus =
        serde_json::from_value(json!({"metadata": {"name": "default"}, "spec": spec}))
            .expect("an EventBus");
    validate_event_bus(&bus)
}

#[test]
fn event_bus_rules() {
    let base = json!({"jetstream": {"version": "latest"}});
    let cases = [
        fails(
            vec![("/jetstream", Value::Null)],
            &[(
                "spec",
                r#"invalid spec: either "nats", "jetstream", "jetstreamExotic", or "kafka" needs to be specified"#,
            )],
        ),
        fails(
            vec![("/jetstream/version", json!(""))],
            &[(
                "spec.jetstream.version",
                "invalid spec: a version for jetstream needs to be specified",
            )],
        ),
        passes(vec![("/jetstream/replicas", json!(1))]),
        passes(vec![("/jetstream/replicas", json!(3))]),
        fails(
            vec![("/jetstream/replicas", json!(2))],
            &[(
                "spec.jetstream.replicas",
                "invalid spec: a jetstream eventbus requires 1 replica or >= 3 replicas",
            )],
        ),
        fails(
            vec![("/jetstream/replicas", json!(0))],
            &[("spec.jetstream.replicas", "invalid spec: a jetstream")],
        ),
        fails(
            vec![("/jetstream/replicas", json!(-1))],
            &[("spec.jetstream.replicas", "invalid spec: a jetstream")],
        ),
        passes(vec![("/nats", json!({"native": {}}))]),
        fails(
            vec![("/nats", json!({}))],
            &[(
                "spec.nats",
                r#"either "native" or "exotic" must be defined"#,
            )],
        ),
        fails(
            vec![(
                "/nats",
                json!({"native": {}, "exotic": {"url": "nats://x", "clusterID": "c"}}),
            )],
            &[(
                "spec.nats",
                r#""spec.nats.native" and "spec.nats.exotic" can not be defined together"#,
            )],
        ),
        passes(vec![(
            "/nats",
            json!({"exotic": {"url": "nats://x", "clusterID": "c"}}),
        )]),
        fails(
            vec![("/nats", json!({"exotic": {"url": "nats://x"}}))],
            &[(
                "spec.nats.exotic.clusterID",
                r#""spec.nats.exotic.clusterID" is missing"#,
            )],
        ),
        fails(
            vec![("/nats", json!({"exotic": {"clusterID": "c"}}))],
            &[(
                "spec.nats.exotic.url",
                r#""spec.nats.exotic.url" is missing"#,
            )],
        ),
        passes(vec![("/kafka", json!({"url": "k:9092"}))]),
        fails(
            vec![("/kafka", json!({}))],
            &[("spec.kafka.url", r#""spec.kafka.url" is missing"#)],
        ),
        passes(vec![("/jetstreamExotic", json!({"url": "nats://x"}))]),
        fails(
            vec![("/jetstreamExotic", json!({}))],
            &[(
                "spec.jetstreamExotic.url",
                r#""spec.jetstreamExotic.url" is missing"#,
            )],
        ),
    ];
    check("EventBus", &base, &cases, |spec| bus(spec.clone()));
}

#[test]
fn an_event_bus_reports_every_error() {
    let errors = bus(json!({
        "nats": {"exotic": {}},
        "jetstream": {"replicas": 2},
        "kafka": {},
    }));
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.nats.exotic.clusterID",
            "spec.nats.exotic.url",
            "spec.jetstream.version",
            "spec.jetstream.replicas",
            "spec.kafka.url",
        ]
    );
}

#[test]
fn field_errors_print_path_then_message() {
    let e = FieldError {
        path: "spec.kafka.url".into(),
        message: "missing".into(),
    };
    assert_eq!(e.to_string(), "spec.kafka.url: missing");
}
