//! Time for adapters that act on schedules, replaceable in tests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A clock.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Returns once `now()` has reached `at`.
    async fn sleep_until(&self, at: DateTime<Utc>);
}

/// The system clock.
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
}
