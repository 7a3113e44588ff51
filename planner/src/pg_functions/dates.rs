//! `make_date(year, month, day)` as PostgreSQL's: a negative year is BC (`make_date(-44, 3,
//! 15)` is `0044-03-15 BC`, which chrono counts as year -43) and year 0 does not exist
//! (`22008`). DataFusion's took -44 as chrono's year, a year too early, and accepted 0.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{Coercion, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignatureClass, Volatility};

use crate::data_error::PgDataError;

pub fn make_date() -> ScalarUDF {
    let integer = || Coercion::new_exact(TypeSignatureClass::Integer);
    ScalarUDF::new_from_impl(MakeDate { signature: Signature::coercible(vec![integer(), integer(), integer()], Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeDate {
    signature: Signature,
}

/// The date PostgreSQL's `make_date` gives, as days since 1970-01-01.
pub fn pg_make_date(year: i64, month: i64, day: i64) -> Result<i32, PgDataError> {
    let out_of_range = || PgDataError::new("22008", format!("date field value out of range: {year}-{month:02}-{day:02}"));
    // PostgreSQL has no year 0: -1 is 1 BC, chrono's year 0.
    let chrono_year = match year {
        0 => return Err(out_of_range()),
        y if y < 0 => y + 1,
        y => y,
    };
    let (Ok(y), Ok(m), Ok(d)) = (i32::try_from(chrono_year), u32::try_from(month), u32::try_from(day)) else { return Err(out_of_range()) };
    let date = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(out_of_range)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01");
    i32::try_from((date - epoch).num_days()).map_err(|_| out_of_range())
}

impl ScalarUDFImpl for MakeDate {
    fn name(&self) -> &str {
        "make_date"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let parts = args
            .args
            .iter()
            .map(|a| cast(&a.to_array(rows)?, &DataType::Int64).map_err(DataFusionError::from))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let [years, months, days] = parts.as_slice() else { return Err(DataFusionError::Plan("make_date takes three arguments".into())) };
        let (years, months, days) = (years.as_primitive::<Int64Type>(), months.as_primitive::<Int64Type>(), days.as_primitive::<Int64Type>());
        let mut out = Vec::with_capacity(rows);
        for i in 0..years.len() {
            out.push(if years.is_null(i) || months.is_null(i) || days.is_null(i) {
                None
            } else {
                Some(pg_make_date(years.value(i), months.value(i), days.value(i))?)
            });
        }
        let out: ArrayRef = Arc::new(Date32Array::from(out));
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_as_postgres_counts_them() {
        assert_eq!(crate::pg_output::date_text(pg_make_date(-44, 3, 15).unwrap()), "0044-03-15 BC");
        assert_eq!(crate::pg_output::date_text(pg_make_date(2024, 2, 29).unwrap()), "2024-02-29");
        assert_eq!(pg_make_date(0, 1, 1).unwrap_err().sqlstate(), "22008");
        assert_eq!(pg_make_date(2023, 2, 29).unwrap_err().sqlstate(), "22008");
    }
}
