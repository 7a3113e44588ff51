//! PostgreSQL's interval input (`interval_in`): the `postgres` verbose form
//! (`1 year 2 mons -3 days`, `@ 1 minute ago`), time fields (`02:03:04.5`, `-1 day +02:03`),
//! SQL-standard year-month (`1-2`) and ISO 8601 with designators (`P1Y2M3DT4H5M6.5S`).
//!
//! Fields are read right to left, as PostgreSQL's `DecodeInterval` does: a unit applies to
//! the number on its left, a number right of nothing is seconds and a number left of a time
//! field is days. Fractions cascade down as in PostgreSQL (`1.5 months` = 1 mon 15 days,
//! `1.5 years` = 1 year 6 mons, `1.5 days` = 1 day 12:00:00).

use super::PgDataError;

/// An interval as PostgreSQL stores it: months, days and microseconds, each with its sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PgInterval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl PgInterval {
    /// Arrow's `(months, days, nanoseconds)`; `None` past Arrow's nanosecond range.
    pub fn month_day_nano(&self) -> Option<(i32, i32, i64)> {
        Some((self.months, self.days, self.micros.checked_mul(1000)?))
    }
}

const USECS_PER_SEC: f64 = 1e6;
const USECS_PER_DAY: f64 = 86_400e6;
const DAYS_PER_MONTH: f64 = 30.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
    Century,
    Millennium,
}

fn unit(word: &str) -> Option<Unit> {
    Some(match word {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => Unit::Microsecond,
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => Unit::Millisecond,
        "second" | "seconds" | "s" | "sec" | "secs" => Unit::Second,
        "minute" | "minutes" | "m" | "min" | "mins" => Unit::Minute,
        "hour" | "hours" | "h" | "hr" | "hrs" => Unit::Hour,
        "day" | "days" | "d" => Unit::Day,
        "week" | "weeks" | "w" => Unit::Week,
        "month" | "months" | "mon" | "mons" => Unit::Month,
        "year" | "years" | "y" | "yr" | "yrs" => Unit::Year,
        "decade" | "decades" | "dec" | "decs" => Unit::Decade,
        "century" | "centuries" | "c" | "cent" => Unit::Century,
        "millennium" | "millennia" | "mil" | "mils" => Unit::Millennium,
        _ => return None,
    })
}

/// Accumulates fields in wide integers; range is checked once at the end.
#[derive(Default)]
struct Acc {
    months: i128,
    days: i128,
    micros: i128,
}

impl Acc {
    /// PostgreSQL's AdjustFractMicroseconds: `frac * scale` microseconds, rounded.
    fn fract_micros(&mut self, frac: f64, scale: f64) {
        if frac != 0.0 {
            self.micros += (frac * scale).round() as i128;
        }
    }

    /// AdjustFractDays: whole days, the rest as microseconds.
    fn fract_days(&mut self, frac: f64, scale: f64) {
        if frac != 0.0 {
            let days = frac * scale;
            let whole = days.trunc();
            self.days += whole as i128;
            self.fract_micros(days - whole, USECS_PER_DAY);
        }
    }

    /// Add `int + frac` of `unit` (both carry the number's sign).
    fn add(&mut self, int: i128, frac: f64, unit: Unit) {
        match unit {
            Unit::Microsecond => self.micros += int + (frac.round() as i128),
            Unit::Millisecond => {
                self.micros += int * 1000;
                self.fract_micros(frac, 1000.0);
            }
            Unit::Second => {
                self.micros += int * 1_000_000;
                self.fract_micros(frac, USECS_PER_SEC);
            }
            Unit::Minute => {
                self.micros += int * 60_000_000;
                self.fract_micros(frac, 60.0 * USECS_PER_SEC);
            }
            Unit::Hour => {
                self.micros += int * 3_600_000_000;
                self.fract_micros(frac, 3600.0 * USECS_PER_SEC);
            }
            Unit::Day => {
                self.days += int;
                self.fract_micros(frac, USECS_PER_DAY);
            }
            Unit::Week => {
                self.days += int * 7;
                self.fract_days(frac, 7.0);
            }
            Unit::Month => {
                self.months += int;
                self.fract_days(frac, DAYS_PER_MONTH);
            }
            Unit::Year | Unit::Decade | Unit::Century | Unit::Millennium => {
                let per = match unit {
                    Unit::Year => 12,
                    Unit::Decade => 120,
                    Unit::Century => 1200,
                    _ => 12_000,
                };
                self.months += int * per;
                if frac != 0.0 {
                    self.months += (frac * per as f64).round() as i128;
                }
            }
        }
    }

    fn finish(self, negate: bool) -> Option<PgInterval> {
        let sign = if negate { -1 } else { 1 };
        Some(PgInterval {
            months: i32::try_from(self.months * sign).ok()?,
            days: i32::try_from(self.days * sign).ok()?,
            micros: i64::try_from(self.micros * sign).ok()?,
        })
    }
}

/// Parse PostgreSQL interval text.
pub fn parse_interval(text: &str) -> Result<PgInterval, PgDataError> {
    let syntax = || PgDataError::new("22007", format!("invalid input syntax for type interval: \"{text}\""));
    let field_range = || PgDataError::new("22015", format!("interval field value out of range: \"{text}\""));
    let lower = text.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Err(syntax());
    }
    if let Some(iso) = lower.strip_prefix('p') {
        let acc = parse_iso(iso).ok_or_else(syntax)?;
        return acc.finish(false).ok_or_else(field_range);
    }
    let tokens = tokenize(&lower).ok_or_else(syntax)?;
    let mut acc = Acc::default();
    let mut pending: Option<Unit> = None;
    // Each unit may be given once (PostgreSQL's field mask); a time field sets h, m and s.
    let mut used: Vec<Unit> = Vec::new();
    let mut ago = false;
    for (position, token) in tokens.iter().enumerate().rev() {
        match token {
            Token::Word(word) if word == "ago" => {
                if position + 1 != tokens.len() || ago {
                    return Err(syntax());
                }
                ago = true;
            }
            Token::Word(word) => pending = Some(unit(word).ok_or_else(syntax)?),
            Token::Time(time) => {
                if used.iter().any(|u| matches!(u, Unit::Hour | Unit::Minute | Unit::Second)) {
                    return Err(syntax());
                }
                used.extend([Unit::Hour, Unit::Minute, Unit::Second]);
                acc.micros += parse_time(time).map_err(|e| if e { field_range() } else { syntax() })?;
                pending = Some(Unit::Day);
            }
            Token::Number(number) => {
                if let Some((years, months)) = year_month(number) {
                    if used.iter().any(|u| matches!(u, Unit::Year | Unit::Month)) {
                        return Err(syntax());
                    }
                    used.extend([Unit::Year, Unit::Month]);
                    acc.months += years * 12 + months;
                    continue;
                }
                let (int, frac) = split_number(number).ok_or_else(syntax)?;
                let unit = pending.unwrap_or(Unit::Second);
                if used.contains(&unit) {
                    return Err(syntax());
                }
                used.push(unit);
                acc.add(int, frac, unit);
            }
        }
    }
    acc.finish(ago).ok_or_else(field_range)
}

#[derive(Debug)]
enum Token {
    Number(String),
    Time(String),
    Word(String),
}

/// Split into numbers (signed, with `.`, `-` inside for year-month), times (with `:`) and
/// words; `@` is ignored; a unit may follow its number without a space (`1day`).
fn tokenize(text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == '@' {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' || ((c == '+' || c == '-') && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit() || *n == '.')) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | ':' | '-')) {
                i += 1;
            }
            let token: String = chars[start..i].iter().collect();
            tokens.push(if token.contains(':') { Token::Time(token) } else { Token::Number(token) });
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return None;
        }
    }
    Some(tokens)
}

/// `[+-]int[.frac]` as a signed integer part and a signed fraction.
fn split_number(number: &str) -> Option<(i128, f64)> {
    let (negative, digits) = match number.as_bytes().first()? {
        b'-' => (true, &number[1..]),
        b'+' => (false, &number[1..]),
        _ => (false, number),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if int_part.is_empty() && frac_part.is_none_or(str::is_empty) {
        return None;
    }
    if !int_part.chars().all(|c| c.is_ascii_digit()) || !frac_part.unwrap_or("").chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let int: i128 = if int_part.is_empty() { 0 } else { int_part.parse().ok()? };
    let frac: f64 = match frac_part {
        Some(f) if !f.is_empty() => format!("0.{f}").parse().ok()?,
        _ => 0.0,
    };
    Some(if negative { (-int, -frac) } else { (int, frac) })
}

/// SQL-standard `[+-]years-months`.
fn year_month(number: &str) -> Option<(i128, i128)> {
    let (negative, body) = match number.as_bytes().first()? {
        b'-' => (true, &number[1..]),
        b'+' => (false, &number[1..]),
        _ => (false, number),
    };
    let (years, months) = body.split_once('-')?;
    let all_digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(years) || !all_digits(months) {
        return None;
    }
    let (years, months): (i128, i128) = (years.parse().ok()?, months.parse().ok()?);
    if months > 11 {
        return None;
    }
    Some(if negative { (-years, -months) } else { (years, months) })
}

/// `[+-]h:m[:s[.f]]` or `[+-]m:s.f` as microseconds; `Err(true)`: a field out of range.
fn parse_time(time: &str) -> Result<i128, bool> {
    let (negative, body) = match time.as_bytes().first() {
        Some(b'-') => (true, &time[1..]),
        Some(b'+') => (false, &time[1..]),
        _ => (false, time),
    };
    let parts: Vec<&str> = body.split(':').collect();
    let int = |s: &str| -> Result<i128, bool> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(false);
        }
        s.parse().map_err(|_| false)
    };
    let seconds = |s: &str| -> Result<i128, bool> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let whole = int(whole)?;
        if !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(false);
        }
        let frac: f64 = if frac.is_empty() { 0.0 } else { format!("0.{frac}").parse().map_err(|_| false)? };
        if whole > 59 {
            return Err(true);
        }
        Ok(whole * 1_000_000 + (frac * 1e6).round() as i128)
    };
    let micros = match parts.as_slice() {
        [m, s] if s.contains('.') => {
            let m = int(m)?;
            if m > 59 {
                return Err(true);
            }
            m * 60_000_000 + seconds(s)?
        }
        [h, m] => {
            let m = int(m)?;
            if m > 59 {
                return Err(true);
            }
            int(h)? * 3_600_000_000 + m * 60_000_000
        }
        [h, m, s] => {
            let m = int(m)?;
            if m > 59 {
                return Err(true);
            }
            int(h)? * 3_600_000_000 + m * 60_000_000 + seconds(s)?
        }
        _ => return Err(false),
    };
    Ok(if negative { -micros } else { micros })
}

/// ISO 8601 with designators, after the `P`: `nYnMnWnD[TnHnMnS]`.
fn parse_iso(text: &str) -> Option<Acc> {
    let mut acc = Acc::default();
    let mut in_time = false;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('t') {
            if in_time || r.is_empty() {
                return None;
            }
            in_time = true;
            rest = r;
            continue;
        }
        let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, tail) = rest.split_at(end);
        let designator = tail.chars().next()?;
        let (int, frac) = split_number(number)?;
        let unit = match (in_time, designator) {
            (false, 'y') => Unit::Year,
            (false, 'm') => Unit::Month,
            (false, 'w') => Unit::Week,
            (false, 'd') => Unit::Day,
            (true, 'h') => Unit::Hour,
            (true, 'm') => Unit::Minute,
            (true, 's') => Unit::Second,
            _ => return None,
        };
        acc.add(int, frac, unit);
        rest = &tail[1..];
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(months: i32, days: i32, micros: i64) -> PgInterval {
        PgInterval { months, days, micros }
    }

    const H: i64 = 3_600_000_000;
    const M: i64 = 60_000_000;
    const S: i64 = 1_000_000;

    /// Expected values checked against PostgreSQL 15.
    #[test]
    fn postgres_forms() {
        let cases: &[(&str, PgInterval)] = &[
            ("1 day 02:03:04", iv(0, 1, 2 * H + 3 * M + 4 * S)),
            ("02:03:04", iv(0, 0, 2 * H + 3 * M + 4 * S)),
            ("02:03", iv(0, 0, 2 * H + 3 * M)),
            ("1:02.5", iv(0, 0, M + 2 * S + 500_000)),
            ("1 year 2 mons", iv(14, 0, 0)),
            ("-1 day +02:03", iv(0, -1, 2 * H + 3 * M)),
            ("1 day -02:03:04.25", iv(0, 1, -(2 * H + 3 * M + 4 * S + 250_000))),
            ("1 2:03:04", iv(0, 1, 2 * H + 3 * M + 4 * S)),
            ("5", iv(0, 0, 5 * S)),
            ("1.5", iv(0, 0, 1_500_000)),
            ("1 day 2 hours 3 minutes 4 seconds", iv(0, 1, 2 * H + 3 * M + 4 * S)),
            ("@ 1 minute ago", iv(0, 0, -M)),
            ("1 year 2 mons ago", iv(-14, 0, 0)),
            ("1.5 years", iv(18, 0, 0)),
            ("1.5 months", iv(1, 15, 0)),
            ("1.5 days", iv(0, 1, 12 * H)),
            ("1.5 weeks", iv(0, 10, 12 * H)),
            ("-1.5 hours", iv(0, 0, -(H + 30 * M))),
            ("2 decades", iv(240, 0, 0)),
            ("1 mil", iv(12_000, 0, 0)),
            (".5", iv(0, 0, 500_000)),
            ("+1 day", iv(0, 1, 0)),
            ("1 century", iv(1200, 0, 0)),
            ("3 ms", iv(0, 0, 3000)),
            ("7 us", iv(0, 0, 7)),
            ("1day 2hours", iv(0, 1, 2 * H)),
            ("1-2", iv(14, 0, 0)),
            ("-1-2", iv(-14, 0, 0)),
            ("1-2 3 4:05:06", iv(14, 3, 4 * H + 5 * M + 6 * S)),
            ("100:00:00", iv(0, 0, 100 * H)),
            ("  1 DAY  ", iv(0, 1, 0)),
            ("P1Y2M3DT4H5M6S", iv(14, 3, 4 * H + 5 * M + 6 * S)),
            ("P1DT2H", iv(0, 1, 2 * H)),
            ("PT1.5S", iv(0, 0, 1_500_000)),
            ("P1W", iv(0, 7, 0)),
            ("P0.5M", iv(0, 15, 0)),
            ("PT-2M", iv(0, 0, -2 * M)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_interval(text).unwrap(), *expected, "{text}");
        }
    }

    #[test]
    fn bad_input_is_22007() {
        for text in ["", "abc", "1 fortnight", "1 day day ago 2", "1:2:3:4", "P", "P1H", "PT", "02:03 04:05", "1 ago 2", "--1", "1 day 1 day", "1 2 days", "1,2"] {
            let err = parse_interval(text).unwrap_err();
            assert_eq!(err.sqlstate(), "22007", "{text}: {err}");
        }
        assert_eq!(parse_interval("1:60").unwrap_err().sqlstate(), "22015");
        assert_eq!(parse_interval("99999999999 days").unwrap_err().sqlstate(), "22015");
    }

    #[test]
    fn nanoseconds_for_arrow() {
        assert_eq!(parse_interval("1 day 00:00:01").unwrap().month_day_nano(), Some((0, 1, 1_000_000_000)));
    }
}
