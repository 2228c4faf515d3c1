//! Self-signed bootstrap: the certificate the server made for itself is written into
//! `clientConfig.caBundle` of every webhook of the ValidatingWebhookConfiguration and
//! MutatingWebhookConfiguration named with `--webhook-config`, so the API server trusts it.

use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

/// First wait before retrying a configuration that does not exist yet (or a failed patch).
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between retries.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Which of the two kinds of webhook configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// `admissionregistration.k8s.io/v1` ValidatingWebhookConfiguration.
    Validating,
    /// `admissionregistration.k8s.io/v1` MutatingWebhookConfiguration.
    Mutating,
}

impl ConfigKind {
    fn as_str(self) -> &'static str {
        match self {
            ConfigKind::Validating => "ValidatingWebhookConfiguration",
            ConfigKind::Mutating => "MutatingWebhookConfiguration",
        }
    }
}

/// One webhook configuration to patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its kind.
    pub kind: ConfigKind,
    /// Its name.
    pub name: String,
}

/// Reads a `--webhook-config` value: `validating:NAME`, `mutating:NAME`, or `NAME` for a
/// configuration of each kind with that name.
pub fn parse_targets(value: &str) -> Result<Vec<Target>, String> {
    let target = |kind, name: &str| {
        if name.is_empty() {
            Err(format!("--webhook-config {value:?}: the name is empty"))
        } else {
            Ok(Target {
                kind,
                name: name.to_owned(),
            })
        }
    };
    if let Some(name) = value.strip_prefix("validating:") {
        Ok(vec![target(ConfigKind::Validating, name)?])
    } else if let Some(name) = value.strip_prefix("mutating:") {
        Ok(vec![target(ConfigKind::Mutating, name)?])
    } else {
        Ok(vec![
            target(ConfigKind::Validating, value)?,
            target(ConfigKind::Mutating, value)?,
        ])
    }
}

/// The strategic merge patch setting `clientConfig.caBundle` (base64 of `ca_pem`) of every
/// webhook of `config` (a webhook configuration as JSON; webhooks merge by name). `None` when
/// each already carries it, or there is no webhook.
pub fn ca_bundle_patch(config: &Value, ca_pem: &str) -> Option<Value> {
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let webhooks: Vec<Value> = config
        .get("webhooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|w| w.pointer("/clientConfig/caBundle").and_then(Value::as_str) != Some(&bundle))
        .filter_map(|w| w.get("name").and_then(Value::as_str))
        .map(|name| json!({"name": name, "clientConfig": {"caBundle": bundle}}))
        .collect();
    (!webhooks.is_empty()).then(|| json!({"webhooks": webhooks}))
}

/// Patches `target` once: reads it, then patches what differs. `Ok(false)` when it does not
/// exist (yet).
pub async fn patch_once(client: &Client, target: &Target, ca_pem: &str) -> anyhow::Result<bool> {
    match target.kind {
        ConfigKind::Validating => {
            patch_kind::<ValidatingWebhookConfiguration>(client, &target.name, ca_pem).await
        }
        ConfigKind::Mutating => {
            patch_kind::<MutatingWebhookConfiguration>(client, &target.name, ca_pem).await
        }
    }
}

async fn patch_kind<K>(client: &Client, name: &str, ca_pem: &str) -> anyhow::Result<bool>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let api: Api<K> = Api::all(client.clone());
    let Some(current) = api.get_opt(name).await? else {
        return Ok(false);
    };
    let current = serde_json::to_value(&current)?;
    if let Some(patch) = ca_bundle_patch(&current, ca_pem) {
        api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await?;
    }
    Ok(true)
}

/// The CA bundle trusting both `new_ca` and `old_ca`: every certificate of `new_ca`, then those
/// of `old_ca` it lacks (so connections to a replica still serving the old certificate keep
/// working while the new one is rolled out).
pub fn trust_bundle(new_ca: &str, old_ca: &str) -> String {
    const END: &str = "-----END CERTIFICATE-----";
    let blocks = |pem: &str| -> Vec<String> {
        pem.split_inclusive(END)
            .map(str::trim)
            .filter(|b| b.ends_with(END))
            .map(|b| format!("{b}\n"))
            .collect()
    };
    let mut out = blocks(new_ca);
    for b in blocks(old_ca) {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out.concat()
}

/// Patches every target once (what differs only); `Ok` when each is patched or does not exist
/// (nothing then trusts any certificate), else the first error.
pub async fn patch_each_once(
    client: &Client,
    targets: &[Target],
    ca_pem: &str,
) -> anyhow::Result<()> {
    let results =
        futures::future::join_all(targets.iter().map(|t| patch_once(client, t, ca_pem))).await;
    for (target, result) in targets.iter().zip(results) {
        result.map_err(|e| {
            e.context(format!(
                "patching caBundle of {} {}",
                target.kind.as_str(),
                target.name
            ))
        })?;
    }
    Ok(())
}

/// Patches every target, retrying each with backoff (1 s doubling to 30 s) until it exists and
/// the patch succeeds; logs each outcome. Returns when all are patched.
pub async fn patch_all(client: Client, targets: Vec<Target>, ca_pem: String) {
    let runs = targets.into_iter().map(|target| {
        let client = client.clone();
        let ca_pem = ca_pem.clone();
        async move {
            let mut wait = FIRST_RETRY;
            loop {
                match patch_once(&client, &target, &ca_pem).await {
                    Ok(true) => {
                        tracing::info!(kind = target.kind.as_str(), name = %target.name, "wrote the self-signed CA into caBundle");
                        return;
                    }
                    Ok(false) => tracing::info!(
                        kind = target.kind.as_str(),
                        name = %target.name,
                        retry_in_ms = wait.as_millis() as u64,
                        "webhook configuration does not exist yet; retrying"
                    ),
                    Err(e) => tracing::warn!(
                        kind = target.kind.as_str(),
                        name = %target.name,
                        error = %format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "cannot patch caBundle; retrying"
                    ),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY);
            }
        }
    });
    futures::future::join_all(runs).await;
}

#[cfg(test)]
mod tests;
