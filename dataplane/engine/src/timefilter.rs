//! The `time` filter: the event's own time (CloudEvent `time`) must fall in a daily window
//! `[start, stop)` read in the filter's timezone (UTC by default); when `stop` is not after
//! `start` the window wraps past midnight.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A validated time window.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeWindow {
    start: NaiveTime,
    stop: NaiveTime,
    tz: Tz,
    start_text: String,
    stop_text: String,
}

pub use argo_events_api::duration::parse_clock;

/// Reads an IANA timezone name; empty means UTC.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    if name.is_empty() {
        return Ok(Tz::UTC);
    }
    name.parse::<Tz>()
        .map_err(|_| format!("unknown timezone {name:?}"))
}

impl TimeWindow {
    /// Validates a window as upstream's validation does (start ≠ stop).
    pub fn new(start: &str, stop: &str, timezone: &str) -> Result<TimeWindow, String> {
        let window = TimeWindow {
            start: parse_clock(start).map_err(|e| format!("start: {e}"))?,
            stop: parse_clock(stop).map_err(|e| format!("stop: {e}"))?,
            tz: parse_timezone(timezone)?,
            start_text: start.to_owned(),
            stop_text: stop.to_owned(),
        };
        if window.start == window.stop {
            return Err(format!(
                "start and stop are both {start}; the window is empty"
            ));
        }
        Ok(window)
    }

    /// Whether `at` falls in the window; the reason says why not.
    pub fn check(&self, at: DateTime<Utc>) -> Result<(), String> {
        let local = self.tz.from_utc_datetime(&at.naive_utc());
        let t = local.time();
        let inside = if self.start < self.stop {
            self.start <= t && t < self.stop
        } else {
            t >= self.start || t < self.stop
        };
        if inside {
            Ok(())
        } else {
            Err(format!(
                "event time {} ({}) is outside {}–{}",
                t.format("%H:%M:%S"),
                self.tz,
                self.start_text,
                self.stop_text
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn clock_parsing_follows_go() {
        assert_eq!(
            parse_clock("2:30:00").unwrap(),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap()
        );
        assert_eq!(
            parse_clock("02:30:00.5").unwrap(),
            NaiveTime::from_hms_milli_opt(2, 30, 0, 500).unwrap()
        );
        for bad in [
            "2:3:00",
            "123:00:00",
            "02:30",
            "24:00:00",
            "02:60:00",
            "aa:bb:cc",
            "02:30:00.",
        ] {
            assert!(parse_clock(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn window_is_start_inclusive_stop_exclusive() {
        let w = TimeWindow::new("02:30:00", "04:30:00", "").unwrap();
        assert!(w.check(at("2026-01-01T02:30:00Z")).is_ok());
        assert!(w.check(at("2026-01-01T04:29:59Z")).is_ok());
        assert_eq!(
            w.check(at("2026-01-01T04:30:00Z")).unwrap_err(),
            "event time 04:30:00 (UTC) is outside 02:30:00–04:30:00"
        );
        assert!(w.check(at("2026-01-01T01:00:00Z")).is_err());
    }

    #[test]
    fn window_wraps_past_midnight() {
        let w = TimeWindow::new("22:00:00", "02:00:00", "UTC").unwrap();
        assert!(w.check(at("2026-01-01T23:00:00Z")).is_ok());
        assert!(w.check(at("2026-01-01T01:59:59Z")).is_ok());
        assert!(w.check(at("2026-01-01T02:00:00Z")).is_err());
        assert!(w.check(at("2026-01-01T12:00:00Z")).is_err());
    }

    #[test]
    fn timezone_moves_the_window() {
        let w = TimeWindow::new("09:00:00", "17:00:00", "America/New_York").unwrap();
        // 14:00 UTC in January is 09:00 in New York.
        assert!(w.check(at("2026-01-15T14:00:00Z")).is_ok());
        assert!(w.check(at("2026-01-15T13:59:59Z")).is_err());
        assert!(TimeWindow::new("09:00:00", "17:00:00", "Mars/Olympus").is_err());
        assert!(TimeWindow::new("09:00:00", "09:00:00", "").is_err());
    }
}
