//! PostgreSQL's domain and range errors around DataFusion's math functions, and `round`
//! of a float half to even.
//!
//! | PostgreSQL 15 | DataFusion |
//! |---|---|
//! | `exp(1000::float8)`, `power(2::float8, 1024)` → `22003 value out of range: overflow` | `Infinity` |
//! | `ln(0)`, `log(-1::float8)`, `ln(-1.0)` → `2201E cannot take logarithm of ...` | `-Infinity`, `NaN` |
//! | `power(-8::float8, 1.0 / 3)` → `2201F ... yields a complex result` | `NaN` |
//! | `asin(2)` → `22003 input is out of range` | `NaN` |
//! | `round(2.5::float8)` → `2` (`rint`: half to even) | `3` |
//!
//! [`Checked`] wraps DataFusion's function of the same name: it keeps its signature, types
//! and kernels (float and numeric alike) and checks each row's arguments and result as
//! PostgreSQL's `float.c` / `numeric.c` do, so the answer is PostgreSQL's or its error.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float32Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};
use datafusion::arrow::datatypes::FieldRef;

use crate::data_error::PgDataError;

/// What PostgreSQL checks for one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// `exp`: a finite argument whose result overflows or underflows.
    Exp,
    /// `power(x, y)`: `0 ^ negative`, `negative ^ fraction`, overflow, underflow.
    Power,
    /// `ln`, `log10`, `log(x)`: zero or a negative argument.
    Log,
    /// `log(b, x)`: zero or negative base or argument, base 1.
    LogBase,
    /// `asin`, `acos`: an argument outside [-1, 1].
    Unit,
    /// `sqrt`: a negative argument.
    Sqrt,
}

fn log_error(x: f64) -> Option<PgDataError> {
    if x == 0.0 {
        Some(PgDataError::new("2201E", "cannot take logarithm of zero"))
    } else if x < 0.0 {
        Some(PgDataError::new("2201E", "cannot take logarithm of a negative number"))
    } else {
        None
    }
}

fn overflow() -> PgDataError {
    PgDataError::out_of_range("value out of range: overflow")
}

fn underflow() -> PgDataError {
    PgDataError::out_of_range("value out of range: underflow")
}

impl Domain {
    /// PostgreSQL's error for one row: its (non-NULL) arguments and the result computed.
    fn check(self, args: &[f64], result: f64) -> Option<PgDataError> {
        let finite = args.iter().all(|a| a.is_finite());
        match (self, args) {
            (Domain::Exp, _) if finite && result.is_infinite() => Some(overflow()),
            (Domain::Exp, _) if finite && result == 0.0 => Some(underflow()),
            (Domain::Power, [x, y]) => {
                if *x == 0.0 && *y < 0.0 {
                    Some(PgDataError::new("2201F", "zero raised to a negative power is undefined"))
                } else if *x < 0.0 && y.is_finite() && y.fract() != 0.0 {
                    Some(PgDataError::new("2201F", "a negative number raised to a non-integer power yields a complex result"))
                } else if finite && result.is_infinite() {
                    Some(overflow())
                } else if finite && result == 0.0 && *x != 0.0 {
                    Some(underflow())
                } else {
                    None
                }
            }
            (Domain::Log, [x]) => log_error(*x),
            (Domain::LogBase, [base, x]) => match log_error(*base).or_else(|| log_error(*x)) {
                None if *base == 1.0 => Some(PgDataError::division_by_zero()),
                other => other,
            },
            (Domain::Unit, [x]) if !x.is_nan() && (*x < -1.0 || *x > 1.0) => Some(PgDataError::out_of_range("input is out of range")),
            (Domain::Sqrt, [x]) if *x < 0.0 => Some(PgDataError::new("2201F", "cannot take square root of a negative number")),
            _ => None,
        }
    }
}

/// The values of `value` as `f64`, `rows` long (numeric arguments included).
fn as_floats(value: &ColumnarValue, rows: usize) -> Result<Option<Float64Array>> {
    let array = value.to_array(rows)?;
    if !array.data_type().is_numeric() {
        return Ok(None);
    }
    Ok(Some(cast(&array, &DataType::Float64)?.as_primitive::<Float64Type>().clone()))
}

/// A DataFusion math function with PostgreSQL's errors: everything but the check is the
/// wrapped function's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Checked {
    inner: Arc<ScalarUDF>,
    domain: Domain,
}

impl Checked {
    pub fn udf(inner: Arc<ScalarUDF>, domain: Domain) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { inner, domain })
    }

    fn check(&self, args: &[ColumnarValue], result: &ColumnarValue, rows: usize) -> Result<()> {
        let Some(result) = as_floats(result, rows)? else { return Ok(()) };
        let mut floats = Vec::with_capacity(args.len());
        for arg in args {
            let Some(values) = as_floats(arg, rows)? else { return Ok(()) };
            floats.push(values);
        }
        let mut row_args = Vec::with_capacity(floats.len());
        for row in 0..rows {
            if floats.iter().any(|a| a.is_null(row)) {
                continue;
            }
            row_args.clear();
            row_args.extend(floats.iter().map(|a| a.value(row)));
            let value = if result.is_null(row) { f64::NAN } else { result.value(row) };
            if let Some(error) = self.domain.check(&row_args, value) {
                return Err(error.into());
            }
        }
        Ok(())
    }
}

/// The methods a wrapper of DataFusion's function takes from it unchanged (all but
/// `invoke_with_args`).
macro_rules! delegate_to_inner {
    () => {
        fn name(&self) -> &str {
            self.inner.name()
        }

        fn aliases(&self) -> &[String] {
            self.inner.aliases()
        }

        fn signature(&self) -> &Signature {
            self.inner.signature()
        }

        fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
            self.inner.coerce_types(arg_types)
        }

        fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
            self.inner.return_type(arg_types)
        }

        fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
            self.inner.return_field_from_args(args)
        }

        fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
            self.inner.output_ordering(inputs)
        }

        fn documentation(&self) -> Option<&Documentation> {
            self.inner.documentation()
        }
    };
}

impl ScalarUDFImpl for Checked {
    delegate_to_inner!();

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let inputs = args.args.clone();
        let result = self.inner.invoke_with_args(args)?;
        self.check(&inputs, &result, rows)?;
        Ok(result)
    }
}

/// `round`: a float without a digit count rounds half to even, as PostgreSQL's `rint`;
/// everything else (numeric, a digit count) is DataFusion's `round`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Round {
    inner: Arc<ScalarUDF>,
}

impl Round {
    pub fn udf(inner: Arc<ScalarUDF>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { inner })
    }
}

fn round_half_even(value: &ColumnarValue) -> Option<ColumnarValue> {
    Some(match value {
        ColumnarValue::Scalar(ScalarValue::Float64(v)) => ColumnarValue::Scalar(ScalarValue::Float64(v.map(f64::round_ties_even))),
        ColumnarValue::Scalar(ScalarValue::Float32(v)) => ColumnarValue::Scalar(ScalarValue::Float32(v.map(f32::round_ties_even))),
        ColumnarValue::Array(array) => {
            let rounded: ArrayRef = match array.data_type() {
                DataType::Float64 => Arc::new(array.as_primitive::<Float64Type>().unary::<_, Float64Type>(f64::round_ties_even)),
                DataType::Float32 => {
                    let floats: &Float32Array = array.as_primitive();
                    Arc::new(floats.unary::<_, datafusion::arrow::datatypes::Float32Type>(f32::round_ties_even))
                }
                _ => return None,
            };
            ColumnarValue::Array(rounded)
        }
        _ => return None,
    })
}

impl ScalarUDFImpl for Round {
    delegate_to_inner!();

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [value] = args.args.as_slice()
            && let Some(rounded) = round_half_even(value)
        {
            return Ok(rounded);
        }
        self.inner.invoke_with_args(args)
    }
}

/// The math functions with PostgreSQL's checks, under DataFusion's names.
pub fn udfs() -> Vec<ScalarUDF> {
    use datafusion::functions::math;
    vec![
        Checked::udf(math::exp(), Domain::Exp),
        Checked::udf(math::power(), Domain::Power),
        Checked::udf(math::ln(), Domain::Log),
        Checked::udf(math::log10(), Domain::Log),
        Checked::udf(math::log(), Domain::LogBase),
        Checked::udf(math::asin(), Domain::Unit),
        Checked::udf(math::acos(), Domain::Unit),
        Checked::udf(math::sqrt(), Domain::Sqrt),
        Round::udf(math::round()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_checked_as_postgres_checks_them() {
        let code = |d: Domain, args: &[f64], r: f64| d.check(args, r).map(|e| e.sqlstate());
        assert_eq!(code(Domain::Exp, &[1000.0], f64::INFINITY), Some("22003"));
        assert_eq!(code(Domain::Exp, &[-1000.0], 0.0), Some("22003"));
        assert_eq!(code(Domain::Exp, &[f64::NEG_INFINITY], 0.0), None);
        assert_eq!(code(Domain::Exp, &[1.0], std::f64::consts::E), None);
        assert_eq!(code(Domain::Power, &[2.0, 1024.0], f64::INFINITY), Some("22003"));
        assert_eq!(code(Domain::Power, &[-8.0, 1.0 / 3.0], f64::NAN), Some("2201F"));
        assert_eq!(code(Domain::Power, &[0.0, -1.0], f64::INFINITY), Some("2201F"));
        assert_eq!(code(Domain::Power, &[-8.0, 3.0], -512.0), None);
        assert_eq!(code(Domain::Power, &[0.0, 2.0], 0.0), None);
        assert_eq!(code(Domain::Log, &[0.0], f64::NEG_INFINITY), Some("2201E"));
        assert_eq!(code(Domain::Log, &[-1.0], f64::NAN), Some("2201E"));
        assert_eq!(code(Domain::LogBase, &[1.0, 8.0], f64::INFINITY), Some("22012"));
        assert_eq!(code(Domain::LogBase, &[2.0, 8.0], 3.0), None);
        assert_eq!(code(Domain::Unit, &[2.0], f64::NAN), Some("22003"));
        assert_eq!(code(Domain::Unit, &[-1.0], std::f64::consts::PI), None);
        assert_eq!(code(Domain::Sqrt, &[-1.0], f64::NAN), Some("2201F"));
    }

    async fn one(sql: &str) -> Result<String> {
        let ctx = crate::analyze::test_context();
        for udf in udfs() {
            ctx.register_udf(udf);
        }
        crate::analyze::first_row(&ctx, sql).await
    }

    #[tokio::test]
    async fn errors_and_answers_over_columns_and_constants() {
        let sqlstate = |e: &datafusion::common::DataFusionError| PgDataError::find(e).map(PgDataError::sqlstate);
        for (sql, code) in [
            ("SELECT exp(CAST(1000 AS DOUBLE))", "22003"),
            ("SELECT exp(x) FROM (VALUES (CAST(1.0 AS DOUBLE)), (1000.0)) v(x)", "22003"),
            ("SELECT ln(CAST(0 AS DOUBLE))", "2201E"),
            ("SELECT ln(-1.0)", "2201E"),
            ("SELECT power(CAST(-8 AS DOUBLE), CAST(1 AS DOUBLE) / 3)", "2201F"),
            ("SELECT asin(2)", "22003"),
        ] {
            let err = one(sql).await.unwrap_err();
            assert_eq!(sqlstate(&err), Some(code), "{sql}: {err}");
        }
        assert_eq!(one("SELECT power(CAST(2 AS DOUBLE), 10), ln(1), sqrt(CAST(4 AS DOUBLE))").await.unwrap(), "1024,0,2");
        assert_eq!(
            one("SELECT round(CAST(2.5 AS DOUBLE)) AS a, round(CAST(-2.5 AS DOUBLE)) AS b, round(CAST(3.5 AS REAL)) AS c, round(2.5) AS d").await.unwrap(),
            "2,-2,4,3"
        );
        assert_eq!(one("SELECT round(x), arrow_typeof(x) FROM (VALUES (CAST(0.5 AS DOUBLE)), (CAST(1.5 AS DOUBLE))) v(x)").await.unwrap(), "0,Float64");
    }
}
