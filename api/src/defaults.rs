//! Upstream's defaults. Like upstream, decoding leaves fields as written; these accessors give
//! the value in force, and [`apply_sensor`] / [`apply_event_source`] / [`apply_event_bus`] write
//! the defaults into an object (the mutating webhook's patch is the difference).

use std::time::Duration;

use crate::{
    Backoff, DataFilter, EventBus, EventDependency, EventDependencyFilter, EventSource,
    EventSourceSpec, HTTPTrigger, JetStreamBus, NativeStrategy, Sensor, SensorSpec,
    StandardK8STrigger, WebhookContext, WebhookEventSource,
};

/// EventBus used when `eventBusName` is empty.
pub const EVENT_BUS_NAME: &str = "default";
/// Logical operator used when one is empty.
pub const LOGICAL_OPERATOR: &str = "and";
/// Data filter comparator used when empty.
pub const COMPARATOR: &str = "=";
/// HTTP trigger method used when empty.
pub const HTTP_METHOD: &str = "POST";
/// HTTP trigger timeout used when zero or negative.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// k8s trigger operation used when empty.
pub const K8S_OPERATION: &str = "create";
/// Webhook body limit used when `maxPayloadSize` is unset.
pub const WEBHOOK_MAX_PAYLOAD: i64 = 1_048_576;
/// JetStream EventBus pod count when unset.
pub const JETSTREAM_REPLICAS: i32 = 3;
/// Minimum (and default) NATS Streaming pod count.
pub const NATS_NATIVE_MIN_REPLICAS: i32 = 3;
/// Attempts of a retry policy whose `steps` is 0.
pub const BACKOFF_STEPS: u32 = 5;
/// First wait of a retry policy without `duration`.
pub const BACKOFF_DURATION: Duration = Duration::from_secs(1);

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() { default } else { value }
}

/// Replicas in force: unset or below 1 means 1.
fn replicas(value: Option<i32>) -> i32 {
    value.unwrap_or(1).max(1)
}

impl EventSourceSpec {
    /// The EventBus in force (`default` when empty).
    pub fn effective_event_bus_name(&self) -> &str {
        or_default(&self.event_bus_name, EVENT_BUS_NAME)
    }

    /// Replicas in force: at least 1.
    pub fn effective_replicas(&self) -> i32 {
        replicas(self.replicas)
    }
}

impl SensorSpec {
    /// The EventBus in force (`default` when empty).
    pub fn effective_event_bus_name(&self) -> &str {
        or_default(&self.event_bus_name, EVENT_BUS_NAME)
    }

    /// Replicas in force: at least 1.
    pub fn effective_replicas(&self) -> i32 {
        replicas(self.replicas)
    }
}

impl JetStreamBus {
    /// Pod count in force (3 when unset; validation refuses 2 and values below 1).
    pub fn effective_replicas(&self) -> i32 {
        self.replicas.unwrap_or(JETSTREAM_REPLICAS)
    }
}

impl NativeStrategy {
    /// Pod count in force: values below 3 are raised to 3.
    pub fn effective_replicas(&self) -> i32 {
        self.replicas.max(NATS_NATIVE_MIN_REPLICAS)
    }
}

impl EventDependency {
    /// How the filter kinds combine: `and` when empty.
    pub fn effective_filters_logical_operator(&self) -> &str {
        or_default(&self.filters_logical_operator, LOGICAL_OPERATOR)
    }
}

impl EventDependencyFilter {
    /// How data filters combine: `and` when empty.
    pub fn effective_data_logical_operator(&self) -> &str {
        or_default(&self.data_logical_operator, LOGICAL_OPERATOR)
    }

    /// How expression filters combine: `and` when empty.
    pub fn effective_expr_logical_operator(&self) -> &str {
        or_default(&self.expr_logical_operator, LOGICAL_OPERATOR)
    }
}

impl DataFilter {
    /// Comparator in force: `=` when empty.
    pub fn effective_comparator(&self) -> &str {
        or_default(&self.comparator, COMPARATOR)
    }
}

impl HTTPTrigger {
    /// Method in force: `POST` when empty.
    pub fn effective_method(&self) -> &str {
        or_default(&self.method, HTTP_METHOD)
    }

    /// Timeout in force: 60 s unless a positive number of seconds is set.
    pub fn effective_timeout(&self) -> Duration {
        if self.timeout > 0 {
            Duration::from_secs(self.timeout as u64)
        } else {
            HTTP_TIMEOUT
        }
    }
}

impl StandardK8STrigger {
    /// Operation in force: `create` when empty.
    pub fn effective_operation(&self) -> &str {
        or_default(&self.operation, K8S_OPERATION)
    }
}

impl WebhookContext {
    /// Body limit in force, in bytes.
    pub fn effective_max_payload_size(&self) -> i64 {
        self.max_payload_size.unwrap_or(WEBHOOK_MAX_PAYLOAD)
    }
}

impl WebhookEventSource {
    /// Body limit in force, in bytes.
    pub fn effective_max_payload_size(&self) -> i64 {
        self.max_payload_size.unwrap_or(WEBHOOK_MAX_PAYLOAD)
    }
}

/// A retry policy with every default resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveBackoff {
    /// First wait.
    pub duration: Duration,
    /// Multiplier per attempt.
    pub factor: f64,
    /// Random extra fraction per wait.
    pub jitter: f64,
    /// Number of attempts.
    pub steps: u32,
}

impl EffectiveBackoff {
    /// No retry policy: exactly one attempt.
    pub const ONCE: EffectiveBackoff = EffectiveBackoff {
        duration: Duration::ZERO,
        factor: 1.0,
        jitter: 0.0,
        steps: 1,
    };
}

impl Backoff {
    /// The policy in force; an error names the field that cannot be read (a quoted `factor`,
    /// a bad duration string).
    pub fn effective(&self) -> Result<EffectiveBackoff, String> {
        let duration = match &self.duration {
            None => BACKOFF_DURATION,
            Some(d) => d.as_duration().map_err(|e| format!("duration: {e}"))?,
        };
        let amount = |a: &Option<crate::Amount>, name: &str, default: f64| match a {
            None => Ok(default),
            Some(a) => a.as_f64().map_err(|e| format!("{name}: {e}")),
        };
        Ok(EffectiveBackoff {
            duration,
            factor: amount(&self.factor, "factor", 1.0)?,
            jitter: amount(&self.jitter, "jitter", 1.0)?,
            steps: if self.steps > 0 {
                self.steps as u32
            } else {
                BACKOFF_STEPS
            },
        })
    }
}

/// The retry policy of an optional `retryStrategy`: absent means one attempt.
pub fn effective_retry(strategy: Option<&Backoff>) -> Result<EffectiveBackoff, String> {
    strategy.map_or(Ok(EffectiveBackoff::ONCE), Backoff::effective)
}

/// Writes upstream's defaults into a Sensor: EventBus name, replicas, logical operators,
/// comparators, HTTP method and timeout, k8s operation.
pub fn apply_sensor(sensor: &mut Sensor) {
    let spec = &mut sensor.spec;
    spec.event_bus_name = spec.effective_event_bus_name().to_owned();
    spec.replicas = Some(spec.effective_replicas());
    for dep in &mut spec.dependencies {
        dep.filters_logical_operator = dep.effective_filters_logical_operator().to_owned();
        if let Some(filters) = &mut dep.filters {
            filters.data_logical_operator = filters.effective_data_logical_operator().to_owned();
            filters.expr_logical_operator = filters.effective_expr_logical_operator().to_owned();
            for data in &mut filters.data {
                data.comparator = data.effective_comparator().to_owned();
            }
        }
    }
    for trigger in &mut spec.triggers {
        let Some(template) = &mut trigger.template else {
            continue;
        };
        if let Some(http) = &mut template.http {
            http.method = http.effective_method().to_owned();
            http.timeout = http.effective_timeout().as_secs() as i64;
        }
        if let Some(k8s) = &mut template.k8s {
            k8s.operation = k8s.effective_operation().to_owned();
        }
    }
}

/// Writes upstream's defaults into an EventSource: EventBus name and replicas.
pub fn apply_event_source(source: &mut EventSource) {
    let spec = &mut source.spec;
    spec.event_bus_name = spec.effective_event_bus_name().to_owned();
    spec.replicas = Some(spec.effective_replicas());
}

/// Writes upstream's defaults into an EventBus: JetStream and NATS Streaming replicas.
pub fn apply_event_bus(bus: &mut EventBus) {
    if let Some(js) = &mut bus.spec.jetstream {
        js.replicas = Some(js.effective_replicas());
    }
    if let Some(native) = bus.spec.nats.as_mut().and_then(|n| n.native.as_mut()) {
        native.replicas = native.effective_replicas();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Amount, Int64OrString, Trigger, TriggerTemplate};

    #[test]
    fn empty_fields_take_upstream_defaults() {
        let spec = SensorSpec::default();
        assert_eq!(spec.effective_event_bus_name(), "default");
        assert_eq!(spec.effective_replicas(), 1);
        let spec = SensorSpec {
            replicas: Some(-2),
            event_bus_name: "bus".into(),
            ..Default::default()
        };
        assert_eq!(spec.effective_replicas(), 1);
        assert_eq!(spec.effective_event_bus_name(), "bus");
        assert_eq!(JetStreamBus::default().effective_replicas(), 3);
        let native = NativeStrategy {
            replicas: 1,
            ..Default::default()
        };
        assert_eq!(native.effective_replicas(), 3);
        assert_eq!(HTTPTrigger::default().effective_method(), "POST");
        assert_eq!(
            HTTPTrigger::default().effective_timeout(),
            Duration::from_secs(60)
        );
        assert_eq!(
            StandardK8STrigger::default().effective_operation(),
            "create"
        );
        assert_eq!(DataFilter::default().effective_comparator(), "=");
        assert_eq!(
            EventDependency::default().effective_filters_logical_operator(),
            "and"
        );
        assert_eq!(
            WebhookContext::default().effective_max_payload_size(),
            1_048_576
        );
    }

    #[test]
    fn retry_policies() {
        assert_eq!(effective_retry(None), Ok(EffectiveBackoff::ONCE));
        let b = Backoff {
            duration: Some(Int64OrString::Str("3s".into())),
            factor: Some(Amount(serde_json::json!(2))),
            jitter: Some(Amount(serde_json::json!(0.1))),
            steps: 0,
        };
        let e = b.effective().unwrap();
        assert_eq!(e.duration, Duration::from_secs(3));
        assert_eq!((e.factor, e.jitter, e.steps), (2.0, 0.1, 5));
        let nanos = Backoff {
            duration: Some(Int64OrString::Int(500)),
            ..Default::default()
        };
        assert_eq!(
            nanos.effective().unwrap().duration,
            Duration::from_nanos(500)
        );
        let quoted = Backoff {
            factor: Some(Amount(serde_json::json!("2"))),
            ..Default::default()
        };
        assert_eq!(
            quoted.effective(),
            Err("factor: expected a number, got \"2\"".to_owned())
        );
    }

    #[test]
    fn apply_writes_defaults_without_touching_what_is_set() {
        let mut sensor = Sensor::default();
        sensor.spec.triggers.push(Trigger {
            template: Some(TriggerTemplate {
                name: "t".into(),
                http: Some(Box::new(HTTPTrigger {
                    url: "http://x".into(),
                    method: "PUT".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
        apply_sensor(&mut sensor);
        assert_eq!(sensor.spec.event_bus_name, "default");
        assert_eq!(sensor.spec.replicas, Some(1));
        let http = sensor.spec.triggers[0]
            .template
            .as_ref()
            .and_then(|t| t.http.as_ref())
            .unwrap();
        assert_eq!((http.method.as_str(), http.timeout), ("PUT", 60));
    }
}
