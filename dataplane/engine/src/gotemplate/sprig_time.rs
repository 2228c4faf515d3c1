//! sprig v3 date functions with Go reference-layout formatting/parsing
//! (`2006-01-02T15:04:05Z07:00`). `Local` is UTC (the pods run in UTC); IANA zone names
//! (`Europe/Berlin`, `America/New_York`, `Etc/GMT-2`) come from the tz database compiled in
//! (chrono-tz), with the zone's abbreviation at that instant as Go prints it (`CET`, `CEST`,
//! `+03` where the database has none); an unknown name falls back to UTC, as sprig does when Go
//! cannot load the zone.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Timelike, Utc};

use super::funcs::{FuncDef, Ty, at, fixed, s};
use super::value::{GoTime, Value};

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

pub(crate) static FUNCS: &[(&str, FuncDef)] = &[
    ("now", fixed(&[], |_| Ok(Value::Time(now())))),
    (
        "date",
        fixed(&[Ty::Str, Ty::Any], |a| {
            Ok(Value::Str(date_in_zone(s(a, 0), &at(a, 1), "Local")))
        }),
    ),
    (
        "dateInZone",
        fixed(&[Ty::Str, Ty::Any, Ty::Str], |a| {
            Ok(Value::Str(date_in_zone(s(a, 0), &at(a, 1), s(a, 2))))
        }),
    ),
    (
        "date_in_zone",
        fixed(&[Ty::Str, Ty::Any, Ty::Str], |a| {
            Ok(Value::Str(date_in_zone(s(a, 0), &at(a, 1), s(a, 2))))
        }),
    ),
    (
        "htmlDate",
        fixed(&[Ty::Any], |a| {
            Ok(Value::Str(date_in_zone("2006-01-02", &at(a, 0), "Local")))
        }),
    ),
    (
        "htmlDateInZone",
        fixed(&[Ty::Any, Ty::Str], |a| {
            Ok(Value::Str(date_in_zone("2006-01-02", &at(a, 0), s(a, 1))))
        }),
    ),
    (
        "unixEpoch",
        fixed(&[Ty::Time], |a| {
            Ok(Value::Str(time_of(a, 0).dt.timestamp().to_string()))
        }),
    ),
    (
        "toDate",
        fixed(&[Ty::Str, Ty::Str], |a| {
            Ok(Value::Time(
                parse_layout(s(a, 0), s(a, 1)).unwrap_or_else(|_| zero_time()),
            ))
        }),
    ),
    (
        "mustToDate",
        fixed(&[Ty::Str, Ty::Str], |a| {
            parse_layout(s(a, 0), s(a, 1)).map(Value::Time)
        }),
    ),
    (
        "dateModify",
        fixed(&[Ty::Str, Ty::Time], |a| {
            Ok(Value::Time(
                date_modify(s(a, 0), time_of(a, 1)).unwrap_or_else(|_| time_of(a, 1)),
            ))
        }),
    ),
    (
        "date_modify",
        fixed(&[Ty::Str, Ty::Time], |a| {
            Ok(Value::Time(
                date_modify(s(a, 0), time_of(a, 1)).unwrap_or_else(|_| time_of(a, 1)),
            ))
        }),
    ),
    (
        "mustDateModify",
        fixed(&[Ty::Str, Ty::Time], |a| {
            date_modify(s(a, 0), time_of(a, 1)).map(Value::Time)
        }),
    ),
];

fn time_of(a: &[Value], i: usize) -> GoTime {
    match a.get(i) {
        Some(Value::Time(t)) => t.clone(),
        _ => zero_time(),
    }
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("invariant: zero offset is valid")
}

/// The current time (Go `time.Now()` in the UTC "Local" zone).
pub(crate) fn now() -> GoTime {
    GoTime {
        dt: Utc::now().with_timezone(&utc()),
        zone: "UTC".into(),
    }
}

/// Go's zero `time.Time` (`0001-01-01 00:00:00 +0000 UTC`).
pub(crate) fn zero_time() -> GoTime {
    let dt = NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| utc().from_utc_datetime(&n))
        .unwrap_or_else(|| DateTime::<Utc>::UNIX_EPOCH.with_timezone(&utc()));
    GoTime {
        dt,
        zone: "UTC".into(),
    }
}

/// `t` seen in the zone `name`; unknown names fall back to UTC like sprig does.
fn in_zone(t: &GoTime, name: &str) -> GoTime {
    if matches!(name, "" | "UTC" | "Local") {
        return GoTime {
            dt: t.dt.with_timezone(&utc()),
            zone: "UTC".into(),
        };
    }
    match name.parse::<chrono_tz::Tz>() {
        Ok(tz) => {
            use chrono::Offset as _;
            use chrono_tz::OffsetName as _;
            let local = t.dt.with_timezone(&tz);
            let off = local.offset().fix();
            let zone = match local.offset().abbreviation() {
                Some(a) if !a.is_empty() => a.to_owned(),
                _ => numeric_abbreviation(off.local_minus_utc()),
            };
            GoTime {
                dt: t.dt.with_timezone(&off),
                zone,
            }
        }
        Err(_) => GoTime {
            dt: t.dt.with_timezone(&utc()),
            zone: "UTC".into(),
        },
    }
}

/// Go's name for a zone without an abbreviation: `+03`, `-0930`.
fn numeric_abbreviation(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let (h, m) = (secs.abs() / 3600, secs.abs() % 3600 / 60);
    if m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

fn date_in_zone(layout: &str, date: &Value, zone_name: &str) -> String {
    let t = match date {
        Value::Time(t) => t.clone(),
        Value::Int(i) | Value::Int64(i) => from_unix(*i),
        _ => now(),
    };
    format_layout(&in_zone(&t, zone_name), layout)
}

fn from_unix(secs: i64) -> GoTime {
    match DateTime::<Utc>::from_timestamp(secs, 0) {
        Some(d) => GoTime {
            dt: d.with_timezone(&utc()),
            zone: "UTC".into(),
        },
        None => zero_time(),
    }
}

/// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`.
pub(crate) fn time_string(t: &GoTime) -> String {
    format_layout(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Methods callable on a time value in templates (`{{ now.Year }}`, `.Format`).
pub(crate) fn time_method(t: &GoTime, name: &str, args: &[Value]) -> Result<Value, String> {
    let int = |x: i64| Ok(Value::Int(x));
    let want = |n: usize| -> Result<(), String> {
        if args.len() != n {
            return Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ));
        }
        Ok(())
    };
    match name {
        "Format" => {
            want(1)?;
            match &args[0] {
                Value::Str(l) => Ok(Value::Str(format_layout(t, l))),
                other => Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                )),
            }
        }
        _ => {
            want(0)?;
            match name {
                "Unix" => Ok(Value::Int64(t.dt.timestamp())),
                "UnixMilli" => Ok(Value::Int64(t.dt.timestamp_millis())),
                "UnixNano" => Ok(Value::Int64(t.dt.timestamp_nanos_opt().unwrap_or(0))),
                "Year" => int(i64::from(t.dt.year())),
                "Month" => Ok(Value::str(MONTHS[t.dt.month0() as usize])),
                "Day" => int(i64::from(t.dt.day())),
                "Hour" => int(i64::from(t.dt.hour())),
                "Minute" => int(i64::from(t.dt.minute())),
                "Second" => int(i64::from(t.dt.second())),
                "Nanosecond" => int(i64::from(t.dt.nanosecond())),
                "YearDay" => int(i64::from(t.dt.ordinal())),
                "Weekday" => Ok(Value::str(
                    DAYS[t.dt.weekday().num_days_from_sunday() as usize],
                )),
                "UTC" | "Local" => Ok(Value::Time(GoTime {
                    dt: t.dt.with_timezone(&utc()),
                    zone: "UTC".into(),
                })),
                "String" => Ok(Value::Str(time_string(t))),
                "IsZero" => Ok(Value::Bool(*t == zero_time())),
                _ => Err(format!("can't evaluate field {name} in type time.Time")),
            }
        }
    }
}

/// Layout elements of Go's reference time.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    ZeroYearDay,
    UnderYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// Numeric zone: (with Z for UTC, colon, with seconds, hours only).
    Iso(bool, bool, bool, bool),
    /// Fractional seconds: digits, trailing zeros trimmed (`.999`), separator.
    Frac(usize, bool, char),
}

/// Splits a layout into literal text and elements (Go's `nextStdChunk`).
pub(crate) fn chunks(layout: &str) -> Vec<Result<Std, String>> {
    const TABLE: &[(&str, Std)] = &[
        ("January", Std::LongMonth),
        ("Jan", Std::Month),
        ("Monday", Std::LongWeekDay),
        ("Mon", Std::WeekDay),
        ("MST", Std::Tz),
        ("002", Std::ZeroYearDay),
        ("01", Std::ZeroMonth),
        ("02", Std::ZeroDay),
        ("03", Std::ZeroHour12),
        ("04", Std::ZeroMinute),
        ("05", Std::ZeroSecond),
        ("06", Std::Year),
        ("15", Std::Hour),
        ("1", Std::NumMonth),
        ("2006", Std::LongYear),
        ("2", Std::Day),
        ("__2", Std::UnderYearDay),
        ("_2", Std::UnderDay),
        ("3", Std::Hour12),
        ("4", Std::Minute),
        ("5", Std::Second),
        ("PM", Std::PM),
        ("pm", Std::Pm),
        ("Z070000", Std::Iso(true, false, true, false)),
        ("Z07:00:00", Std::Iso(true, true, true, false)),
        ("Z0700", Std::Iso(true, false, false, false)),
        ("Z07:00", Std::Iso(true, true, false, false)),
        ("Z07", Std::Iso(true, false, false, true)),
        ("-070000", Std::Iso(false, false, true, false)),
        ("-07:00:00", Std::Iso(false, true, true, false)),
        ("-0700", Std::Iso(false, false, false, false)),
        ("-07:00", Std::Iso(false, true, false, false)),
        ("-07", Std::Iso(false, false, false, true)),
    ];
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    'outer: while i < layout.len() {
        let rest = &layout[i..];
        if let Some(f) = frac_chunk(rest) {
            flush(&mut out, &mut lit);
            out.push(Ok(f.0));
            i += f.1;
            continue;
        }
        for (pat, std) in TABLE {
            if rest.starts_with(pat) {
                let short_name = *pat == "Mon" || *pat == "Jan";
                if short_name && rest[3..].starts_with(|c: char| c.is_ascii_lowercase()) {
                    break;
                }
                if *pat == "_2" && rest.starts_with("_2006") {
                    lit.push('_');
                    i += 1;
                    continue 'outer;
                }
                flush(&mut out, &mut lit);
                out.push(Ok(*std));
                i += pat.len();
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        i += c.len_utf8();
    }
    flush(&mut out, &mut lit);
    out
}

fn flush(out: &mut Vec<Result<Std, String>>, lit: &mut String) {
    if !lit.is_empty() {
        out.push(Err(std::mem::take(lit)));
    }
}

fn frac_chunk(rest: &str) -> Option<(Std, usize)> {
    let b = rest.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let digit = b[1];
    let mut j = 1;
    while j < b.len() && b[j] == digit {
        j += 1;
    }
    if j < b.len() && b[j].is_ascii_digit() {
        return None;
    }
    Some((Std::Frac(j - 1, digit == b'9', b[0] as char), j))
}

/// Go's `Time.Format(layout)`.
pub(crate) fn format_layout(t: &GoTime, layout: &str) -> String {
    let dt = &t.dt;
    let mut out = String::new();
    for ch in chunks(layout) {
        let std = match ch {
            Err(lit) => {
                out.push_str(&lit);
                continue;
            }
            Ok(s) => s,
        };
        let h12 = match dt.hour() % 12 {
            0 => 12,
            h => h,
        };
        let piece = match std {
            Std::LongMonth => MONTHS[dt.month0() as usize].to_string(),
            Std::Month => MONTHS[dt.month0() as usize][..3].to_string(),
            Std::NumMonth => dt.month().to_string(),
            Std::ZeroMonth => format!("{:02}", dt.month()),
            Std::LongWeekDay => DAYS[dt.weekday().num_days_from_sunday() as usize].to_string(),
            Std::WeekDay => DAYS[dt.weekday().num_days_from_sunday() as usize][..3].to_string(),
            Std::Day => dt.day().to_string(),
            Std::UnderDay => format!("{:>2}", dt.day()),
            Std::ZeroDay => format!("{:02}", dt.day()),
            Std::ZeroYearDay => format!("{:03}", dt.ordinal()),
            Std::UnderYearDay => format!("{:>3}", dt.ordinal()),
            Std::Hour => format!("{:02}", dt.hour()),
            Std::Hour12 => h12.to_string(),
            Std::ZeroHour12 => format!("{h12:02}"),
            Std::Minute => dt.minute().to_string(),
            Std::ZeroMinute => format!("{:02}", dt.minute()),
            Std::Second => dt.second().to_string(),
            Std::ZeroSecond => format!("{:02}", dt.second()),
            Std::LongYear => format!("{:04}", dt.year()),
            Std::Year => format!("{:02}", dt.year().rem_euclid(100)),
            Std::PM => (if dt.hour() >= 12 { "PM" } else { "AM" }).to_string(),
            Std::Pm => (if dt.hour() >= 12 { "pm" } else { "am" }).to_string(),
            Std::Tz => {
                if t.zone.is_empty() {
                    iso_offset(dt.offset().local_minus_utc(), false, false, false, false)
                } else {
                    t.zone.clone()
                }
            }
            Std::Iso(z, colon, secs, hours) => {
                iso_offset(dt.offset().local_minus_utc(), z, colon, secs, hours)
            }
            Std::Frac(n, trim, sep) => {
                let ns = format!("{:09}", dt.nanosecond());
                let mut digits = ns[..n.min(9)].to_string();
                if trim {
                    digits = digits.trim_end_matches('0').to_string();
                    if digits.is_empty() {
                        continue;
                    }
                }
                format!("{sep}{digits}")
            }
        };
        out.push_str(&piece);
    }
    out
}

fn iso_offset(off: i32, z: bool, colon: bool, secs: bool, hours_only: bool) -> String {
    if z && off == 0 {
        return "Z".into();
    }
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    let sep = if colon { ":" } else { "" };
    let mut out = format!("{sign}{h:02}");
    if !hours_only {
        out.push_str(&format!("{sep}{m:02}"));
    }
    if secs {
        out.push_str(&format!("{sep}{s:02}"));
    }
    out
}

/// Go's `time.Parse(layout, value)` in the UTC "Local" zone (subset of Go's
/// rules: numeric fields, month/day names, AM/PM, offsets, zone abbreviations).
pub(crate) fn parse_layout(layout: &str, value: &str) -> Result<GoTime, String> {
    super::sprig_time_parse::parse(&chunks(layout), layout, value)
}

/// Go's `time.ParseDuration` applied with `Time.Add`.
fn date_modify(d: &str, t: GoTime) -> Result<GoTime, String> {
    let nanos = super::sprig_time_parse::parse_duration(d)?;
    let dt = t.dt + Duration::nanoseconds(nanos);
    Ok(GoTime { dt, zone: t.zone })
}
