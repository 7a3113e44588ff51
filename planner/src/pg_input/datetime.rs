//! PostgreSQL's input of `date`, `time` and `timestamp[tz]` text: `datetime.c`'s
//! `ParseDateTime` (the text into typed fields) and `DecodeDateTime` / `DecodeTimeOnly` (the
//! fields into a date, a time and a zone), with DateStyle `ISO, MDY` (PostgreSQL's default).
//!
//! Read: ISO and run-together dates (`2024-02-29`, `20240229`), month names
//! (`Feb 29 2024`, `29-Feb-2024`), `mm/dd/yyyy`, `BC`, `epoch`, `today`/`tomorrow`/`yesterday`,
//! `now`, `allballs`, times `h:m[:s[.f]]` and `hhmmss`, `AM`/`PM`, `24:00:00`, an ISO `T`,
//! numeric zones (`+05`, `-03:30`), zone abbreviations (`UTC`, `EST`) and zone names
//! (`America/New_York`). Fractions of a second round to microseconds as PostgreSQL's do.
//! Not read: `infinity` (no Arrow value holds it: `0A000`), Julian days, ISO field labels
//! (`y2024m02d29`), day-of-year dates.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike};

use crate::data_error::PgDataError;

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;

// Field masks, as datetime.c's DTK_M(...).
const YEAR: u32 = 1 << 0;
const MONTH: u32 = 1 << 1;
const DAY: u32 = 1 << 2;
const HOUR: u32 = 1 << 3;
const MINUTE: u32 = 1 << 4;
const SECOND: u32 = 1 << 5;
const TZ: u32 = 1 << 6;
const DATE_M: u32 = YEAR | MONTH | DAY;
const TIME_M: u32 = HOUR | MINUTE | SECOND;

/// A datetime.c failure before it is reported for one type.
#[derive(Debug)]
enum DtErr {
    BadFormat,
    FieldOverflow,
    /// Month or day out of range: maybe another DateStyle was meant.
    MdFieldOverflow,
    TzDispOverflow,
    Pg(PgDataError),
}

type Dt<T> = Result<T, DtErr>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Number,
    String,
    Date,
    Time,
    Tz,
    Special,
}

/// `ParseDateTime`: split the text into fields, lower-cased, each with its kind.
fn parse_fields(text: &str) -> Dt<Vec<(Field, String)>> {
    let s: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut fields = Vec::new();
    let digit = |i: usize| s.get(i).is_some_and(|c| c.is_ascii_digit());
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let mut buf = String::new();
        let kind;
        if c.is_ascii_digit() {
            while digit(i) {
                buf.push(s[i]);
                i += 1;
            }
            if at(i) == ':' {
                kind = Field::Time;
                while digit(i) || at(i) == ':' || at(i) == '.' {
                    buf.push(s[i]);
                    i += 1;
                }
            } else if matches!(at(i), '-' | '/' | '.') {
                let delim = at(i);
                buf.push(delim);
                i += 1;
                if digit(i) {
                    let mut k = if delim == '.' { Field::Number } else { Field::Date };
                    while digit(i) {
                        buf.push(s[i]);
                        i += 1;
                    }
                    if at(i) == delim {
                        k = Field::Date;
                        while digit(i) || at(i) == delim {
                            buf.push(s[i]);
                            i += 1;
                        }
                    }
                    kind = k;
                } else {
                    kind = Field::Date;
                    while at(i).is_ascii_alphanumeric() || at(i) == delim {
                        buf.push(s[i].to_ascii_lowercase());
                        i += 1;
                    }
                }
            } else {
                kind = Field::Number;
            }
        } else if c == '.' {
            buf.push(c);
            i += 1;
            while digit(i) {
                buf.push(s[i]);
                i += 1;
            }
            kind = Field::Number;
        } else if c.is_ascii_alphabetic() {
            while at(i).is_ascii_alphabetic() {
                buf.push(s[i].to_ascii_lowercase());
                i += 1;
            }
            let is_date = matches!(at(i), '-' | '/' | '.') || ((at(i) == '+' || digit(i)) && keyword(&buf).is_none());
            if is_date {
                loop {
                    buf.push(s[i].to_ascii_lowercase());
                    i += 1;
                    if !(matches!(at(i), '+' | '-' | '/' | '_' | '.' | ':') || at(i).is_ascii_alphanumeric()) {
                        break;
                    }
                }
                kind = Field::Date;
            } else {
                kind = Field::String;
            }
        } else if c == '+' || c == '-' {
            buf.push(c);
            i += 1;
            while at(i).is_whitespace() && i < s.len() {
                i += 1;
            }
            if digit(i) {
                kind = Field::Tz;
                while digit(i) || matches!(at(i), ':' | '.' | '-') {
                    buf.push(s[i]);
                    i += 1;
                }
            } else if at(i).is_ascii_alphabetic() {
                kind = Field::Special;
                while at(i).is_ascii_alphabetic() {
                    buf.push(s[i].to_ascii_lowercase());
                    i += 1;
                }
            } else {
                return Err(DtErr::BadFormat);
            }
        } else if c.is_ascii_punctuation() {
            i += 1;
            continue;
        } else {
            return Err(DtErr::BadFormat);
        }
        fields.push((kind, buf));
    }
    Ok(fields)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Month(i64),
    Dow,
    Am,
    Pm,
    Ad,
    Bc,
    IsoTime,
    Ignore,
    Epoch,
    Late,
    Early,
    Now,
    Today,
    Tomorrow,
    Yesterday,
    Zulu,
    /// A zone abbreviation, seconds east of Greenwich.
    Zone(i32),
}

/// PostgreSQL's `datetktbl` (without the ISO field labels) and the zone abbreviations of
/// its `Default` set that clients meet most.
fn keyword(word: &str) -> Option<Token> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    const FULL: [&str; 12] = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];
    if let Some(m) = MONTHS.iter().position(|m| *m == word).or_else(|| FULL.iter().position(|m| *m == word)) {
        return Some(Token::Month(m as i64 + 1));
    }
    let hour = |h: i32| Some(Token::Zone(h * 3600));
    match word {
        "sept" => Some(Token::Month(9)),
        "sun" | "sunday" | "mon" | "monday" | "tue" | "tues" | "tuesday" | "wed" | "weds" | "wednesday" | "thu" | "thur" | "thurs" | "thursday" | "fri" | "friday" | "sat" | "saturday" => Some(Token::Dow),
        "am" => Some(Token::Am),
        "pm" => Some(Token::Pm),
        "ad" => Some(Token::Ad),
        "bc" => Some(Token::Bc),
        "t" => Some(Token::IsoTime),
        "on" | "at" => Some(Token::Ignore),
        "epoch" => Some(Token::Epoch),
        "infinity" | "+infinity" => Some(Token::Late),
        "-infinity" => Some(Token::Early),
        "now" => Some(Token::Now),
        "today" => Some(Token::Today),
        "tomorrow" => Some(Token::Tomorrow),
        "yesterday" => Some(Token::Yesterday),
        "allballs" => Some(Token::Zulu),
        "utc" | "ut" | "gmt" | "z" | "zulu" | "uct" => hour(0),
        "est" => hour(-5),
        "edt" | "cdt" => hour(if word == "edt" { -4 } else { -5 }),
        "cst" => hour(-6),
        "mst" => hour(-7),
        "mdt" => hour(-6),
        "pst" => hour(-8),
        "pdt" => hour(-7),
        "cet" | "bst" => hour(1),
        "cest" | "eet" => hour(2),
        "eest" | "msk" => hour(3),
        "jst" => hour(9),
        _ => None,
    }
}

/// A zone found in the text.
#[derive(Debug, Clone, Copy)]
enum ZoneSpec {
    /// Seconds east of Greenwich.
    Offset(i32),
    Named(chrono_tz::Tz),
}

#[derive(Debug, Default, Clone)]
struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    /// Microseconds, `0..=1_000_000`.
    fsec: i64,
}

/// What the text names.
#[derive(Debug)]
enum Decoded {
    Fields(Tm, Option<ZoneSpec>),
    Epoch,
    Infinite,
}

#[derive(PartialEq, Clone, Copy)]
enum Meridian {
    Hr24,
    Am,
    Pm,
}

/// Leading `[+-]digits` as `strtoint` reads them: the value and the rest.
fn strtoint(s: &str) -> Dt<(i64, &str)> {
    let bytes = s.as_bytes();
    let mut end = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end == start {
        return Ok((0, s));
    }
    let v: i64 = s[..end].parse().map_err(|_| DtErr::FieldOverflow)?;
    if v > i32::MAX as i64 || v < i32::MIN as i64 {
        return Err(DtErr::FieldOverflow);
    }
    Ok((v, &s[end..]))
}

/// `ParseFractionalSecond`: `.123456789` to microseconds, rounded as `rint` does.
fn fraction(s: &str) -> Dt<i64> {
    let digits = s.strip_prefix('.').ok_or(DtErr::BadFormat)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DtErr::BadFormat);
    }
    let frac: f64 = format!("0.{digits}0").parse().map_err(|_| DtErr::BadFormat)?;
    Ok((frac * 1_000_000.0).round_ties_even() as i64)
}

/// `DecodeTime`: `h:m`, `h:m:s[.f]`, `m:s.f`.
fn decode_time(s: &str, tm: &mut Tm) -> Dt<u32> {
    let (hour, rest) = strtoint(s)?;
    let rest = rest.strip_prefix(':').ok_or(DtErr::BadFormat)?;
    let (min, rest) = strtoint(rest)?;
    let (mut h, mut m, mut sec, mut fsec) = (hour, min, 0, 0);
    if rest.starts_with('.') {
        fsec = fraction(rest)?;
        (h, m, sec) = (0, hour, min);
    } else if let Some(rest) = rest.strip_prefix(':') {
        let (s2, rest) = strtoint(rest)?;
        sec = s2;
        if !rest.is_empty() {
            fsec = fraction(rest)?;
        }
    } else if !rest.is_empty() {
        return Err(DtErr::BadFormat);
    }
    if h < 0 || m < 0 || m > 59 || sec < 0 || sec > 60 || !(0..=USECS_PER_SEC).contains(&fsec) {
        return Err(DtErr::FieldOverflow);
    }
    (tm.hour, tm.min, tm.sec, tm.fsec) = (h, m, sec, fsec);
    Ok(TIME_M)
}

fn time_overflows(tm: &Tm) -> bool {
    if tm.hour < 0 || tm.hour > 24 || tm.min < 0 || tm.min > 59 || tm.sec < 0 || tm.sec > 60 || !(0..=USECS_PER_SEC).contains(&tm.fsec) {
        return true;
    }
    ((tm.hour * 60 + tm.min) * 60 + tm.sec) * USECS_PER_SEC + tm.fsec > USECS_PER_DAY
}

/// `DecodeTimezone`: `+hh`, `-hh:mm[:ss]`, `+hhmm`; seconds east.
fn decode_zone(s: &str) -> Dt<i32> {
    let negative = match s.as_bytes().first() {
        Some(b'+') => false,
        Some(b'-') => true,
        _ => return Err(DtErr::BadFormat),
    };
    let (mut hr, rest) = strtoint(&s[1..])?;
    let (mut min, mut sec, mut rest) = (0, 0, rest);
    if let Some(r) = rest.strip_prefix(':') {
        (min, rest) = strtoint(r)?;
        if let Some(r) = rest.strip_prefix(':') {
            (sec, rest) = strtoint(r)?;
        }
    } else if rest.is_empty() && s.len() > 3 {
        min = hr % 100;
        hr /= 100;
    }
    if !(0..=15).contains(&hr) || !(0..60).contains(&min) || !(0..60).contains(&sec) {
        return Err(DtErr::TzDispOverflow);
    }
    if !rest.is_empty() {
        return Err(DtErr::BadFormat);
    }
    let east = ((hr * 60 + min) * 60 + sec) as i32;
    Ok(if negative { -east } else { east })
}

fn zone_name(name: &str) -> Dt<ZoneSpec> {
    let found = name.parse::<chrono_tz::Tz>().ok().or_else(|| chrono_tz::TZ_VARIANTS.iter().find(|tz| tz.name().eq_ignore_ascii_case(name)).copied());
    found.map(ZoneSpec::Named).ok_or_else(|| DtErr::Pg(PgDataError::new("22023", format!("time zone \"{name}\" not recognized"))))
}

/// `DecodeNumberField`: a run-together date (`20240229`) or time (`143015`, `1430`),
/// maybe with a fraction. Returns the fields it set.
fn decode_number_field(s: &str, fmask: u32, tm: &mut Tm, is2digits: &mut bool) -> Dt<u32> {
    let mut s = s;
    if let Some(dot) = s.find('.') {
        let frac = &s[dot..];
        tm.fsec = if frac.len() == 1 { 0 } else { fraction(frac)? };
        s = &s[..dot];
    } else if fmask & DATE_M != DATE_M && s.len() >= 6 {
        let n = s.len();
        tm.mday = s[n - 2..].parse().map_err(|_| DtErr::BadFormat)?;
        tm.mon = s[n - 4..n - 2].parse().map_err(|_| DtErr::BadFormat)?;
        tm.year = s[..n - 4].parse().map_err(|_| DtErr::FieldOverflow)?;
        if n - 4 == 2 {
            *is2digits = true;
        }
        return Ok(DATE_M);
    }
    if fmask & TIME_M != TIME_M && (s.len() == 6 || s.len() == 4) && s.bytes().all(|b| b.is_ascii_digit()) {
        tm.hour = s[..2].parse().map_err(|_| DtErr::BadFormat)?;
        tm.min = s[2..4].parse().map_err(|_| DtErr::BadFormat)?;
        tm.sec = if s.len() == 6 { s[4..].parse().map_err(|_| DtErr::BadFormat)? } else { 0 };
        return Ok(TIME_M);
    }
    Err(DtErr::BadFormat)
}

/// `DecodeNumber`: one numeric field of a date, placed by what is known so far.
fn decode_number(s: &str, text_month: bool, fmask: u32, tm: &mut Tm, is2digits: &mut bool) -> Dt<u32> {
    let flen = s.len();
    let (val, rest) = strtoint(s)?;
    if rest.len() == s.len() {
        return Err(DtErr::BadFormat);
    }
    if rest.starts_with('.') {
        if flen - rest.len() > 2 {
            return decode_number_field(s, fmask | DATE_M, tm, is2digits);
        }
        tm.fsec = fraction(rest)?;
    } else if !rest.is_empty() {
        return Err(DtErr::BadFormat);
    }
    let tmask = match fmask & DATE_M {
        0 if flen >= 3 => {
            tm.year = val;
            YEAR
        }
        0 => {
            tm.mon = val;
            MONTH
        }
        YEAR => {
            tm.mon = val;
            MONTH
        }
        MONTH if text_month && flen >= 3 => {
            tm.year = val;
            YEAR
        }
        MONTH => {
            tm.mday = val;
            DAY
        }
        m if m == YEAR | MONTH => {
            if text_month && flen >= 3 && *is2digits {
                tm.mday = tm.year;
                tm.year = val;
                *is2digits = false;
            } else {
                tm.mday = val;
            }
            DAY
        }
        DAY => {
            tm.mon = val;
            MONTH
        }
        m if m == MONTH | DAY => {
            tm.year = val;
            YEAR
        }
        DATE_M => return decode_number_field(s, fmask, tm, is2digits),
        _ => return Err(DtErr::BadFormat),
    };
    if tmask == YEAR {
        *is2digits = flen <= 2;
    }
    Ok(tmask)
}

/// `DecodeDate`: a date written as one field (`2024-02-29`, `29-feb-2024`, `02/29/2024`).
fn decode_date(s: &str, mut fmask: u32, tm: &mut Tm, is2digits: &mut bool) -> Dt<u32> {
    let mut parts = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && !b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i == b.len() {
            return Err(DtErr::BadFormat);
        }
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
        }
        parts.push(&s[start..i]);
        if i < b.len() {
            i += 1;
        }
    }
    let mut tmask = 0;
    let mut text_month = false;
    for part in parts.iter().filter(|p| p.as_bytes()[0].is_ascii_alphabetic()) {
        match keyword(part) {
            Some(Token::Ignore) => continue,
            Some(Token::Month(m)) if fmask & MONTH == 0 => {
                tm.mon = m;
                text_month = true;
            }
            _ => return Err(DtErr::BadFormat),
        }
        fmask |= MONTH;
        tmask |= MONTH;
    }
    for part in parts.iter().filter(|p| p.as_bytes()[0].is_ascii_digit()) {
        let dmask = decode_number(part, text_month, fmask, tm, is2digits)?;
        if fmask & dmask != 0 {
            return Err(DtErr::BadFormat);
        }
        fmask |= dmask;
        tmask |= dmask;
    }
    if fmask & !TZ != DATE_M {
        return Err(DtErr::BadFormat);
    }
    Ok(tmask)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `ValidateDate`: years BC and two-digit years to astronomical years, month and day ranges.
fn validate_date(fmask: u32, is2digits: bool, bc: bool, tm: &mut Tm) -> Dt<()> {
    if fmask & YEAR != 0 {
        if bc {
            if tm.year <= 0 {
                return Err(DtErr::FieldOverflow);
            }
            tm.year = -(tm.year - 1);
        } else if is2digits {
            if tm.year < 0 {
                return Err(DtErr::FieldOverflow);
            }
            if tm.year < 70 {
                tm.year += 2000;
            } else if tm.year < 100 {
                tm.year += 1900;
            }
        } else if tm.year <= 0 {
            return Err(DtErr::FieldOverflow);
        }
    }
    if fmask & MONTH != 0 && !(1..=12).contains(&tm.mon) {
        return Err(DtErr::MdFieldOverflow);
    }
    if fmask & DAY != 0 && !(1..=31).contains(&tm.mday) {
        return Err(DtErr::MdFieldOverflow);
    }
    if fmask & DATE_M == DATE_M && tm.mday > days_in_month(tm.year, tm.mon) {
        return Err(DtErr::FieldOverflow);
    }
    Ok(())
}

fn set_date(tm: &mut Tm, date: NaiveDate) {
    (tm.year, tm.mon, tm.mday) = (date.year() as i64, date.month() as i64, date.day() as i64);
}

/// `DecodeDateTime` (`time_only == false`) or `DecodeTimeOnly`. `now` is the session's
/// wall clock, for `now`/`today`/...
fn decode(text: &str, time_only: bool, now: NaiveDateTime) -> Dt<Decoded> {
    let fields = parse_fields(text)?;
    let nf = fields.len();
    let mut tm = Tm::default();
    let (mut fmask, mut is2digits, mut bc, mut text_month) = (0u32, false, false, false);
    let mut mer = Meridian::Hr24;
    let mut zone: Option<ZoneSpec> = None;
    let mut iso_time_pending = false;
    let mut special: Option<Decoded> = None;
    for (i, (kind, field)) in fields.iter().enumerate() {
        let tmask: u32 = match kind {
            Field::Date => {
                let date_first = if time_only {
                    i == 0 && nf >= 2 && (fields[nf - 1].0 == Field::Date || fields[1].0 == Field::Time)
                } else {
                    !(iso_time_pending || fmask & (MONTH | DAY) == MONTH | DAY)
                };
                if date_first {
                    decode_date(field, fmask, &mut tm, &mut is2digits)?
                } else if field.as_bytes()[0].is_ascii_digit() || iso_time_pending {
                    return Err(DtErr::BadFormat);
                } else {
                    zone = Some(zone_name(field)?);
                    TZ
                }
            }
            Field::Time => {
                if iso_time_pending {
                    iso_time_pending = false;
                }
                let m = decode_time(field, &mut tm)?;
                if !time_only && time_overflows(&tm) {
                    return Err(DtErr::FieldOverflow);
                }
                m
            }
            Field::Tz => {
                zone = Some(ZoneSpec::Offset(decode_zone(field)?));
                TZ
            }
            Field::Number => {
                if iso_time_pending {
                    iso_time_pending = false;
                    let m = decode_number_field(field, fmask | DATE_M, &mut tm, &mut is2digits)?;
                    if m != TIME_M {
                        return Err(DtErr::BadFormat);
                    }
                    m
                } else {
                    let flen = field.len();
                    let dot = field.find('.');
                    if time_only {
                        match dot {
                            Some(_) if i == 0 && nf >= 2 && fields[nf - 1].0 == Field::Date => decode_date(field, fmask, &mut tm, &mut is2digits)?,
                            Some(d) if d > 2 => decode_number_field(field, fmask | DATE_M, &mut tm, &mut is2digits)?,
                            Some(_) => return Err(DtErr::BadFormat),
                            None if flen > 4 => decode_number_field(field, fmask | DATE_M, &mut tm, &mut is2digits)?,
                            None => decode_number(field, false, fmask | DATE_M, &mut tm, &mut is2digits)?,
                        }
                    } else {
                        match dot {
                            Some(_) if fmask & DATE_M == 0 => decode_date(field, fmask, &mut tm, &mut is2digits)?,
                            Some(d) if d > 2 => decode_number_field(field, fmask, &mut tm, &mut is2digits)?,
                            _ if flen >= 6 && (fmask & DATE_M == 0 || fmask & TIME_M == 0) => decode_number_field(field, fmask, &mut tm, &mut is2digits)?,
                            _ => decode_number(field, text_month, fmask, &mut tm, &mut is2digits)?,
                        }
                    }
                }
            }
            Field::String | Field::Special => match keyword(field) {
                Some(Token::Ignore) => continue,
                Some(Token::Zone(east)) => {
                    zone = Some(ZoneSpec::Offset(east));
                    TZ
                }
                Some(Token::Zulu) => {
                    (tm.hour, tm.min, tm.sec, tm.fsec) = (0, 0, 0, 0);
                    zone = Some(ZoneSpec::Offset(0));
                    TIME_M | TZ
                }
                Some(Token::Now) => {
                    if !time_only {
                        set_date(&mut tm, now.date());
                    }
                    (tm.hour, tm.min, tm.sec) = (now.hour() as i64, now.minute() as i64, now.second() as i64);
                    tm.fsec = (now.nanosecond() / 1000) as i64;
                    if time_only { TIME_M } else { DATE_M | TIME_M }
                }
                Some(token @ (Token::Today | Token::Tomorrow | Token::Yesterday)) if !time_only => {
                    let shift = match token {
                        Token::Tomorrow => 1,
                        Token::Yesterday => -1,
                        _ => 0,
                    };
                    set_date(&mut tm, now.date() + TimeDelta::days(shift));
                    DATE_M
                }
                Some(token @ (Token::Epoch | Token::Late | Token::Early)) if !time_only => {
                    special = Some(if token == Token::Epoch { Decoded::Epoch } else { Decoded::Infinite });
                    DATE_M | TIME_M | TZ
                }
                Some(Token::Month(m)) if !time_only => {
                    let mut t = MONTH;
                    if fmask & MONTH != 0 && !text_month && fmask & DAY == 0 && (1..=31).contains(&tm.mon) {
                        tm.mday = tm.mon;
                        t = DAY;
                    }
                    text_month = true;
                    tm.mon = m;
                    t
                }
                Some(Token::Am) => {
                    mer = Meridian::Am;
                    1 << 10
                }
                Some(Token::Pm) => {
                    mer = Meridian::Pm;
                    1 << 10
                }
                Some(Token::Ad | Token::Bc) => {
                    bc = field == "bc";
                    1 << 11
                }
                Some(Token::Dow) if !time_only => 1 << 12,
                Some(Token::IsoTime) => {
                    if !time_only && fmask & DATE_M != DATE_M {
                        return Err(DtErr::BadFormat);
                    }
                    iso_time_pending = true;
                    0
                }
                Some(_) => return Err(DtErr::BadFormat),
                None => {
                    if *kind == Field::Special {
                        return Err(DtErr::BadFormat);
                    }
                    match zone_name(field) {
                        Ok(z) => {
                            zone = Some(z);
                            TZ
                        }
                        Err(_) => return Err(DtErr::BadFormat),
                    }
                }
            },
        };
        if tmask & fmask != 0 {
            return Err(DtErr::BadFormat);
        }
        fmask |= tmask;
    }
    if iso_time_pending {
        return Err(DtErr::BadFormat);
    }
    if let Some(special) = special {
        return Ok(special);
    }
    validate_date(fmask, is2digits, bc, &mut tm)?;
    if mer != Meridian::Hr24 && tm.hour > 12 {
        return Err(DtErr::FieldOverflow);
    }
    if mer == Meridian::Am && tm.hour == 12 {
        tm.hour = 0;
    } else if mer == Meridian::Pm && tm.hour != 12 {
        tm.hour += 12;
    }
    if time_only {
        if time_overflows(&tm) {
            return Err(DtErr::FieldOverflow);
        }
        if fmask & TIME_M != TIME_M {
            return Err(DtErr::BadFormat);
        }
    } else if fmask & DATE_M != DATE_M {
        return Err(DtErr::BadFormat);
    }
    Ok(Decoded::Fields(tm, zone))
}

fn report(err: DtErr, type_name: &str, text: &str) -> PgDataError {
    match err {
        DtErr::FieldOverflow | DtErr::MdFieldOverflow => PgDataError::new("22008", format!("date/time field value out of range: \"{text}\"")),
        DtErr::TzDispOverflow => PgDataError::new("22009", format!("time zone displacement out of range: \"{text}\"")),
        DtErr::BadFormat => PgDataError::new("22007", format!("invalid input syntax for type {type_name}: \"{text}\"")),
        DtErr::Pg(e) => e,
    }
}

fn infinite(type_name: &str) -> PgDataError {
    PgDataError::new("0A000", format!("infinite {type_name} values are not supported"))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (astronomical years: 0 is 1 BC).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01 (astronomical year, month, day),
/// for dates beyond chrono's years.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `date_in`: days since 1970-01-01.
pub fn parse_date(text: &str, now: NaiveDateTime) -> Result<i32, PgDataError> {
    match decode(text, false, now).map_err(|e| report(e, "date", text))? {
        Decoded::Epoch => Ok(0),
        Decoded::Infinite => Err(infinite("date")),
        Decoded::Fields(tm, _) => {
            let days = days_from_civil(tm.year, tm.mon, tm.mday);
            // PostgreSQL's dates run from 4714-11-24 BC to 5874897-12-31.
            if days < days_from_civil(-4713, 11, 24) || days >= days_from_civil(5_874_898, 1, 1) {
                return Err(PgDataError::new("22008", format!("date out of range: \"{text}\"")));
            }
            i32::try_from(days).map_err(|_| PgDataError::new("22008", format!("date out of range: \"{text}\"")))
        }
    }
}

/// `time_in`: microseconds since midnight, up to `24:00:00`. A date or zone is ignored.
pub fn parse_time(text: &str, now: NaiveDateTime) -> Result<i64, PgDataError> {
    match decode(text, true, now).map_err(|e| report(e, "time", text))? {
        Decoded::Fields(tm, _) => Ok(((tm.hour * 60 + tm.min) * 60 + tm.sec) * USECS_PER_SEC + tm.fsec),
        _ => Err(report(DtErr::BadFormat, "time", text)),
    }
}

/// `timestamp_in` (`session` is `None`: a zone in the text is ignored) or `timestamptz_in`
/// (the text's zone, else the session's): microseconds since 1970-01-01 00:00 (UTC for
/// `timestamptz`).
pub fn parse_timestamp<Z: TimeZone>(text: &str, now: NaiveDateTime, session: Option<&Z>) -> Result<i64, PgDataError> {
    let type_name = if session.is_some() { "timestamp with time zone" } else { "timestamp without time zone" };
    let out_of_range = || PgDataError::new("22008", format!("timestamp out of range: \"{text}\""));
    let (tm, zone) = match decode(text, false, now).map_err(|e| report(e, type_name, text))? {
        Decoded::Epoch => return Ok(0),
        Decoded::Infinite => return Err(infinite(type_name)),
        Decoded::Fields(tm, zone) => (tm, zone),
    };
    let days = days_from_civil(tm.year, tm.mon, tm.mday);
    let time = ((tm.hour * 60 + tm.min) * 60 + tm.sec) * USECS_PER_SEC + tm.fsec;
    let local = days.checked_mul(USECS_PER_DAY).and_then(|d| d.checked_add(time)).ok_or_else(out_of_range)?;
    let Some(session) = session else { return Ok(local) };
    let east = match zone {
        Some(ZoneSpec::Offset(east)) => east,
        Some(ZoneSpec::Named(tz)) => offset_at_local(&tz, local).ok_or_else(out_of_range)?,
        None => offset_at_local(session, local).ok_or_else(out_of_range)?,
    };
    local.checked_sub(east as i64 * USECS_PER_SEC).ok_or_else(out_of_range)
}

/// The zone's offset (seconds east) for a wall-clock time, as PostgreSQL's
/// `DetermineTimeZoneOffset` picks it: in a repeated hour the standard-time offset, in a
/// skipped hour the offset before the jump.
fn offset_at_local<Z: TimeZone>(zone: &Z, local_us: i64) -> Option<i32> {
    let local = chrono::DateTime::from_timestamp_micros(local_us)?.naive_utc();
    Some(match zone.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(o) => o.fix().local_minus_utc(),
        chrono::LocalResult::Ambiguous(a, b) => a.fix().local_minus_utc().min(b.fix().local_minus_utc()),
        chrono::LocalResult::None => zone.offset_from_utc_datetime(&(local - TimeDelta::hours(12))).fix().local_minus_utc(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2024, 3, 15).unwrap().and_hms_opt(10, 0, 0).unwrap()
    }

    fn date(text: &str) -> Result<String, &'static str> {
        parse_date(text, now()).map(|d| crate::pg_output::date_text(d)).map_err(|e| e.sqlstate())
    }

    fn time(text: &str) -> Result<String, &'static str> {
        parse_time(text, now()).map(|us| crate::pg_output::time_text(us * 1000)).map_err(|e| e.sqlstate())
    }

    fn timestamp(text: &str) -> Result<String, &'static str> {
        parse_timestamp::<chrono::Utc>(text, now(), None).map(|us| crate::pg_output::timestamp_text(us * 1000, false, None)).map_err(|e| e.sqlstate())
    }

    fn timestamptz(text: &str) -> Result<String, &'static str> {
        parse_timestamp(text, now(), Some(&chrono::Utc)).map(|us| crate::pg_output::timestamp_text(us * 1000, false, None)).map_err(|e| e.sqlstate())
    }

    /// Expected answers are PostgreSQL 15's (sql-tests/postgres/dates.slt).
    #[test]
    fn dates_like_postgres() {
        for text in ["2024-02-29", " 2024-02-29 ", "Feb 29 2024", "February 29, 2024", "20240229", "02/29/2024", "2024/02/29", "29-Feb-2024", "2024-02-29 13:45:00"] {
            assert_eq!(date(text).as_deref(), Ok("2024-02-29"), "{text}");
        }
        assert_eq!(date("2024-2-9").as_deref(), Ok("2024-02-09"));
        assert_eq!(date("epoch").as_deref(), Ok("1970-01-01"));
        assert_eq!(date("today").as_deref(), Ok("2024-03-15"));
        assert_eq!(date("yesterday").as_deref(), Ok("2024-03-14"));
        assert_eq!(date("0044-03-15 BC").as_deref(), Ok("0044-03-15 BC"));
        assert_eq!(date("5874897-12-31").as_deref(), Ok("5874897-12-31"));
        for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "29/02/2024", "1900-02-29", "5874898-01-01"] {
            assert_eq!(date(bad), Err("22008"), "{bad}");
        }
        for bad in ["not a date", "", "2024-02-29 foo"] {
            assert_eq!(date(bad), Err("22007"), "{bad}");
        }
        assert_eq!(date("infinity"), Err("0A000"));
    }

    /// sql-tests/postgres/times.slt
    #[test]
    fn times_like_postgres() {
        assert_eq!(time("1:2:3").as_deref(), Ok("01:02:03"));
        assert_eq!(time("12:34:56.1234567").as_deref(), Ok("12:34:56.123457"));
        assert_eq!(time("23:59:59.9999999").as_deref(), Ok("24:00:00"));
        assert_eq!(time("2:30 PM").as_deref(), Ok("14:30:00"));
        assert_eq!(time("12:00 AM").as_deref(), Ok("00:00:00"));
        assert_eq!(time("12:00 PM").as_deref(), Ok("12:00:00"));
        assert_eq!(time("143015").as_deref(), Ok("14:30:15"));
        assert_eq!(time("allballs").as_deref(), Ok("00:00:00"));
        assert_eq!(time("24:00:00").as_deref(), Ok("24:00:00"));
        assert_eq!(time("2024-03-10 08:15:00").as_deref(), Ok("08:15:00"));
        assert_eq!(time("12:34:56+05").as_deref(), Ok("12:34:56"));
        assert_eq!(time("10:30").as_deref(), Ok("10:30:00"));
        for bad in ["24:00:01", "25:00", "12:60:00"] {
            assert_eq!(time(bad), Err("22008"), "{bad}");
        }
        assert_eq!(time("noon"), Err("22007"));
    }

    /// sql-tests/postgres/timestamps.slt
    #[test]
    fn timestamps_like_postgres() {
        for text in ["2024-03-15 14:30:00", "2024-03-15T14:30:00", "2024-03-15 14:30", "March 15 2024 2:30 PM", "20240315 143000", "2024-03-15 14:30:00+05", "2024-03-15 14:30:00 America/New_York"] {
            assert_eq!(timestamp(text).as_deref(), Ok("2024-03-15 14:30:00"), "{text}");
        }
        assert_eq!(timestamp("2024-03-15").as_deref(), Ok("2024-03-15 00:00:00"));
        assert_eq!(timestamp("2024-03-15 24:00:00").as_deref(), Ok("2024-03-16 00:00:00"));
        assert_eq!(timestamp("2024-03-15 14:30:00.1234567").as_deref(), Ok("2024-03-15 14:30:00.123457"));
        assert_eq!(timestamp("2024-12-31 23:59:59.9999996").as_deref(), Ok("2025-01-01 00:00:00"));
        assert_eq!(timestamp("epoch").as_deref(), Ok("1970-01-01 00:00:00"));
        assert_eq!(timestamp("2024-02-30 00:00:00"), Err("22008"));
        assert_eq!(timestamptz("2024-03-15 14:30:00+05:30").as_deref(), Ok("2024-03-15 09:00:00"));
        assert_eq!(timestamptz("2024-03-15 14:30:00-08").as_deref(), Ok("2024-03-15 22:30:00"));
        assert_eq!(timestamptz("2024-03-15T14:30:00Z").as_deref(), Ok("2024-03-15 14:30:00"));
        assert_eq!(timestamptz("2024-07-01 12:00:00 America/New_York").as_deref(), Ok("2024-07-01 16:00:00"));
        assert_eq!(timestamptz("2024-01-01 12:00:00 America/New_York").as_deref(), Ok("2024-01-01 17:00:00"));
        assert_eq!(timestamptz("2024-07-01 12:00:00 Europe/Lisbon").as_deref(), Ok("2024-07-01 11:00:00"));
        assert_eq!(timestamptz("2024-03-15 14:30:00 UTC").as_deref(), Ok("2024-03-15 14:30:00"));
        assert_eq!(timestamptz("2024-03-15 14:30:00 Mars/Olympus"), Err("22023"));
        // Session zone when the text has none.
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let us = parse_timestamp("2024-07-01 12:00:00", now(), Some(&ny)).unwrap();
        assert_eq!(crate::pg_output::timestamp_text(us * 1000, false, None), "2024-07-01 16:00:00");
    }
}
