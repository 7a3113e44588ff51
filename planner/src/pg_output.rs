//! PostgreSQL's text output of dates, times, timestamps and intervals — one implementation
//! for the wire (the server renders result columns with it) and for casts to text.
//!
//! Arrow's cast to text writes `2024-03-15T14:30:00.500`, `1 days 2 hours 3 mins 4.000000000
//! secs` and `08:30:00.500`, so `ts::text`, `'at ' || ts` and `interval::varchar` differed from
//! PostgreSQL's `2024-03-15 14:30:00.5`, `1 day 02:03:04`, `08:30:00.5`. [`pg_text`] is
//! `ember_text_out(x) -> text`, which `pg_input::PgTextInput` puts in place of every cast
//! of such a value to text, written or added by type coercion. `timestamptz` is shown in the
//! session's `TimeZone`; years before 1 AD end in ` BC`, as PostgreSQL prints them.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Offset, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, DurationNanosecondType, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType,
    Time64NanosecondType, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Whether values of this type have a PostgreSQL text form here.
pub fn is_datetime(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Time32(_) | DataType::Time64(_) | DataType::Interval(_) | DataType::Duration(_)
    )
}

/// The PostgreSQL text of every value of a datetime column (`None` for other types).
/// `zone`: where `timestamptz` values are shown (UTC when `None`).
pub fn datetime_text(column: &ArrayRef, zone: Option<&Tz>) -> Result<Option<StringArray>> {
    let mut out = StringBuilder::with_capacity(column.len(), column.len() * 20);
    macro_rules! each {
        ($array:expr, |$v:ident| $body:expr) => {{
            let array = $array;
            for i in 0..array.len() {
                if array.is_null(i) {
                    out.append_null();
                } else {
                    let $v = array.value(i);
                    out.append_value($body);
                }
            }
        }};
    }
    match column.data_type() {
        DataType::Date32 | DataType::Date64 => {
            let days = cast(column, &DataType::Date32)?;
            each!(days.as_primitive::<Date32Type>(), |v| date_text(v))
        }
        DataType::Timestamp(_, with_zone) => {
            let with_zone = with_zone.is_some();
            let nanos = cast(column, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
            each!(nanos.as_primitive::<TimestampNanosecondType>(), |v| timestamp_text(v, with_zone, zone))
        }
        DataType::Time32(_) | DataType::Time64(_) => {
            let nanos = cast(column, &DataType::Time64(TimeUnit::Nanosecond))?;
            each!(nanos.as_primitive::<Time64NanosecondType>(), |v| time_text(v))
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            each!(column.as_primitive::<IntervalMonthDayNanoType>(), |v| interval_text(v.months, v.days, v.nanoseconds))
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            each!(column.as_primitive::<IntervalDayTimeType>(), |v| interval_text(0, v.days, v.milliseconds as i64 * 1_000_000))
        }
        DataType::Interval(IntervalUnit::YearMonth) => each!(column.as_primitive::<IntervalYearMonthType>(), |v| interval_text(v, 0, 0)),
        DataType::Duration(_) => {
            let nanos = cast(column, &DataType::Duration(TimeUnit::Nanosecond))?;
            each!(nanos.as_primitive::<DurationNanosecondType>(), |v| interval_text(0, 0, v))
        }
        _ => return Ok(None),
    }
    Ok(Some(out.finish()))
}

/// interval_out in the `postgres` IntervalStyle: `1 year 2 mons 3 days 04:05:06.5`.
pub fn interval_text(months: i32, days: i32, nanos: i64) -> String {
    let mut parts = Vec::new();
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let (years, mons) = (months / 12, months % 12);
    if years != 0 {
        parts.push(unit(years as i64, "year", "years"));
    }
    if mons != 0 {
        parts.push(unit(mons as i64, "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days as i64, "day", "days"));
    }
    if nanos != 0 || parts.is_empty() {
        let sign = if nanos < 0 { "-" } else { "" };
        let abs = nanos.unsigned_abs();
        let total_secs = abs / 1_000_000_000;
        let (h, m, s) = (total_secs / 3600, (total_secs % 3600) / 60, total_secs % 60);
        parts.push(format!("{sign}{h:02}:{m:02}:{s:02}{}", fraction((abs % 1_000_000_000) as u32)));
    }
    parts.join(" ")
}

/// `.5` / `.123456`: fractional seconds at microsecond precision, trailing zeros dropped.
pub fn fraction(nanos: u32) -> String {
    let micros = (nanos / 1_000) % 1_000_000;
    if micros == 0 {
        return String::new();
    }
    let text = format!(".{micros:06}");
    text.trim_end_matches('0').to_string()
}

/// `2024-03-15`, or `0044-03-15` and whether the year is BC (PostgreSQL has no year 0).
fn ymd(date: NaiveDate) -> (String, bool) {
    let year = date.year();
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    (format!("{shown:04}-{:02}-{:02}", date.month(), date.day()), bc)
}

fn bc_suffix(bc: bool) -> &'static str {
    if bc { " BC" } else { "" }
}

/// date_out: `2024-03-15`, `0044-03-15 BC`. `days` since 1970-01-01.
pub fn date_text(days: i32) -> String {
    match NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|d| d.checked_add_signed(chrono::TimeDelta::days(days as i64))) {
        Some(date) => {
            let (text, bc) = ymd(date);
            format!("{text}{}", bc_suffix(bc))
        }
        None => {
            // Beyond chrono's years (PostgreSQL's dates reach 5874897).
            let (year, month, day) = crate::pg_input::datetime::civil_from_days(days as i64);
            let (year, bc) = if year > 0 { (year, false) } else { (1 - year, true) };
            format!("{year:04}-{month:02}-{day:02}{}", bc_suffix(bc))
        }
    }
}

/// timestamp_out / timestamptz_out: `2024-01-02 03:04:05.25`, with `+00`-style offset in
/// `zone` for `timestamptz`.
pub fn timestamp_text(nanos: i64, with_zone: bool, zone: Option<&Tz>) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    let Some(utc) = DateTime::from_timestamp(secs, sub) else {
        return nanos.to_string();
    };
    if !with_zone {
        let naive = utc.naive_utc();
        let (date, bc) = ymd(naive.date());
        return format!("{date} {}{}{}", naive.format("%H:%M:%S"), fraction(sub), bc_suffix(bc));
    }
    let (local, offset_secs) = match zone {
        Some(tz) => {
            let local = tz.from_utc_datetime(&utc.naive_utc());
            (local.naive_local(), local.offset().fix().local_minus_utc())
        }
        None => (utc.naive_utc(), 0),
    };
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.abs();
    let (h, m, s) = (abs / 3600, (abs % 3600) / 60, abs % 60);
    let offset = match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
    };
    let (date, bc) = ymd(local.date());
    format!("{date} {}{}{}{}", local.format("%H:%M:%S"), fraction(sub), offset, bc_suffix(bc))
}

/// time_out: `12:34:56.5`; the end of the day is `24:00:00`.
pub fn time_text(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000) as u32;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    match NaiveTime::from_num_seconds_from_midnight_opt(secs, 0) {
        Some(t) => format!("{}{}", t.format("%H:%M:%S"), fraction(sub)),
        None => "24:00:00".to_string(),
    }
}

static TEXT_OUT: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(TextOut { signature: Signature::any(1, Volatility::Stable) })));

/// `ember_text_out(x) -> text`: a datetime value as PostgreSQL prints it.
pub fn pg_text() -> Arc<ScalarUDF> {
    TEXT_OUT.clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextOut {
    signature: Signature,
}

impl ScalarUDFImpl for TextOut {
    fn name(&self) -> &str {
        "ember_text_out"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args.first(), Some(ColumnarValue::Scalar(_)));
        let values = args.args.first().ok_or_else(|| DataFusionError::Plan("ember_text_out takes one argument".into()))?.to_array(args.number_rows)?;
        let zone = match &args.config_options.execution.time_zone {
            Some(name) => Some(Tz::from_str(name).map_err(|e| DataFusionError::Execution(e.to_string()))?),
            None => None,
        };
        let text: ArrayRef = match datetime_text(&values, zone.as_ref())? {
            Some(text) => Arc::new(text),
            None => cast(&values, &DataType::Utf8)?,
        };
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&text, 0)?) } else { ColumnarValue::Array(text) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are what PostgreSQL 15 prints for the same values.
    #[test]
    fn intervals_like_postgres() {
        assert_eq!(interval_text(0, 1, 0), "1 day");
        assert_eq!(interval_text(14, 3, 0), "1 year 2 mons 3 days");
        assert_eq!(interval_text(0, 0, 9_000_000_000_000), "02:30:00");
        assert_eq!(interval_text(0, 0, 1_500_000_000), "00:00:01.5");
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
        assert_eq!(interval_text(-1, -2, -3_000_000_000), "-1 mons -2 days -00:00:03");
    }

    #[test]
    fn timestamps_like_postgres() {
        let nanos = 1_704_164_645_000_000_000i64; // 2024-01-02 03:04:05 UTC
        assert_eq!(timestamp_text(nanos, false, None), "2024-01-02 03:04:05");
        assert_eq!(timestamp_text(nanos + 250_000_000, false, None), "2024-01-02 03:04:05.25");
        let utc: Tz = "UTC".parse().unwrap();
        assert_eq!(timestamp_text(nanos, true, Some(&utc)), "2024-01-02 03:04:05+00");
        let lisbon_summer = 1_719_792_000_000_000_000i64; // 2024-07-01 00:00:00 UTC
        let lisbon: Tz = "Europe/Lisbon".parse().unwrap();
        assert_eq!(timestamp_text(lisbon_summer, true, Some(&lisbon)), "2024-07-01 01:00:00+01");
        let india: Tz = "+05:30".parse().unwrap();
        assert_eq!(timestamp_text(lisbon_summer, true, Some(&india)), "2024-07-01 05:30:00+05:30");
        assert_eq!(timestamp_text(-1_000_000_000, false, None), "1969-12-31 23:59:59");
        assert_eq!(time_text(45_296_500_000_000), "12:34:56.5");
        assert_eq!(time_text(0), "00:00:00");
    }

    #[test]
    fn years_before_christ() {
        // 0001-01-01 is day -719162; the day before is 0001-12-31 BC.
        assert_eq!(date_text(-719_162), "0001-01-01");
        assert_eq!(date_text(-719_163), "0001-12-31 BC");
        let ides = NaiveDate::from_ymd_opt(-43, 3, 15).unwrap() - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(date_text(ides.num_days() as i32), "0044-03-15 BC");
    }

    #[tokio::test]
    async fn casts_to_text_print_as_postgres() {
        let state = datafusion::execution::SessionStateBuilder::new_from_existing(crate::analyze::test_context().state())
            .with_analyzer_rule(Arc::new(crate::pg_input::PgTextInput))
            .build();
        let ctx = datafusion::prelude::SessionContext::new_with_state(state);
        let sql = "SELECT CAST(TIMESTAMP '2024-03-15 14:30:00.5' AS VARCHAR), CAST(INTERVAL '1 day 2 hours 3 minutes 4 seconds' AS VARCHAR), \
                   'at ' || TIME '08:30:00.5', CAST(DATE '2024-02-29' AS TEXT)";
        let row = crate::analyze::first_row(&ctx, sql).await.unwrap();
        assert_eq!(row, "2024-03-15 14:30:00.5,1 day 02:03:04,at 08:30:00.5,2024-02-29");
    }
}
