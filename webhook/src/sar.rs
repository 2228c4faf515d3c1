//! The `rbac` rule in a cluster: each access an incoming Sensor's triggers need
//! ([`argo_events_webhook::rules::sensor_access_checks`], the same checks the static evaluator
//! of `lint` makes) is asked of the API server as a SubjectAccessReview
//! (`authorization.k8s.io/v1`) for the Sensor's ServiceAccount. Answers are cached briefly; a
//! review that fails (API error, timeout) is reported as such and never denies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argo_events_webhook::rules::{AccessCheck, AccessDecision};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use kube::api::PostParams;
use kube::{Api, Client};

/// What a cached answer is about: the subject and the resource attributes asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user: String,
    verb: &'static str,
    group: String,
    resource: String,
    name: Option<String>,
    namespace: String,
}

impl Key {
    fn of(check: &AccessCheck) -> Self {
        Key {
            user: check.user(),
            verb: check.access.verb,
            group: check.access.group.clone(),
            resource: check.access.resource.clone(),
            name: check.access.resource_name().map(str::to_owned),
            namespace: check.namespace.clone(),
        }
    }
}

/// Answers of the API server, kept for `ttl`, at most `capacity` of them.
#[derive(Debug)]
struct Cache {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<Key, (AccessDecision, Instant)>,
}

impl Cache {
    fn get(&self, key: &Key, now: Instant) -> Option<AccessDecision> {
        self.entries
            .get(key)
            .filter(|(_, at)| now.duration_since(*at) < self.ttl)
            .map(|(d, _)| d.clone())
    }

    fn insert(&mut self, key: Key, decision: AccessDecision, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (_, at)| now.duration_since(*at) < ttl);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key, (decision, now));
    }
}

/// Asks the API server SubjectAccessReviews, with a cache.
pub struct Authorizer {
    api: Api<SubjectAccessReview>,
    timeout: Duration,
    cache: Mutex<Cache>,
}

impl Authorizer {
    /// An authorizer caching answers for `ttl` (at most `capacity` of them) and giving each
    /// review `timeout`.
    pub fn new(client: Client, ttl: Duration, capacity: usize, timeout: Duration) -> Self {
        Authorizer {
            api: Api::all(client),
            timeout,
            cache: Mutex::new(Cache {
                ttl,
                capacity,
                entries: HashMap::new(),
            }),
        }
    }

    /// The answers to `checks`, in order; the uncached ones asked concurrently.
    pub async fn decide(&self, checks: &[AccessCheck]) -> Vec<AccessDecision> {
        futures::future::join_all(checks.iter().map(|c| self.decide_one(c))).await
    }

    async fn decide_one(&self, check: &AccessCheck) -> AccessDecision {
        let key = Key::of(check);
        if let Some(hit) = self.with_cache(|c| c.get(&key, Instant::now())) {
            return hit;
        }
        let review = access_review(check);
        let decision = match tokio::time::timeout(
            self.timeout,
            self.api.create(&PostParams::default(), &review),
        )
        .await
        {
            Ok(Ok(answer)) => decision_of(answer.status.as_ref()),
            Ok(Err(e)) => AccessDecision::Failed(format!("API error: {e}")),
            Err(_) => {
                AccessDecision::Failed(format!("no answer within {} ms", self.timeout.as_millis()))
            }
        };
        match &decision {
            AccessDecision::Failed(error) => {
                tracing::warn!(
                    user = %key.user,
                    verb = key.verb,
                    group = %key.group,
                    resource = %key.resource,
                    namespace = %key.namespace,
                    error = %error,
                    "SubjectAccessReview failed; not denying for it"
                );
            }
            _ => self.with_cache(|c| c.insert(key, decision.clone(), Instant::now())),
        }
        decision
    }

    fn with_cache<R>(&self, f: impl FnOnce(&mut Cache) -> R) -> R {
        match self.cache.lock() {
            Ok(mut c) => f(&mut c),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

/// The SubjectAccessReview asking whether the check's ServiceAccount may do its access in its
/// namespace (with the object name, except for `create`).
pub fn access_review(check: &AccessCheck) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(check.user()),
            groups: Some(check.groups().to_vec()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(check.access.verb.to_owned()),
                group: Some(check.access.group.clone()),
                resource: Some(check.access.resource.clone()),
                name: check.access.resource_name().map(str::to_owned),
                namespace: Some(check.namespace.clone()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

/// The decision a SubjectAccessReview status gives: allowed; not allowed with an evaluation
/// error and no explicit denial is a failure (the authorizer could not decide); else denied.
pub fn decision_of(status: Option<&SubjectAccessReviewStatus>) -> AccessDecision {
    let Some(status) = status else {
        return AccessDecision::Failed("the SubjectAccessReview came back without a status".into());
    };
    if status.allowed {
        return AccessDecision::Allowed;
    }
    match status.evaluation_error.as_deref() {
        Some(error) if !error.is_empty() && status.denied != Some(true) => {
            AccessDecision::Failed(format!("evaluation error: {error}"))
        }
        _ => AccessDecision::Denied,
    }
}

#[cfg(test)]
mod tests;
