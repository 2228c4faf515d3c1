//! [`EventBus::stored_messages`](crate::EventBus::stored_messages) in process: the kept history and
//! the events still to settle, read under the lock without touching any consumer.

use super::{MemoryBus, Stored};
use crate::{StartAt, StoredMessage, StoredPage, StoredRange, naming};

impl MemoryBus {
    pub(super) fn read_stored(
        &self,
        event_source: &str,
        event_name: &str,
        range: StoredRange,
    ) -> StoredPage {
        let state = self.inner.lock();
        let wanted = |stored: &&Stored| {
            stored.event.source == event_source
                && stored.event.subject == event_name
                && match range.from {
                    StartAt::First => true,
                    StartAt::Sequence(seq) => stored.seq >= seq,
                    StartAt::Time(time) => stored.stored_at >= time,
                }
        };
        let mut messages = Vec::new();
        let mut bytes = 0usize;
        let mut truncated = false;
        for stored in state.history.iter().chain(&state.messages).filter(wanted) {
            let size = stored.event.data.len();
            if messages.len() >= range.limit
                || (!messages.is_empty() && bytes.saturating_add(size) > range.max_bytes)
            {
                truncated = true;
                break;
            }
            bytes = bytes.saturating_add(size);
            messages.push(StoredMessage {
                sequence: stored.seq,
                stored_at: stored.stored_at,
                event: Ok(stored.event.clone()),
            });
        }
        StoredPage {
            subject: naming::subject(naming::STREAM_NAME, event_source, event_name),
            messages,
            truncated,
        }
    }
}
