//! PostgreSQL's result type for `sum(bigint)`: `numeric`.
//!
//! DataFusion sums a `bigint` into a `bigint` and wraps around on overflow, so
//! `sum(x)` over `9223372036854775807` and `1` answered `-9223372036854775808`; PostgreSQL
//! sums `bigint` into `numeric` and answers `9223372036854775808`. [`BigintSum`] is an
//! analyzer rule before type coercion that sums a `bigint` argument as `numeric(38,0)`
//! (as an aggregate and as a window function). `sum` of `smallint`/`integer` stays
//! `bigint`, as in both.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{AggregateFunction, Cast, WindowFunction};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, WindowFunctionDefinition};
use datafusion::optimizer::AnalyzerRule;

/// The `numeric` a `bigint` is summed as: every sum of up to 2^64 `bigint`s fits.
const SUM_TYPE: DataType = DataType::Decimal128(38, 0);

#[derive(Debug, Default)]
pub struct BigintSum;

impl AnalyzerRule for BigintSum {
    fn name(&self) -> &str {
        "ember_bigint_sum"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::analyze::rewrite_plan_expressions(plan, rewrite_sum)
    }
}

/// `[x]` as `[CAST(x AS numeric)]` when `x` is a `bigint`.
fn numeric_argument(args: &mut [Expr], schema: &DFSchema) -> bool {
    match args {
        [arg] if arg.get_type(schema).is_ok_and(|t| t == DataType::Int64) => {
            let inner = std::mem::replace(arg, Expr::Literal(datafusion::common::ScalarValue::Null, None));
            *arg = Expr::Cast(Cast::new(Box::new(inner), SUM_TYPE));
            true
        }
        _ => false,
    }
}

fn rewrite_sum(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    Ok(match expr {
        Expr::AggregateFunction(AggregateFunction { func, mut params }) if func.name() == "sum" => {
            let changed = numeric_argument(&mut params.args, schema);
            Transformed::new_transformed(Expr::AggregateFunction(AggregateFunction { func, params }), changed)
        }
        Expr::WindowFunction(mut window)
            if matches!(&window.fun, WindowFunctionDefinition::AggregateUDF(f) if f.name() == "sum") =>
        {
            let WindowFunction { params, .. } = window.as_mut();
            let changed = numeric_argument(&mut params.args, schema);
            Transformed::new_transformed(Expr::WindowFunction(window), changed)
        }
        other => Transformed::no(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::ScalarValue;

    async fn first_row(sql: &str) -> Vec<ScalarValue> {
        let batches = crate::analyze::test_context().sql(sql).await.unwrap().collect().await.unwrap();
        (0..batches[0].num_columns()).map(|c| ScalarValue::try_from_array(batches[0].column(c), 0).unwrap()).collect()
    }

    #[tokio::test]
    async fn bigint_sums_are_numeric_and_do_not_wrap() {
        let values = "(VALUES (CAST(9223372036854775807 AS BIGINT), CAST(1 AS INT)), (CAST(1 AS BIGINT), CAST(2 AS INT))) v(x, i)";
        let sum = ScalarValue::Decimal128(Some(9_223_372_036_854_775_808), 38, 0);
        let row = first_row(&format!("SELECT sum(x), sum(i) FROM {values}")).await;
        assert_eq!(row[0], sum);
        // integer sums stay bigint.
        assert_eq!(row[1].data_type(), DataType::Int64);
        assert_eq!(first_row(&format!("SELECT sum(x) OVER () FROM {values}")).await[0], sum);
    }
}
