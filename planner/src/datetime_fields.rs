//! PostgreSQL's fields of a date, time, timestamp or interval (`timestamp_part`,
//! `interval_part` and friends in PostgreSQL's `timestamp.c`/`date.c`), computed exactly as
//! a count of microseconds so that `extract` can return them as `numeric` with
//! PostgreSQL's scale and `date_part` as `double precision`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use crate::data_error::PgDataError;

/// A field name `extract`/`date_part` accept, as PostgreSQL spells and abbreviates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
    Quarter,
    Week,
    Dow,
    Isodow,
    Doy,
    Decade,
    Century,
    Millennium,
    Isoyear,
    Epoch,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
}

impl Unit {
    /// The unit a name stands for (PostgreSQL's `deltatktbl`/`datetktbl` spellings).
    pub fn parse(name: &str) -> Option<Unit> {
        use Unit::*;
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => Microseconds,
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => Milliseconds,
            "second" | "seconds" | "s" | "sec" | "secs" => Second,
            "minute" | "minutes" | "m" | "min" | "mins" => Minute,
            "hour" | "hours" | "h" | "hr" | "hrs" => Hour,
            "day" | "days" | "d" => Day,
            "month" | "months" | "mon" | "mons" => Month,
            "year" | "years" | "y" | "yr" | "yrs" => Year,
            "quarter" | "qtr" => Quarter,
            "week" | "weeks" | "w" => Week,
            "dow" => Dow,
            "isodow" => Isodow,
            "doy" => Doy,
            "decade" | "decades" | "dec" | "decs" => Decade,
            "century" | "centuries" | "c" | "cent" => Century,
            "millennium" | "millennia" | "mil" | "mils" | "millenniums" => Millennium,
            "isoyear" => Isoyear,
            "epoch" => Epoch,
            "timezone" => Timezone,
            "timezone_h" | "timezone_hour" => TimezoneHour,
            "timezone_m" | "timezone_minute" => TimezoneMinute,
            _ => return None,
        })
    }

    /// Digits after the decimal point of `extract`'s numeric result.
    pub fn scale(self) -> i8 {
        match self {
            Unit::Second | Unit::Epoch => 6,
            Unit::Milliseconds => 3,
            _ => 0,
        }
    }

    fn name(self) -> &'static str {
        use Unit::*;
        match self {
            Microseconds => "microseconds",
            Milliseconds => "milliseconds",
            Second => "second",
            Minute => "minute",
            Hour => "hour",
            Day => "day",
            Month => "month",
            Year => "year",
            Quarter => "quarter",
            Week => "week",
            Dow => "dow",
            Isodow => "isodow",
            Doy => "doy",
            Decade => "decade",
            Century => "century",
            Millennium => "millennium",
            Isoyear => "isoyear",
            Epoch => "epoch",
            Timezone => "timezone",
            TimezoneHour => "timezone_hour",
            TimezoneMinute => "timezone_minute",
        }
    }
}

/// `22023 unit "x" not recognized for type t`.
pub fn unknown_unit(name: &str, type_name: &str) -> PgDataError {
    PgDataError::new("22023", format!("unit \"{}\" not recognized for type {type_name}", name.trim().to_ascii_lowercase()))
}

/// `0A000 unit "x" not supported for type t`.
pub fn unsupported_unit(unit: Unit, type_name: &str) -> PgDataError {
    PgDataError::new("0A000", format!("unit \"{}\" not supported for type {type_name}", unit.name()))
}

const MICROS: i128 = 1_000_000;

/// A field of a point in time, in microseconds of the field (`second` of 5.25 s is
/// 5,250,000). `offset`: seconds east of UTC for `timestamptz` (in the session's zone),
/// `None` for types without a zone. `epoch_micros`: the point's seconds since 1970 in
/// microseconds (UTC for `timestamp`, as PostgreSQL does).
pub fn timestamp_field(unit: Unit, local: NaiveDateTime, offset: Option<i32>, epoch_micros: i64, type_name: &str) -> Result<i128, PgDataError> {
    use Unit::*;
    let second_micros = local.second() as i128 * MICROS + (local.nanosecond() / 1000) as i128;
    let whole = |v: i64| Ok(v as i128 * MICROS);
    match unit {
        Microseconds => Ok(second_micros * MICROS),
        Milliseconds => Ok(second_micros * 1000),
        Second => Ok(second_micros),
        Minute => whole(local.minute() as i64),
        Hour => whole(local.hour() as i64),
        Epoch => Ok(epoch_micros as i128),
        Timezone | TimezoneHour | TimezoneMinute => {
            let offset = offset.ok_or_else(|| unsupported_unit(unit, type_name))? as i64;
            match unit {
                Timezone => whole(offset),
                TimezoneHour => whole(offset / 3600),
                _ => whole((offset / 60) % 60),
            }
        }
        _ => date_field(unit, local.date(), type_name),
    }
}

/// A field of a date (fields of the day itself: `hour` and finer are 0A000 for `date`).
pub fn date_field(unit: Unit, date: NaiveDate, type_name: &str) -> Result<i128, PgDataError> {
    use Unit::*;
    // PostgreSQL counts years without a year 0: 1 BC is -1.
    let year = if date.year() > 0 { date.year() as i64 } else { date.year() as i64 - 1 };
    let value: i64 = match unit {
        Day => date.day() as i64,
        Month => date.month() as i64,
        Year => year,
        Quarter => (date.month() as i64 - 1) / 3 + 1,
        Week => date.iso_week().week() as i64,
        Isoyear => {
            let iso = date.iso_week().year() as i64;
            if iso > 0 { iso } else { iso - 1 }
        }
        Dow => date.weekday().num_days_from_sunday() as i64,
        Isodow => date.weekday().number_from_monday() as i64,
        Doy => date.ordinal() as i64,
        Decade => {
            if year >= 0 {
                year / 10
            } else {
                -((8 - (year - 1)) / 10)
            }
        }
        Century => {
            if year > 0 {
                (year + 99) / 100
            } else {
                -((99 - (year - 1)) / 100)
            }
        }
        Millennium => {
            if year > 0 {
                (year + 999) / 1000
            } else {
                -((999 - (year - 1)) / 1000)
            }
        }
        Epoch => {
            let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
            return Ok(midnight.and_utc().timestamp() as i128 * MICROS);
        }
        _ => return Err(unsupported_unit(unit, type_name)),
    };
    Ok(value as i128 * MICROS)
}

/// A field of a time of day given in microseconds since midnight.
pub fn time_field(unit: Unit, micros: i64, type_name: &str) -> Result<i128, PgDataError> {
    use Unit::*;
    let micros = micros as i128;
    let second_micros = micros % (60 * MICROS);
    match unit {
        Microseconds => Ok(second_micros * MICROS),
        Milliseconds => Ok(second_micros * 1000),
        Second => Ok(second_micros),
        Minute => Ok(micros / (60 * MICROS) % 60 * MICROS),
        Hour => Ok(micros / (3600 * MICROS) * MICROS),
        Epoch => Ok(micros),
        _ => Err(unsupported_unit(unit, type_name)),
    }
}

/// A field of an interval (PostgreSQL's `interval2itm`: months split into years and
/// months, the time into hours, minutes and seconds, each truncated toward zero).
pub fn interval_field(unit: Unit, months: i32, days: i32, time_micros: i64) -> Result<i128, PgDataError> {
    use Unit::*;
    let months = months as i64;
    let year = months / 12;
    let month = months % 12;
    let time = time_micros as i128;
    let second_micros = time % (60 * MICROS);
    let whole = |v: i64| Ok(v as i128 * MICROS);
    match unit {
        Microseconds => Ok(second_micros * MICROS),
        Milliseconds => Ok(second_micros * 1000),
        Second => Ok(second_micros),
        Minute => Ok(time / (60 * MICROS) % 60 * MICROS),
        Hour => Ok(time / (3600 * MICROS) * MICROS),
        Day => whole(days as i64),
        Month => whole(month),
        Year => whole(year),
        Quarter => whole(month / 3 + 1),
        Decade => whole(year / 10),
        Century => whole(year / 100),
        Millennium => whole(year / 1000),
        Epoch => {
            // A year is 365.25 days, a month 30 (PostgreSQL's DAYS_PER_YEAR, DAYS_PER_MONTH),
            // counted in quarter days to stay in integers.
            let quarter_days = 1461 * year + 120 * month + 4 * days as i64;
            Ok(quarter_days as i128 * (86_400 / 4) * MICROS + time)
        }
        _ => Err(unsupported_unit(unit, "interval")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn timestamp_fields_like_postgres() {
        let t = at("2024-03-15 14:30:05.123456");
        let f = |u| timestamp_field(u, t, None, 0, "timestamp without time zone").unwrap();
        assert_eq!(f(Unit::Microseconds), 5_123_456 * MICROS);
        assert_eq!(f(Unit::Milliseconds), 5_123_456 * 1000);
        assert_eq!(f(Unit::Second), 5_123_456);
        assert_eq!(f(Unit::Hour), 14 * MICROS);
        assert_eq!(f(Unit::Quarter), MICROS);
        assert_eq!(f(Unit::Dow), 5 * MICROS);
        assert_eq!(f(Unit::Century), 21 * MICROS);
        assert_eq!(f(Unit::Millennium), 3 * MICROS);
        assert_eq!(f(Unit::Decade), 202 * MICROS);
        assert_eq!(timestamp_field(Unit::Timezone, t, None, 0, "timestamp without time zone").unwrap_err().sqlstate(), "0A000");
        assert_eq!(timestamp_field(Unit::TimezoneHour, t, Some(-5 * 3600 - 1800), 0, "t").unwrap(), -5 * MICROS);
        assert_eq!(timestamp_field(Unit::TimezoneMinute, t, Some(-5 * 3600 - 1800), 0, "t").unwrap(), -30 * MICROS);
    }

    #[test]
    fn years_before_christ() {
        let d = NaiveDate::from_ymd_opt(0, 3, 1).unwrap();
        assert_eq!(date_field(Unit::Year, d, "date").unwrap(), -MICROS);
        assert_eq!(date_field(Unit::Century, d, "date").unwrap(), -MICROS);
        assert_eq!(date_field(Unit::Decade, d, "date").unwrap(), -MICROS);
        assert_eq!(date_field(Unit::Hour, d, "date").unwrap_err().sqlstate(), "0A000");
    }

    #[test]
    fn interval_fields_like_postgres() {
        let hour = 3_600 * 1_000_000i64;
        // '2 hours 75 minutes' is 3 hours 15 minutes.
        assert_eq!(interval_field(Unit::Minute, 0, 0, 2 * hour + 75 * 60_000_000).unwrap(), 15 * MICROS);
        assert_eq!(interval_field(Unit::Hour, 0, 0, 2 * hour + 75 * 60_000_000).unwrap(), 3 * MICROS);
        assert_eq!(interval_field(Unit::Epoch, 12, 0, 0).unwrap(), 31_557_600 * MICROS);
        assert_eq!(interval_field(Unit::Epoch, 1, 0, 0).unwrap(), 2_592_000 * MICROS);
        assert_eq!(interval_field(Unit::Epoch, 0, 0, -hour / 2).unwrap(), -1_800 * MICROS);
        assert_eq!(interval_field(Unit::Second, 0, 0, 65_250_000).unwrap(), 5_250_000);
        assert_eq!(interval_field(Unit::Quarter, 14, 0, 0).unwrap(), MICROS);
        assert_eq!(interval_field(Unit::Dow, 0, 0, 0).unwrap_err().sqlstate(), "0A000");
    }

    #[test]
    fn units_parse_as_postgres_spells_them() {
        assert_eq!(Unit::parse("EPOCH"), Some(Unit::Epoch));
        assert_eq!(Unit::parse("mins"), Some(Unit::Minute));
        assert_eq!(Unit::parse("fortnight"), None);
        assert_eq!(Unit::Epoch.scale(), 6);
        assert_eq!(Unit::Milliseconds.scale(), 3);
    }
}
