//! Array subscripts as PostgreSQL reads them (an analyzer rule after type coercion).
//!
//! | PostgreSQL 15 | DataFusion's `array_element` |
//! |---|---|
//! | `(ARRAY[10, 20, 30])[-1]` → NULL | `30` (counts from the end) |
//! | `(ARRAY[[1, 2], [3, 4]])[2]` → NULL (fewer subscripts than dimensions) | `{3,4}` |
//! | `(ARRAY[[1, 2], [3, 4]])[2][1]` → `3` | `3` |
//!
//! DataFusion plans `a[i][j]` as `array_element(array_element(a, i), j)`. The rule turns
//! each chain into one call of [`Subscript`] over the array and all its subscripts, which
//! answers NULL for fewer subscripts than the array has dimensions and for any subscript
//! outside `1..=length`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::optimizer::AnalyzerRule;

use crate::pg_functions::arrays::{element_field, row_value, type_dims};

/// `ember_subscript(a, i1, ..., ik)`: PostgreSQL's `a[i1]...[ik]`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Subscript {
    signature: Signature,
}

impl Subscript {
    pub const NAME: &str = "ember_subscript";

    pub fn udf() -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(Self { signature: Signature::variadic_any(Volatility::Immutable) }))
    }
}

/// The element of one array value at `subscripts` (1-based), NULL where PostgreSQL's is.
fn element(array: &ArrayRef, row: usize, subscripts: &[Option<i64>], dims: usize) -> Result<ScalarValue> {
    let mut current: Option<(ArrayRef, usize)> = Some((array.clone(), row));
    for subscript in subscripts {
        current = match (current, subscript) {
            (Some((values, row)), Some(s)) => row_value(values.as_ref(), row)
                .and_then(|elements| usize::try_from(*s).ok().and_then(|s| s.checked_sub(1)).filter(|i| *i < elements.len()).map(|i| (elements, i))),
            _ => None,
        };
    }
    let result_type = (0..subscripts.len()).try_fold(array.data_type().clone(), |t, _| element_field(&t).map(|f| f.data_type().clone()));
    let Some(result_type) = result_type else { return exec_err!("cannot subscript type {}", array.data_type()) };
    match current {
        Some((values, index)) if subscripts.len() >= dims => ScalarValue::try_from_array(&values, index),
        _ => ScalarValue::try_from(&result_type),
    }
}

impl ScalarUDFImpl for Subscript {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Named as the `array_element` calls it replaces, so plans above still find it.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let mut name = args.first().map(|a| a.schema_name().to_string()).unwrap_or_default();
        for index in args.iter().skip(1) {
            name = format!("{name}[{}]", index.schema_name());
        }
        Ok(name)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let Some(array) = arg_types.first() else { return exec_err!("{} needs an array", Self::NAME) };
        let mut t = array.clone();
        for _ in 1..arg_types.len() {
            t = match element_field(&t) {
                Some(f) => f.data_type().clone(),
                None => return exec_err!("cannot subscript type {array}"),
            };
        }
        Ok(t)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let arrays = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<Vec<_>>>()?;
        let Some((array, subscripts)) = arrays.split_first() else { return exec_err!("{} needs an array", Self::NAME) };
        let subscripts = subscripts.iter().map(|s| cast(s, &DataType::Int64)).collect::<std::result::Result<Vec<_>, _>>()?;
        let subscripts: Vec<_> = subscripts.iter().map(|s| s.as_primitive::<Int64Type>()).collect();
        let dims = type_dims(array.data_type());
        let mut row_subscripts = Vec::with_capacity(subscripts.len());
        let values = (0..rows)
            .map(|row| {
                row_subscripts.clear();
                row_subscripts.extend(subscripts.iter().map(|s| s.is_valid(row).then(|| s.value(row))));
                element(array, row, &row_subscripts, dims)
            })
            .collect::<Result<Vec<_>>>()?;
        let out = if values.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.return_type(&arrays.iter().map(|a| a.data_type().clone()).collect::<Vec<_>>())?)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
    }
}

/// Analyzer rule: `array_element` chains become one [`Subscript`] call.
#[derive(Debug, Default)]
pub struct ArraySubscripts;

impl AnalyzerRule for ArraySubscripts {
    fn name(&self) -> &str {
        "ember_array_subscripts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::analyze::rewrite_plan_expressions(plan, subscript)
    }
}

fn subscript(expr: Expr, _schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = &expr else { return Ok(Transformed::no(expr)) };
    if func.name() != "array_element" || args.len() != 2 {
        return Ok(Transformed::no(expr));
    }
    // Bottom-up: an inner `array_element` is already a `Subscript` call; extend it.
    let args = match &args[0] {
        Expr::ScalarFunction(inner) if inner.func.name() == Subscript::NAME => {
            inner.args.iter().cloned().chain(std::iter::once(args[1].clone())).collect()
        }
        _ => args.clone(),
    };
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(Subscript::udf(), args))))
}

#[cfg(test)]
mod tests {
    async fn one(sql: &str) -> datafusion::common::Result<String> {
        let ctx = crate::analyze::test_context();
        crate::analyze::first_row(&ctx, sql).await
    }

    #[tokio::test]
    async fn subscripts_as_postgres_reads_them() {
        assert_eq!(one("SELECT [10, 20, 30][1], [10, 20, 30][3], [10, 20, 30][0], [10, 20, 30][4], [10, 20, 30][-1]").await.unwrap(), "10,30,NULL,NULL,NULL");
        assert_eq!(one("SELECT [[1, 2], [3, 4]][2][1], [[1, 2], [3, 4]][2] IS NULL, [[1, 2], [3, 4]][3][1]").await.unwrap(), "3,true,NULL");
        assert_eq!(one("SELECT a[i] FROM (VALUES ([5, 6], 2), ([7], NULL)) v(a, i)").await.unwrap(), "6");
        assert_eq!(one("SELECT a[i] IS NULL FROM (VALUES ([7], CAST(NULL AS BIGINT))) v(a, i)").await.unwrap(), "true");
    }
}
