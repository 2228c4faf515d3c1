//! Go `time.ParseDuration`, for the duration strings upstream's fields hold (`"1s"`, `"1h30m"`),
//! and Go's `time.Parse("15:04:05")` for times of day (time filters).

use std::time::Duration;

use chrono::NaiveTime;

/// A duration string Go would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    /// The text that was parsed.
    pub input: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

/// Parses a Go duration: a sequence of decimal numbers, each with an optional fraction and a
/// unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `300ms`, `1.5h`, `2h45m`; `0` alone is
/// zero. Negative durations are rejected since no field here can use one.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let mut s = input;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if s.starts_with('-') {
        return Err(err("negative durations are not allowed here"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err("empty"));
    }
    let mut total_nanos: f64 = 0.0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, rest) = s.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(err("expected a number"));
        }
        let value: f64 = num.parse().map_err(|_| err("expected a number"))?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(err("missing unit")),
            _ => return Err(err("unknown unit")),
        };
        total_nanos += value * scale;
        s = rest;
    }
    if total_nanos > u64::MAX as f64 {
        return Err(err("overflow"));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// A time of day as Go's `time.Parse("15:04:05")` reads it: a 1–2 digit hour, 2-digit minute
/// and second, then optionally a fraction of a second after `.` or `,`, nothing else.
pub fn parse_clock(text: &str) -> Result<NaiveTime, String> {
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
    fn parses_go_forms() {
        let cases = [
            ("0", 0),
            ("1s", 1_000_000_000),
            ("300ms", 300_000_000),
            ("1.5h", 5_400_000_000_000),
            ("2h45m", 9_900_000_000_000),
            ("1m30.5s", 90_500_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("+3s", 3_000_000_000),
        ];
        for (input, nanos) in cases {
            assert_eq!(
                parse_go_duration(input),
                Ok(Duration::from_nanos(nanos)),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for input in ["", "1", "s", "1x", "1..5s", "-1s", ".s", "1s2"] {
            assert!(parse_go_duration(input).is_err(), "{input}");
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
