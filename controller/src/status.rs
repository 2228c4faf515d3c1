//! Status conditions as pure functions: the reconciler says what it found for each condition
//! type ([`Check`]); [`compute`] turns that into the sorted condition list, keeping
//! `lastTransitionTime` when a condition's status did not change.
//!
//! Upstream: every condition type of a kind starts `Unknown`, then is marked `True` (EventSource
//! and Sensor without reason; EventBus `Deployed` with `Succeeded`/`Skipped`) or `False` with a
//! reason (constants in [`reason`]). A kind is ready when it has conditions and all are `True`.

use argo_events_api::Condition;
use argo_events_api::condition_status::{FALSE, TRUE, UNKNOWN};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Condition types.
pub mod condition {
    /// EventBus: the spec is valid.
    pub const CONFIGURED: &str = "Configured";
    /// All kinds: the children are applied.
    pub const DEPLOYED: &str = "Deployed";
    /// EventSource: the sources in the spec are valid.
    pub const SOURCES_PROVIDED: &str = "SourcesProvided";
    /// Sensor: the dependencies are valid.
    pub const DEPENDENCIES_PROVIDED: &str = "DependenciesProvided";
    /// Sensor: the triggers are valid.
    pub const TRIGGERS_PROVIDED: &str = "TriggersProvided";

    /// Condition types of an EventBus.
    pub const EVENT_BUS: &[&str] = &[CONFIGURED, DEPLOYED];
    /// Condition types of an EventSource.
    pub const EVENT_SOURCE: &[&str] = &[SOURCES_PROVIDED, DEPLOYED];
    /// Condition types of a Sensor.
    pub const SENSOR: &[&str] = &[DEPENDENCIES_PROVIDED, TRIGGERS_PROVIDED, DEPLOYED];
}

/// Condition reasons used by upstream.
pub mod reason {
    /// EventBus `Configured=False`: the spec failed validation.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// EventBus `Deployed=True`: the servers are deployed.
    pub const SUCCEEDED: &str = "Succeeded";
    /// EventBus `Deployed=True`: nothing to deploy (exotic, Kafka).
    pub const SKIPPED: &str = "Skipped";
    /// EventSource `SourcesProvided=False`.
    pub const INVALID_EVENT_SOURCE: &str = "InvalidEventSource";
    /// Sensor `DependenciesProvided=False`: bad dependencies.
    pub const INVALID_DEPENDENCIES: &str = "InvalidDependencies";
    /// Sensor `DependenciesProvided=False`: the bus does not fit the Sensor.
    pub const INVALID_EVENT_BUS: &str = "InvalidEventBus";
    /// Sensor `TriggersProvided=False`.
    pub const INVALID_TRIGGERS: &str = "InvalidTriggers";
    /// `Deployed=False`: the EventBus does not exist.
    pub const EVENT_BUS_NOT_FOUND: &str = "EventBusNotFound";
    /// `Deployed=False`: reading the EventBus failed.
    pub const GET_EVENT_BUS_FAILED: &str = "GetEventBusFailed";
    /// `Deployed=False`: the EventBus is not ready.
    pub const EVENT_BUS_NOT_READY: &str = "EventBusNotReady";
    /// `Deployed=False`: the desired Deployment could not be built.
    pub const BUILD_DEPLOYMENT_SPEC_FAILED: &str = "BuildDeploymentSpecFailed";
    /// `Deployed=False`: reading the Deployment failed.
    pub const GET_DEPLOYMENT_FAILED: &str = "GetDeploymentFailed";
    /// `Deployed=False`: updating the Deployment failed.
    pub const UPDATE_DEPLOYMENT_FAILED: &str = "UpdateDeploymentFailed";
    /// `Deployed=False`: creating the Deployment failed.
    pub const CREATE_DEPLOYMENT_FAILED: &str = "CreateDeploymentFailed";
    /// EventSource `Deployed=False`: reading the Service failed.
    pub const GET_SERVICE_FAILED: &str = "GetServiceFailed";
    /// EventSource `Deployed=False`: the desired Service could not be built.
    pub const BUILD_SERVICE_FAILED: &str = "BuildServiceFailed";
    /// EventSource `Deployed=False`: deleting the Service failed.
    pub const DELETE_SERVICE_FAILED: &str = "DeleteServiceFailed";
    /// EventSource `Deployed=False`: creating the Service failed.
    pub const CREATE_SERVICE_FAILED: &str = "CreateServiceFailed";
    /// EventSource `Deployed=False`: re-creating the Service failed.
    pub const RECREATE_SERVICE_FAILED: &str = "RecreateServiceFailed";
    /// EventBus `Deployed=False`: JetStream secrets failed.
    pub const JETSTREAM_AUTH_SECRETS_FAILED: &str = "JetStreamAuthSecretsFailed";
    /// EventBus `Deployed=False`: JetStream ConfigMap failed.
    pub const JETSTREAM_CONFIG_MAP_FAILED: &str = "JetStreamConfigMapFailed";
    /// EventBus `Deployed=False`: JetStream Service failed.
    pub const JETSTREAM_SERVICE_FAILED: &str = "JetStreamServiceFailed";
    /// EventBus `Deployed=False`: JetStream StatefulSet failed.
    pub const JETSTREAM_STATEFUL_SET_FAILED: &str = "JetStreamStatefulSetFailed";
}

/// What the reconciler found for one condition type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Not determined (yet): `Unknown`.
    Unknown,
    /// Holds: `True` with an optional reason and message (empty strings for none).
    True {
        /// CamelCase reason, may be empty.
        reason: String,
        /// Message, may be empty.
        message: String,
    },
    /// Does not hold: `False` with a reason and message.
    False {
        /// CamelCase reason.
        reason: String,
        /// Message for people.
        message: String,
    },
}

impl Check {
    /// `True` without reason.
    pub fn ok() -> Self {
        Check::True {
            reason: String::new(),
            message: String::new(),
        }
    }

    /// `True` with a reason and message (EventBus `Deployed`).
    pub fn ok_because(reason: &str, message: impl Into<String>) -> Self {
        Check::True {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    /// `False` with a reason and message.
    pub fn failed(reason: &str, message: impl Into<String>) -> Self {
        Check::False {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// The conditions for `types` (each `Unknown` unless `checks` says otherwise), sorted by type.
/// `lastTransitionTime` is kept from `previous` when the status is unchanged, else set to `now`.
pub fn compute(
    previous: &[Condition],
    types: &[&str],
    checks: &[(&str, Check)],
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = types
        .iter()
        .map(|t| {
            let check = checks
                .iter()
                .rev()
                .find(|(ct, _)| ct == t)
                .map(|(_, c)| c.clone())
                .unwrap_or(Check::Unknown);
            let (status, reason, message) = match check {
                Check::Unknown => (UNKNOWN, String::new(), String::new()),
                Check::True { reason, message } => (TRUE, reason, message),
                Check::False { reason, message } => (FALSE, reason, message),
            };
            let last_transition_time = previous
                .iter()
                .find(|c| c.type_ == *t && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .or_else(|| Some(now.clone()));
            Condition {
                type_: (*t).to_owned(),
                status: status.to_owned(),
                last_transition_time,
                reason,
                message,
            }
        })
        .collect();
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Ready when there is at least one condition and every condition is `True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    !conditions.is_empty() && conditions.iter().all(|c| c.status == TRUE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn all_unknown_at_start_and_sorted() {
        let c = compute(&[], condition::SENSOR, &[], &t(1));
        let types: Vec<_> = c.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["DependenciesProvided", "Deployed", "TriggersProvided"]
        );
        assert!(c.iter().all(|c| c.status == "Unknown"));
        assert!(!is_ready(&c));
    }

    #[test]
    fn true_false_and_transition_times() {
        let first = compute(
            &[],
            condition::EVENT_SOURCE,
            &[
                (condition::SOURCES_PROVIDED, Check::ok()),
                (
                    condition::DEPLOYED,
                    Check::failed(reason::EVENT_BUS_NOT_READY, "EventBus not ready."),
                ),
            ],
            &t(1),
        );
        assert_eq!(first[0].type_, "Deployed");
        assert_eq!(first[0].status, "False");
        assert_eq!(first[0].reason, "EventBusNotReady");
        assert_eq!(first[1].status, "True");
        assert!(first[1].reason.is_empty());
        assert!(!is_ready(&first));

        let second = compute(
            &first,
            condition::EVENT_SOURCE,
            &[
                (condition::SOURCES_PROVIDED, Check::ok()),
                (condition::DEPLOYED, Check::ok()),
            ],
            &t(2),
        );
        assert!(is_ready(&second));
        assert_eq!(
            second[0].last_transition_time,
            Some(t(2)),
            "Deployed changed"
        );
        assert_eq!(
            second[1].last_transition_time,
            Some(t(1)),
            "SourcesProvided kept"
        );
    }

    #[test]
    fn event_bus_deployed_with_reason() {
        let c = compute(
            &[],
            condition::EVENT_BUS,
            &[
                (condition::CONFIGURED, Check::ok()),
                (
                    condition::DEPLOYED,
                    Check::ok_because(reason::SUCCEEDED, "JetStream is deployed"),
                ),
            ],
            &t(0),
        );
        assert!(is_ready(&c));
        assert_eq!(c[1].reason, "Succeeded");
        assert!(!is_ready(&[]));
    }
}
