//! Calendar timers (`spec.calendar.<name>`): a five-field cron `schedule` evaluated in
//! `timezone`, or a fixed `interval`; fires on `exclusionDates` are skipped.
//!
//! Each fire publishes `{"eventTime": "<scheduled time, Go time.String() form>", "metadata"}`.
//! After the bus stored it, the scheduled time is written to the EventSource state
//! (`<eventName>/lastFire`, RFC 3339), and on start the next fire is computed from it, so a
//! restart neither fires a tick twice nor skips one. Ticks missed while the source was down are
//! published at once when `persistence.catchup.enabled` (no older than `catchup.maxDuration`),
//! otherwise skipped. A failed publish is retried with backoff; when it still fails the tick is
//! reported to the observer as failed and the calendar moves on.
//!
//! Differences from upstream: the last fire is kept in the EventSource state store instead of
//! the `persistence.configMap` ConfigMap, and always (upstream only with a ConfigMap); ticks of
//! an `interval` are exactly `interval` apart (upstream drops the sub-second part of the
//! previous tick); an `exclusionDates` entry without the `EXDATE:` prefix is an error (upstream
//! ignores it); `eventTime` is the scheduled time, not the instant the timer woke up.

use std::collections::BTreeMap;
use std::time::Duration;

use argo_events_api::CalendarEventSource;
use argo_events_api::cron::CronSchedule;
use argo_events_api::duration::parse_go_duration;
use bytes::Bytes;
use chrono::{
    DateTime, NaiveDate, NaiveDateTime, Offset as _, SecondsFormat, TimeZone, Timelike, Utc,
};
use chrono_tz::{OffsetName as _, Tz};

use crate::publish::{Retry, new_event, publish_retrying};
use crate::webhook::refuse_filter;
use crate::{SourceContext, SourceError};

/// The CloudEvent `type` (and spec key) of calendar events.
pub const EVENT_TYPE: &str = "calendar";

/// Upper bound on candidate ticks examined to find one not excluded.
const MAX_CANDIDATES: usize = 1_000_000;

/// The state key holding an event's last fire.
pub fn last_fire_key(event_name: &str) -> String {
    format!("{event_name}/lastFire")
}

enum Cadence {
    /// A cron schedule evaluated in its zone (`CRON_TZ=` prefix, else `timezone`).
    Cron(Box<CronSchedule>, Tz),
    /// A fixed delay.
    Every(Duration),
}

/// When a calendar fires.
pub struct Schedule {
    cadence: Cadence,
    /// Zone of `eventTime` and of exclusion date comparisons.
    zone: Tz,
    exclusions: Vec<NaiveDate>,
}

impl Schedule {
    /// Reads `schedule` (which wins) or `interval`, `timezone` and `exclusionDates`.
    pub fn parse(spec: &CalendarEventSource) -> Result<Schedule, String> {
        let zone = if spec.timezone.is_empty() {
            Tz::UTC
        } else {
            spec.timezone
                .parse::<Tz>()
                .map_err(|e| format!("timezone {:?}: {e}", spec.timezone))?
        };
        let cadence = if !spec.schedule.is_empty() {
            let cron = CronSchedule::parse(&spec.schedule)
                .map_err(|e| format!("schedule {:?}: {e}", spec.schedule))?;
            Cadence::Cron(Box::new(cron), zone)
        } else if !spec.interval.is_empty() {
            let every = parse_go_duration(&spec.interval).map_err(|e| format!("interval: {e}"))?;
            if every.is_zero() {
                return Err(format!(
                    "interval {:?} must be longer than zero",
                    spec.interval
                ));
            }
            Cadence::Every(every)
        } else {
            return Err("either schedule or interval is required".to_owned());
        };
        Ok(Schedule {
            cadence,
            zone,
            exclusions: parse_exclusion_dates(&spec.exclusion_dates)?,
        })
    }

    /// The first fire strictly after `t`, skipping excluded dates.
    pub fn next_after(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        let mut current = t;
        for _ in 0..MAX_CANDIDATES {
            let candidate = self.raw_next(current)?;
            if !self.is_excluded(candidate) {
                return Ok(candidate);
            }
            current = candidate;
        }
        Err(format!(
            "no fire after {t} outside the exclusion dates within {MAX_CANDIDATES} ticks"
        ))
    }

    fn raw_next(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        match &self.cadence {
            Cadence::Every(every) => chrono::Duration::from_std(*every)
                .ok()
                .and_then(|d| t.checked_add_signed(d))
                .ok_or_else(|| format!("interval {every:?} overflows the calendar")),
            Cadence::Cron(cron, zone) => cron
                .next_after(t, *zone)
                .ok_or_else(|| format!("schedule has no fire within five years after {t}")),
        }
    }

    /// Whether a fire at `t` falls on an excluded calendar date (the fire's date in
    /// `timezone`, the exclusion's date in UTC, as upstream compares them).
    pub fn is_excluded(&self, t: DateTime<Utc>) -> bool {
        let date = t.with_timezone(&self.zone).date_naive();
        self.exclusions.contains(&date)
    }

    /// The first tick strictly after `now` on the grid that runs through `last`.
    fn skip_missed(
        &self,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, String> {
        if let Cadence::Every(every) = &self.cadence {
            let step = every.as_nanos() as i128;
            let behind = (now - last).num_nanoseconds().map(i128::from);
            if let Some(behind) = behind.filter(|_| step > 0) {
                let whole = behind / step * step;
                if let Ok(whole) = i64::try_from(whole) {
                    return self.next_after(last + chrono::Duration::nanoseconds(whole));
                }
            }
        }
        self.next_after(now)
    }

    /// `eventTime` for a fire: Go's `time.String()` of the time in `timezone`.
    pub fn event_time(&self, t: DateTime<Utc>) -> String {
        go_time_string(&t.with_timezone(&self.zone))
    }
}

/// `EXDATE:YYYYMMDDTHHMMSSZ[,…]` entries → their UTC dates.
fn parse_exclusion_dates(entries: &[String]) -> Result<Vec<NaiveDate>, String> {
    let mut dates = Vec::new();
    for entry in entries {
        let list = entry.strip_prefix("EXDATE:").ok_or_else(|| {
            format!("exclusionDates entry {entry:?} must start with EXDATE: (EXDATE:YYYYMMDDTHHMMSSZ[,…])")
        })?;
        for item in list.split(',') {
            let at = NaiveDateTime::parse_from_str(item, "%Y%m%dT%H%M%SZ").map_err(|e| {
                format!("exclusionDates entry {entry:?}: {item:?} is not YYYYMMDDTHHMMSSZ: {e}")
            })?;
            dates.push(at.date());
        }
    }
    Ok(dates)
}

/// Go's `time.Time.String()` without the monotonic clock reading:
/// `2006-01-02 15:04:05.999999999 -0700 MST`.
pub fn go_time_string<Z>(t: &DateTime<Z>) -> String
where
    Z: TimeZone,
    Z::Offset: chrono_tz::OffsetName + std::fmt::Display,
{
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let seconds = t.offset().fix().local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let (hours, minutes) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    out.push_str(&format!(" {sign}{hours:02}{minutes:02} "));
    match t.offset().abbreviation() {
        Some(name) if !name.is_empty() => out.push_str(name),
        _ if minutes == 0 => out.push_str(&format!("{sign}{hours:02}")),
        _ => out.push_str(&format!("{sign}{hours:02}{minutes:02}")),
    }
    out
}

/// Replay of missed ticks on start.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Catchup {
    Off,
    On { max: Option<Duration> },
}

/// One calendar event, checked and ready to run.
pub(crate) struct Calendar {
    event_source: String,
    event_name: String,
    schedule: Schedule,
    metadata: BTreeMap<String, String>,
    catchup: Catchup,
}

/// Checks one calendar event: its schedule must parse and fire at least once after `now`.
pub(crate) fn prepare(
    event_source: &str,
    event_name: &str,
    spec: &CalendarEventSource,
    now: DateTime<Utc>,
) -> Result<Calendar, SourceError> {
    let invalid = |reason: String| SourceError::Invalid {
        event_source: event_source.to_owned(),
        kind: EVENT_TYPE,
        event: event_name.to_owned(),
        reason,
    };
    refuse_filter(event_source, EVENT_TYPE, event_name, spec.filter.as_ref())?;
    let schedule = Schedule::parse(spec).map_err(invalid)?;
    schedule.next_after(now).map_err(invalid)?;
    let persistence = spec.persistence.as_ref();
    let catchup = match persistence.and_then(|p| p.catchup.as_ref()) {
        Some(c) if c.enabled => Catchup::On {
            max: if c.max_duration.is_empty() {
                None
            } else {
                Some(
                    parse_go_duration(&c.max_duration)
                        .map_err(|e| invalid(format!("persistence.catchup.maxDuration: {e}")))?,
                )
            },
        },
        _ => Catchup::Off,
    };
    if let Some(cm) = persistence.and_then(|p| p.config_map.as_ref()) {
        tracing::info!(
            event_source,
            event = event_name,
            config_map = %cm.name,
            "the last fire is kept in the EventSource state store, not in the ConfigMap"
        );
    }
    Ok(Calendar {
        event_source: event_source.to_owned(),
        event_name: event_name.to_owned(),
        schedule,
        metadata: spec.metadata.clone(),
        catchup,
    })
}

impl Calendar {
    /// The first tick to fire, given the persisted last fire and the current time.
    fn first_fire(
        &self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, String> {
        let Some(last) = last else {
            return self.schedule.next_after(now);
        };
        if last > now {
            tracing::warn!(
                event_source = %self.event_source,
                event = %self.event_name,
                %last,
                %now,
                "the persisted last fire is in the future; scheduling from now"
            );
            return self.schedule.next_after(now);
        }
        let next = self.schedule.next_after(last)?;
        if next >= now {
            // Not missed: due now or later.
            return Ok(next);
        }
        match self.catchup {
            Catchup::On { max: Some(max) } => {
                let oldest = chrono::Duration::from_std(max)
                    .ok()
                    .and_then(|m| now.checked_sub_signed(m))
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                if oldest > last {
                    self.schedule.next_after(oldest)
                } else {
                    Ok(next)
                }
            }
            Catchup::On { max: None } => Ok(next),
            Catchup::Off => {
                tracing::info!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    %last,
                    "ticks were missed while stopped; catchup is off, skipping them"
                );
                self.schedule.skip_missed(last, now)
            }
        }
    }

    fn start_error(&self, what: &str, reason: String) -> SourceError {
        SourceError::Start {
            event_source: self.event_source.clone(),
            what: format!("calendar event {}: {what}", self.event_name),
            reason,
        }
    }

    /// Reads the persisted last fire, retrying a few times; an unreadable value is ignored.
    async fn read_last(&self, ctx: &SourceContext) -> Result<Option<DateTime<Utc>>, SourceError> {
        let key = last_fire_key(&self.event_name);
        let retry = Retry::PUBLISH;
        let mut attempt = 1;
        let value = loop {
            match ctx.state.get(&key).await {
                Ok(value) => break value,
                Err(e) if attempt < retry.attempts => {
                    tracing::warn!(
                        event_source = %self.event_source,
                        event = %self.event_name,
                        error = %e,
                        "reading the last fire failed; retrying"
                    );
                    tokio::time::sleep(retry.wait_after(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.start_error("reading the last fire", e.to_string())),
            }
        };
        let Some(value) = value else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&value);
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) => Ok(Some(t.with_timezone(&Utc))),
            Err(e) => {
                tracing::warn!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    value = %text,
                    error = %e,
                    "the persisted last fire is not RFC 3339; ignoring it"
                );
                Ok(None)
            }
        }
    }

    /// Fires on schedule until `ctx.shutdown` is cancelled.
    pub(crate) async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        let last = tokio::select! {
            last = self.read_last(&ctx) => last?,
            () = ctx.shutdown.cancelled() => return Ok(()),
        };
        let mut next = self
            .first_fire(last, ctx.clock.now())
            .map_err(|e| self.start_error("scheduling", e))?;
        loop {
            tracing::info!(
                event_source = %self.event_source,
                event = %self.event_name,
                next = %next.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "next calendar fire"
            );
            if next > ctx.clock.now() {
                tokio::select! {
                    () = ctx.clock.sleep_until(next) => {}
                    () = ctx.shutdown.cancelled() => return Ok(()),
                }
            }
            tokio::select! {
                () = self.fire(&ctx, next) => {}
                () = ctx.shutdown.cancelled() => return Ok(()),
            }
            next = self
                .schedule
                .next_after(next)
                .map_err(|e| self.start_error("scheduling", e))?;
        }
    }

    /// Publishes the tick scheduled at `at` and remembers it.
    async fn fire(&self, ctx: &SourceContext, at: DateTime<Utc>) {
        let event_time = serde_json::to_vec(&self.schedule.event_time(at))
            .expect("invariant: a string always serializes");
        let metadata = serde_json::to_vec(&self.metadata)
            .expect("invariant: a map of strings always serializes");
        let mut members: Vec<(&str, &[u8])> = vec![("eventTime", &event_time)];
        if !self.metadata.is_empty() {
            members.push(("metadata", &metadata));
        }
        let data = crate::webhook::json_object(&members);
        let event = new_event(ctx, &self.event_source, EVENT_TYPE, &self.event_name, data);
        let clock = ctx.clock.clone();
        let sleep = move |wait: Duration| {
            let clock = clock.clone();
            async move {
                let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                let at = clock
                    .now()
                    .checked_add_signed(wait)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                clock.sleep_until(at).await;
            }
        };
        if publish_retrying(ctx, &event, Retry::PUBLISH, sleep)
            .await
            .is_err()
        {
            return;
        }
        tracing::info!(
            event_source = %self.event_source,
            event = %self.event_name,
            id = %event.id,
            scheduled = %at,
            "calendar event published"
        );
        let value = Bytes::from(at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        if let Err(e) = ctx.state.put(&last_fire_key(&self.event_name), value).await {
            tracing::error!(
                event_source = %self.event_source,
                event = %self.event_name,
                error = %e,
                "the last fire could not be saved; a restart may fire this tick again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(schedule: &str, interval: &str, tz: &str, exdates: &[&str]) -> CalendarEventSource {
        CalendarEventSource {
            schedule: schedule.into(),
            interval: interval.into(),
            timezone: tz.into(),
            exclusion_dates: exdates.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn next_fires() {
        let cases = [
            // (schedule, interval, tz, exdates, after, want)
            (
                "*/15 * * * *",
                "",
                "",
                vec![],
                "2024-01-02T10:07:00Z",
                "2024-01-02T10:15:00Z",
            ),
            (
                "0 9 * * *",
                "",
                "America/New_York",
                vec![],
                "2024-01-02T13:00:00Z",
                "2024-01-02T14:00:00Z",
            ),
            (
                "0 9 * * *",
                "",
                "America/New_York",
                vec![],
                "2024-07-02T13:00:00Z",
                "2024-07-03T13:00:00Z",
            ),
            (
                "CRON_TZ=Asia/Tokyo 0 9 * * *",
                "",
                "",
                vec![],
                "2024-01-02T00:30:00Z",
                "2024-01-03T00:00:00Z",
            ),
            (
                "0 0 * * *",
                "",
                "",
                vec!["EXDATE:20240103T000000Z"],
                "2024-01-02T12:00:00Z",
                "2024-01-04T00:00:00Z",
            ),
            (
                "0 0 * * *",
                "",
                "",
                vec!["EXDATE:20240103T000000Z,20240104T120000Z"],
                "2024-01-02T12:00:00Z",
                "2024-01-05T00:00:00Z",
            ),
            (
                "",
                "90s",
                "",
                vec![],
                "2024-01-02T10:00:00.5Z",
                "2024-01-02T10:01:30.5Z",
            ),
            (
                "",
                "1h",
                "",
                vec!["EXDATE:20240103T000000Z"],
                "2024-01-02T23:30:00Z",
                "2024-01-04T00:30:00Z",
            ),
        ];
        for (schedule, interval, tz, exdates, after, want) in cases {
            let s = Schedule::parse(&spec(schedule, interval, tz, &exdates)).unwrap();
            assert_eq!(
                s.next_after(utc(after)).unwrap(),
                utc(want),
                "{schedule}{interval} after {after}"
            );
        }
    }

    #[test]
    fn refuses_bad_specs() {
        for (s, reason) in [
            (spec("", "", "", &[]), "either schedule or interval"),
            (spec("* * * * * *", "", "", &[]), "schedule"),
            (spec("61 * * * *", "", "", &[]), "schedule"),
            (spec("", "5 minutes", "", &[]), "interval"),
            (spec("", "0s", "", &[]), "longer than zero"),
            (spec("* * * * *", "", "Mars/Olympus", &[]), "timezone"),
            (
                spec("* * * * *", "", "", &["20240101T000000Z"]),
                "must start with EXDATE:",
            ),
            (
                spec("* * * * *", "", "", &["EXDATE:2024-01-01"]),
                "YYYYMMDDTHHMMSSZ",
            ),
        ] {
            let err = Schedule::parse(&s).err().unwrap_or_default();
            assert!(err.contains(reason), "{s:?}: {err}");
        }
    }

    #[test]
    fn go_time_strings() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let cases = [
            (
                go_time_string(&utc("2024-01-02T15:04:05.1Z").with_timezone(&Tz::UTC)),
                "2024-01-02 15:04:05.1 +0000 UTC",
            ),
            (
                go_time_string(&utc("2024-01-02T15:04:05Z").with_timezone(&Tz::UTC)),
                "2024-01-02 15:04:05 +0000 UTC",
            ),
            (
                go_time_string(&utc("2024-01-02T14:00:00.000000123Z").with_timezone(&ny)),
                "2024-01-02 09:00:00.000000123 -0500 EST",
            ),
            (
                go_time_string(&utc("2024-07-02T13:00:00Z").with_timezone(&ny)),
                "2024-07-02 09:00:00 -0400 EDT",
            ),
            (
                go_time_string(
                    &utc("2024-07-02T13:00:00Z")
                        .with_timezone(&"Asia/Kolkata".parse::<Tz>().unwrap()),
                ),
                "2024-07-02 18:30:00 +0530 IST",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    fn calendar(schedule: &str, interval: &str, catchup: Catchup) -> Calendar {
        Calendar {
            event_source: "cal".into(),
            event_name: "tick".into(),
            schedule: Schedule::parse(&spec(schedule, interval, "", &[])).unwrap(),
            metadata: BTreeMap::new(),
            catchup,
        }
    }

    #[test]
    fn first_fire_after_restart() {
        let hourly = "0 * * * *";
        let now = utc("2024-01-02T10:30:00Z");
        let cases = [
            // (schedule, interval, catchup, last, want)
            (hourly, "", Catchup::Off, None, "2024-01-02T11:00:00Z"),
            (
                hourly,
                "",
                Catchup::Off,
                Some("2024-01-02T10:00:00Z"),
                "2024-01-02T11:00:00Z",
            ),
            (
                hourly,
                "",
                Catchup::Off,
                Some("2024-01-02T07:00:00Z"),
                "2024-01-02T11:00:00Z",
            ),
            (
                hourly,
                "",
                Catchup::On { max: None },
                Some("2024-01-02T07:00:00Z"),
                "2024-01-02T08:00:00Z",
            ),
            (
                hourly,
                "",
                Catchup::On {
                    max: Some(Duration::from_secs(5400)),
                },
                Some("2024-01-02T07:00:00Z"),
                "2024-01-02T10:00:00Z",
            ),
            (
                hourly,
                "",
                Catchup::On {
                    max: Some(Duration::from_secs(36000)),
                },
                Some("2024-01-02T07:00:00Z"),
                "2024-01-02T08:00:00Z",
            ),
            ("", "7m", Catchup::Off, None, "2024-01-02T10:37:00Z"),
            (
                "",
                "7m",
                Catchup::Off,
                Some("2024-01-02T10:25:00Z"),
                "2024-01-02T10:32:00Z",
            ),
            (
                "",
                "7m",
                Catchup::Off,
                Some("2024-01-02T10:00:00Z"),
                "2024-01-02T10:35:00Z",
            ),
            (
                "",
                "7m",
                Catchup::On { max: None },
                Some("2024-01-02T10:00:00Z"),
                "2024-01-02T10:07:00Z",
            ),
            (
                hourly,
                "",
                Catchup::Off,
                Some("2024-01-02T12:00:00Z"),
                "2024-01-02T11:00:00Z",
            ),
            (
                hourly,
                "",
                Catchup::Off,
                Some("2024-01-02T09:30:00Z"),
                "2024-01-02T11:00:00Z",
            ),
            (
                "30 * * * *",
                "",
                Catchup::Off,
                Some("2024-01-02T09:30:00Z"),
                "2024-01-02T10:30:00Z",
            ),
        ];
        for (schedule, interval, catchup, last, want) in cases {
            let c = calendar(schedule, interval, catchup);
            assert_eq!(
                c.first_fire(last.map(utc), now).unwrap(),
                utc(want),
                "{schedule}{interval} {catchup:?} last {last:?}"
            );
        }
    }
}
