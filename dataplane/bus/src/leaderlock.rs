//! A leader lock on the EventBus itself: one JetStream key-value bucket per bus,
//! [`BUCKET`], holding one key per elected object ([`lock_key`]: `<ns>-sensor-<name>` /
//! `<ns>-eventsource-<name>`, upstream's graft cluster names). The value is the holder's
//! identity; the key's revision is the fencing token.
//!
//! - acquire: create-if-absent ([`LeaderLock::create`], KV `create`), or compare-and-set on a
//!   revision the caller saw go stale ([`LeaderLock::update`]);
//! - renew: compare-and-set on the holder's own last revision ([`LeaderLock::update`]); a
//!   [`LockWriteError::Conflict`] means somebody else wrote the key: the lock is lost;
//! - expiry: the bucket's `max_age` (the lock TTL) removes a key nobody renews, so a dead
//!   holder's lock disappears on the server too; callers also judge staleness themselves from
//!   an unchanged revision (see the runtime's election module), which does not depend on clocks.
//!
//! Per-key TTLs (`Nats-TTL`, server 2.11+) are not used: async-nats 0.51 offers them on
//! `create` only, not on `update`, and buses on servers 2.10 would refuse the bucket. `max_age`
//! works on every JetStream server.
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
    /// Connects to the bus of `options` and opens [`BUCKET`] (creating it with `max_age = ttl`,
    /// history 1, if missing). An existing bucket keeps its `max_age`; it must be 0 (no expiry)
    /// or longer than `min_ttl` (the holder's renew deadline), otherwise a live holder's key
    /// could expire between renewals and the call fails naming both values.
    pub async fn open(
        options: &JetStreamOptions,
        key: &str,
        ttl: Duration,
        min_ttl: Duration,
    ) -> Result<LeaderLock, BusError> {
        let client =
            crate::jetstream::connect_client(options, "argo-events-leader-election").await?;
        let js = js::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client);
        LeaderLock::open_with(&js, &options.url, key, ttl, min_ttl).await
    }

    /// Like [`LeaderLock::open`] on an existing JetStream context.
    pub async fn open_with(
        js: &js::Context,
        url: &str,
        key: &str,
        ttl: Duration,
        min_ttl: Duration,
    ) -> Result<LeaderLock, BusError> {
        let store = match js.get_key_value(BUCKET).await {
            Ok(store) => store,
            Err(e) if e.kind() == KeyValueErrorKind::GetBucket => {
                let config = kv::Config {
                    bucket: BUCKET.to_owned(),
                    description: "argo-events leader locks (one key per Sensor / EventSource)"
                        .to_owned(),
                    history: 1,
                    max_age: ttl,
                    ..Default::default()
                };
                match js.create_key_value(config).await {
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
        check_max_age(store.stream.cached_info().config.max_age, min_ttl)?;
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

/// Whether an existing bucket's `max_age` keeps a renewed key alive: 0 (never expires) or
/// longer than `min_ttl`.
pub fn check_max_age(max_age: Duration, min_ttl: Duration) -> Result<(), BusError> {
    if max_age.is_zero() || max_age > min_ttl {
        Ok(())
    } else {
        Err(BusError::Config(format!(
            "KV bucket {BUCKET} has max_age {max_age:?}, not longer than the leader renew deadline {min_ttl:?}: a live leader's lock could expire; delete the bucket (it is recreated) or shorten LEADER_ELECTION_RENEW_DEADLINE"
        )))
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
    fn max_age_must_outlive_the_renew_deadline() {
        let s = Duration::from_secs;
        assert!(check_max_age(Duration::ZERO, s(2)).is_ok());
        assert!(check_max_age(s(5), s(2)).is_ok());
        for short in [s(1), s(2)] {
            let err = check_max_age(short, s(2)).unwrap_err().to_string();
            assert!(
                err.contains("leader-election") && err.contains("max_age"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn create_update_conflict_release_and_expiry_on_a_real_server() {
        let server = NatsServer::start().unwrap();
        let options = JetStreamOptions::new(&server.url);
        let ttl = Duration::from_secs(2);
        let a = LeaderLock::open(&options, "ns-sensor-s", ttl, Duration::from_secs(1))
            .await
            .unwrap();
        let b = LeaderLock::open(&options, "ns-sensor-s", ttl, Duration::from_secs(1))
            .await
            .unwrap();
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
        // Created again after a release, then left to expire by max_age.
        let r3 = b.create("pod-b").await.unwrap();
        assert!(r3 > r2);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if a.read().await.unwrap() == LockView::Absent {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the lock did not expire"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        a.create("pod-a").await.unwrap();
    }

    #[tokio::test]
    async fn a_bucket_with_too_short_max_age_is_refused() {
        let server = NatsServer::start().unwrap();
        let options = JetStreamOptions::new(&server.url);
        LeaderLock::open(&options, "k", Duration::from_secs(1), Duration::ZERO)
            .await
            .unwrap();
        let err = LeaderLock::open(
            &options,
            "k",
            Duration::from_secs(5),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BusError::Config(_)), "{err}");
    }
}
