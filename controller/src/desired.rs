//! Pure builders of the objects the controller owns: no I/O, the same input always gives the
//! same output (so the `resource-spec-hash` annotation is stable).

pub mod eventbus;
pub mod eventsource;
pub mod sensor;
pub mod stan;

use std::collections::{BTreeMap, BTreeSet};

use argo_events_api::{BusConfig, EventBus, Template};
use base64::Engine as _;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    KeyToPath, ObjectFieldSelector, PodSpec, PodTemplateSpec, SecretVolumeSource, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde::Serialize;
use serde_json::Value;

use crate::constants::*;

/// Settings of the controller that end up in generated pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// Image of EventSource and Sensor pods (`ARGO_EVENTS_IMAGE`).
    pub image: String,
    /// Pull policy of generated containers (`IMAGE_PULL_POLICY`, `Always` by default).
    pub image_pull_policy: String,
}

impl ControllerConfig {
    /// A config with the given image and upstream's default pull policy `Always`.
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            image_pull_policy: "Always".to_owned(),
        }
    }
}

/// Why a desired object could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The EventBus has no `status.config` (not reconciled yet, or an unknown transport).
    #[error("EventBus {namespace}/{bus} has no client configuration in status.config")]
    UnsupportedEventBus {
        /// Namespace of the bus.
        namespace: String,
        /// Name of the bus.
        bus: String,
    },
    /// The EventBus has no `spec.jetstream` but a JetStream child was asked for.
    #[error("EventBus {bus} is not a native JetStream bus (spec.jetstream is not set)")]
    NotJetStream {
        /// `<namespace>/<name>` of the bus.
        bus: String,
    },
    /// `spec.jetstream.version` is not in the controller configuration.
    #[error("EventBus {bus}: JetStream version {version:?} is not in the controller configuration")]
    UnknownJetStreamVersion {
        /// Name of the bus.
        bus: String,
        /// The requested version.
        version: String,
    },
    /// A stream configuration is not a YAML mapping.
    #[error("EventBus {bus}: invalid {what}: {message}")]
    StreamConfig {
        /// Name of the bus.
        bus: String,
        /// Which configuration.
        what: &'static str,
        /// The YAML error.
        message: String,
    },
    /// An object could not be encoded to JSON.
    #[error("encoding {what} of {owner} to JSON")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// `<kind> <namespace>/<name>` of the owner.
        owner: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

/// FNV-1a 32-bit hash of `bytes` (upstream's `hashutil`-style spec hash).
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Decimal FNV-32a of the JSON of `obj`, the value of [`ANNOTATION_RESOURCE_SPEC_HASH`].
pub fn spec_hash<T: Serialize>(obj: &T, owner: &str) -> Result<String, BuildError> {
    let bytes = serde_json::to_vec(obj).map_err(|source| BuildError::Encode {
        what: "desired object",
        owner: owner.to_owned(),
        source,
    })?;
    Ok(fnv32a(&bytes).to_string())
}

/// Converts a name to a valid DNS label (lower case, `[a-z0-9-]`, at most 63 characters, no
/// leading or trailing dash), as upstream does for TLS secret volume names.
pub fn dns_label(name: &str) -> String {
    let mapped: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    mapped.trim_matches('-').to_owned()
}

/// A controller owner reference to an `argoproj.io/v1alpha1` object.
pub fn owner_reference(kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: OWNER_API_VERSION.to_owned(),
        kind: kind.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Field names (lower-cased, as the API types serialise them) whose values are
/// `ConfigMapKeySelector`s: `configmap` (trigger source), `configMapKeyRef` (value-from) and
/// `krbConfigConfigMap` (Kafka/HDFS Kerberos config).
const CONFIG_MAP_SELECTOR_FIELDS: &[&str] = &["configmap", "configmapkeyref", "krbconfigconfigmap"];

/// Names of the Secrets and ConfigMaps referenced by key selectors inside `value`.
///
/// Approach: the API types serialise both `SecretKeySelector` and `ConfigMapKeySelector` as an
/// object whose only fields are a string `name`, a string `key` and optionally a bool
/// `optional`. The walk collects every such object; it is a ConfigMap selector when the field
/// holding it is one of the three the API declares as `ConfigMapKeySelector`
/// ([`CONFIG_MAP_SELECTOR_FIELDS`]), otherwise a Secret selector (upstream finds them by Go
/// reflection on the types instead; the sets agree because no other API type has that shape).
pub fn referenced_secrets_and_config_maps(value: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    fn is_selector(map: &serde_json::Map<String, Value>) -> Option<&str> {
        let name = map.get("name")?.as_str()?;
        map.get("key")?.as_str()?;
        let only_selector_fields = map
            .iter()
            .all(|(k, v)| k == "name" || k == "key" || (k == "optional" && v.is_boolean()));
        (only_selector_fields && !name.is_empty()).then_some(name)
    }
    fn walk(
        field: &str,
        value: &Value,
        secrets: &mut BTreeSet<String>,
        cms: &mut BTreeSet<String>,
    ) {
        match value {
            Value::Object(map) => {
                if let Some(name) = is_selector(map) {
                    if CONFIG_MAP_SELECTOR_FIELDS.contains(&field.to_lowercase().as_str()) {
                        cms.insert(name.to_owned());
                    } else {
                        secrets.insert(name.to_owned());
                    }
                    return;
                }
                for (k, v) in map {
                    walk(k, v, secrets, cms);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(field, v, secrets, cms)),
            _ => {}
        }
    }
    let (mut secrets, mut cms) = (BTreeSet::new(), BTreeSet::new());
    walk("", value, &mut secrets, &mut cms);
    (secrets, cms)
}

/// What differs between the EventSource and the Sensor pod builders.
pub(crate) struct PodOwner<'a> {
    pub kind: &'static str,
    pub meta: &'a ObjectMeta,
    /// `{metadata{name,namespace}, spec}` as JSON.
    pub object: Value,
    pub object_env: &'static str,
    pub args: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub template: Option<&'a Template>,
    pub replicas: i32,
    pub generate_name: String,
    pub revision_history_limit: Option<i32>,
}

impl PodOwner<'_> {
    pub(crate) fn display(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind,
            self.meta.namespace.as_deref().unwrap_or_default(),
            self.meta.name.as_deref().unwrap_or_default()
        )
    }
}

fn encode_b64<T: Serialize>(v: &T, what: &'static str, owner: &str) -> Result<String, BuildError> {
    let bytes = serde_json::to_vec(v).map_err(|source| BuildError::Encode {
        what,
        owner: owner.to_owned(),
        source,
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn none_if_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Builds the Deployment of an EventSource or a Sensor (upstream's `buildDeployment`).
pub(crate) fn pod_deployment(
    owner: &PodOwner<'_>,
    bus: &EventBus,
    cfg: &ControllerConfig,
) -> Result<Deployment, BuildError> {
    let who = owner.display();
    let namespace = owner.meta.namespace.clone().unwrap_or_default();
    let config: &BusConfig = &bus.status.config;

    // Which objects are searched for secret references, and the bus credentials.
    let (access_secret, tls, walk_bus) = if let Some(n) = &config.nats {
        (n.access_secret.clone(), None, false)
    } else if let Some(js) = &config.jetstream {
        (js.access_secret.clone(), js.tls.clone(), false)
    } else if config.kafka.is_some() {
        (None, None, true)
    } else {
        return Err(BuildError::UnsupportedEventBus {
            namespace: bus.metadata.namespace.clone().unwrap_or_default(),
            bus: bus.metadata.name.clone().unwrap_or_default(),
        });
    };

    let mut env_vars = vec![
        env(owner.object_env, encode_b64(&owner.object, "object", &who)?),
        env(ENV_EVENT_BUS_SUBJECT, format!("eventbus-{namespace}")),
        EnvVar {
            name: ENV_POD_NAME.to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: "metadata.name".to_owned(),
                }),
                ..Default::default()
            }),
        },
        env(
            ENV_LEADER_ELECTION,
            owner
                .meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_LEADER_ELECTION))
                .cloned()
                .unwrap_or_default(),
        ),
        env(
            ENV_EVENT_BUS_CONFIG,
            encode_b64(config, "EventBus status.config", &who)?,
        ),
    ];

    let mut volumes = vec![Volume {
        name: "tmp".to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: "tmp".to_owned(),
        mount_path: TMP_MOUNT_PATH.to_owned(),
        ..Default::default()
    }];
    if let Some(access) = access_secret {
        volumes.push(Volume {
            name: "auth-volume".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(access.name.clone()),
                items: Some(vec![KeyToPath {
                    key: access.key.clone(),
                    path: EVENT_BUS_AUTH_FILE.to_owned(),
                    mode: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: "auth-volume".to_owned(),
            mount_path: EVENT_BUS_AUTH_MOUNT_PATH.to_owned(),
            ..Default::default()
        });
    }
    // Bus TLS secrets, one volume per secret holding only the referenced keys.
    let mut cert_items: BTreeMap<String, Vec<KeyToPath>> = BTreeMap::new();
    if let Some(tls) = &tls {
        for sel in [
            &tls.ca_cert_secret,
            &tls.client_cert_secret,
            &tls.client_key_secret,
        ]
        .into_iter()
        .flatten()
        {
            cert_items
                .entry(sel.name.clone())
                .or_default()
                .push(KeyToPath {
                    key: sel.key.clone(),
                    path: sel.key.clone(),
                    mode: None,
                });
        }
    }
    for (secret, items) in cert_items {
        let name = dns_label(&secret);
        volumes.push(Volume {
            name: name.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                items: Some(items),
                optional: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name,
            mount_path: format!("{SECRETS_MOUNT_DIR}/{secret}"),
            ..Default::default()
        });
    }
    let (mut secrets, config_maps) = referenced_secrets_and_config_maps(&owner.object);
    if walk_bus {
        let bus_json = serde_json::to_value(bus).map_err(|source| BuildError::Encode {
            what: "EventBus",
            owner: who.clone(),
            source,
        })?;
        secrets.extend(referenced_secrets_and_config_maps(&bus_json).0);
    }
    for secret in secrets {
        let name = format!("secret-{}", secret.replace('_', "-"));
        volumes.push(Volume {
            name: name.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name,
            mount_path: format!("{SECRETS_MOUNT_DIR}/{secret}"),
            read_only: Some(true),
            ..Default::default()
        });
    }
    for cm in config_maps {
        let name = format!("cm-{}", cm.replace('_', "-"));
        volumes.push(Volume {
            name: name.clone(),
            config_map: Some(ConfigMapVolumeSource {
                name: cm.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name,
            mount_path: format!("{CONFIG_MAPS_MOUNT_DIR}/{cm}"),
            read_only: Some(true),
            ..Default::default()
        });
    }
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    mounts.sort_by(|a, b| a.name.cmp(&b.name));

    // The `main` container: controller settings, then the template's overrides, then ours.
    let mut container = Container {
        name: MAIN_CONTAINER.to_owned(),
        image: Some(cfg.image.clone()),
        image_pull_policy: Some(cfg.image_pull_policy.clone()),
        args: Some(owner.args.clone()),
        ports: Some(vec![ContainerPort {
            name: Some(METRICS_PORT_NAME.to_owned()),
            container_port: METRICS_PORT,
            ..Default::default()
        }]),
        ..Default::default()
    };
    let template = owner.template.cloned().unwrap_or_default();
    let mut all_env = Vec::new();
    let mut all_mounts = Vec::new();
    if let Some(c) = &template.container {
        if c.resources != Default::default() {
            container.resources = Some(c.resources.clone());
        }
        container.security_context = c.security_context.clone();
        all_env.extend(c.env.iter().cloned());
        all_mounts.extend(c.volume_mounts.iter().cloned());
        container.env_from = none_if_empty(c.env_from.clone());
    }
    all_env.append(&mut env_vars);
    all_mounts.append(&mut mounts);
    container.env = Some(all_env);
    container.volume_mounts = Some(all_mounts);

    let mut pod_volumes = template.volumes.clone();
    pod_volumes.append(&mut volumes);

    let mut pod_labels = template
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    pod_labels.extend(owner.labels.clone());
    let pod_annotations = template
        .metadata
        .as_ref()
        .map(|m| m.annotations.clone())
        .filter(|a| !a.is_empty());

    let mut labels = owner.meta.labels.clone().unwrap_or_default();
    labels.extend(owner.labels.clone());

    let mut deployment = Deployment {
        metadata: ObjectMeta {
            namespace: owner.meta.namespace.clone(),
            generate_name: Some(owner.generate_name.clone()),
            labels: Some(labels),
            owner_references: Some(vec![owner_reference(owner.kind, owner.meta)]),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(owner.replicas),
            revision_history_limit: owner.revision_history_limit,
            selector: LabelSelector {
                match_labels: Some(owner.labels.clone()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: pod_annotations,
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(pod_volumes),
                    service_account_name: (!template.service_account_name.is_empty())
                        .then(|| template.service_account_name.clone()),
                    security_context: template.security_context.clone(),
                    node_selector: (!template.node_selector.is_empty())
                        .then(|| template.node_selector.clone()),
                    tolerations: none_if_empty(template.tolerations.clone()),
                    affinity: template.affinity.clone(),
                    image_pull_secrets: none_if_empty(template.image_pull_secrets.clone()),
                    priority_class_name: (!template.priority_class_name.is_empty())
                        .then(|| template.priority_class_name.clone()),
                    priority: template.priority,
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    };
    let hash = spec_hash(&deployment, &who)?;
    add_hash(&mut deployment.metadata, hash);
    Ok(deployment)
}

/// Adds the [`ANNOTATION_RESOURCE_SPEC_HASH`] annotation `hash` to `meta`.
pub(crate) fn add_hash(meta: &mut ObjectMeta, hash: String) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_RESOURCE_SPEC_HASH.to_owned(), hash);
}

/// `{metadata: {name, namespace}, spec}` of an object, the payload of `*_OBJECT` env vars.
pub(crate) fn object_payload<S: Serialize>(
    meta: &ObjectMeta,
    spec: &S,
    owner: &str,
) -> Result<Value, BuildError> {
    let spec = serde_json::to_value(spec).map_err(|source| BuildError::Encode {
        what: "spec",
        owner: owner.to_owned(),
        source,
    })?;
    let mut metadata = serde_json::Map::new();
    if let Some(name) = &meta.name {
        metadata.insert("name".into(), Value::String(name.clone()));
    }
    if let Some(ns) = &meta.namespace {
        metadata.insert("namespace".into(), Value::String(ns.clone()));
    }
    Ok(serde_json::json!({ "metadata": metadata, "spec": spec }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_reference_vectors() {
        // Vectors from the FNV reference test suite.
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn dns_label_cleans_names() {
        for (input, want) in [
            ("my-secret", "my-secret"),
            ("My_Secret.v1", "my-secret-v1"),
            ("_x_", "x"),
        ] {
            assert_eq!(dns_label(input), want, "{input}");
        }
    }

    #[test]
    fn finds_secret_and_config_map_selectors() {
        let spec = serde_json::json!({
            "webhook": {"a": {"authSecret": {"name": "tok", "key": "t"}}},
            "kafka": {"k": {"tls": {"caCertSecret": {"name": "ca", "key": "c", "optional": true}},
                            "sasl": {"userSecret": {"name": "u_1", "key": "u"}}}},
            "triggers": [{"source": {"configmap": {"name": "cm1", "key": "k"}}},
                         {"valueFrom": {"configMapKeyRef": {"name": "cm2", "key": "k"}}}],
            "notASelector": {"name": "x", "key": "y", "other": 1},
        });
        let (secrets, cms) = referenced_secrets_and_config_maps(&spec);
        assert_eq!(
            secrets.into_iter().collect::<Vec<_>>(),
            vec!["ca", "tok", "u_1"]
        );
        assert_eq!(cms.into_iter().collect::<Vec<_>>(), vec!["cm1", "cm2"]);
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
