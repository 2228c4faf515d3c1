//! A Sensor's KV bucket.

use std::time::Duration;

use async_nats::jetstream::kv;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;

use crate::{BusError, KeyValue};

/// A Sensor's KV bucket on JetStream.
pub(super) struct JetStreamKv {
    pub(super) store: kv::Store,
    pub(super) bucket: String,
    pub(super) request_timeout: Duration,
}

impl JetStreamKv {
    fn failed(&self, what: &str, key: &str, e: &dyn std::fmt::Display) -> BusError {
        BusError::Unavailable(format!("KV bucket {} {what} {key:?}: {e}", self.bucket))
    }

    async fn bounded<T, E: std::fmt::Display>(
        &self,
        what: &str,
        key: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, BusError> {
        match tokio::time::timeout(self.request_timeout * 2, f).await {
            Err(_) => Err(self.failed(what, key, &"timed out")),
            Ok(result) => result.map_err(|e| self.failed(what, key, &e)),
        }
    }
}

#[async_trait]
impl KeyValue for JetStreamKv {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, BusError> {
        self.bounded("get", key, self.store.get(key)).await
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), BusError> {
        self.bounded("put", key, self.store.put(key, value))
            .await
            .map(|_revision| ())
    }

    async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.bounded("delete", key, self.store.delete(key)).await
    }

    async fn keys(&self) -> Result<Vec<String>, BusError> {
        let collect = async {
            let mut keys = Vec::new();
            let mut stream = self.store.keys().await.map_err(|e| e.to_string())?;
            while let Some(key) = stream.next().await {
                keys.push(key.map_err(|e| e.to_string())?);
            }
            keys.sort();
            keys.dedup();
            Ok::<_, String>(keys)
        };
        self.bounded("list", "*", collect).await
    }
}
