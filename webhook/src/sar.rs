//! The `rbac` rule in a cluster: each access an incoming Sensor's triggers need
//! ([`argo_events_webhook::rules::sensor_access_checks`], the same checks the static evaluator
//! of `lint` makes) is asked of the API server as a SubjectAccessReview
//! (`authorization.k8s.io/v1`) for the Sensor's ServiceAccount. Allowed answers are cached for
//! the configured TTL, denials for at most [`DENIED_TTL`]; a review that fails (API error,
//! timeout) is reported as such, never cached and never denies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argo_events_webhook::rules::{AccessCheck, AccessDecision};
pub use argo_events_webhook::rules::{access_review, decision_of};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
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
            namespace: check.target_namespace.clone(),
        }
    }
}

/// How long a denial is reused at most: a missing binding is often created right after the
/// Sensor (`kubectl apply -f dir/`), so a denial must not outlive it for long.
pub const DENIED_TTL: Duration = Duration::from_secs(5);

/// Answers of the API server: allowed ones kept for `ttl`, denials for `denied_ttl`, at most
/// `capacity` of them. Failures are never kept.
#[derive(Debug)]
struct Cache {
    ttl: Duration,
    denied_ttl: Duration,
    capacity: usize,
    /// The answer and when it expires.
    entries: HashMap<Key, (AccessDecision, Instant)>,
}

impl Cache {
    fn get(&self, key: &Key, now: Instant) -> Option<AccessDecision> {
        self.entries
            .get(key)
            .filter(|(_, expires)| now < *expires)
            .map(|(d, _)| d.clone())
    }

    fn insert(&mut self, key: Key, decision: AccessDecision, now: Instant) {
        let ttl = match decision {
            AccessDecision::Allowed => self.ttl,
            AccessDecision::Denied => self.denied_ttl.min(self.ttl),
            AccessDecision::Failed(_) => return,
        };
        if self.capacity == 0 || ttl.is_zero() {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, expires)| now < *expires);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, expires))| *expires)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    self.entries.remove(&soonest);
                }
            }
        }
        self.entries.insert(key, (decision, now + ttl));
    }
}

/// Asks the API server SubjectAccessReviews, with a cache.
pub struct Authorizer {
    api: Api<SubjectAccessReview>,
    timeout: Duration,
    cache: Mutex<Cache>,
}

impl Authorizer {
    /// An authorizer caching allowed answers for `ttl` and denials for at most
    /// [`DENIED_TTL`] (at most `capacity` answers) and giving each review `timeout`.
    pub fn new(client: Client, ttl: Duration, capacity: usize, timeout: Duration) -> Self {
        Authorizer {
            api: Api::all(client),
            timeout,
            cache: Mutex::new(Cache {
                ttl,
                denied_ttl: DENIED_TTL,
                capacity,
                entries: HashMap::new(),
            }),
        }
    }

    /// The answers to `checks`, in order; identical questions asked once, the uncached ones
    /// concurrently.
    pub async fn decide(&self, checks: &[AccessCheck]) -> Vec<AccessDecision> {
        let mut unique: Vec<(Key, &AccessCheck)> = Vec::with_capacity(checks.len());
        let slots: Vec<usize> = checks
            .iter()
            .map(|check| {
                let key = Key::of(check);
                match unique.iter().position(|(k, _)| *k == key) {
                    Some(slot) => slot,
                    None => {
                        unique.push((key, check));
                        unique.len() - 1
                    }
                }
            })
            .collect();
        let answers =
            futures::future::join_all(unique.into_iter().map(|(key, c)| self.decide_one(key, c)))
                .await;
        slots.into_iter().map(|i| answers[i].clone()).collect()
    }

    async fn decide_one(&self, key: Key, check: &AccessCheck) -> AccessDecision {
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

#[cfg(test)]
mod tests;
