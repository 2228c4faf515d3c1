//! Go `time.Parse` (subset) and `time.ParseDuration` for the sprig date functions.

use chrono::{FixedOffset, NaiveDate, TimeZone};

use super::sprig_time::{DAYS, MONTHS, Std};
use super::value::GoTime;

#[derive(Default)]
struct Fields {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    yday: Option<u32>,
    hour: u32,
    min: u32,
    sec: u32,
    nsec: u32,
    pm: Option<bool>,
    offset: Option<i32>,
    zone: Option<String>,
}

fn take_digits(v: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

/// Go's `getnum`: two digits if `fixed`, else one or two.
fn getnum(v: &str, fixed: bool) -> Option<(u32, &str)> {
    take_digits(v, if fixed { 2 } else { 1 }, 2).filter(|(_, r)| !fixed || v.len() - r.len() == 2)
}

fn skip<'a>(mut v: &'a str, mut lit: &str) -> Option<&'a str> {
    while let Some(c) = lit.chars().next() {
        if c == ' ' {
            if !v.is_empty() && !v.starts_with(' ') {
                return None;
            }
            lit = lit.trim_start_matches(' ');
            v = v.trim_start_matches(' ');
            continue;
        }
        v = v.strip_prefix(c)?;
        lit = &lit[c.len_utf8()..];
    }
    Some(v)
}

fn lookup_name<'a>(names: &[&str], v: &'a str, short: bool) -> Option<(usize, &'a str)> {
    for (i, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        if v.get(..n.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(n))
        {
            return Some((i, &v[n.len()..]));
        }
    }
    None
}

fn parse_offset(
    v: &str,
    z: bool,
    colon: bool,
    secs: bool,
    hours_only: bool,
) -> Option<(i32, &str)> {
    if z && v.starts_with('Z') {
        return Some((0, &v[1..]));
    }
    let sign = match v.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let (h, mut r) = take_digits(&v[1..], 2, 2)?;
    let mut total = h as i32 * 3600;
    if !hours_only {
        if colon {
            r = r.strip_prefix(':')?;
        }
        let (m, r2) = take_digits(r, 2, 2)?;
        total += m as i32 * 60;
        r = r2;
        if secs {
            if colon {
                r = r.strip_prefix(':')?;
            }
            let (s, r3) = take_digits(r, 2, 2)?;
            total += s as i32;
            r = r3;
        }
    }
    Some((sign * total, r))
}

fn parse_frac(v: &str) -> (u32, &str) {
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    let digits: String = v[..n]
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    (digits.parse().unwrap_or(0), &v[n..])
}

fn parse_zone_abbr(v: &str) -> Option<(String, i32, &str)> {
    if let Some(r) = v.strip_prefix("UTC") {
        return Some(("UTC".into(), 0, r));
    }
    let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
    if n < 3 {
        return None;
    }
    if &v[..n] == "GMT" {
        let r = &v[3..];
        let sign_len = r.starts_with(['+', '-']) as usize;
        let digits = r[sign_len..].bytes().take_while(u8::is_ascii_digit).count();
        if sign_len == 1 && digits > 0 {
            let end = 1 + digits;
            let h: i32 = r[..end].parse().ok()?;
            return Some((format!("GMT{}", &r[..end]), h * 3600, &r[end..]));
        }
        return Some(("GMT".into(), 0, r));
    }
    Some((v[..n].to_string(), 0, &v[n..]))
}

fn field<'a>(f: &mut Fields, std: Std, v: &'a str, next_is_frac: bool) -> Option<&'a str> {
    let r = match std {
        Std::LongYear => {
            let (y, r) = take_digits(v, 4, 4)?;
            f.year = Some(y as i32);
            r
        }
        Std::Year => {
            let (y, r) = take_digits(v, 2, 2)?;
            f.year = Some(if y >= 69 {
                1900 + y as i32
            } else {
                2000 + y as i32
            });
            r
        }
        Std::LongMonth | Std::Month => {
            let (m, r) = lookup_name(&MONTHS, v, std == Std::Month)?;
            f.month = Some(m as u32 + 1);
            r
        }
        Std::NumMonth | Std::ZeroMonth => {
            let (m, r) = getnum(v, std == Std::ZeroMonth)?;
            f.month = Some(m);
            r
        }
        Std::LongWeekDay | Std::WeekDay => lookup_name(&DAYS, v, std == Std::WeekDay)?.1,
        Std::Day | Std::UnderDay | Std::ZeroDay => {
            let v = if std == Std::UnderDay {
                v.strip_prefix(' ').unwrap_or(v)
            } else {
                v
            };
            let (d, r) = getnum(v, std == Std::ZeroDay)?;
            f.day = Some(d);
            r
        }
        Std::ZeroYearDay | Std::UnderYearDay => {
            let v = if std == Std::UnderYearDay {
                v.trim_start_matches(' ')
            } else {
                v
            };
            let (d, r) = take_digits(v, if std == Std::ZeroYearDay { 3 } else { 1 }, 3)?;
            f.yday = Some(d);
            r
        }
        Std::Hour => {
            let (h, r) = getnum(v, false)?;
            f.hour = h;
            r
        }
        Std::Hour12 | Std::ZeroHour12 => {
            let (h, r) = getnum(v, std == Std::ZeroHour12)?;
            (h <= 12).then_some(())?;
            f.hour = h;
            r
        }
        Std::Minute | Std::ZeroMinute => {
            let (m, r) = getnum(v, std == Std::ZeroMinute)?;
            f.min = m;
            r
        }
        Std::Second | Std::ZeroSecond => {
            let (s, mut r) = getnum(v, std == Std::ZeroSecond)?;
            f.sec = s;
            let b = r.as_bytes();
            if !next_is_frac
                && b.len() >= 2
                && (b[0] == b'.' || b[0] == b',')
                && b[1].is_ascii_digit()
            {
                let (ns, r2) = parse_frac(&r[1..]);
                f.nsec = ns;
                r = r2;
            }
            r
        }
        Std::PM | Std::Pm => {
            let word = v.get(..2)?;
            let upper = word.to_ascii_uppercase();
            let ok_case = if std == Std::PM {
                word == upper
            } else {
                word == word.to_ascii_lowercase()
            };
            (ok_case && (upper == "AM" || upper == "PM")).then_some(())?;
            f.pm = Some(upper == "PM");
            &v[2..]
        }
        Std::Iso(z, colon, secs, hours) => {
            let (off, r) = parse_offset(v, z, colon, secs, hours)?;
            f.offset = Some(off);
            r
        }
        Std::Tz => {
            let (name, off, r) = parse_zone_abbr(v)?;
            f.zone = Some(name);
            f.offset.get_or_insert(off);
            r
        }
        Std::Frac(n, trim, sep) => {
            let Some(rest) = v.strip_prefix(sep) else {
                return if trim { Some(v) } else { None };
            };
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if !trim && digits != n {
                return None;
            }
            let (ns, r) = parse_frac(rest);
            f.nsec = ns;
            r
        }
    };
    Some(r)
}

/// Parses `value` against pre-split layout chunks (Go `time.Parse`, UTC local zone).
pub(crate) fn parse(
    chunks: &[Result<Std, String>],
    layout: &str,
    value: &str,
) -> Result<GoTime, String> {
    let fail = |rest: &str| format!("parsing time {value:?} as {layout:?}: cannot parse {rest:?}");
    let mut f = Fields::default();
    let mut v = value;
    for (i, ch) in chunks.iter().enumerate() {
        v = match ch {
            Err(lit) => skip(v, lit).ok_or_else(|| fail(v))?,
            Ok(std) => {
                let next_is_frac = matches!(chunks.get(i + 1), Some(Ok(Std::Frac(..))));
                field(&mut f, *std, v, next_is_frac).ok_or_else(|| fail(v))?
            }
        };
    }
    if !v.is_empty() {
        return Err(format!("parsing time {value:?}: extra text: {v:?}"));
    }
    build(f).ok_or_else(|| format!("parsing time {value:?}: value out of range"))
}

fn build(f: Fields) -> Option<GoTime> {
    let mut hour = f.hour;
    match f.pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let year = f.year.unwrap_or(0);
    let date = match (f.yday, f.month, f.day) {
        (Some(yd), None, None) => NaiveDate::from_yo_opt(year, yd)?,
        _ => NaiveDate::from_ymd_opt(year, f.month.unwrap_or(1), f.day.unwrap_or(1))?,
    };
    let naive = date.and_hms_nano_opt(hour, f.min, f.sec, f.nsec)?;
    let off = f.offset.unwrap_or(0);
    let tz = FixedOffset::east_opt(off)?;
    let dt = tz.from_local_datetime(&naive).single()?;
    let zone = match f.zone {
        Some(z) => z,
        None if off == 0 => "UTC".into(),
        None => String::new(),
    };
    Some(GoTime { dt, zone })
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let num = &rest[..n];
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .chars()
            .take_while(|c| !c.is_ascii_digit() && *c != '.')
            .collect::<String>();
        if u.is_empty() {
            return Err(format!("time: missing unit in duration {s:?}"));
        }
        let scale = match u.as_str() {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = &rest[u.len()..];
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}
