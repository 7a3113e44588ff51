//! PostgreSQL's `x AT TIME ZONE zone`, which is its function `timezone(zone, x)`.
//!
//! DataFusion plans `AT TIME ZONE` as a cast to a timestamp type labelled with the zone:
//! a `timestamptz` stays the same instant and prints unchanged, so
//! `timestamptz '2024-07-01 12:00+00' AT TIME ZONE 'America/New_York'` answered
//! `12:00:00+00` where PostgreSQL answers the wall-clock time there, `08:00:00`, as a
//! `timestamp`. PostgreSQL's two directions:
//! - `timestamptz AT TIME ZONE z` is a `timestamp`: the wall-clock time in `z` at that instant;
//! - `timestamp AT TIME ZONE z` is a `timestamptz`: the instant when clocks in `z` show it
//!   (a time skipped by a DST jump reads with the offset before it, a repeated one with the
//!   offset after it, as PostgreSQL does).
//!
//! The zone is a name (`Europe/Lisbon`, any case), `UTC`/`GMT`/`Z`, a POSIX offset (text
//! `'+05:30'` means five and a half hours *west* of Greenwich, as in PostgreSQL), or an
//! interval (`INTERVAL '-08:00'`, east positive). An unknown name is `22023`. The rule on the
//! parsed statement writes `AT TIME ZONE` as the `timezone` call, which users may also write.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampNanosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNanoType, IntervalUnit, TimeUnit, TimestampNanosecondType};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::sql::sqlparser::ast::{Expr, Statement, VisitMut, VisitorMut};

use crate::data_error::PgDataError;
use crate::pg_catalog::compat::ast::call;

/// Rule on the parsed statement: `x AT TIME ZONE z` is `timezone(z, x)`.
pub fn at_time_zone_calls(statement: &mut Statement) {
    let _ = statement.visit(&mut AtTimeZone);
}

struct AtTimeZone;

impl VisitorMut for AtTimeZone {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::AtTimeZone { timestamp, time_zone } = expr {
            let placeholder = || Box::new(Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
            let (timestamp, zone) = (std::mem::replace(timestamp, placeholder()), std::mem::replace(time_zone, placeholder()));
            *expr = call("timezone", vec![*zone, *timestamp]);
        }
        ControlFlow::Continue(())
    }
}

/// `timezone(zone, timestamp | timestamptz)`.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Timezone { signature: Signature::any(2, Volatility::Stable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Timezone {
    signature: Signature,
}

const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Nanosecond, None);

fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

impl ScalarUDFImpl for Timezone {
    fn name(&self) -> &str {
        "timezone"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [zone, value] = arg_types else { return Err(DataFusionError::Plan("timezone takes a zone and a timestamp".into())) };
        let zone = match zone {
            DataType::Interval(_) => DataType::Interval(IntervalUnit::MonthDayNano),
            _ => DataType::Utf8,
        };
        let value = match value {
            DataType::Timestamp(_, Some(_)) => timestamptz(),
            DataType::Timestamp(_, None) => TIMESTAMP,
            // An untyped literal reads as timestamptz, PostgreSQL's preferred type.
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => timestamptz(),
            other => {
                return Err(PgDataError::new("42883", format!("function timezone(unknown, {other}) does not exist")).into());
            }
        };
        Ok(vec![zone, value])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match arg_types.get(1) {
            Some(DataType::Timestamp(_, Some(_))) => TIMESTAMP,
            _ => timestamptz(),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [zones, values] = args.args.as_slice() else { return Err(DataFusionError::Plan("timezone takes two arguments".into())) };
        let (zones, values) = (zones.to_array(rows)?, values.to_array(rows)?);
        let to_local = matches!(values.data_type(), DataType::Timestamp(_, Some(_)));
        let nanos = cast(&values, &TIMESTAMP)?;
        let nanos = nanos.as_primitive::<TimestampNanosecondType>();
        let zone_at = zone_reader(&zones)?;
        let mut out = Vec::with_capacity(rows);
        let mut last: Option<(String, Zone)> = None;
        for i in 0..nanos.len() {
            let Some(spec) = zone_at(i) else {
                out.push(None);
                continue;
            };
            if nanos.is_null(i) {
                out.push(None);
                continue;
            }
            if last.as_ref().is_none_or(|(text, _)| text.as_str() != spec.as_ref()) {
                let zone = Zone::parse(&spec)?;
                last = Some((spec.into_owned(), zone));
            }
            let zone = &last.as_ref().expect("set above").1;
            out.push(Some(if to_local { zone.wall_clock(nanos.value(i))? } else { zone.instant(nanos.value(i))? }));
        }
        let out = TimestampNanosecondArray::from(out);
        let out: ArrayRef = if to_local { Arc::new(out) } else { Arc::new(out.with_timezone("UTC")) };
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
    }
}

/// The zone of each row, as text (an interval zone as its offset in seconds, `@<secs>`);
/// text zones are borrowed, so a row costs no allocation.
fn zone_reader<'a>(zones: &'a ArrayRef) -> Result<Box<dyn Fn(usize) -> Option<Cow<'a, str>> + 'a>> {
    Ok(match zones.data_type() {
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let intervals = zones.as_primitive::<IntervalMonthDayNanoType>();
            Box::new(move |i| {
                (!intervals.is_null(i)).then(|| {
                    let v = intervals.value(i);
                    Cow::Owned(format!("@{}", (v.days as i64 * 86_400) + v.nanoseconds / 1_000_000_000))
                })
            })
        }
        DataType::Utf8 => {
            let text = zones.as_string::<i32>();
            Box::new(move |i| (!text.is_null(i)).then(|| Cow::Borrowed(text.value(i))))
        }
        other => return Err(DataFusionError::Plan(format!("timezone: a zone of type {other}"))),
    })
}

/// A zone `AT TIME ZONE` accepts.
enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    fn parse(spec: &str) -> Result<Zone, PgDataError> {
        let unknown = || PgDataError::new("22023", format!("time zone \"{spec}\" not recognized"));
        if let Some(seconds) = spec.strip_prefix('@') {
            let seconds: i32 = seconds.parse().map_err(|_| unknown())?;
            return FixedOffset::east_opt(seconds).map(Zone::Fixed).ok_or_else(unknown);
        }
        let trimmed = spec.trim();
        if ["utc", "gmt", "z", "zulu", "uct", "universal"].contains(&trimmed.to_ascii_lowercase().as_str()) {
            return Ok(Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset")));
        }
        if let Some(west) = posix_offset(trimmed) {
            return FixedOffset::west_opt(west).map(Zone::Fixed).ok_or_else(unknown);
        }
        if let Ok(tz) = chrono_tz::Tz::from_str(trimmed) {
            return Ok(Zone::Named(tz));
        }
        chrono_tz::TZ_VARIANTS.iter().find(|tz| tz.name().eq_ignore_ascii_case(trimmed)).map(|tz| Zone::Named(*tz)).ok_or_else(unknown)
    }

    /// The wall-clock time in this zone at the instant `nanos` (since 1970 UTC).
    fn wall_clock(&self, nanos: i64) -> Result<i64> {
        let utc = DateTime::from_timestamp_nanos(nanos);
        let offset = match self {
            Zone::Fixed(offset) => offset.local_minus_utc(),
            Zone::Named(tz) => tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc(),
        };
        Ok(nanos + offset as i64 * 1_000_000_000)
    }

    /// The instant when clocks in this zone show `nanos` (a wall-clock time as nanoseconds).
    fn instant(&self, nanos: i64) -> Result<i64> {
        let local: NaiveDateTime = DateTime::from_timestamp_nanos(nanos).naive_utc();
        let offset = match self {
            Zone::Fixed(offset) => offset.local_minus_utc(),
            Zone::Named(tz) => match tz.offset_from_local_datetime(&local) {
                LocalResult::Single(offset) => offset.fix().local_minus_utc(),
                // Clocks went back: the offset after the change.
                LocalResult::Ambiguous(a, b) => a.fix().local_minus_utc().min(b.fix().local_minus_utc()),
                // Clocks jumped over it: the offset before the jump.
                LocalResult::None => tz.offset_from_utc_datetime(&(local - TimeDelta::hours(12))).fix().local_minus_utc(),
            },
        };
        Ok(nanos - offset as i64 * 1_000_000_000)
    }
}

/// A POSIX-style offset `[+-]hh[:mm[:ss]]`, in seconds *west* of Greenwich.
fn posix_offset(spec: &str) -> Option<i32> {
    let (sign, rest) = match spec.as_bytes().first()? {
        b'+' => (1, &spec[1..]),
        b'-' => (-1, &spec[1..]),
        _ => return None,
    };
    let mut parts = rest.split(':');
    let mut seconds = 0;
    for (i, unit) in [3600, 60, 1].into_iter().enumerate() {
        match parts.next() {
            Some(p) if !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) => seconds += p.parse::<i32>().ok()? * unit,
            None if i > 0 => break,
            _ => return None,
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some(sign * seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_nanos_opt().unwrap()
    }

    #[test]
    fn zones_read_as_postgres_reads_them() {
        let noon = ns("2024-07-01 12:00:00");
        assert_eq!(Zone::parse("America/New_York").unwrap().wall_clock(noon).unwrap(), ns("2024-07-01 08:00:00"));
        assert_eq!(Zone::parse("europe/lisbon").unwrap().wall_clock(noon).unwrap(), ns("2024-07-01 13:00:00"));
        // POSIX: '+05:30' is west of Greenwich.
        assert_eq!(Zone::parse("+05:30").unwrap().wall_clock(noon).unwrap(), ns("2024-07-01 06:30:00"));
        assert_eq!(Zone::parse("@-28800").unwrap().wall_clock(noon).unwrap(), ns("2024-07-01 04:00:00"));
        assert_eq!(Zone::parse("Nowhere/Land").err().map(|e| e.sqlstate()), Some("22023"));
    }

    #[test]
    fn wall_clock_times_become_instants() {
        let ny = Zone::parse("America/New_York").unwrap();
        assert_eq!(ny.instant(ns("2024-07-01 08:00:00")).unwrap(), ns("2024-07-01 12:00:00"));
        // 02:30 does not exist on 2024-03-10 in New York: read with EST, before the jump.
        assert_eq!(ny.instant(ns("2024-03-10 02:30:00")).unwrap(), ns("2024-03-10 07:30:00"));
        // 01:30 happens twice on 2024-11-03: EST, after the change.
        assert_eq!(ny.instant(ns("2024-11-03 01:30:00")).unwrap(), ns("2024-11-03 06:30:00"));
    }

    #[test]
    fn the_rule_writes_the_function() {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT ts AT TIME ZONE 'UTC' FROM t").unwrap().remove(0);
        at_time_zone_calls(&mut statement);
        assert_eq!(statement.to_string(), "SELECT timezone('UTC', ts) FROM t");
    }
}
