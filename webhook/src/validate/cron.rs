//! The two small grammars upstream validates with Go libraries: cron schedules as
//! `robfig/cron/v3` parses them with `Minute | Hour | Dom | Month | Dow` (exactly five fields, no
//! `@descriptors`, no seconds), and times of day as Go's `time.Parse("15:04:05")` reads them.
//!
//! The cron check is written out rather than delegated to `croner`, because the two grammars
//! differ both ways: croner rejects `5/15` (robfig reads it as `5-59/15`) and accepts `L`, `W`,
//! `#`, day-of-week `7` and `@daily`, all of which robfig rejects.

use chrono::NaiveTime;

use super::common::go_location;

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

/// Parses a five-field cron spec as robfig's parser does; the error is robfig's text.
pub(super) fn parse_cron(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or(0);
        let Some(space) = spec.find(' ') else {
            return Err(format!("provided bad location {}", &spec[eq + 1..]));
        };
        let zone = &spec[eq + 1..space];
        go_location(zone).map_err(|e| format!("provided bad location {zone}: {e}"))?;
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
    for (field, bounds) in
        fields
            .iter()
            .zip([&MINUTES, &HOURS, &DAYS_OF_MONTH, &MONTHS, &DAYS_OF_WEEK])
    {
        for expr in field.split(',').filter(|e| !e.is_empty()) {
            parse_range(expr, bounds)?;
        }
    }
    Ok(())
}

/// robfig's `getRange`: `*`, `?`, `N`, `N-M`, each optionally with `/step`.
fn parse_range(expr: &str, bounds: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let (start, mut end) = if matches!(low_and_high[0], "*" | "?") {
        (bounds.min, bounds.max)
    } else {
        let start = parse_int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], bounds)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_uint(range_and_step[1])?;
            if low_and_high.len() == 1 {
                end = bounds.max;
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
    Ok(())
}

fn parse_int_or_name(text: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some((_, value)) => Ok(*value),
        None => parse_uint(text),
    }
}

/// robfig's `mustParseInt`: Go `strconv.Atoi`, negative numbers rejected.
fn parse_uint(text: &str) -> Result<u32, String> {
    let n: i64 = text.parse().map_err(|_| {
        format!("failed to parse int from {text}: strconv.Atoi: parsing {text:?}: invalid syntax")
    })?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {text}"));
    }
    // Larger values fail the range checks anyway.
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
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
            assert_eq!(parse_cron(spec), Ok(()), "{spec}");
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
        ];
        for (spec, want) in invalid {
            let err = parse_cron(spec).expect_err(spec);
            assert!(err.contains(want), "{spec}: {err}");
        }
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
