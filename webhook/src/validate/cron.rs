//! The two small grammars upstream validates with Go libraries: cron schedules as
//! `robfig/cron/v3` parses them with `Minute | Hour | Dom | Month | Dow` (exactly five fields, no
//! `@descriptors`, no seconds), and times of day as Go's `time.Parse("15:04:05")` reads them.

use argo_events_api::cron::CronSchedule;
use chrono::NaiveTime;

/// Parses a five-field cron spec as robfig's parser does (the shared parser in
/// `argo_events_api::cron`, which the calendar source and `conditionsReset` run on too); the
/// error is robfig's text.
pub(super) fn parse_cron(spec: &str) -> Result<(), String> {
    CronSchedule::parse(spec).map(|_| ())
}

/// A time of day as Go's `time.Parse("15:04:05")` reads it: a 1–2 digit hour, 2-digit minute
/// and second, then optionally a fraction of a second after `.` or `,`, nothing else.
pub(super) fn parse_clock(text: &str) -> Result<NaiveTime, String> {
    let fail = |reason: &str| format!("parsing time {text:?} as \"15:04:05\": {reason}");
    let bytes = text.as_bytes();
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let num = |from: usize, len: usize| -> u32 {
        text[from..from + len]
            .bytes()
            .fold(0, |n, b| n * 10 + u32::from(b - b'0'))
    };
    if !digit(0) {
        return Err(fail("cannot parse the hour"));
    }
    let hour_len = if digit(1) { 2 } else { 1 };
    let hour = num(0, hour_len);
    let mut i = hour_len;
    if bytes.get(i) != Some(&b':') || !digit(i + 1) || !digit(i + 2) {
        return Err(fail("cannot parse the minute"));
    }
    let minute = num(i + 1, 2);
    i += 3;
    if bytes.get(i) != Some(&b':') || !digit(i + 1) || !digit(i + 2) {
        return Err(fail("cannot parse the second"));
    }
    let second = num(i + 1, 2);
    i += 3;
    let mut nanos = 0;
    if matches!(bytes.get(i), Some(b'.' | b',')) && digit(i + 1) {
        let start = i + 1;
        let mut end = start;
        while digit(end) {
            end += 1;
        }
        let fraction: String = text[start..end]
            .chars()
            .chain("000000000".chars())
            .take(9)
            .collect();
        nanos = fraction
            .parse()
            .map_err(|_| fail("cannot parse the fraction"))?;
        i = end;
    }
    if i != bytes.len() {
        return Err(fail(&format!("extra text: {:?}", &text[i..])));
    }
    if hour > 23 {
        return Err(fail("hour out of range"));
    }
    if minute > 59 {
        return Err(fail("minute out of range"));
    }
    if second > 59 {
        return Err(fail("second out of range"));
    }
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or_else(|| fail("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_specs_follow_robfig() {
        // The grammar is tested with the shared parser; here only that validation uses it.
        assert_eq!(parse_cron("5/15 * * * *"), Ok(()));
        assert_eq!(
            parse_cron("@daily"),
            Err("parser does not accept descriptors: @daily".to_owned())
        );
    }

    #[test]
    fn clocks_follow_go_time_parse() {
        let valid = [
            ("09:00:00", (9, 0, 0, 0)),
            ("9:00:00", (9, 0, 0, 0)),
            ("23:59:59", (23, 59, 59, 0)),
            ("10:00:00.5", (10, 0, 0, 500_000_000)),
            ("10:00:00,25", (10, 0, 0, 250_000_000)),
        ];
        for (text, (h, m, s, n)) in valid {
            assert_eq!(
                parse_clock(text),
                Ok(NaiveTime::from_hms_nano_opt(h, m, s, n).expect("valid")),
                "{text}"
            );
        }
        for text in [
            "",
            "24:00:00",
            "10:60:00",
            "10:00:60",
            "10:0:00",
            "10:00",
            "10:00:00Z",
            "100:00:00",
            "aa:00:00",
            "10:00:00.",
        ] {
            assert!(parse_clock(text).is_err(), "{text:?} should fail");
        }
    }
}
