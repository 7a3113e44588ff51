//! PostgreSQL's input functions for types whose text form DataFusion reads differently.
//!
//! A cast from text to `bytea`, `interval` or an array means PostgreSQL's `byteain` /
//! `interval_in` / `array_in`: `'\xdeadbeef'::bytea` is 4 bytes (DataFusion keeps the 10
//! characters as bytes), `'1 day 02:03:04'::interval` is valid (DataFusion's parser rejects
//! the time field) and `'{red,green}'::text[]` has two elements (DataFusion made a one-element
//! array of the whole text). Text to `date`/`time`/`timestamp[tz]` is `date_in` & co.
//! ([`datetime`]): `'Feb 29 2024'::date`, `TIME '24:00'`, zones as PostgreSQL reads them. The other way, a date, time, timestamp or interval cast to text
//! is PostgreSQL's output ([`crate::pg_output`]), not arrow's `2024-03-15T14:30:00`.
//! [`PgTextInput`] is an analyzer rule (it runs after type coercion, so it sees the casts
//! coercion adds too) that replaces every such cast by a call to [`bytea_in`] /
//! [`interval_in`] / [`array_in`] / `ember_text_out`; constant folding then evaluates literal
//! casts once at planning. `INTERVAL '...'` literals are planned by DataFusion
//! itself, so [`crate::rewrite`] hands them PostgreSQL-parsed text it can read.

pub mod array_text;
pub mod bytea;
pub mod datetime;
pub mod interval;

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Date32Array, IntervalMonthDayNanoBuilder, Int64Array, Time64NanosecondArray,
};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::expr_fn::SimpleScalarUDF;
use datafusion::logical_expr::{ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::optimizer::AnalyzerRule;

pub use crate::data_error::PgDataError;
pub use bytea::parse_bytea;
pub use interval::{PgInterval, parse_interval};

static BYTEA_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Arc::new(text_input("bytea_in", DataType::Binary, decode_bytea)));
static INTERVAL_IN: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(text_input("interval_in", DataType::Interval(IntervalUnit::MonthDayNano), decode_interval)));

static ARRAY_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(text_input("array_in", DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true))), decode_array))
});

/// `array_in(text) -> text[]`: the elements of PostgreSQL's array text, still as text (a
/// cast to the target array type follows).
pub fn array_in() -> Arc<ScalarUDF> {
    ARRAY_IN.clone()
}

/// `bytea_in(text) -> bytea`: PostgreSQL's bytea input.
pub fn bytea_in() -> Arc<ScalarUDF> {
    BYTEA_IN.clone()
}

/// `interval_in(text) -> interval`: PostgreSQL's interval input.
pub fn interval_in() -> Arc<ScalarUDF> {
    INTERVAL_IN.clone()
}

const NS: TimeUnit = TimeUnit::Nanosecond;
static DATE_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(DatetimeIn::new(DatetimeKind::Date, NS))));
static TIME_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(DatetimeIn::new(DatetimeKind::Time, NS))));
static TIMESTAMP_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(DatetimeIn::new(DatetimeKind::Timestamp, NS))));
static TIMESTAMPTZ_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(DatetimeIn::new(DatetimeKind::TimestampTz, NS))));

/// `date_in(text) -> date`: PostgreSQL's date input ([`datetime::parse_date`]).
pub fn date_in() -> Arc<ScalarUDF> {
    DATE_IN.clone()
}

/// `time_in(text) -> time`: PostgreSQL's time input; a date or zone in the text is ignored.
pub fn time_in() -> Arc<ScalarUDF> {
    TIME_IN.clone()
}

/// `timestamp_in(text) -> timestamp`: PostgreSQL's timestamp input; a zone is ignored.
pub fn timestamp_in() -> Arc<ScalarUDF> {
    TIMESTAMP_IN.clone()
}

/// `timestamptz_in(text) -> timestamptz`: PostgreSQL's input; a text without a zone is in
/// the session's `TimeZone`.
pub fn timestamptz_in() -> Arc<ScalarUDF> {
    TIMESTAMPTZ_IN.clone()
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum DatetimeKind {
    Date,
    Time,
    Timestamp,
    TimestampTz,
}

/// The datetime input functions: one implementation, the kind says which. A timestamp
/// of fewer fractional digits (`timestamp(0)` is `Timestamp(Second)`) is rounded to them
/// half away from zero, as PostgreSQL's typmod does, where arrow's cast would truncate.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DatetimeIn {
    kind: DatetimeKind,
    unit: TimeUnit,
    signature: Signature,
}

impl DatetimeIn {
    fn new(kind: DatetimeKind, unit: TimeUnit) -> Self {
        // Stable: `today`, `now` and a text without a zone depend on the session.
        Self { kind, unit, signature: Signature::exact(vec![DataType::Utf8], Volatility::Stable) }
    }

    /// Microseconds in the unit's value: rounded half away from zero, then scaled.
    fn scale(&self, text: &str, us: i64) -> Result<i64, PgDataError> {
        let per = match self.unit {
            TimeUnit::Second => 1_000_000,
            TimeUnit::Millisecond => 1_000,
            TimeUnit::Microsecond => 1,
            TimeUnit::Nanosecond => return us.checked_mul(1000).ok_or_else(|| PgDataError::new("22008", format!("timestamp out of range: \"{text}\""))),
        };
        let rounded = (us.abs() + per / 2) / per;
        Ok(if us < 0 { -rounded } else { rounded })
    }
}

impl ScalarUDFImpl for DatetimeIn {
    fn name(&self) -> &str {
        match self.kind {
            DatetimeKind::Date => "date_in",
            DatetimeKind::Time => "time_in",
            DatetimeKind::Timestamp => "timestamp_in",
            DatetimeKind::TimestampTz => "timestamptz_in",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            DatetimeKind::Date => DataType::Date32,
            DatetimeKind::Time => DataType::Time64(NS),
            DatetimeKind::Timestamp => DataType::Timestamp(self.unit, None),
            DatetimeKind::TimestampTz => DataType::Timestamp(self.unit, Some("UTC".into())),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(format!("{} takes one text argument", self.name())));
        };
        let zone: Tz = match &args.config_options.execution.time_zone {
            Some(name) => name.parse().map_err(|e: datafusion::arrow::error::ArrowError| DataFusionError::Execution(e.to_string()))?,
            None => "UTC".parse()?,
        };
        let now = chrono::Utc::now().with_timezone(&zone).naive_local();
        let texts = arg.to_array(args.number_rows)?;
        let texts = texts.as_string::<i32>();
        let out: ArrayRef = match self.kind {
            DatetimeKind::Date => {
                Arc::new(texts.iter().map(|t| t.map(|t| datetime::parse_date(t, now)).transpose()).collect::<Result<Date32Array, PgDataError>>()?)
            }
            DatetimeKind::Time => Arc::new(
                texts.iter().map(|t| t.map(|t| datetime::parse_time(t, now).map(|us| us * 1000)).transpose()).collect::<Result<Time64NanosecondArray, PgDataError>>()?,
            ),
            DatetimeKind::Timestamp | DatetimeKind::TimestampTz => {
                let session = (self.kind == DatetimeKind::TimestampTz).then_some(&zone);
                let values = texts
                    .iter()
                    .map(|t| t.map(|t| datetime::parse_timestamp(t, now, session).and_then(|us| self.scale(t, us))).transpose())
                    .collect::<Result<Int64Array, PgDataError>>()?;
                cast(&values, &self.return_type(&[])?)?
            }
        };
        Ok(match arg {
            ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
            ColumnarValue::Array(_) => ColumnarValue::Array(out),
        })
    }
}

fn text_input(name: &str, output: DataType, decode: fn(&datafusion::arrow::array::StringArray) -> Result<ArrayRef>) -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        output,
        Arc::new(move |args: &[ColumnarValue]| {
            let [arg] = args else {
                return Err(DataFusionError::Plan("expected one text argument".to_string()));
            };
            match arg {
                ColumnarValue::Array(array) => Ok(ColumnarValue::Array(decode(array.as_string::<i32>())?)),
                ColumnarValue::Scalar(scalar) => {
                    let array = scalar.to_array()?;
                    let out = decode(array.as_string::<i32>())?;
                    Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
                }
            }
        }),
    ))
}

fn decode_bytea(texts: &datafusion::arrow::array::StringArray) -> Result<ArrayRef> {
    let mut out = BinaryBuilder::with_capacity(texts.len(), texts.value_data().len());
    for text in texts.iter() {
        match text {
            Some(text) => out.append_value(parse_bytea(text)?),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn decode_interval(texts: &datafusion::arrow::array::StringArray) -> Result<ArrayRef> {
    let mut out = IntervalMonthDayNanoBuilder::with_capacity(texts.len());
    for text in texts.iter() {
        match text {
            Some(text) => {
                let (months, days, nanos) = parse_interval(text)?
                    .month_day_nano()
                    .ok_or_else(|| PgDataError::new("22015", format!("interval field value out of range: \"{text}\"")))?;
                out.append_value(IntervalMonthDayNano::new(months, days, nanos));
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn decode_array(texts: &datafusion::arrow::array::StringArray) -> Result<ArrayRef> {
    use datafusion::arrow::array::{ListBuilder, StringBuilder};
    let mut out = ListBuilder::new(StringBuilder::new());
    for text in texts.iter() {
        match text {
            Some(text) => {
                let items = array_text::parse(text).ok_or_else(|| PgDataError::new("22P02", format!("malformed array literal: \"{text}\"")))?;
                for item in items {
                    out.values().append_option(item);
                }
                out.append(true);
            }
            None => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Analyzer rule: text cast to `bytea`, `interval` or an array goes through PostgreSQL's
/// input function, a datetime cast to text through its output function.
#[derive(Debug, Default)]
pub struct PgTextInput;

impl AnalyzerRule for PgTextInput {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite_node).data()
    }

    fn name(&self) -> &str {
        "ember_pg_text_input"
    }
}

fn rewrite_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    crate::analyze::rewrite_node_expressions(plan, |expr, schema| expr.transform_up(|e| rewrite_cast(e, schema)))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn rewrite_cast(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr: inner, field }) = &expr else { return Ok(Transformed::no(expr)) };
    let target = field.data_type();
    let Ok(source) = inner.get_type(schema) else { return Ok(Transformed::no(expr)) };
    if is_text(target) && crate::pg_output::is_datetime(&source) {
        let call = Expr::ScalarFunction(ScalarFunction::new_udf(crate::pg_output::pg_text(), vec![inner.as_ref().clone()]));
        return Ok(Transformed::yes(if target == &DataType::Utf8 { call } else { Expr::Cast(Cast::new_from_field(Box::new(call), field.clone())) }));
    }
    let function = match target {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => bytea_in(),
        DataType::Interval(_) => interval_in(),
        DataType::Date32 => date_in(),
        DataType::Time64(_) => time_in(),
        DataType::Timestamp(unit, None) => Arc::new(ScalarUDF::new_from_impl(DatetimeIn::new(DatetimeKind::Timestamp, *unit))),
        DataType::Timestamp(unit, Some(_)) => Arc::new(ScalarUDF::new_from_impl(DatetimeIn::new(DatetimeKind::TimestampTz, *unit))),
        DataType::List(_) | DataType::LargeList(_) => array_in(),
        _ => return Ok(Transformed::no(expr)),
    };
    if !is_text(&source) {
        return Ok(Transformed::no(expr));
    }
    let mut arg = inner.as_ref().clone();
    if source != DataType::Utf8 {
        arg = Expr::Cast(Cast::new(Box::new(arg), DataType::Utf8));
    }
    let call = Expr::ScalarFunction(ScalarFunction::new_udf(function.clone(), vec![arg]));
    let output = function.return_type(&[DataType::Utf8])?;
    Ok(Transformed::yes(if &output == target { call } else { Expr::Cast(Cast::new_from_field(Box::new(call), field.clone())) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn one(sql: &str) -> Result<ScalarValue> {
        let mut config = datafusion::prelude::SessionConfig::new();
        config.options_mut().sql_parser.dialect = datafusion::common::config::Dialect::PostgreSQL;
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_analyzer_rule(Arc::new(PgTextInput))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let batches = ctx.sql(sql).await?.collect().await?;
        ScalarValue::try_from_array(batches[0].column(0), 0)
    }

    #[tokio::test]
    async fn casts_use_postgres_input() {
        assert_eq!(one("SELECT CAST('\\xdeadbeef' AS bytea)").await.unwrap(), ScalarValue::Binary(Some(vec![0xde, 0xad, 0xbe, 0xef])));
        let interval = one("SELECT CAST('1 day 02:03:04' AS interval)").await.unwrap();
        assert_eq!(interval, ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 1, 7_384_000_000_000))));
        // Column values too, not only literals.
        let from_column = one("SELECT CAST(t AS bytea) FROM (VALUES ('a\\\\b')) v(t)").await.unwrap();
        assert_eq!(from_column, ScalarValue::Binary(Some(b"a\\b".to_vec())));
        let err = one("SELECT CAST('\\xzz' AS bytea)").await.unwrap_err();
        assert_eq!(PgDataError::find(&err).map(PgDataError::sqlstate), Some("22023"), "{err}");
        let err = one("SELECT CAST(t AS interval) FROM (VALUES ('nonsense')) v(t)").await.unwrap_err();
        assert_eq!(PgDataError::find(&err).map(PgDataError::sqlstate), Some("22007"), "{err}");
    }
}
