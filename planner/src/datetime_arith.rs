//! PostgreSQL's date, timestamp and interval operators, where DataFusion's differ.
//!
//! - `date ± interval` is a `timestamp` (DataFusion answered a `date`, dropping the hours
//!   of `date '2024-01-01' + interval '36 hours'`);
//! - `date - date` is an `integer` count of days (DataFusion: `bigint`);
//! - `timestamp - timestamp` is an interval of days and time (`1 day 02:30:00`, PostgreSQL's
//!   `justify_hours`; DataFusion answered `26:30:00`);
//! - `interval * number`, `number * interval` and `interval / number` scale an interval as
//!   PostgreSQL's `interval_mul`/`interval_div` do, spilling fractional months into days and
//!   fractional days into time (DataFusion has no such operators).
//!
//! The rewrite happens while DataFusion plans each operator (an `ExprPlanner`), where both
//! operands are typed, so the plan has PostgreSQL's result types from the start and
//! Describe reports them without analysis. `justify_hours`, `justify_days` and
//! `justify_interval` are PostgreSQL's functions of those names.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, TimeUnit};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::data_error::PgDataError;

const INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);
const NANOS_PER_DAY: i64 = 86_400_000_000_000;
const DAYS_PER_MONTH: i64 = 30;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Date,
    Timestamp,
    TimestampTz,
    Interval,
    Number,
    Other,
}

fn kind(data_type: &DataType) -> Kind {
    match data_type {
        DataType::Date32 | DataType::Date64 => Kind::Date,
        DataType::Timestamp(_, None) => Kind::Timestamp,
        DataType::Timestamp(_, Some(_)) => Kind::TimestampTz,
        DataType::Interval(_) => Kind::Interval,
        t if t.is_numeric() => Kind::Number,
        _ => Kind::Other,
    }
}

/// Plans PostgreSQL's datetime operators (see the module documentation).
#[derive(Debug)]
pub struct PgDatetimeArithmetic;

impl ExprPlanner for PgDatetimeArithmetic {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> Result<PlannerResult<RawBinaryExpr>> {
        let (Ok(left_type), Ok(right_type)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        let RawBinaryExpr { op, left, right } = expr;
        use Kind::*;
        let planned = match (&op, kind(&left_type), kind(&right_type)) {
            (BinaryOperator::Plus, Date, Interval) => binary(timestamp(left), Operator::Plus, right),
            (BinaryOperator::Plus, Interval, Date) => binary(left, Operator::Plus, timestamp(right)),
            (BinaryOperator::Minus, Date, Interval) => binary(timestamp(left), Operator::Minus, right),
            (BinaryOperator::Minus, Date, Date) => cast_to(binary(left, Operator::Minus, right), DataType::Int32),
            (BinaryOperator::Minus, Timestamp, Timestamp) | (BinaryOperator::Minus, TimestampTz, TimestampTz) => {
                // DataFusion's difference is a duration (nanoseconds); PostgreSQL's an interval.
                call(Justify::Hours.udf(), vec![cast_to(binary(left, Operator::Minus, right), INTERVAL)])
            }
            (BinaryOperator::Multiply, Interval, Number) => call(scale_udf(ScaleOp::Multiply), vec![left, cast_to(right, DataType::Float64)]),
            (BinaryOperator::Multiply, Number, Interval) => call(scale_udf(ScaleOp::Multiply), vec![right, cast_to(left, DataType::Float64)]),
            (BinaryOperator::Divide, Interval, Number) => call(scale_udf(ScaleOp::Divide), vec![left, cast_to(right, DataType::Float64)]),
            _ => return Ok(PlannerResult::Original(RawBinaryExpr { op, left, right })),
        };
        Ok(PlannerResult::Planned(planned))
    }
}

fn binary(left: Expr, op: Operator, right: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))
}

fn cast_to(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), data_type))
}

fn timestamp(date: Expr) -> Expr {
    cast_to(date, DataType::Timestamp(TimeUnit::Nanosecond, None))
}

fn call(udf: ScalarUDF, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), args))
}

/// Applies `f` to every interval of a one-interval-argument call.
fn map_intervals(
    args: &ScalarFunctionArgs,
    mut f: impl FnMut(usize, IntervalMonthDayNano) -> Result<Option<IntervalMonthDayNano>>,
) -> Result<ColumnarValue> {
    let rows = args.number_rows;
    let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let values = cast(&args.args[0].to_array(rows)?, &INTERVAL)?;
    let values = values.as_primitive::<IntervalMonthDayNanoType>();
    let mut out = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        out.push(if values.is_null(i) { None } else { f(i, values.value(i))? });
    }
    let out: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from(out));
    Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
}

/// PostgreSQL's `justify_hours`, `justify_days` and `justify_interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Justify {
    Hours,
    Days,
    Interval,
}

impl Justify {
    pub fn udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(JustifyUdf { justify: self, signature: Signature::exact(vec![INTERVAL], Volatility::Immutable) })
    }

    pub fn all() -> [ScalarUDF; 3] {
        [Justify::Hours.udf(), Justify::Days.udf(), Justify::Interval.udf()]
    }

    /// The interval with whole days of its time moved into days (`Hours`), whole months of
    /// its days into months (`Days`), or both (`Interval`), signs made to agree as
    /// PostgreSQL's `interval_justify_*` make them.
    pub fn apply(self, v: IntervalMonthDayNano) -> IntervalMonthDayNano {
        let (mut months, mut days, mut time) = (v.months as i64, v.days as i64, v.nanoseconds);
        if self != Justify::Days {
            days += time / NANOS_PER_DAY;
            time %= NANOS_PER_DAY;
        }
        if self != Justify::Hours {
            months += days / DAYS_PER_MONTH;
            days %= DAYS_PER_MONTH;
            let (day_negative, day_positive) = match self {
                Justify::Interval => (days < 0 || (days == 0 && time < 0), days > 0 || (days == 0 && time > 0)),
                _ => (days < 0, days > 0),
            };
            if months > 0 && day_negative {
                days += DAYS_PER_MONTH;
                months -= 1;
            } else if months < 0 && day_positive {
                days -= DAYS_PER_MONTH;
                months += 1;
            }
        }
        if self != Justify::Days {
            if days > 0 && time < 0 {
                time += NANOS_PER_DAY;
                days -= 1;
            } else if days < 0 && time > 0 {
                time -= NANOS_PER_DAY;
                days += 1;
            }
        }
        IntervalMonthDayNano::new(months as i32, days as i32, time)
    }

    fn name(self) -> &'static str {
        match self {
            Justify::Hours => "justify_hours",
            Justify::Days => "justify_days",
            Justify::Interval => "justify_interval",
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JustifyUdf {
    justify: Justify,
    signature: Signature,
}

impl ScalarUDFImpl for JustifyUdf {
    fn name(&self) -> &str {
        self.justify.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(INTERVAL)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_intervals(&args, |_, v| Ok(Some(self.justify.apply(v))))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ScaleOp {
    Multiply,
    Divide,
}

fn scale_udf(op: ScaleOp) -> ScalarUDF {
    ScalarUDF::new_from_impl(ScaleUdf { op, signature: Signature::exact(vec![INTERVAL, DataType::Float64], Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ScaleUdf {
    op: ScaleOp,
    signature: Signature,
}

impl ScalarUDFImpl for ScaleUdf {
    fn name(&self) -> &str {
        match self.op {
            ScaleOp::Multiply => "ember_interval_mul",
            ScaleOp::Divide => "ember_interval_div",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(INTERVAL)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let factors = cast(&args.args.get(1).ok_or_else(|| DataFusionError::Plan("two arguments".into()))?.to_array(args.number_rows)?, &DataType::Float64)?;
        let factors = factors.as_primitive::<Float64Type>().clone();
        let op = self.op;
        map_intervals(&args, |i, v| {
            if factors.is_null(i) {
                return Ok(None);
            }
            let factor = factors.value(i);
            if op == ScaleOp::Divide && factor == 0.0 {
                return Err(PgDataError::division_by_zero().into());
            }
            scale(v, |x| if op == ScaleOp::Multiply { x * factor } else { x / factor }).map(Some)
        })
    }
}

/// Rounds to whole microseconds, as PostgreSQL's `TSROUND`.
fn round_micro(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// PostgreSQL's `interval_mul`/`interval_div`: each field scaled and truncated, the
/// fraction of the months carried into days (30 a month) and of the days into time.
fn scale(v: IntervalMonthDayNano, f: impl Fn(f64) -> f64) -> Result<IntervalMonthDayNano> {
    let out_of_range = || DataFusionError::from(PgDataError::new("22008", "interval out of range"));
    let fits = |x: f64| x.is_finite() && x >= i32::MIN as f64 && x <= i32::MAX as f64;
    let month_f = f(v.months as f64);
    let day_f = f(v.days as f64);
    if !fits(month_f) || !fits(day_f) {
        return Err(out_of_range());
    }
    let months = month_f.trunc() as i32;
    let mut days = day_f.trunc() as i32;
    let month_remainder_days = round_micro((month_f - months as f64) * DAYS_PER_MONTH as f64);
    let mut sec_remainder = round_micro((day_f - days as f64 + month_remainder_days - month_remainder_days.trunc()) * 86_400.0);
    if sec_remainder.abs() >= 86_400.0 {
        let whole = (sec_remainder / 86_400.0).trunc();
        days += whole as i32;
        sec_remainder -= whole * 86_400.0;
    }
    days += month_remainder_days.trunc() as i32;
    let micros = (f((v.nanoseconds / 1000) as f64) + sec_remainder * 1e6).round_ties_even();
    if !micros.is_finite() || micros.abs() > (i64::MAX / 1000) as f64 {
        return Err(out_of_range());
    }
    Ok(IntervalMonthDayNano::new(months, days, micros as i64 * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(months: i32, days: i32, hours: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(months, days, hours * 3_600_000_000_000)
    }

    #[test]
    fn justify_like_postgres() {
        assert_eq!(Justify::Hours.apply(iv(0, 0, 27)), iv(0, 1, 3));
        assert_eq!(Justify::Hours.apply(iv(0, 0, -27)), iv(0, -1, -3));
        assert_eq!(Justify::Days.apply(iv(0, 35, 0)), iv(1, 5, 0));
        assert_eq!(Justify::Days.apply(iv(0, -35, 0)), iv(-1, -5, 0));
        // '1 month -1 hour' is '29 days 23:00:00'.
        assert_eq!(Justify::Interval.apply(iv(1, 0, -1)), iv(0, 29, 23));
        assert_eq!(Justify::Interval.apply(iv(0, 400, 50)), iv(13, 12, 2));
    }

    #[test]
    fn scaling_carries_fractions_down() {
        // '1 month' * 1.5 = '1 mon 15 days'; '1 day' * 0.5 = '12:00:00'; '1 year' * 0.3 = '3 mons 18 days'.
        assert_eq!(scale(iv(1, 0, 0), |x| x * 1.5).unwrap(), iv(1, 15, 0));
        assert_eq!(scale(iv(0, 1, 0), |x| x * 0.5).unwrap(), iv(0, 0, 12));
        assert_eq!(scale(iv(12, 0, 0), |x| x * 0.3).unwrap(), iv(3, 18, 0));
        // '1 month' / 2 = '15 days'; '1 hour' / 4 = '00:15:00'.
        assert_eq!(scale(iv(1, 0, 0), |x| x / 2.0).unwrap(), iv(0, 15, 0));
        assert_eq!(scale(iv(0, 0, 1), |x| x / 4.0).unwrap(), IntervalMonthDayNano::new(0, 0, 900_000_000_000));
        assert!(scale(iv(1, 0, 0), |x| x * 1e300).is_err());
    }

    #[tokio::test]
    async fn operators_have_postgres_types() {
        let ctx = crate::analyze::test_context();
        let sql = "SELECT arrow_typeof(DATE '2024-01-01' + INTERVAL '36 hours'), DATE '2024-01-01' + INTERVAL '36 hours', \
                   arrow_typeof(DATE '2024-01-15' - DATE '2024-01-01'), \
                   CAST(TIMESTAMP '2024-03-15 14:30:00' - TIMESTAMP '2024-03-14 12:00:00' AS VARCHAR), CAST(INTERVAL '1 hour' * 3 AS VARCHAR)";
        let row = crate::analyze::first_row(&ctx, sql).await.unwrap();
        assert_eq!(row, "Timestamp(ns),1704196800000000000,Int32,1 days 2 hours 30 mins,3 hours");
    }
}
