//! Case 6: the offline RBAC evaluator (`rules::rbac_issues`, what `lint` and the webhook's
//! `--snapshot` mode run) against the API server's RBAC authorizer. A table of Roles,
//! ClusterRoles and bindings is created in the cluster; each row's Sensor triggers become
//! access checks, and every check is asked twice with the same user, groups and resource
//! attributes: as a SubjectAccessReview, and of the evaluator over the RBAC read back from the
//! cluster (the objects the authorizer sees, built-in ClusterRoles and the aggregation
//! controller's rules included). Both must answer alike on every row.

use std::collections::BTreeSet;

use argo_events_api::manifest::Document;
use argo_events_webhook::lint::{Severity, rule};
use argo_events_webhook::rules::{AccessCheck, rbac_issues, sensor_access_checks};
use argo_events_webhook::snapshot::Snapshot;
use libtest_mimic::{Failed, Trial};
use serde_json::{Value, json};

use crate::harness::{NAMESPACE_LABEL, WAIT, cluster, wait_for};

mod table;

use table::{Case, aggregated_role, table};

pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "rbac::the_offline_evaluator_agrees_with_the_authorizer",
        agrees,
    )]
}

/// One side's answer to one check, with what it said.
struct Answer {
    allowed: bool,
    said: String,
}

/// Deletes the table's cluster-scoped objects (labelled with its tag) when dropped.
struct ClusterScoped(String);

impl Drop for ClusterScoped {
    fn drop(&mut self) {
        let _ = cluster().kubectl(&[
            "delete",
            "clusterroles,clusterrolebindings",
            "-l",
            &format!("{NAMESPACE_LABEL}={}", self.0),
            "--wait=false",
            "--ignore-not-found",
        ]);
    }
}

fn agrees() -> Result<(), Failed> {
    let c = cluster();
    let a = c.namespace("rbac");
    let b = c.namespace("rbac");
    let groups = [
        c.namespace("rbac"),
        c.namespace("rbac"),
        c.namespace("rbac"),
    ];
    // Cluster-scoped names carry the first namespace's name, unique to this run.
    let tag = a.name.clone();
    let _cleanup = ClusterScoped(tag.clone());
    let rows = table(&a, &b, [&groups[0], &groups[1], &groups[2]], &tag);

    let mut objects: Vec<Value> = rows.iter().flat_map(|r| r.objects.clone()).collect();
    let accounts: BTreeSet<(&str, &str)> = rows
        .iter()
        .flat_map(|r| &r.cases)
        .map(|case| (case.namespace.as_str(), case.account))
        .collect();
    objects.extend(accounts.into_iter().map(|(ns, name)| {
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns}})
    }));
    c.apply_objects("cluster-suite", objects);
    // The aggregation controller fills these roles' rules; read back before, they would be
    // empty for the authorizer while the evaluator expands the aggregationRule itself.
    let aggregate = aggregated_role(&tag);
    for (name, rules) in [("edit", 1), ("view", 1), (aggregate.as_str(), 2)] {
        wait_aggregated(name, rules);
    }

    // The static side: every Role, ClusterRole and binding of the cluster, plus one Sensor per
    // case (documents after the RBAC, in case order).
    let mut rbac = items(&["get", "roles,rolebindings", "-A", "-o", "json"]);
    rbac.extend(items(&[
        "get",
        "clusterroles,clusterrolebindings",
        "-o",
        "json",
    ]));
    let cases: Vec<(&str, &Case)> = rows
        .iter()
        .flat_map(|r| r.cases.iter().map(|case| (r.name, case)))
        .collect();
    let everywhere = rbac.iter().any(|o| {
        o["kind"] == "ClusterRoleBinding"
            && o["subjects"].as_array().into_iter().flatten().any(|s| {
                s["kind"] == "Group"
                    && (s["name"] == "system:authenticated"
                        || s["name"] == "system:serviceaccounts")
            })
    });
    assert!(
        everywhere,
        "no ClusterRoleBinding binds system:authenticated or system:serviceaccounts: the \
         evaluator would skip namespaces it holds no RBAC for, and its silence would not mean \
         allowed"
    );
    let first_sensor = rbac.len();
    let mut values = rbac;
    values.extend(
        cases
            .iter()
            .enumerate()
            .map(|(i, (_, case))| sensor(&format!("case-{i}"), case)),
    );
    let docs: Vec<Document> = values
        .into_iter()
        .enumerate()
        .map(|(index, value)| Document {
            file: "cluster".into(),
            index,
            value,
        })
        .collect();
    let snap = Snapshot::from_documents(&docs, None);
    let decoded = snap.roles.len()
        + snap.role_bindings.len()
        + snap.cluster_roles.len()
        + snap.cluster_role_bindings.len();
    assert_eq!(decoded, first_sensor, "every RBAC object read back decodes");
    assert_eq!(snap.sensors.len(), cases.len(), "every Sensor decodes");
    let checks: Vec<AccessCheck> = snap
        .sensors
        .iter()
        .map(|s| {
            let mut checks = sensor_access_checks(&s.namespace, &s.value);
            assert_eq!(checks.len(), 1, "one check per Sensor of {}", s.name);
            checks.remove(0)
        })
        .collect();

    // How the evaluator's findings read as answers. It reports a denied check as one issue of
    // rule `rbac` at the trigger's path: an error when a rule bound to the ServiceAccount is
    // about the resource but grants neither the verb nor the object, a warning when nothing
    // bound to it is about the resource ("RBAC outside the given manifests may grant it").
    // This snapshot holds all of the cluster's RBAC, so nothing outside it can grant: the
    // warning is a denial too. No finding means allowed, since the evaluator is silent only
    // where it holds no RBAC for the namespace, which the built-in group binding asserted above
    // rules out. No trigger sets its namespace by parameter, so no denial is softened for that.
    let issues = rbac_issues(&snap);
    let evaluated: Vec<Answer> = checks
        .iter()
        .enumerate()
        .map(|(i, check)| {
            let found: Vec<String> = issues
                .iter()
                .filter(|x| x.doc == first_sensor + i && x.rule == rule::RBAC)
                .map(|x| {
                    assert_eq!(x.path, check.path(), "{}", x.message);
                    let severity = match x.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    format!("{severity}: {}", x.message)
                })
                .collect();
            Answer {
                allowed: found.is_empty(),
                said: if found.is_empty() {
                    "allowed (no rbac finding)".into()
                } else {
                    format!("denied ({})", found.join("; "))
                },
            }
        })
        .collect();

    // The real side. The authorizer reads RBAC through informer caches, so just after the
    // objects are created it may answer from older state: ask until it answers every row as the
    // table expects (a row it never does is a wrong row, named when the wait gives up).
    let reviewed = wait_for(
        "the authorizer to answer every check as the table expects",
        WAIT,
        || {
            let answers = review(&checks)?;
            let unexpected: Vec<String> = cases
                .iter()
                .zip(&checks)
                .zip(&answers)
                .filter(|((case, _), answer)| answer.allowed != case.1.allowed)
                .map(|(((row, _), check), answer)| {
                    format!("{row}: {}: {}", describe(check), answer.said)
                })
                .collect();
            if unexpected.is_empty() {
                Ok(Some(answers))
            } else {
                Err(format!("unexpected answers:\n{}", unexpected.join("\n")))
            }
        },
    );

    let allowed = cases.iter().filter(|(_, case)| case.allowed).count();
    let denied = cases.len() - allowed;
    assert!(
        allowed >= 10 && denied >= 10,
        "the table needs both answers: {allowed} allowed, {denied} denied"
    );
    let disagreements: Vec<String> = cases
        .iter()
        .zip(&checks)
        .zip(reviewed.iter().zip(&evaluated))
        .filter(|(_, (real, offline))| real.allowed != offline.allowed)
        .map(|(((row, _), check), (real, offline))| {
            format!(
                "{row}: {}\n  authorizer: {}\n  evaluator:  {}",
                describe(check),
                real.said,
                offline.said
            )
        })
        .collect();
    if !disagreements.is_empty() {
        return Err(format!(
            "the offline evaluator disagrees with the authorizer on {} of {} checks:\n{}",
            disagreements.len(),
            checks.len(),
            disagreements.join("\n")
        )
        .into());
    }
    println!(
        "rbac: {} rows, {} checks agree ({allowed} allowed, {denied} denied)",
        rows.len(),
        checks.len()
    );
    Ok(())
}

/// `verb resource "name" in namespace N as user`.
fn describe(check: &AccessCheck) -> String {
    let name = check
        .access
        .resource_name()
        .map(|n| format!(" {n:?}"))
        .unwrap_or_default();
    format!(
        "{} {}{name} in namespace {} as {}",
        check.access.verb,
        check.access.resource_display(),
        check.target_namespace,
        check.user()
    )
}

/// The items of a `kubectl get … -o json` list.
fn items(args: &[&str]) -> Vec<Value> {
    let out = cluster().must(args);
    let list: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {}: {e}", args.join(" ")));
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until the aggregation controller has given ClusterRole `name` at least `rules` rules.
fn wait_aggregated(name: &str, rules: usize) {
    wait_for(
        &format!("the aggregation controller to fill ClusterRole {name}"),
        WAIT,
        || {
            let out = cluster().kubectl(&["get", "clusterrole", name, "-o", "json"])?;
            let role: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
            let have = role["rules"].as_array().map_or(0, Vec::len);
            Ok((have >= rules).then_some(()))
        },
    );
}

/// The SubjectAccessReview asking `check`'s question.
fn review_of(check: &AccessCheck) -> Value {
    let mut attributes = json!({
        "namespace": check.target_namespace,
        "verb": check.access.verb,
        "group": check.access.group,
        "resource": check.access.resource,
    });
    if let Some(name) = check.access.resource_name() {
        attributes["name"] = json!(name);
    }
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": check.user(), "groups": check.groups(), "resourceAttributes": attributes}})
}

/// What a review asked, as the API server echoes it (empty fields left out).
fn asked(review: &Value) -> Vec<String> {
    let spec = &review["spec"];
    let attributes = &spec["resourceAttributes"];
    let mut out = vec![spec["user"].as_str().unwrap_or_default().to_owned()];
    for key in ["namespace", "verb", "group", "resource", "name"] {
        out.push(attributes[key].as_str().unwrap_or_default().to_owned());
    }
    out
}

/// The authorizer's answers to `checks`: one SubjectAccessReview each, created in one call.
fn review(checks: &[AccessCheck]) -> Result<Vec<Answer>, String> {
    let reviews: Vec<Value> = checks.iter().map(review_of).collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": reviews});
    let out = cluster().kubectl_stdin(
        &["create", "-f", "-", "-o", "json"],
        Some(&list.to_string()),
    )?;
    // kubectl prints one object after the other (a List in some releases).
    let mut created = Vec::new();
    for value in serde_json::Deserializer::from_str(&out).into_iter::<Value>() {
        let value = value.map_err(|e| format!("kubectl create -o json: {e}"))?;
        match value["items"].as_array() {
            Some(items) if value["kind"] == "List" => created.extend(items.iter().cloned()),
            _ => created.push(value),
        }
    }
    if created.len() != reviews.len() {
        return Err(format!(
            "{} SubjectAccessReviews sent, {} answered",
            reviews.len(),
            created.len()
        ));
    }
    reviews
        .iter()
        .zip(created)
        .map(|(sent, answer)| {
            if asked(sent) != asked(&answer) {
                return Err(format!("answer out of order: {answer} for {sent}"));
            }
            let status = &answer["status"];
            let allowed = status["allowed"]
                .as_bool()
                .ok_or_else(|| format!("no status.allowed in {answer}"))?;
            let mut said = if allowed { "allowed" } else { "denied" }.to_owned();
            for key in ["reason", "evaluationError"] {
                if let Some(text) = status[key].as_str().filter(|t| !t.is_empty()) {
                    said.push_str(&format!(" ({key}: {text})"));
                }
            }
            Ok(Answer { allowed, said })
        })
        .collect()
}

fn sensor(name: &str, case: &Case) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": name, "namespace": case.namespace},
    "spec": {
        "template": {"serviceAccountName": case.account},
        "dependencies": [{"name": "dep", "eventSourceName": "source", "eventName": "event"}],
        "triggers": [{"template": case.trigger}],
    }})
}
