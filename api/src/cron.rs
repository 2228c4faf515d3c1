//! Cron schedules as upstream reads them: `robfig/cron/v3` with the fields
//! `Minute | Hour | Dom | Month | Dow` (exactly five, no seconds, no `@descriptors`), an
//! optional `TZ=<zone> ` or `CRON_TZ=<zone> ` prefix. Used by the calendar EventSource, the
//! Sensor's `conditionsReset.byTime` and validation, so the three agree.
//!
//! Written here rather than taken from `croner` because the grammars differ both ways: croner
//! rejects `5/15` (robfig reads `5-59/15`) and accepts `L`, `W`, `#`, weekday `7` and `@daily`,
//! which robfig rejects. Error texts are robfig's.
//!
//! Day matching is robfig's: when the day-of-month or day-of-week field is `*`/`?` (without a
//! step above 1), both must match; otherwise either may. Next times are searched on the wall
//! clock of the zone: a time that falls in a daylight-saving gap does not exist and is skipped
//! (robfig steps over it the same way). In a repeated hour (daylight saving ends) a time fires
//! once, at its first occurrence after the given instant; robfig steps in absolute time and can
//! fire on both occurrences.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// A parsed five-field schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    dom_star: bool,
    dow_star: bool,
    location: Option<Tz>,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Years searched ahead before a schedule is declared to never fire (robfig: five).
const SEARCH_YEARS: i32 = 5;

impl CronSchedule {
    /// Parses a schedule; the error is robfig's text.
    pub fn parse(spec: &str) -> Result<CronSchedule, String> {
        if spec.is_empty() {
            return Err("empty spec string".into());
        }
        let mut spec = spec;
        let mut location = None;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let eq = spec.find('=').unwrap_or(0);
            let Some(space) = spec.find(' ') else {
                return Err(format!("provided bad location {}", &spec[eq + 1..]));
            };
            let zone = &spec[eq + 1..space];
            location =
                Some(go_location(zone).map_err(|e| format!("provided bad location {zone}: {e}"))?);
            spec = spec[space..].trim();
        }
        if spec.starts_with('@') {
            return Err(format!("parser does not accept descriptors: {spec}"));
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            ));
        }
        let minute = field(fields[0], &MINUTES)?;
        let hour = field(fields[1], &HOURS)?;
        let dom = field(fields[2], &DAYS_OF_MONTH)?;
        let month = field(fields[3], &MONTHS)?;
        let dow = field(fields[4], &DAYS_OF_WEEK)?;
        Ok(CronSchedule {
            minute: minute.0,
            hour: hour.0,
            dom: dom.0,
            month: month.0,
            dow: dow.0,
            dom_star: dom.1,
            dow_star: dow.1,
            location,
        })
    }

    /// The zone of a `TZ=`/`CRON_TZ=` prefix, if the schedule has one.
    pub fn location(&self) -> Option<Tz> {
        self.location
    }

    /// The first fire strictly after `t`, on the wall clock of the schedule's own zone (its
    /// prefix) or else `zone`; `None` when nothing matches within five years (e.g. `0 0 30 2 *`).
    pub fn next_after(&self, t: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let zone = self.location.unwrap_or(zone);
        let local = t.with_timezone(&zone).naive_local();
        let mut n = local.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let limit = local.year() + SEARCH_YEARS;
        while n.year() <= limit {
            if !bit(self.month, n.month()) {
                n = first_of_next_month(n)?;
                continue;
            }
            if !self.day_matches(n) {
                n = n.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !bit(self.hour, n.hour()) {
                n = n.with_minute(0)? + Duration::hours(1);
                continue;
            }
            if !bit(self.minute, n.minute()) {
                n += Duration::minutes(1);
                continue;
            }
            let found = match zone.from_local_datetime(&n) {
                LocalResult::Single(x) => Some(x),
                LocalResult::Ambiguous(a, b) => {
                    [a, b].into_iter().find(|x| x.with_timezone(&Utc) > t)
                }
                LocalResult::None => None,
            };
            match found.map(|x| x.with_timezone(&Utc)) {
                Some(x) if x > t => return Some(x),
                _ => n += Duration::minutes(1),
            }
        }
        None
    }

    fn day_matches(&self, n: NaiveDateTime) -> bool {
        let dom = bit(self.dom, n.day());
        let dow = bit(self.dow, n.weekday().num_days_from_sunday());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }
}

impl std::str::FromStr for CronSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CronSchedule::parse(s)
    }
}

fn bit(bits: u64, n: u32) -> bool {
    bits & (1u64 << n) != 0
}

fn first_of_next_month(n: NaiveDateTime) -> Option<NaiveDateTime> {
    let (y, m) = if n.month() == 12 {
        (n.year() + 1, 1)
    } else {
        (n.year(), n.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)
}

/// Go's `time.LoadLocation`: `""` and `UTC` are UTC, `Local` is the pod's zone (UTC), else an
/// IANA name.
pub fn go_location(name: &str) -> Result<Tz, String> {
    match name {
        "" | "UTC" | "Local" => Ok(Tz::UTC),
        _ => name
            .parse::<Tz>()
            .map_err(|_| format!("unknown time zone {name}")),
    }
}

/// A comma-separated field: its bits and whether it counts as `*` for day matching.
fn field(text: &str, bounds: &Bounds) -> Result<(u64, bool), String> {
    let mut bits = 0;
    let mut star = false;
    for expr in text.split(',').filter(|e| !e.is_empty()) {
        let (b, s) = range(expr, bounds)?;
        bits |= b;
        star |= s;
    }
    Ok((bits, star))
}

/// robfig's `getRange`: `*`, `?`, `N`, `N-M`, each optionally with `/step` (`N/step` means
/// `N-max/step`); `*` with a step above 1 no longer counts as `*`.
fn range(expr: &str, bounds: &Bounds) -> Result<(u64, bool), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let mut star = false;
    let (start, mut end) = if matches!(low_and_high[0], "*" | "?") {
        star = true;
        (bounds.min, bounds.max)
    } else {
        let start = int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], bounds)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = uint(range_and_step[1])?;
            if low_and_high.len() == 1 {
                end = bounds.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < bounds.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            bounds.min
        ));
    }
    if end > bounds.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            bounds.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let bits = (start..=end)
        .step_by(step as usize)
        .fold(0u64, |b, i| b | 1u64 << i);
    Ok((bits, star))
}

fn int_or_name(text: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some((_, value)) => Ok(*value),
        None => uint(text),
    }
}

/// robfig's `mustParseInt`: Go `strconv.Atoi`, negative numbers rejected.
fn uint(text: &str) -> Result<u32, String> {
    let n: i64 = text.parse().map_err(|_| {
        format!("failed to parse int from {text}: strconv.Atoi: parsing {text:?}: invalid syntax")
    })?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {text}"));
    }
    // Larger values fail the range checks anyway.
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn grammar_follows_robfig() {
        let valid = [
            "59 23 * * *",
            "*/5 * * * *",
            "5/15 * * * *",
            "0 9-17 * * MON-FRI",
            "0 0 1,15 * ?",
            "0 0 * jan,Jul sun",
            "30 2 * * 0-6",
            "TZ=Europe/Paris 0 9 * * *",
            "CRON_TZ=UTC 0 9 * * *",
            "  0  9 * * *  ",
            "0,,5 * * * *",
        ];
        for spec in valid {
            assert!(CronSchedule::parse(spec).is_ok(), "{spec}");
        }
        let invalid = [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("0 * * * * *", "expected exactly 5 fields, found 6"),
            ("@daily", "parser does not accept descriptors: @daily"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* 24 * * *", "above maximum (23)"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * 13 *", "above maximum (12)"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            ("* * * * L", "failed to parse int from L"),
            ("* * * * 1#2", "failed to parse int from 1#2"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("*/2/3 * * * *", "too many slashes: */2/3"),
            ("TZ=Mars/Base 0 9 * * *", "provided bad location Mars/Base"),
            ("TZ=UTC", "provided bad location UTC"),
        ];
        for (spec, want) in invalid {
            let err = CronSchedule::parse(spec).expect_err(spec);
            assert!(err.contains(want), "{spec}: {err}");
        }
    }

    #[test]
    fn next_fire_times() {
        // (spec, after, want) in UTC unless the spec carries a zone.
        let cases = [
            (
                "5/15 * * * *",
                "2024-05-01T10:00:00Z",
                "2024-05-01T10:05:00Z",
            ),
            (
                "5/15 * * * *",
                "2024-05-01T10:05:00Z",
                "2024-05-01T10:20:00Z",
            ),
            (
                "5/15 * * * *",
                "2024-05-01T10:50:30Z",
                "2024-05-01T11:05:00Z",
            ),
            (
                "*/5 * * * *",
                "2024-05-01T10:04:59.9Z",
                "2024-05-01T10:05:00Z",
            ),
            ("0 0 * * *", "2024-12-31T23:59:00Z", "2025-01-01T00:00:00Z"),
            (
                "0 9-17 * * MON-FRI",
                "2024-05-03T17:30:00Z",
                "2024-05-06T09:00:00Z",
            ),
            // Both day fields restricted: either matches (the 1st is a Wednesday).
            (
                "0 0 1 * MON",
                "2024-04-29T12:00:00Z",
                "2024-05-01T00:00:00Z",
            ),
            (
                "0 0 1 * MON",
                "2024-05-01T12:00:00Z",
                "2024-05-06T00:00:00Z",
            ),
            // Day of month `*`: both must match, so only Mondays.
            (
                "0 0 * * MON",
                "2024-04-29T12:00:00Z",
                "2024-05-06T00:00:00Z",
            ),
            // `*/2` is not `*`: either field may match (the 3rd, or a Monday).
            (
                "0 0 */2 * MON",
                "2024-05-01T12:00:00Z",
                "2024-05-03T00:00:00Z",
            ),
            ("0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            (
                "TZ=Europe/Berlin 0 9 * * *",
                "2024-01-10T07:00:00Z",
                "2024-01-10T08:00:00Z",
            ),
            (
                "TZ=Europe/Berlin 0 9 * * *",
                "2024-07-10T07:00:00Z",
                "2024-07-11T07:00:00Z",
            ),
        ];
        for (spec, after, want) in cases {
            let s = CronSchedule::parse(spec).unwrap();
            assert_eq!(
                s.next_after(utc(after), Tz::UTC),
                Some(utc(want)),
                "{spec} after {after}"
            );
        }
    }

    #[test]
    fn zone_argument_daylight_saving_and_never() {
        let s = CronSchedule::parse("30 2 * * *").unwrap();
        // 2024-03-31 02:30 does not exist in Berlin: the next fire is the day after (CEST).
        assert_eq!(
            s.next_after(utc("2024-03-30T12:00:00Z"), Tz::Europe__Berlin),
            Some(utc("2024-04-01T00:30:00Z"))
        );
        // 2024-10-27 02:30 happens twice in Berlin: it fires at the first (CEST), and from
        // inside the repeated hour at the second (CET); then the next day.
        let first = s
            .next_after(utc("2024-10-26T12:00:00Z"), Tz::Europe__Berlin)
            .unwrap();
        assert_eq!(first, utc("2024-10-27T00:30:00Z"));
        assert_eq!(
            s.next_after(utc("2024-10-27T01:00:00Z"), Tz::Europe__Berlin),
            Some(utc("2024-10-27T01:30:00Z"))
        );
        assert_eq!(
            s.next_after(first, Tz::Europe__Berlin),
            Some(utc("2024-10-28T01:30:00Z"))
        );
        // A prefix wins over the zone argument.
        let p = CronSchedule::parse("CRON_TZ=America/New_York 0 12 * * *").unwrap();
        assert_eq!(p.location(), Some(Tz::America__New_York));
        assert_eq!(
            p.next_after(utc("2024-05-01T00:00:00Z"), Tz::Europe__Berlin),
            Some(utc("2024-05-01T16:00:00Z"))
        );
        assert_eq!(
            CronSchedule::parse("0 0 30 2 *")
                .unwrap()
                .next_after(utc("2024-01-01T00:00:00Z"), Tz::UTC),
            None
        );
    }
}
