use super::*;
use crate::assert_snapshot;
use crate::online::fixtures;

#[test]
fn healthy_namespace_tree() {
    let roots = forest(&fixtures::healthy());
    assert_snapshot("tree-healthy", &render(&roots, false));
    assert!(roots.iter().all(|r| r.health == Health::Healthy));
}

#[test]
fn a_dangling_dependency_is_shown_in_place_and_degrades_its_parents() {
    let roots = forest(&fixtures::with_dangling_sensor());
    assert_snapshot("tree-dangling-dependency", &render(&roots, false));
    assert_eq!(
        roots[0].health,
        Health::Degraded,
        "the bus is degraded, not missing"
    );
    let orphan = roots[0]
        .children
        .iter()
        .find(|c| c.name == "orphan")
        .expect("the Sensor");
    assert_eq!(orphan.health, Health::Degraded);
    let dep = orphan
        .children
        .iter()
        .find(|c| c.kind == "Dependency")
        .expect("its dependency");
    assert_eq!(dep.health, Health::Missing);
    assert_eq!(
        dep.message.as_deref(),
        Some("no EventSource github in demo")
    );
}

#[test]
fn a_crashing_pod_carries_the_reason_and_its_parents_the_health() {
    let roots = forest(&fixtures::with_crashing_source());
    assert_snapshot("tree-crashing-source", &render(&roots, false));
    let es = &roots[0].children[1];
    assert_eq!((es.kind, es.health), ("EventSource", Health::Degraded));
}

#[test]
fn json_is_the_same_graph() {
    let roots = forest(&fixtures::with_dangling_sensor());
    let mut out = Vec::new();
    let broken = print(&roots, true, false, &mut out).expect("printing");
    assert!(broken);
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(doc["kind"], "EventBus");
    assert_eq!(doc["namespace"], "demo");
    assert_eq!(doc["health"], "degraded");
    let orphan = doc["children"]
        .as_array()
        .expect("children")
        .iter()
        .find(|c| c["name"] == "orphan")
        .expect("orphan");
    assert_eq!(orphan["children"][1]["kind"], "Dependency");
    assert_eq!(orphan["children"][1]["health"], "missing");
    assert_eq!(orphan["children"][1]["details"][0], "reads github/push");
}

#[test]
fn a_sensor_on_a_bus_that_does_not_exist_hangs_under_a_missing_bus() {
    let mut view = fixtures::healthy();
    let mut raw = view.sensors[0].raw.clone();
    raw["metadata"]["name"] = "elsewhere".into();
    raw["spec"]["eventBusName"] = "other".into();
    view.sensors.push(Object::from_raw(raw).expect("sensor"));
    let roots = forest(&view);
    assert_eq!(roots.len(), 2);
    assert_eq!(
        (roots[1].name.as_str(), roots[1].health),
        ("other", Health::Missing)
    );
    assert_eq!(roots[1].children[0].name, "elsewhere");
}

#[test]
fn colour_only_when_asked() {
    let roots = forest(&fixtures::healthy());
    assert!(!render(&roots, false).contains('\x1b'));
    assert!(render(&roots, true).contains("\x1b[32m✔ Healthy\x1b[0m"));
}
