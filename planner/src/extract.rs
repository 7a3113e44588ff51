//! PostgreSQL's `EXTRACT(field FROM x)` (numeric) and `date_part('field', x)` (double
//! precision).
//!
//! DataFusion plans both as its `date_part`, which answers `integer` for most fields and
//! truncates: `extract(second FROM '...05.25')` was 5, `extract(milliseconds ...)` lost its
//! fraction, `extract(epoch FROM interval '1 year')` counted 360 days, and `extract(hour
//! FROM date)` answered 0 where PostgreSQL refuses. PostgreSQL 14+ returns `numeric` from
//! `extract` — scale 6 for `second` and `epoch`, 3 for `milliseconds`, 0 otherwise — and
//! `double precision` from `date_part`, whose `date` argument is read as a timestamp. Both
//! here compute the field exactly in microseconds (`datetime_fields`) and differ only in
//! the type they return. `EXTRACT` reaches `ember_extract` through an `ExprPlanner` placed
//! before DataFusion's; `date_part` replaces DataFusion's function of that name.
//! `timestamptz` fields are read in the session's `TimeZone`.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, FieldRef, IntervalMonthDayNanoType, IntervalUnit, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::data_error::PgDataError;
use crate::datetime_fields::{Unit, date_field, interval_field, time_field, timestamp_field, unknown_unit};

/// Plans `EXTRACT(field FROM x)` as `ember_extract('field', x)`.
#[derive(Debug)]
pub struct PgExtract;

impl ExprPlanner for PgExtract {
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(extract_udf()), args))))
    }
}

/// `ember_extract(field, x) -> numeric`, what `EXTRACT` becomes.
pub fn extract_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(DatePart { numeric: true, signature: Signature::any(2, Volatility::Stable) })
}

/// `date_part(field, x) -> double precision`.
pub fn date_part_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(DatePart { numeric: false, signature: Signature::any(2, Volatility::Stable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DatePart {
    /// `extract` (numeric) rather than `date_part` (double precision).
    numeric: bool,
    signature: Signature,
}

/// What kind of value the second argument is, and its PostgreSQL type name for errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Timestamp,
    TimestampTz,
    Date,
    Time,
    Interval,
}

impl Kind {
    fn of(data_type: &DataType) -> Option<Kind> {
        Some(match data_type {
            DataType::Timestamp(_, None) | DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => Kind::Timestamp,
            DataType::Timestamp(_, Some(_)) => Kind::TimestampTz,
            DataType::Date32 | DataType::Date64 => Kind::Date,
            DataType::Time32(_) | DataType::Time64(_) => Kind::Time,
            DataType::Interval(_) => Kind::Interval,
            _ => return None,
        })
    }

    fn type_name(self) -> &'static str {
        match self {
            Kind::Timestamp => "timestamp without time zone",
            Kind::TimestampTz => "timestamp with time zone",
            Kind::Date => "date",
            Kind::Time => "time without time zone",
            Kind::Interval => "interval",
        }
    }
}

fn literal_unit(arg: Option<&ScalarValue>) -> Option<&str> {
    match arg? {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => Some(s),
        _ => None,
    }
}

impl ScalarUDFImpl for DatePart {
    fn name(&self) -> &str {
        if self.numeric { "ember_extract" } else { "date_part" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal("return_field_from_args is used".into()))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let [_, value] = args.arg_fields else { return Err(DataFusionError::Plan(format!("{} takes a field and a value", self.name()))) };
        let Some(kind) = Kind::of(value.data_type()) else {
            return Err(PgDataError::new("42883", format!("function {}(unknown, {}) does not exist", self.name(), value.data_type())).into());
        };
        let data_type = if self.numeric {
            let name = literal_unit(args.scalar_arguments.first().copied().flatten())
                .ok_or_else(|| DataFusionError::Plan("EXTRACT needs a field name".into()))?;
            let unit = Unit::parse(name).ok_or_else(|| unknown_unit(name, kind.type_name()))?;
            // A date's fields are whole numbers, its epoch included.
            DataType::Decimal128(38, if kind == Kind::Date { 0 } else { unit.scale() })
        } else {
            DataType::Float64
        };
        Ok(Arc::new(Field::new(self.name(), data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [units, values] = args.args.as_slice() else { return Err(DataFusionError::Plan("date_part takes two arguments".into())) };
        let units = cast(&units.to_array(rows)?, &DataType::Utf8)?;
        let units = units.as_string::<i32>();
        let values = values.to_array(rows)?;
        let mut kind = Kind::of(values.data_type()).ok_or_else(|| DataFusionError::Plan(format!("date_part of {}", values.data_type())))?;
        // date_part(text, date) is date_part(text, timestamp) in PostgreSQL.
        if kind == Kind::Date && !self.numeric {
            kind = Kind::Timestamp;
        }
        let zone = match kind {
            Kind::TimestampTz => {
                let name = args.config_options.execution.time_zone.clone().or_else(|| match values.data_type() {
                    DataType::Timestamp(_, tz) => tz.as_ref().map(|t| t.to_string()),
                    _ => None,
                });
                Some(Tz::from_str(name.as_deref().unwrap_or("UTC")).map_err(|e| DataFusionError::Execution(e.to_string()))?)
            }
            _ => None,
        };
        let micros = field_micros(&values, kind, units, zone.as_ref())?;
        let out: ArrayRef = if self.numeric {
            let scale = match args.return_field.data_type() {
                DataType::Decimal128(_, scale) => *scale,
                _ => 0,
            };
            let divisor = 10i128.pow((6 - scale) as u32);
            let out: Decimal128Array = micros.into_iter().map(|m| m.map(|m| m / divisor)).collect();
            Arc::new(out.with_precision_and_scale(38, scale)?)
        } else {
            let out: Float64Array = micros.into_iter().map(|m| m.map(|m| m as f64 / 1e6)).collect();
            Arc::new(out)
        };
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
    }
}

/// The field of every value, in microseconds of the field.
fn field_micros(values: &ArrayRef, kind: Kind, units: &datafusion::arrow::array::StringArray, zone: Option<&Tz>) -> Result<Vec<Option<i128>>> {
    let type_name = kind.type_name();
    let mut parsed: Option<(String, Unit)> = None;
    let mut unit_at = |i: usize| -> Result<Option<Unit>> {
        if units.is_null(i) {
            return Ok(None);
        }
        let name = units.value(i);
        if parsed.as_ref().is_none_or(|(text, _)| text != name) {
            parsed = Some((name.to_string(), Unit::parse(name).ok_or_else(|| unknown_unit(name, type_name))?));
        }
        Ok(parsed.as_ref().map(|(_, u)| *u))
    };
    let mut out = Vec::with_capacity(values.len());
    match kind {
        Kind::Timestamp | Kind::TimestampTz => {
            let micros = cast(values, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = micros.as_primitive::<TimestampMicrosecondType>();
            for i in 0..micros.len() {
                let Some(unit) = unit_at(i)? else { out.push(None); continue };
                if micros.is_null(i) {
                    out.push(None);
                    continue;
                }
                let epoch = micros.value(i);
                let utc = DateTime::from_timestamp_micros(epoch).ok_or_else(|| PgDataError::out_of_range("timestamp out of range"))?;
                let (local, offset) = match zone {
                    Some(tz) => {
                        let t = utc.with_timezone(tz);
                        (t.naive_local(), Some(chrono::Offset::fix(t.offset()).local_minus_utc()))
                    }
                    None => (utc.naive_utc(), None),
                };
                out.push(Some(timestamp_field(unit, local, offset, epoch, type_name)?));
            }
        }
        Kind::Date => {
            let days = cast(values, &DataType::Date32)?;
            let days = days.as_primitive::<Date32Type>();
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01");
            for i in 0..days.len() {
                let Some(unit) = unit_at(i)? else { out.push(None); continue };
                if days.is_null(i) {
                    out.push(None);
                    continue;
                }
                let date = epoch
                    .checked_add_signed(chrono::TimeDelta::days(days.value(i) as i64))
                    .ok_or_else(|| PgDataError::out_of_range("date out of range"))?;
                out.push(Some(date_field(unit, date, type_name)?));
            }
        }
        Kind::Time => {
            let micros = cast(values, &DataType::Time64(TimeUnit::Microsecond))?;
            let micros = micros.as_primitive::<Time64MicrosecondType>();
            for i in 0..micros.len() {
                let Some(unit) = unit_at(i)? else { out.push(None); continue };
                out.push(if micros.is_null(i) { None } else { Some(time_field(unit, micros.value(i), type_name)?) });
            }
        }
        Kind::Interval => {
            let intervals = cast(values, &DataType::Interval(IntervalUnit::MonthDayNano))?;
            let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
            for i in 0..intervals.len() {
                let Some(unit) = unit_at(i)? else { out.push(None); continue };
                if intervals.is_null(i) {
                    out.push(None);
                    continue;
                }
                let v = intervals.value(i);
                out.push(Some(interval_field(unit, v.months, v.days, v.nanoseconds / 1000)?));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    async fn row(sql: &str) -> datafusion::common::Result<String> {
        crate::analyze::first_row(&crate::analyze::test_context(), sql).await
    }

    #[tokio::test]
    async fn extract_is_numeric_with_postgres_scale() {
        let sql = "SELECT extract(second FROM TIMESTAMP '2024-03-15 14:30:05.25'), extract(milliseconds FROM TIME '12:34:56.789'), \
                   extract(epoch FROM INTERVAL '1 year'), extract(hour FROM TIMESTAMP '2024-03-15 14:30:00')";
        assert_eq!(row(sql).await.unwrap(), "5.250000,56789.000,31557600.000000,14");
    }

    #[tokio::test]
    async fn date_part_is_double_and_reads_dates_as_timestamps() {
        let sql = "SELECT date_part('second', TIME '23:15:07.5'), date_part('hour', DATE '2024-02-29'), date_part('epoch', TIMESTAMP '2024-03-15 14:30:00.25')";
        assert_eq!(row(sql).await.unwrap(), "7.5,0,1710513000.25");
    }

    #[tokio::test]
    async fn fields_a_type_lacks_are_refused() {
        let err = row("SELECT extract(hour FROM DATE '2024-02-29')").await.unwrap_err();
        assert_eq!(crate::data_error::PgDataError::find(&err).map(|e| e.sqlstate()), Some("0A000"), "{err}");
        let err = row("SELECT extract(fortnight FROM DATE '2024-02-29')").await.unwrap_err();
        assert_eq!(crate::data_error::PgDataError::find(&err).map(|e| e.sqlstate()), Some("22023"), "{err}");
    }
}
