//! `gcd`, `lcm` and `factorial` as PostgreSQL defines them.
//!
//! | PostgreSQL 15 | DataFusion |
//! |---|---|
//! | `gcd(int4, int4)` is `integer`; `gcd((-2147483648)::int4, 0)` → `22003` | `bigint`, `2147483648` |
//! | `lcm(2147483647, 2147483646)` → `22003 integer out of range` | `4611686011984936962` |
//! | `factorial(5)` is `numeric` (`120`) | `bigint` |

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Int32Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::data_error::PgDataError;

/// `integer` for arguments that fit it, else `bigint`: PostgreSQL's `int4` and `int8` forms.
fn integer_type(arg_types: &[DataType], name: &str) -> Result<DataType> {
    let mut wide = false;
    for t in arg_types {
        match t {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 | DataType::Null => {}
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => wide = true,
            other => return plan_err!("function {name}({other}) does not exist"),
        }
    }
    Ok(if wide { DataType::Int64 } else { DataType::Int32 })
}

fn out_of_range(t: &DataType) -> PgDataError {
    PgDataError::out_of_range(if t == &DataType::Int32 { "integer out of range" } else { "bigint out of range" })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Gcd,
    Lcm,
}

/// `gcd(a, b)` / `lcm(a, b)` over `integer` or `bigint`, with PostgreSQL's range errors;
/// over `numeric` it is DataFusion's function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GcdLcm {
    kind: Kind,
    signature: Signature,
    numeric: Arc<ScalarUDF>,
}

fn all_integers(arg_types: &[DataType]) -> bool {
    arg_types.iter().all(|t| t.is_integer() || t.is_null())
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl GcdLcm {
    pub fn gcd() -> ScalarUDF {
        let numeric = datafusion::functions::math::gcd();
        ScalarUDF::new_from_impl(Self { kind: Kind::Gcd, signature: Signature::user_defined(Volatility::Immutable), numeric })
    }

    pub fn lcm() -> ScalarUDF {
        let numeric = datafusion::functions::math::lcm();
        ScalarUDF::new_from_impl(Self { kind: Kind::Lcm, signature: Signature::user_defined(Volatility::Immutable), numeric })
    }

    /// One row in 128 bits, then the range of `t`.
    fn compute(&self, a: i64, b: i64, t: &DataType) -> Result<i64> {
        let (a, b) = (a as i128, b as i128);
        let value = match self.kind {
            Kind::Gcd => gcd(a, b),
            Kind::Lcm if a == 0 || b == 0 => 0,
            Kind::Lcm => (a / gcd(a, b) * b).abs(),
        };
        let fits = match t {
            DataType::Int32 => i32::try_from(value).is_ok(),
            _ => i64::try_from(value).is_ok(),
        };
        if !fits {
            return Err(out_of_range(t).into());
        }
        Ok(value as i64)
    }
}

impl ScalarUDFImpl for GcdLcm {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Gcd => "gcd",
            Kind::Lcm => "lcm",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!("function {} takes two arguments", self.name());
        }
        if !all_integers(arg_types) {
            return self.numeric.coerce_types(arg_types);
        }
        let t = integer_type(arg_types, self.name())?;
        Ok(vec![t.clone(), t])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match all_integers(arg_types) {
            true => integer_type(arg_types, self.name()),
            false => self.numeric.return_type(arg_types),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let t = args.return_field.data_type().clone();
        if !t.is_integer() {
            return self.numeric.invoke_with_args(args);
        }
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let [a, b] = args.args.as_slice() else { return plan_err!("function {} takes two arguments", self.name()) };
        let (a, b) = (cast(&a.to_array(rows)?, &DataType::Int64)?, cast(&b.to_array(rows)?, &DataType::Int64)?);
        let (a, b) = (a.as_primitive::<Int64Type>(), b.as_primitive::<Int64Type>());
        let values = (0..rows)
            .map(|i| if a.is_null(i) || b.is_null(i) { Ok(None) } else { self.compute(a.value(i), b.value(i), &t).map(Some) })
            .collect::<Result<Vec<_>>>()?;
        let array: ArrayRef = match t {
            DataType::Int32 => Arc::new(values.into_iter().map(|v| v.map(|v| v as i32)).collect::<Int32Array>()),
            _ => Arc::new(Int64Array::from(values)),
        };
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?) } else { ColumnarValue::Array(array) })
    }
}

/// `factorial(bigint) -> numeric`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Factorial {
    signature: Signature,
}

impl Factorial {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable) })
    }
}

/// `n!` as a `numeric(38,0)`; PostgreSQL's errors for a negative `n` and for a value past
/// what the type holds (PostgreSQL's numeric goes further: 33! is the last that fits).
pub fn factorial(n: i64) -> Result<i128> {
    if n < 0 {
        return Err(PgDataError::out_of_range("factorial of a negative number is undefined").into());
    }
    (2..=n as i128)
        .try_fold(1i128, |acc, k| acc.checked_mul(k).filter(|v| *v < 10i128.pow(38)))
        .ok_or_else(|| PgDataError::out_of_range("value overflows numeric format").into())
}

impl ScalarUDFImpl for Factorial {
    fn name(&self) -> &str {
        "factorial"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, 0))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args.first(), Some(ColumnarValue::Scalar(_)));
        let Some(arg) = args.args.first() else { return plan_err!("factorial takes one argument") };
        let values = arg.to_array(if scalar { 1 } else { args.number_rows })?;
        let values = values.as_primitive::<Int64Type>();
        let out = values.iter().map(|v| v.map(factorial).transpose()).collect::<Result<Vec<_>>>()?;
        let array: ArrayRef = Arc::new(Decimal128Array::from(out).with_precision_and_scale(38, 0)?);
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?) } else { ColumnarValue::Array(array) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one(sql: &str) -> Result<String> {
        let ctx = crate::analyze::test_context();
        for udf in [GcdLcm::gcd(), GcdLcm::lcm(), Factorial::udf()] {
            ctx.register_udf(udf);
        }
        crate::analyze::first_row(&ctx, sql).await
    }

    #[tokio::test]
    async fn integer_width_decides_the_range() {
        assert_eq!(one("SELECT gcd(CAST(12 AS INT), CAST(18 AS INT)), lcm(CAST(4 AS INT), CAST(6 AS INT)), gcd(-12, 0)").await.unwrap(), "6,12,12");
        assert_eq!(one("SELECT arrow_typeof(gcd(CAST(1 AS INT), CAST(1 AS INT))), arrow_typeof(lcm(1, CAST(1 AS BIGINT)))").await.unwrap(), "Int32,Int64");
        // Out of int4's range, but not of int8's.
        assert_eq!(one("SELECT lcm(CAST(2147483647 AS BIGINT), 2147483646)").await.unwrap(), "4611686011984936962");
        // numeric is DataFusion's.
        assert_eq!(one("SELECT gcd(1.5, 0.6), lcm(1.5, 2.5)").await.unwrap(), "0.3,7.5");
        for sql in [
            "SELECT lcm(CAST(2147483647 AS INT), CAST(2147483646 AS INT))",
            "SELECT gcd(CAST(-2147483648 AS INT), CAST(0 AS INT))",
            "SELECT gcd(x, 0) FROM (VALUES (CAST(-9223372036854775808 AS BIGINT))) v(x)",
        ] {
            let err = one(sql).await.unwrap_err();
            assert_eq!(PgDataError::find(&err).map(PgDataError::sqlstate), Some("22003"), "{sql}: {err}");
        }
    }

    #[tokio::test]
    async fn factorial_is_numeric() {
        assert_eq!(one("SELECT factorial(5), factorial(0), arrow_typeof(factorial(5))").await.unwrap(), "120,1,Decimal128(38, 0)");
        assert_eq!(factorial(25).unwrap(), 15511210043330985984000000);
        let err = one("SELECT factorial(-1)").await.unwrap_err();
        assert_eq!(PgDataError::find(&err).map(PgDataError::sqlstate), Some("22003"), "{err}");
    }
}
