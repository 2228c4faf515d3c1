//! A leader lock on the EventBus itself: one JetStream key-value bucket per bus,
//! [`BUCKET`], holding one key per elected object ([`lock_key`]: `<ns>-sensor-<name>` /
//! `<ns>-eventsource-<name>`, upstream's graft cluster names). The value is the holder's
//! identity; the key's revision is the fencing token.
//!
//! - acquire: create-if-absent ([`LeaderLock::create`], KV `create`), or compare-and-set on a
//!   revision the caller saw go stale ([`LeaderLock::update`]);
//! - renew: compare-and-set on the holder's own last revision ([`LeaderLock::update`]); a
//!   [`LockWriteError::Conflict`] means the key moved on: the caller re-reads it, and unless
//!   it finds its own identity at a newer revision (a renew of its own that landed after the
//!   caller stopped waiting for it), somebody else wrote the key and the lock is lost;
//! - staleness: judged by the callers only, from the same holder at the same revision seen
//!   unchanged for a whole lease duration on their own monotonic clock (see the runtime's
//!   election module). The server never expires a live lock: the bucket is created with a
//!   clean-up-only `max_age` of [`CLEANUP_MAX_AGE`] (far above any lease), which only removes
//!   keys of objects nobody has elected for an hour. A server-side TTL shorter than the
//!   leader's renew deadline would let a standby create the key while the leader still
//!   believes it leads; one shared bucket also cannot carry a TTL fitting every object's
//!   durations.
//!
//! Per-key TTLs (`Nats-TTL`, server 2.11+) are not used for the same reason.
//!
//! The lock keeps a NATS connection of its own (as upstream's graft elector does), built from
//! the same [`JetStreamOptions`] as the bus.

use std::time::Duration;

use async_nats::jetstream::{self as js, context::KeyValueErrorKind, kv};
use bytes::Bytes;

use crate::BusError;
use crate::config::JetStreamOptions;

/// The key-value bucket holding every leader lock of a bus.
pub const BUCKET: &str = "leader-election";

/// `max_age` of a bucket this module creates: clean-up of abandoned keys only, never part of
/// the election (a key renewed every retry period never gets near it).
pub const CLEANUP_MAX_AGE: Duration = Duration::from_secs(3600);

/// What is elected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// A Sensor.
    Sensor,
    /// An EventSource.
    EventSource,
}

impl LockKind {
    /// `sensor` or `eventsource`, as in upstream's names.
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Sensor => "sensor",
            LockKind::EventSource => "eventsource",
        }
    }
}

/// The lock key of an object: `<namespace>-<kind>-<name>`, upstream's graft cluster name.
pub fn lock_key(namespace: &str, kind: LockKind, name: &str) -> String {
    format!("{namespace}-{}-{name}", kind.as_str())
}

/// What the key holds right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockView {
    /// No key (never written, expired, or released).
    Absent,
    /// Held by `holder` at `revision`.
    Held {
        /// Identity of the holder.
        holder: String,
        /// Revision of the key.
        revision: u64,
    },
}

/// A failed write of the lock key.
#[derive(Debug, thiserror::Error)]
pub enum LockWriteError {
    /// The key is not at the expected revision (or exists, for a create): someone else wrote it.
    #[error("leader lock {key} was written by someone else")]
    Conflict {
        /// The key.
        key: String,
    },
    /// The bus did not answer.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// The lock of one object on one bus.
#[derive(Debug, Clone)]
pub struct LeaderLock {
    store: kv::Store,
    key: String,
    url: String,
}

impl LeaderLock {
    /// Connects to the bus of `options` and opens [`BUCKET`] (creating it if missing: history
    /// 1, `max_age` [`CLEANUP_MAX_AGE`], as many replicas as the bus stream, see
    /// [`LeaderLock::open_with`]). `lease_duration` only serves the check of an existing
    /// bucket's `max_age` ([`max_age_warning`]), which logs and never fails.
    pub async fn open(
        options: &JetStreamOptions,
        key: &str,
        lease_duration: Duration,
    ) -> Result<LeaderLock, BusError> {
        let client =
            crate::jetstream::connect_client(options, "argo-events-leader-election").await?;
        let js = js::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client);
        LeaderLock::open_with(
            &js,
            &options.url,
            key,
            lease_duration,
            options.stream.replicas,
        )
        .await
    }

    /// Like [`LeaderLock::open`] on an existing JetStream context. A missing bucket is created
    /// with `replicas` copies (so losing one node of a cluster does not stop every election);
    /// when the server refuses that (a single server, or too few nodes), it is created with 1.
    pub async fn open_with(
        js: &js::Context,
        url: &str,
        key: &str,
        lease_duration: Duration,
        replicas: usize,
    ) -> Result<LeaderLock, BusError> {
        let store = match js.get_key_value(BUCKET).await {
            Ok(store) => store,
            Err(e) if e.kind() == KeyValueErrorKind::GetBucket => {
                match create_bucket(js, replicas).await {
                    Ok(store) => store,
                    // Maybe another replica created it meanwhile.
                    Err(ce) => js.get_key_value(BUCKET).await.map_err(|_| {
                        BusError::Unavailable(format!(
                            "KV bucket {BUCKET} on {url}: lookup failed ({e}), creation failed ({ce})"
                        ))
                    })?,
                }
            }
            Err(e) => {
                return Err(BusError::Unavailable(format!(
                    "KV bucket {BUCKET} on {url}: {e}"
                )));
            }
        };
        let max_age = store.stream.cached_info().config.max_age;
        if let Some(warning) = max_age_warning(max_age, lease_duration) {
            tracing::warn!(bucket = BUCKET, url, ?max_age, ?lease_duration, "{warning}");
        }
        Ok(LeaderLock {
            store,
            key: key.to_owned(),
            url: url.to_owned(),
        })
    }

    /// The key this lock writes.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reads the key.
    pub async fn read(&self) -> Result<LockView, BusError> {
        let entry = self.store.entry(&self.key).await.map_err(|e| {
            BusError::Unavailable(format!(
                "reading leader lock {BUCKET}/{} on {}: {e}",
                self.key, self.url
            ))
        })?;
        Ok(match entry {
            Some(e) if e.operation == kv::Operation::Put => LockView::Held {
                holder: String::from_utf8_lossy(&e.value).into_owned(),
                revision: e.revision,
            },
            _ => LockView::Absent,
        })
    }

    /// Writes `holder` if the key is absent (or deleted); returns the new revision.
    pub async fn create(&self, holder: &str) -> Result<u64, LockWriteError> {
        match self
            .store
            .create(&self.key, Bytes::from(holder.to_owned()))
            .await
        {
            Ok(revision) => Ok(revision),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                Err(LockWriteError::Conflict {
                    key: self.key.clone(),
                })
            }
            Err(e) => Err(BusError::Unavailable(format!(
                "creating leader lock {BUCKET}/{} on {}: {e}",
                self.key, self.url
            ))
            .into()),
        }
    }

    /// Writes `holder` if the key is still at `revision`; returns the new revision.
    pub async fn update(&self, holder: &str, revision: u64) -> Result<u64, LockWriteError> {
        match self
            .store
            .update(&self.key, Bytes::from(holder.to_owned()), revision)
            .await
        {
            Ok(revision) => Ok(revision),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Err(LockWriteError::Conflict {
                    key: self.key.clone(),
                })
            }
            Err(e) => Err(BusError::Unavailable(format!(
                "renewing leader lock {BUCKET}/{} on {}: {e}",
                self.key, self.url
            ))
            .into()),
        }
    }

    /// Deletes the key if it is still at `revision` (a graceful hand-over).
    pub async fn release(&self, revision: u64) -> Result<(), LockWriteError> {
        match self
            .store
            .delete_expect_revision(&self.key, Some(revision))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let wrong_revision = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<js::context::PublishError>())
                    .is_some_and(|p| p.kind() == js::context::PublishErrorKind::WrongLastSequence);
                if wrong_revision {
                    Err(LockWriteError::Conflict {
                        key: self.key.clone(),
                    })
                } else {
                    Err(BusError::Unavailable(format!(
                        "releasing leader lock {BUCKET}/{} on {}: {e}",
                        self.key, self.url
                    ))
                    .into())
                }
            }
        }
    }
}

/// Creates [`BUCKET`] with `replicas` copies, or with 1 when the server refuses more.
async fn create_bucket(js: &js::Context, replicas: usize) -> Result<kv::Store, String> {
    let config = |num_replicas: usize| kv::Config {
        bucket: BUCKET.to_owned(),
        description: "argo-events leader locks (one key per Sensor / EventSource)".to_owned(),
        history: 1,
        max_age: CLEANUP_MAX_AGE,
        num_replicas,
        ..Default::default()
    };
    let replicas = replicas.max(1);
    match js.create_key_value(config(replicas)).await {
        Ok(store) => Ok(store),
        Err(e) if replicas > 1 => {
            tracing::info!(bucket = BUCKET, replicas, error = %e, "creating the leader lock bucket with several replicas failed; creating it with 1");
            js.create_key_value(config(1))
                .await
                .map_err(|e1| format!("with {replicas} replicas: {e}; with 1 replica: {e1}"))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What is wrong with an existing bucket's `max_age`, if anything: 0 (no expiry) or at least
/// `lease_duration` is fine. A shorter one can remove a live leader's key on the server, so a
/// standby may create it anew; the election still decides by the standby's clock and the
/// leader's renew deadline, but this is worth a warning (never an exit: a crash loop helps
/// nobody).
pub fn max_age_warning(max_age: Duration, lease_duration: Duration) -> Option<String> {
    if max_age.is_zero() || max_age >= lease_duration {
        None
    } else {
        Some(format!(
            "KV bucket {BUCKET} has max_age {max_age:?}, shorter than the leader lease duration {lease_duration:?}: the server may remove a live leader's lock; delete the bucket so it is recreated with max_age {CLEANUP_MAX_AGE:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::NatsServer;

    #[test]
    fn keys_are_upstreams_cluster_names() {
        assert_eq!(
            lock_key("argo-events", LockKind::Sensor, "webhook"),
            "argo-events-sensor-webhook"
        );
        assert_eq!(
            lock_key("ns", LockKind::EventSource, "cal"),
            "ns-eventsource-cal"
        );
    }

    #[test]
    fn a_short_max_age_is_only_a_warning() {
        let s = Duration::from_secs;
        let cases = [
            (Duration::ZERO, s(5), false),
            (s(5), s(5), false),
            (CLEANUP_MAX_AGE, s(15), false),
            (s(1), s(5), true),
            (s(4), s(5), true),
        ];
        for (max_age, lease, warns) in cases {
            let got = max_age_warning(max_age, lease);
            assert_eq!(got.is_some(), warns, "{max_age:?} vs {lease:?}: {got:?}");
            if let Some(w) = got {
                assert!(
                    w.contains("leader-election") && w.contains("max_age"),
                    "{w}"
                );
            }
        }
    }

    #[tokio::test]
    async fn create_update_conflict_release_and_no_server_expiry_on_a_real_server() {
        let server = NatsServer::start().unwrap();
        let options = JetStreamOptions::new(&server.url);
        let lease = Duration::from_secs(1);
        let a = LeaderLock::open(&options, "ns-sensor-s", lease)
            .await
            .unwrap();
        let b = LeaderLock::open(&options, "ns-sensor-s", lease)
            .await
            .unwrap();
        assert_eq!(a.store.stream.cached_info().config.max_age, CLEANUP_MAX_AGE);
        assert_eq!(a.read().await.unwrap(), LockView::Absent);
        let r1 = a.create("pod-a").await.unwrap();
        assert!(matches!(
            b.create("pod-b").await,
            Err(LockWriteError::Conflict { .. })
        ));
        assert_eq!(
            b.read().await.unwrap(),
            LockView::Held {
                holder: "pod-a".into(),
                revision: r1
            }
        );
        let r2 = a.update("pod-a", r1).await.unwrap();
        assert!(r2 > r1);
        // A stale revision loses.
        assert!(matches!(
            b.update("pod-b", r1).await,
            Err(LockWriteError::Conflict { .. })
        ));
        assert!(matches!(
            a.release(r1).await,
            Err(LockWriteError::Conflict { .. })
        ));
        a.release(r2).await.unwrap();
        assert_eq!(b.read().await.unwrap(), LockView::Absent);
        // Created again after a release; the server does not expire it after several lease
        // durations (only a standby's own clock decides it is stale).
        let r3 = b.create("pod-b").await.unwrap();
        assert!(r3 > r2);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            a.read().await.unwrap(),
            LockView::Held {
                holder: "pod-b".into(),
                revision: r3
            }
        );
    }

    #[tokio::test]
    async fn an_existing_bucket_with_a_short_max_age_still_works() {
        let server = NatsServer::start().unwrap();
        let options = JetStreamOptions::new(&server.url);
        let client = async_nats::connect(&server.url).await.unwrap();
        let js = js::new(client);
        js.create_key_value(kv::Config {
            bucket: BUCKET.to_owned(),
            history: 1,
            max_age: Duration::from_secs(1),
            ..Default::default()
        })
        .await
        .unwrap();
        let lock = LeaderLock::open(&options, "k", Duration::from_secs(5))
            .await
            .unwrap();
        let r = lock.create("pod-a").await.unwrap();
        assert!(lock.update("pod-a", r).await.unwrap() > r);
    }

    #[tokio::test]
    async fn more_replicas_than_the_server_has_fall_back_to_one() {
        let server = NatsServer::start().unwrap();
        let mut options = JetStreamOptions::new(&server.url);
        options.stream.replicas = 3;
        let lock = LeaderLock::open(&options, "k", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(lock.store.stream.cached_info().config.num_replicas, 1);
        lock.create("pod-a").await.unwrap();
    }
}
