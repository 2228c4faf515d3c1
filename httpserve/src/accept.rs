//! What the accept loop does when `accept` fails: back off when the process is out of file
//! descriptors (or the kernel out of memory for sockets), instead of spinning on an error that
//! repeats until a connection closes, and say so in the log at a bounded rate.

use std::io;
use std::time::{Duration, Instant};

/// First pause after a resource error.
const BACKOFF_START: Duration = Duration::from_millis(10);
/// Longest pause.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What to do after an accept error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptError {
    /// Out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): pause.
    Resources,
    /// A connection that failed before it was accepted (reset, aborted): go on at once.
    Connection,
}

/// Sorts an accept error.
pub(crate) fn classify(error: &io::Error) -> AcceptError {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 on Linux.
    match error.raw_os_error() {
        Some(23 | 24 | 105 | 12) => AcceptError::Resources,
        _ => match error.kind() {
            io::ErrorKind::OutOfMemory => AcceptError::Resources,
            _ => AcceptError::Connection,
        },
    }
}

/// Doubling pauses between [`BACKOFF_START`] and [`BACKOFF_MAX`], reset by a success.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The pause before the next accept after a resource error.
    pub(crate) fn failed(&mut self) -> Duration {
        let pause = self.next.unwrap_or(BACKOFF_START);
        self.next = Some((pause * 2).min(BACKOFF_MAX));
        pause
    }

    /// An accept succeeded.
    pub(crate) fn succeeded(&mut self) {
        self.next = None;
    }
}

/// At most one log line per `every`; counts what it held back.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl RateLimit {
    pub(crate) fn new(every: Duration) -> Self {
        RateLimit {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(n)`: log now, `n` occurrences were held back since the last line; `None`: not yet.
    pub(crate) fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_back_off_doubling_up_to_a_second_and_reset() {
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(classify(&emfile), AcceptError::Resources);
        assert_eq!(
            classify(&io::Error::from_raw_os_error(23)),
            AcceptError::Resources
        );
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::ConnectionAborted)),
            AcceptError::Connection
        );
        let mut b = Backoff::default();
        let pauses: Vec<u128> = (0..9).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(10));
    }

    #[test]
    fn rate_limit_logs_once_per_period_and_counts_the_rest() {
        let start = Instant::now();
        let mut r = RateLimit::new(Duration::from_secs(10));
        assert_eq!(r.check(start), Some(0));
        assert_eq!(r.check(start + Duration::from_secs(1)), None);
        assert_eq!(r.check(start + Duration::from_secs(9)), None);
        assert_eq!(r.check(start + Duration::from_secs(10)), Some(2));
        assert_eq!(r.check(start + Duration::from_secs(11)), None);
    }
}
