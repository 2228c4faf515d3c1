//! govaluate's date-literal rule: a string literal that parses with one of a fixed list of Go
//! time layouts becomes a float64 Unix timestamp (whole seconds).
//!
//! The layouts are tried in govaluate's order (`tryParseTime` in `parsing.go`): ANSIC, UnixDate,
//! RubyDate, Kitchen, RFC3339, RFC3339Nano, `2006-01-02`, `2006-01-02 15:04`,
//! `2006-01-02 15:04:05`, `2006-01-02 15:04:05-07:00`, `2006-01-02T15Z0700`,
//! `2006-01-02T15:04Z0700`, `2006-01-02T15:04:05Z0700`, `2006-01-02T15:04:05.999999999Z0700`.
//! Matching follows Go's `time.Parse` rules. Values without an offset are read in the process's
//! local zone, which is UTC in the Sensor pod, so UTC is used here.

use chrono::NaiveDate;

/// One element of a Go layout.
#[derive(Clone, Copy, PartialEq)]
enum Item {
    Lit(&'static str),
    Weekday,    // Mon
    MonthName,  // Jan
    DayUnder,   // _2
    DayZero,    // 02
    MonthZero,  // 01
    Year,       // 2006
    Hour24,     // 15
    Hour12,     // 3
    Minute,     // 04
    Second,     // 05
    Pm,         // PM
    ZoneName,   // MST
    NumTz,      // -0700
    NumColonTz, // -07:00
    IsoTz,      // Z0700
    IsoColonTz, // Z07:00
    Frac,       // .999999999
}

use Item::*;

const DATE: [Item; 5] = [Year, Lit("-"), MonthZero, Lit("-"), DayZero];

const LAYOUTS: [&[Item]; 14] = [
    // ANSIC "Mon Jan _2 15:04:05 2006"
    &[
        Weekday,
        Lit(" "),
        MonthName,
        Lit(" "),
        DayUnder,
        Lit(" "),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        Lit(" "),
        Year,
    ],
    // UnixDate "Mon Jan _2 15:04:05 MST 2006"
    &[
        Weekday,
        Lit(" "),
        MonthName,
        Lit(" "),
        DayUnder,
        Lit(" "),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        Lit(" "),
        ZoneName,
        Lit(" "),
        Year,
    ],
    // RubyDate "Mon Jan 02 15:04:05 -0700 2006"
    &[
        Weekday,
        Lit(" "),
        MonthName,
        Lit(" "),
        DayZero,
        Lit(" "),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        Lit(" "),
        NumTz,
        Lit(" "),
        Year,
    ],
    // Kitchen "3:04PM"
    &[Hour12, Lit(":"), Minute, Pm],
    // RFC3339 "2006-01-02T15:04:05Z07:00"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit("T"),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        IsoColonTz,
    ],
    // RFC3339Nano "2006-01-02T15:04:05.999999999Z07:00"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit("T"),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        Frac,
        IsoColonTz,
    ],
    // "2006-01-02"
    &DATE,
    // "2006-01-02 15:04"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit(" "),
        Hour24,
        Lit(":"),
        Minute,
    ],
    // "2006-01-02 15:04:05"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit(" "),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
    ],
    // "2006-01-02 15:04:05-07:00"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit(" "),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        NumColonTz,
    ],
    // "2006-01-02T15Z0700"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit("T"),
        Hour24,
        IsoTz,
    ],
    // "2006-01-02T15:04Z0700"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit("T"),
        Hour24,
        Lit(":"),
        Minute,
        IsoTz,
    ],
    // "2006-01-02T15:04:05Z0700"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit("T"),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        IsoTz,
    ],
    // "2006-01-02T15:04:05.999999999Z0700"
    &[
        DATE[0],
        DATE[1],
        DATE[2],
        DATE[3],
        DATE[4],
        Lit("T"),
        Hour24,
        Lit(":"),
        Minute,
        Lit(":"),
        Second,
        Frac,
        IsoTz,
    ],
];

const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Returns the Unix timestamp (whole seconds, floored) if `candidate` matches one of
/// govaluate's date layouts, reading zone-less values as UTC.
pub fn try_parse_time(candidate: &str) -> Option<i64> {
    LAYOUTS
        .iter()
        .find_map(|layout| parse_layout(layout, candidate.as_bytes()))
}

/// Fields collected while matching one layout.
struct Fields {
    year: i32,
    month: i32,
    day: i32,
    hour: i32,
    minute: i32,
    second: i32,
    pm: Option<bool>,
    offset: i64,
}

fn parse_layout(layout: &[Item], mut value: &[u8]) -> Option<i64> {
    let mut f = Fields {
        year: 0,
        month: -1,
        day: -1,
        hour: 0,
        minute: 0,
        second: 0,
        pm: None,
        offset: 0,
    };
    for (idx, item) in layout.iter().enumerate() {
        value = parse_item(*item, value, &mut f, &layout[idx + 1..])?;
    }
    if !value.is_empty() {
        return None; // extra text
    }
    match f.pm {
        Some(true) if f.hour < 12 => f.hour += 12,
        Some(false) if f.hour == 12 => f.hour = 0,
        _ => {}
    }
    let month = if f.month < 0 { 1 } else { f.month };
    let day = if f.day < 0 { 1 } else { f.day };
    let date =
        NaiveDate::from_ymd_opt(f.year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)?;
    let time = date.and_hms_opt(f.hour as u32, f.minute as u32, f.second as u32)?;
    Some(time.and_utc().timestamp() - f.offset)
}

/// Matches one layout item at the start of `value`; returns the rest.
fn parse_item<'v>(item: Item, value: &'v [u8], f: &mut Fields, rest: &[Item]) -> Option<&'v [u8]> {
    match item {
        Lit(lit) => skip(value, lit.as_bytes()),
        Weekday => lookup(&SHORT_DAYS, value).map(|(_, v)| v),
        MonthName => lookup(&SHORT_MONTHS, value).map(|(m, v)| {
            f.month = m as i32 + 1;
            v
        }),
        DayUnder | DayZero => {
            let value = match value {
                [b' ', tail @ ..] if item == DayUnder => tail,
                _ => value,
            };
            let (day, v) = getnum(value, item == DayZero)?;
            f.day = day;
            (day <= 31).then_some(v)
        }
        MonthZero => {
            let (month, v) = getnum(value, true)?;
            f.month = month;
            (1..=12).contains(&month).then_some(v)
        }
        Year => {
            let digits = value.get(..4)?;
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            f.year = digits
                .iter()
                .fold(0, |acc, d| acc * 10 + i32::from(d - b'0'));
            Some(&value[4..])
        }
        Hour24 | Hour12 => {
            let (hour, v) = getnum(value, false)?;
            f.hour = hour;
            let max = if item == Hour24 { 23 } else { 12 };
            (hour <= max).then_some(v)
        }
        Minute => {
            let (minute, v) = getnum(value, true)?;
            f.minute = minute;
            (minute < 60).then_some(v)
        }
        Second => parse_second(value, f, rest),
        Pm => match value.get(..2)? {
            b"PM" => {
                f.pm = Some(true);
                Some(&value[2..])
            }
            b"AM" => {
                f.pm = Some(false);
                Some(&value[2..])
            }
            _ => None,
        },
        ZoneName => parse_zone_name(value),
        IsoTz | IsoColonTz if value.first() == Some(&b'Z') => Some(&value[1..]),
        NumTz | IsoTz => parse_offset(value, false, f),
        NumColonTz | IsoColonTz => parse_offset(value, true, f),
        Frac => Some(skip_fraction(value)),
    }
}

/// Seconds, plus Go's special case: a fraction in the value is accepted even when the layout
/// has none (unless the next layout element is itself a fraction).
fn parse_second<'v>(value: &'v [u8], f: &mut Fields, rest: &[Item]) -> Option<&'v [u8]> {
    let (second, v) = getnum(value, true)?;
    f.second = second;
    if second >= 60 {
        return None;
    }
    let next_is_frac = rest.iter().find(|i| !matches!(i, Lit(_))) == Some(&Frac);
    if next_is_frac {
        Some(v)
    } else {
        Some(skip_fraction(v))
    }
}

/// Skips `.123` or `,123` (at least one digit); anything else is left untouched.
fn skip_fraction(value: &[u8]) -> &[u8] {
    match value {
        [b'.' | b',', d, ..] if d.is_ascii_digit() => {
            let n = 1 + value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            &value[n..]
        }
        _ => value,
    }
}

/// `-0700` (colon = false) or `-07:00` (colon = true); sets the offset in seconds east of UTC.
fn parse_offset<'v>(value: &'v [u8], colon: bool, f: &mut Fields) -> Option<&'v [u8]> {
    let (sign, hour, minute, rest) = if colon {
        if value.len() < 6 || value[3] != b':' {
            return None;
        }
        (value[0], &value[1..3], &value[4..6], &value[6..])
    } else {
        if value.len() < 5 {
            return None;
        }
        (value[0], &value[1..3], &value[3..5], &value[5..])
    };
    let (hr, _) = getnum(hour, true)?;
    let (mm, _) = getnum(minute, true)?;
    if hr > 24 || mm > 60 {
        return None;
    }
    let offset = i64::from(hr * 60 + mm) * 60;
    f.offset = match sign {
        b'+' => offset,
        b'-' => -offset,
        _ => return None,
    };
    Some(rest)
}

/// A zone abbreviation (`MST`, `UTC`, `CEST`, `GMT+3`, …). Only its shape is checked: Go gives
/// an unknown abbreviation a zero offset, so it never moves the timestamp.
fn parse_zone_name(value: &[u8]) -> Option<&[u8]> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"UTC") || value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        let n = if value.starts_with(b"UTC") { 3 } else { 4 };
        return Some(&value[n..]);
    }
    if value.starts_with(b"GMT") {
        return Some(&value[3 + signed_offset_len(&value[3..])..]);
    }
    if matches!(value[0], b'+' | b'-') {
        let n = signed_offset_len(value);
        return (n > 0).then(|| &value[n..]);
    }
    let upper = value
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    let n = match upper {
        3 => 3,
        4 if value[3] == b'T' || value.starts_with(b"WITA") => 4,
        5 if value[4] == b'T' => 5,
        _ => return None,
    };
    Some(&value[n..])
}

/// Length of a `+h`/`-hh` offset (hours ≤ 23), or 0 when there is none.
fn signed_offset_len(value: &[u8]) -> usize {
    if !matches!(value.first(), Some(b'+' | b'-')) {
        return 0;
    }
    let digits = value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return 0;
    }
    let hours = value[1..=digits].iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    });
    match hours {
        Some(h) if h <= 23 => 1 + digits,
        _ => 0,
    }
}

/// Go's `getnum`: one or two leading digits (exactly two when `fixed`).
fn getnum(value: &[u8], fixed: bool) -> Option<(i32, &[u8])> {
    let first = *value.first().filter(|c| c.is_ascii_digit())?;
    match value.get(1) {
        Some(second) if second.is_ascii_digit() => Some((
            i32::from(first - b'0') * 10 + i32::from(second - b'0'),
            &value[2..],
        )),
        _ if fixed => None,
        _ => Some((i32::from(first - b'0'), &value[1..])),
    }
}

/// Go's `lookup`: a case-insensitive match of one of the names at the start of `value`.
fn lookup<'v>(names: &[&str], value: &'v [u8]) -> Option<(usize, &'v [u8])> {
    names.iter().enumerate().find_map(|(i, name)| {
        let head = value.get(..name.len())?;
        head.eq_ignore_ascii_case(name.as_bytes())
            .then(|| (i, &value[name.len()..]))
    })
}

/// Go's `skip`: matches a literal; a space in the layout matches any run of spaces.
fn skip<'v>(mut value: &'v [u8], mut lit: &[u8]) -> Option<&'v [u8]> {
    while let Some((&c, tail)) = lit.split_first() {
        if c == b' ' {
            if value.first().is_some_and(|v| *v != b' ') {
                return None;
            }
            lit = trim_spaces(lit);
            value = trim_spaces(value);
            continue;
        }
        if value.first() != Some(&c) {
            return None;
        }
        lit = tail;
        value = &value[1..];
    }
    Some(value)
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b' ').count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::try_parse_time;

    #[test]
    fn every_layout_is_recognised() {
        let cases: &[(&str, i64)] = &[
            ("Mon Jan  2 15:04:05 2006", 1_136_214_245),     // ANSIC
            ("Mon Jan 2 15:04:05 2006", 1_136_214_245),      // spaces collapse
            ("Mon Jan  2 15:04:05 MST 2006", 1_136_214_245), // UnixDate, zone ignored
            ("Mon Jan 02 15:04:05 -0700 2006", 1_136_239_445), // RubyDate
            ("3:04PM", -62_167_219_200 + 15 * 3600 + 4 * 60), // Kitchen: year 0
            ("12:00AM", -62_167_219_200),
            ("2006-01-02T15:04:05Z", 1_136_214_245), // RFC3339
            ("2006-01-02T15:04:05+01:00", 1_136_210_645),
            ("2006-01-02T15:04:05.999Z", 1_136_214_245), // RFC3339Nano
            ("2020-01-01", 1_577_836_800),
            ("2020-01-01 10:30", 1_577_874_600),
            ("2020-01-01 10:30:15", 1_577_874_615),
            ("2020-01-01 10:30:15.5", 1_577_874_615), // fraction w/o layout
            ("2020-01-01 10:30:15-02:00", 1_577_881_815),
            ("2020-01-01T10Z", 1_577_872_800),
            ("2020-01-01T10+0100", 1_577_869_200),
            ("2020-01-01T10:30Z", 1_577_874_600),
            ("2020-01-01T10:30:15-0030", 1_577_876_415),
            ("2020-01-01T10:30:15.123456789Z", 1_577_874_615),
            ("1969-12-31", -86_400),
            ("2024-02-29", 1_709_164_800), // leap day
        ];
        for (input, want) in cases {
            assert_eq!(try_parse_time(input), Some(*want), "{input}");
        }
    }

    #[test]
    fn non_dates_stay_strings() {
        for input in [
            "",
            "abc",
            "2020",
            "2020-1-01",
            "2020-13-01",
            "2023-02-29",
            "2020-01-32",
            "2020-01-01 24:00",
            "2020-01-01 10:60",
            "2020-01-01T10:30:15",
            "2020-01-01 ",
            "13:00PM",
            "3:04pm",
            "10:30",
            "Mon Foo  2 15:04:05 2006",
            "2020-01-01T10:30:15+2500",
            "Mon Jan  2 15:04:05 Mst 2006",
        ] {
            assert_eq!(try_parse_time(input), None, "{input:?}");
        }
    }
}
