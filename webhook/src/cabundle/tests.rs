use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::fake_api::{self, Seen};

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

#[test]
fn webhook_config_values() {
    let t = |kind, name: &str| Target {
        kind,
        name: name.into(),
    };
    assert_eq!(
        parse_targets("validating:v").unwrap(),
        [t(ConfigKind::Validating, "v")]
    );
    assert_eq!(
        parse_targets("mutating:m").unwrap(),
        [t(ConfigKind::Mutating, "m")]
    );
    assert_eq!(
        parse_targets("both").unwrap(),
        [
            t(ConfigKind::Validating, "both"),
            t(ConfigKind::Mutating, "both")
        ]
    );
    assert!(parse_targets("mutating:").unwrap_err().contains("empty"));
}

#[test]
fn the_patch_sets_every_webhook_that_lacks_the_bundle() {
    let bundle = base64::engine::general_purpose::STANDARD.encode(PEM);
    let config = json!({"metadata": {"name": "c"}, "webhooks": [
        {"name": "a", "clientConfig": {"service": {"name": "s", "namespace": "n"}}},
        {"name": "b", "clientConfig": {"caBundle": bundle}},
        {"name": "c", "clientConfig": {"caBundle": "b2xk"}},
    ]});
    assert_eq!(
        ca_bundle_patch(&config, PEM),
        Some(json!({"webhooks": [
            {"name": "a", "clientConfig": {"caBundle": bundle}},
            {"name": "c", "clientConfig": {"caBundle": bundle}},
        ]}))
    );
    let done = json!({"webhooks": [{"name": "b", "clientConfig": {"caBundle": bundle}}]});
    assert_eq!(ca_bundle_patch(&done, PEM), None);
    assert_eq!(ca_bundle_patch(&json!({"webhooks": []}), PEM), None);
}

/// The validating configuration is missing at first and then appears; the mutating one
/// exists. Both are patched with the CA, the first after a retry.
#[tokio::test]
async fn patches_both_configurations_retrying_until_they_exist() {
    let gets = Arc::new(AtomicUsize::new(0));
    let counter = gets.clone();
    let handler: fake_api::Handler = Arc::new(move |req: &Seen| {
        let validating = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/v";
        let mutating = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/m";
        let config = |kind: &str, name: &str| {
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": name, "resourceVersion": "7"},
                "webhooks": [{"name": "w.example", "admissionReviewVersions": ["v1"],
                    "sideEffects": "None", "clientConfig": {"service": {"name": "s", "namespace": "n"}}}]})
        };
        let path = req.uri.split('?').next().unwrap_or_default();
        match (req.method.as_str(), path) {
            ("GET", p) if p == validating => {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    Some((404, fake_api::status(404, "NotFound", "not found")))
                } else {
                    Some((200, config("ValidatingWebhookConfiguration", "v")))
                }
            }
            ("GET", p) if p == mutating => Some((200, config("MutatingWebhookConfiguration", "m"))),
            ("PATCH", p) if p == validating => {
                Some((200, config("ValidatingWebhookConfiguration", "v")))
            }
            ("PATCH", p) if p == mutating => {
                Some((200, config("MutatingWebhookConfiguration", "m")))
            }
            _ => Some((404, fake_api::status(404, "NotFound", "unexpected"))),
        }
    });
    let (client, seen) = fake_api::client(handler);
    let mut targets = parse_targets("validating:v").unwrap();
    targets.extend(parse_targets("mutating:m").unwrap());
    tokio::time::timeout(
        Duration::from_secs(20),
        patch_all(client, targets, PEM.to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(gets.load(Ordering::SeqCst), 2, "one miss, then found");
    let seen = seen.lock().unwrap();
    let patches: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == http::Method::PATCH)
        .collect();
    assert_eq!(patches.len(), 2);
    let bundle = base64::engine::general_purpose::STANDARD.encode(PEM);
    for p in patches {
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/strategic-merge-patch+json")
        );
        assert_eq!(
            p.body,
            json!({"webhooks": [{"name": "w.example", "clientConfig": {"caBundle": bundle}}]})
        );
    }
}
