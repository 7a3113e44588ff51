//! PostgreSQL's casts between numbers, and which casts exist at all.
//!
//! | statement | PostgreSQL 15 | arrow's cast |
//! |---|---|---|
//! | `2.5::int`, `-2.5::numeric::int` | `3`, `-3` (numeric rounds half away from zero) | `2`, `-2` (truncates) |
//! | `2.5::float8::int`, `3.5::float8::int` | `2`, `4` (float rounds half to even, `rint`) | `2`, `3` |
//! | `100000::int2` | `22003 smallint out of range` | a cast error |
//! | `1234.5::numeric(5,2)` | `22003 numeric field overflow` | a cast error |
//! | `1::date`, `1::int8::bool`, `true::float8` | `42846 cannot cast type integer to date` | an answer |
//!
//! [`PgCasts`] is an analyzer rule that runs before type coercion, so it sees the casts a
//! statement wrote (and the assignment casts of `INSERT`), not the ones coercion adds. It
//! refuses the casts PostgreSQL does not have, evaluates casts of literals at once, and
//! replaces every other number cast that rounds or can overflow by a call of [`PgCast`].

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float32Type, Float64Type};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::data_error::PgDataError;
use crate::float_text::{float4_text, float8_text};
use crate::pg_catalog::type_of::type_name;

/// What a type is, as far as PostgreSQL's table of casts (`pg_cast`) is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    Numeric,
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    Interval,
    /// Types this check leaves to DataFusion (lists, structs, NULL, ...).
    Other,
}

fn kind(t: &DataType) -> Kind {
    match t {
        DataType::Boolean => Kind::Bool,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Kind::Int,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Kind::Float,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => Kind::Numeric,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Text,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => Kind::Bytea,
        DataType::Date32 | DataType::Date64 => Kind::Date,
        DataType::Time32(_) | DataType::Time64(_) => Kind::Time,
        DataType::Timestamp(..) => Kind::Timestamp,
        DataType::Interval(_) | DataType::Duration(_) => Kind::Interval,
        DataType::Dictionary(_, values) => kind(values),
        _ => Kind::Other,
    }
}

/// Whether PostgreSQL has a cast from `from` to `to`: every type to and from text (its
/// I/O conversion), numbers among themselves, `integer` to and from `boolean` (not
/// `smallint` or `bigint`), and the date/time conversions.
fn cast_exists(from: &DataType, to: &DataType) -> bool {
    use Kind::*;
    match (kind(from), kind(to)) {
        (Other, _) | (_, Other) | (Text, _) | (_, Text) => true,
        (a, b) if a == b => true,
        (Int | Float | Numeric, Int | Float | Numeric) => true,
        (Bool, Int) => to == &DataType::Int32,
        (Int, Bool) => from == &DataType::Int32,
        (Date, Timestamp) | (Timestamp, Date | Time) | (Time, Interval) | (Interval, Time) => true,
        _ => false,
    }
}

fn is_integer(t: &DataType) -> bool {
    kind(t) == Kind::Int
}

/// The bits an integer type holds, with its sign (for "does every value fit").
fn integer_range(t: &DataType) -> Option<(u32, bool)> {
    Some(match t {
        DataType::Int8 => (8, true),
        DataType::Int16 => (16, true),
        DataType::Int32 => (32, true),
        DataType::Int64 => (64, true),
        DataType::UInt8 => (8, false),
        DataType::UInt16 => (16, false),
        DataType::UInt32 => (32, false),
        DataType::UInt64 => (64, false),
        _ => return None,
    })
}

/// Whether every value of integer type `from` fits in `to`.
fn integer_widens(from: &DataType, to: &DataType) -> bool {
    match (integer_range(from), integer_range(to)) {
        (Some((fb, fs)), Some((tb, ts))) => match (fs, ts) {
            (true, true) | (false, false) => fb <= tb,
            (false, true) => fb < tb,
            (true, false) => false,
        },
        _ => false,
    }
}

/// Whether a cast from `from` to `to` needs PostgreSQL's conversion rather than arrow's:
/// to an integer from a fraction (rounding) or from a wider integer (range), and to
/// `numeric` from any number (range, with PostgreSQL's error).
fn needs_pg_conversion(from: &DataType, to: &DataType) -> bool {
    if let (DataType::List(from), DataType::List(to)) = (from, to) {
        return needs_pg_conversion(from.data_type(), to.data_type());
    }
    match (kind(from), kind(to)) {
        // Range errors (`'1e309'::float8`, `3.5e38::float4`) and PostgreSQL's float output.
        (Kind::Text, Kind::Float) | (Kind::Float, Kind::Text) => true,
        // To `real`: overflow and underflow are errors. From a decimal: arrow divides by a
        // power of ten, which is not exact (1e15 became 999999999999999.9).
        (Kind::Float | Kind::Numeric, Kind::Float) => (to == &DataType::Float32 && from != to) || matches!(from, DataType::Decimal128(..)),
        (Kind::Float | Kind::Numeric, Kind::Int) => true,
        (Kind::Int, Kind::Int) => !integer_widens(from, to),
        (Kind::Int | Kind::Float | Kind::Numeric, Kind::Numeric) => from != to,
        _ => false,
    }
}

/// The error PostgreSQL raises when a converted value does not fit `to`.
fn does_not_fit(to: &DataType) -> PgDataError {
    match kind(to) {
        Kind::Numeric => PgDataError::out_of_range("numeric field overflow"),
        _ => PgDataError::out_of_range(format!("{} out of range", type_name(to))),
    }
}

/// Convert numbers as PostgreSQL does: a float rounds half to even (`rint`), a numeric
/// half away from zero (arrow's rescale of decimals rounds that way), and a value that
/// does not fit is `22003`.
pub fn convert(values: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let strict = CastOptions { safe: false, ..Default::default() };
    if let (DataType::List(_), DataType::List(field)) = (values.data_type(), to) {
        // Element by element, as PostgreSQL casts an array (`ARRAY[1, 2.5]::int[]` is `{1,3}`).
        let list = values.as_list::<i32>();
        let elements = convert(list.values(), field.data_type())?;
        return Ok(Arc::new(ListArray::try_new(field.clone(), list.offsets().clone(), elements, list.nulls().cloned())?));
    }
    match (kind(values.data_type()), kind(to)) {
        (Kind::Text, Kind::Float) => return float_input(&cast_with_options(values, &DataType::Utf8, &strict)?, to),
        (Kind::Float, Kind::Text) => {
            let text: StringArray = match values.data_type() {
                DataType::Float32 => values.as_primitive::<Float32Type>().iter().map(|v| v.map(|v| float4_text(v, 1))).collect(),
                _ => cast_with_options(values, &DataType::Float64, &strict)?
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.map(|v| float8_text(v, 1)))
                    .collect(),
            };
            return Ok(cast_with_options(&(Arc::new(text) as ArrayRef), to, &strict)?);
        }
        (Kind::Float | Kind::Numeric, Kind::Float) if to == &DataType::Float32 => {
            let wide = match values.data_type() {
                DataType::Decimal128(..) => convert(values, &DataType::Float64)?,
                _ => cast_with_options(values, &DataType::Float64, &strict)?,
            };
            let narrow = cast_with_options(&wide, to, &strict)?;
            let (wide, narrow) = (wide.as_primitive::<Float64Type>(), narrow.as_primitive::<Float32Type>());
            for (w, n) in wide.iter().zip(narrow.iter()) {
                if let (Some(w), Some(n)) = (w, n) {
                    if n.is_infinite() && w.is_finite() {
                        return Err(PgDataError::out_of_range("value out of range: overflow").into());
                    }
                    if n == 0.0 && w != 0.0 {
                        return Err(PgDataError::out_of_range("value out of range: underflow").into());
                    }
                }
            }
            return Ok(Arc::new(narrow.clone()));
        }
        _ => {}
    }
    let rounded: ArrayRef = match values.data_type() {
        DataType::Float32 if is_integer(to) => {
            Arc::new(values.as_primitive::<Float32Type>().unary::<_, Float32Type>(f32::round_ties_even))
        }
        DataType::Float64 if is_integer(to) => {
            Arc::new(values.as_primitive::<Float64Type>().unary::<_, Float64Type>(f64::round_ties_even))
        }
        DataType::Decimal128(_, scale) if is_integer(to) && *scale > 0 => {
            cast_with_options(values, &DataType::Decimal128(38, 0), &strict).map_err(|_| does_not_fit(to))?
        }
        DataType::Decimal256(_, scale) if is_integer(to) && *scale > 0 => {
            cast_with_options(values, &DataType::Decimal256(76, 0), &strict).map_err(|_| does_not_fit(to))?
        }
        DataType::Decimal128(_, scale) if matches!(to, DataType::Float32 | DataType::Float64) => {
            // The float nearest to the decimal, as PostgreSQL's numeric -> float8 (through
            // text). When the unscaled value and the power of ten are both exact doubles,
            // IEEE division is already the nearest float; otherwise the text round trip.
            let scale = *scale as i32;
            let decimals = values.as_primitive::<Decimal128Type>();
            let floats: Float64Array = decimals
                .iter()
                .map(|v| {
                    v.and_then(|v| match v.unsigned_abs() <= 1 << 53 && (0..=22).contains(&scale) {
                        true => Some(v as f64 / 10f64.powi(scale)),
                        false => format!("{v}e{}", -scale).parse::<f64>().ok(),
                    })
                })
                .collect();
            Arc::new(floats)
        }
        _ => values.clone(),
    };
    Ok(cast_with_options(&rounded, to, &strict).map_err(|_| does_not_fit(to))?)
}

/// PostgreSQL's `float8in` / `float4in`: blanks around the number, `NaN`, `Infinity`,
/// `inf` in any case; `22P02` for other text and `22003` for a number the type cannot hold
/// (too large, or so small it would read as zero).
fn float_input(texts: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let type_name = if to == &DataType::Float32 { "real" } else { "double precision" };
    let parse = |text: &str| -> Result<f64> {
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let value = match to {
            DataType::Float32 => trimmed.parse::<f32>().map(f64::from),
            _ => trimmed.parse::<f64>(),
        };
        let Ok(value) = value else {
            return Err(PgDataError::new("22P02", format!("invalid input syntax for type {type_name}: \"{text}\"")).into());
        };
        let infinity = trimmed.trim_start_matches(['+', '-']).to_ascii_lowercase().starts_with("inf");
        let mantissa = trimmed.split(['e', 'E']).next().unwrap_or_default();
        let underflow = value == 0.0 && mantissa.chars().any(|c| c.is_ascii_digit() && c != '0');
        if (value.is_infinite() && !infinity) || underflow {
            return Err(PgDataError::out_of_range(format!("\"{text}\" is out of range for type {type_name}")).into());
        }
        Ok(value)
    };
    let floats: Float64Array = texts.as_string::<i32>().iter().map(|t| t.map(parse).transpose()).collect::<Result<_>>()?;
    Ok(cast_with_options(&(Arc::new(floats) as ArrayRef), to, &CastOptions { safe: false, ..Default::default() })?)
}

/// `CAST(x AS t)` for a number cast that rounds or can overflow: [`convert`] per batch.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgCast {
    to: DataType,
    signature: Signature,
}

impl PgCast {
    pub fn new(to: DataType) -> Self {
        Self { to, signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for PgCast {
    fn name(&self) -> &str {
        "ember_cast"
    }

    /// Named as a cast is: by what it casts.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(args.first().map(|a| a.schema_name().to_string()).unwrap_or_default())
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.to.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(match args.args.first() {
            Some(ColumnarValue::Array(values)) => ColumnarValue::Array(convert(values, &self.to)?),
            Some(ColumnarValue::Scalar(value)) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&convert(&value.to_array()?, &self.to)?, 0)?)
            }
            None => ColumnarValue::Scalar(ScalarValue::try_from(&self.to)?),
        })
    }
}

/// Analyzer rule (before type coercion): PostgreSQL's casts between numbers, and
/// `42846` for casts PostgreSQL does not have.
#[derive(Debug, Default)]
pub struct PgCasts;

impl AnalyzerRule for PgCasts {
    fn name(&self) -> &str {
        "ember_pg_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::analyze::rewrite_plan_expressions(plan, rewrite_cast)
    }
}

fn rewrite_cast(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr: inner, field }) = &expr else { return Ok(Transformed::no(expr)) };
    let to = field.data_type();
    let Ok(from) = inner.get_type(schema) else { return Ok(Transformed::no(expr)) };
    // An integer literal under a cast is planned as `bigint`; PostgreSQL types it by size
    // (`1::bool` is a cast from `integer`).
    let written = match inner.as_ref() {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) if i32::try_from(*v).is_ok() => DataType::Int32,
        _ => from.clone(),
    };
    if !cast_exists(&written, to) {
        return Err(PgDataError::new("42846", format!("cannot cast type {} to {}", type_name(&written), type_name(to))).into());
    }
    if !needs_pg_conversion(&from, to) {
        return Ok(Transformed::no(expr));
    }
    if let Expr::Literal(value, _) = inner.as_ref() {
        // A literal is converted now (as PostgreSQL folds it); arrow's answer stands where
        // it is the same, so the plan keeps its usual shape.
        let ours = ScalarValue::try_from_array(&convert(&value.to_array()?, to)?, 0)?;
        let arrows = value.cast_to(to).ok();
        return Ok(if arrows.as_ref() == Some(&ours) { Transformed::no(expr) } else { Transformed::yes(Expr::Literal(ours, None)) });
    }
    let function = Arc::new(ScalarUDF::new_from_impl(PgCast::new(to.clone())));
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(function, vec![inner.as_ref().clone()]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one(sql: &str) -> Result<String> {
        // Ember's configuration: decimal literals are numeric, as in PostgreSQL.
        crate::analyze::first_row(&crate::analyze::test_context(), sql).await
    }

    fn sqlstate(e: &datafusion::common::DataFusionError) -> Option<&'static str> {
        PgDataError::find(e).map(PgDataError::sqlstate)
    }

    #[tokio::test]
    async fn numbers_round_as_postgres_rounds() {
        // numeric: half away from zero; float: half to even.
        assert_eq!(one("SELECT CAST(1.5 AS INT), CAST(-2.5 AS INT), CAST(2.49 AS BIGINT), CAST(0.5 AS SMALLINT)").await.unwrap(), "2,-3,2,1");
        assert_eq!(
            one("SELECT CAST(CAST(2.5 AS DOUBLE) AS INT), CAST(CAST(3.5 AS DOUBLE) AS INT), CAST(CAST(-2.5 AS REAL) AS BIGINT)").await.unwrap(),
            "2,4,-2"
        );
        // Columns as well as literals.
        assert_eq!(
            one("SELECT CAST(n AS INT), CAST(f AS INT) FROM (VALUES (CAST(3.7 AS DECIMAL(4,1)), CAST(-1.5 AS DOUBLE))) v(n, f)").await.unwrap(),
            "4,-2"
        );
        assert_eq!(one("SELECT CAST(CAST(1.005 AS DECIMAL(5,3)) AS DECIMAL(4,2))").await.unwrap(), "1.01");
        // numeric -> float is the nearest float, not a division by a power of ten.
        assert_eq!(one("SELECT CAST(CAST(1e15 AS DECIMAL(38,10)) AS DOUBLE) = CAST('1e15' AS DOUBLE), CAST(CAST(0.1 AS DECIMAL(38,10)) AS DOUBLE) = CAST('0.1' AS DOUBLE)").await.unwrap(), "true,true");
    }

    #[tokio::test]
    async fn values_that_do_not_fit_are_22003() {
        for sql in [
            "SELECT CAST(CAST(100000 AS INT) AS SMALLINT)",
            "SELECT CAST(i AS SMALLINT) FROM (VALUES (CAST(40000 AS INT))) v(i)",
            "SELECT CAST(CAST(1e10 AS DOUBLE) AS INT)",
            "SELECT CAST(f AS BIGINT) FROM (VALUES (CAST('NaN' AS DOUBLE))) v(f)",
            "SELECT CAST(2147483647.5 AS INT)",
            "SELECT CAST(1234.5 AS DECIMAL(5,2))",
        ] {
            let err = one(sql).await.unwrap_err();
            assert_eq!(sqlstate(&err), Some("22003"), "{sql}: {err}");
        }
        let err = one("SELECT CAST(CAST(40000 AS INT) AS SMALLINT)").await.unwrap_err();
        assert!(err.to_string().contains("smallint out of range"), "{err}");
        assert_eq!(one("SELECT CAST(CAST(-32768 AS INT) AS SMALLINT), CAST(2147483646.5 AS INT)").await.unwrap(), "-32768,2147483647");
    }

    #[tokio::test]
    async fn casts_postgres_lacks_are_42846() {
        assert_eq!(one("SELECT CAST(1 AS BOOLEAN), CAST(0 AS BOOLEAN)").await.unwrap(), "true,false");
        for sql in ["SELECT CAST(CAST(1 AS INT) AS DATE)", "SELECT CAST(CAST(1 AS BIGINT) AS BOOLEAN)", "SELECT CAST(true AS DOUBLE)", "SELECT CAST(DATE '2024-01-01' AS INT)"] {
            let err = one(sql).await.unwrap_err();
            assert_eq!(sqlstate(&err), Some("42846"), "{sql}: {err}");
        }
        let err = one("SELECT CAST(CAST(1 AS INT) AS DATE)").await.unwrap_err();
        assert!(err.to_string().contains("cannot cast type integer to date"), "{err}");
        // The casts PostgreSQL has still work.
        assert_eq!(one("SELECT CAST(CAST(1 AS INT) AS BOOLEAN), CAST(true AS INT), CAST(DATE '2024-01-02' AS TIMESTAMP) = TIMESTAMP '2024-01-02'").await.unwrap(), "true,1,true");
    }
}
