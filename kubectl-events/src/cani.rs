//! `can-i SENSOR`: for each action of the Sensor's triggers on Kubernetes resources, a
//! SubjectAccessReview for its ServiceAccount, and for each denial the Role and RoleBinding
//! that would allow it.

use std::io::Write;

use argo_events_webhook::rules::{AccessCheck, AccessDecision};
use serde_json::json;

use crate::table::Table;

/// `kubectl create role` + `rolebinding` commands granting exactly the denied accesses: one
/// Role per (ServiceAccount, namespace), each rule `verb` on `resource`.
pub fn fix_commands(denied: &[&AccessCheck]) -> Vec<String> {
    let mut out = Vec::new();
    let mut groups: Vec<(String, String, String, Vec<&AccessCheck>)> = Vec::new();
    for c in denied {
        let key = (
            c.namespace.clone(),
            c.service_account.clone(),
            c.target_namespace.clone(),
        );
        match groups
            .iter_mut()
            .find(|g| (g.0.clone(), g.1.clone(), g.2.clone()) == key)
        {
            Some(g) => g.3.push(c),
            None => groups.push((key.0, key.1, key.2, vec![c])),
        }
    }
    for (ns, sa, target, checks) in groups {
        let role = format!("{sa}-argo-events-triggers");
        let mut verbs: Vec<&str> = checks.iter().map(|c| c.access.verb).collect();
        verbs.sort_unstable();
        verbs.dedup();
        let mut resources: Vec<String> =
            checks.iter().map(|c| c.access.resource_display()).collect();
        resources.sort_unstable();
        resources.dedup();
        out.push(format!(
            "kubectl create role {role} -n {target} --verb={} --resource={}",
            verbs.join(","),
            resources.join(",")
        ));
        out.push(format!(
            "kubectl create rolebinding {role} -n {target} --role={role} --serviceaccount={ns}:{sa}"
        ));
    }
    out
}

/// Prints the answers; returns whether any was denied.
pub fn print(
    sensor: &str,
    answers: &[(AccessCheck, AccessDecision)],
    json_out: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let denied: Vec<&AccessCheck> = answers
        .iter()
        .filter(|(_, d)| *d == AccessDecision::Denied)
        .map(|(c, _)| c)
        .collect();
    if json_out {
        let rows: Vec<_> = answers
            .iter()
            .map(|(c, d)| {
                json!({
                    "trigger": c.trigger_name,
                    "kind": c.trigger_kind,
                    "serviceAccount": format!("{}/{}", c.namespace, c.service_account),
                    "verb": c.access.verb,
                    "resource": c.access.resource_display(),
                    "namespace": c.target_namespace,
                    "allowed": match d { AccessDecision::Allowed => json!(true), AccessDecision::Denied => json!(false), AccessDecision::Failed(_) => json!(null) },
                    "error": match d { AccessDecision::Failed(e) => json!(e), _ => json!(null) },
                })
            })
            .collect();
        let doc = json!({"sensor": sensor, "checks": rows, "fix": fix_commands(&denied)});
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(!denied.is_empty());
    }
    if answers.is_empty() {
        writeln!(
            out,
            "Sensor {sensor}: no trigger acts on Kubernetes resources; nothing to check."
        )?;
        return Ok(false);
    }
    let mut t = Table::new(&[
        "TRIGGER",
        "KIND",
        "SERVICEACCOUNT",
        "VERB",
        "RESOURCE",
        "NAMESPACE",
        "ALLOWED",
    ]);
    for (c, d) in answers {
        t.rows.push(vec![
            c.trigger_name.clone(),
            c.trigger_kind.to_string(),
            format!("{}/{}", c.namespace, c.service_account),
            c.access.verb.to_string(),
            c.access.resource_display(),
            c.target_namespace.clone(),
            match d {
                AccessDecision::Allowed => "yes".into(),
                AccessDecision::Denied => "no".into(),
                AccessDecision::Failed(e) => format!("unknown ({e})"),
            },
        ]);
    }
    write!(out, "{}", t.render(true))?;
    if !denied.is_empty() {
        writeln!(out, "\nTo allow what is denied:")?;
        for cmd in fix_commands(&denied) {
            writeln!(out, "  {cmd}")?;
        }
    }
    Ok(!denied.is_empty())
}

#[cfg(test)]
mod tests {
    use argo_events_webhook::rules::sensor_access_checks;

    use super::*;
    use crate::online::fixtures;

    #[test]
    fn denials_print_the_role_and_binding_that_fix_them() {
        let view = fixtures::healthy();
        let sensor = view.sensors[0].watched.object.as_ref().expect("decodes");
        let checks = sensor_access_checks("demo", sensor);
        assert_eq!(checks.len(), 1, "{checks:?}");
        let answers = vec![(checks[0].clone(), AccessDecision::Denied)];
        let mut out = Vec::new();
        assert!(print("demo/webhook", &answers, false, &mut out).expect("printing"));
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            text,
            "TRIGGER                    KIND           SERVICEACCOUNT             VERB     RESOURCE                NAMESPACE   ALLOWED\n\
             webhook-workflow-trigger   argoWorkflow   demo/operate-workflow-sa   create   workflows.argoproj.io   demo        no\n\
             \n\
             To allow what is denied:\n  \
             kubectl create role operate-workflow-sa-argo-events-triggers -n demo --verb=create --resource=workflows.argoproj.io\n  \
             kubectl create rolebinding operate-workflow-sa-argo-events-triggers -n demo --role=operate-workflow-sa-argo-events-triggers --serviceaccount=demo:operate-workflow-sa\n"
        );
        let allowed = vec![(checks[0].clone(), AccessDecision::Allowed)];
        let mut out = Vec::new();
        assert!(!print("demo/webhook", &allowed, true, &mut out).expect("printing"));
        let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(doc["checks"][0]["allowed"], true);
        assert_eq!(doc["fix"], serde_json::json!([]));
    }
}
