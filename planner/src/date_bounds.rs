//! Optimizer rule: `CAST(date_column AS timestamp) <op> TIMESTAMP '...'` compares the
//! column itself with a date.
//!
//! `date - interval` is a `timestamp` in PostgreSQL (and in Ember, `datetime_arith`), so
//! TPC-H's `l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY` casts every `date` of the
//! column to a timestamp before comparing, and DataFusion refuses to unwrap a date →
//! timestamp cast (there is no single inverse). A date is midnight of its day, so each
//! comparison has an exact date form: with `d` the literal's day and `m` whether it is at
//! midnight, `x < ts` is `x < d` at midnight and `x <= d` otherwise, `x <= ts` is `x <= d`,
//! `x > ts` is `x > d`, `x >= ts` is `x >= d` at midnight and `x > d` otherwise, `x = ts`
//! and `x <> ts` only at midnight. The column's statistics then prune as a date filter
//! does. It runs after constant folding (which makes the literal) and before filters are
//! pushed into scans.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::Cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct DateBounds;

impl OptimizerRule for DateBounds {
    fn name(&self) -> &str {
        "ember_date_bounds"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let schema = merge_schema(&plan.inputs());
        plan.map_expressions(|expr| expr.transform_up(|e| Ok(date_comparison(e, &schema))))
    }
}

/// Nanoseconds since 1970 of a `timestamp` (no zone) literal.
fn timestamp_nanos(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampNanosecond(Some(v), None) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), None) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), None) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), None) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

/// The column of `CAST(date_column AS timestamp)`.
fn cast_date<'a>(expr: &'a Expr, schema: &DFSchema) -> Option<&'a Expr> {
    match expr {
        Expr::Cast(Cast { expr, field }) if matches!(field.data_type(), DataType::Timestamp(_, None)) => {
            (matches!(expr.as_ref(), Expr::Column(_)) && expr.get_type(schema).is_ok_and(|t| t == DataType::Date32)).then_some(expr.as_ref())
        }
        _ => None,
    }
}

fn date_comparison(expr: Expr, schema: &DFSchema) -> Transformed<Expr> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else { return Transformed::no(expr) };
    // Written as `column op literal`.
    let (column, op, literal) = match (cast_date(left, schema), cast_date(right, schema), left.as_ref(), right.as_ref()) {
        (Some(column), _, _, Expr::Literal(value, _)) => (column, *op, value),
        (_, Some(column), Expr::Literal(value, _), _) => match op.swap() {
            Some(swapped) => (column, swapped, value),
            None => return Transformed::no(expr),
        },
        _ => return Transformed::no(expr),
    };
    let Some(nanos) = timestamp_nanos(literal) else { return Transformed::no(expr) };
    const DAY: i64 = 86_400_000_000_000;
    let (Ok(day), midnight) = (i32::try_from(nanos.div_euclid(DAY)), nanos.rem_euclid(DAY) == 0) else { return Transformed::no(expr) };
    let new_op = match (op, midnight) {
        (Operator::Lt, true) => Operator::Lt,
        (Operator::Lt, false) | (Operator::LtEq, _) => Operator::LtEq,
        (Operator::Gt, _) | (Operator::GtEq, false) => Operator::Gt,
        (Operator::GtEq, true) => Operator::GtEq,
        (Operator::Eq, true) => Operator::Eq,
        (Operator::NotEq, true) => Operator::NotEq,
        _ => return Transformed::no(expr),
    };
    Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(column.clone()),
        new_op,
        Box::new(Expr::Literal(ScalarValue::Date32(Some(day)), None)),
    )))
}

#[cfg(test)]
mod tests {
    async fn plan_and_rows(filter: &str) -> (String, String) {
        let state = datafusion::execution::SessionStateBuilder::new_from_existing(crate::analyze::test_context().state())
            .with_optimizer_rules(crate::optimizer_rules::optimizer_rules())
            .build();
        let ctx = datafusion::prelude::SessionContext::new_with_state(state);
        ctx.sql("CREATE TABLE d AS SELECT CAST(c AS DATE) AS x FROM (VALUES ('2024-01-01'), ('2024-01-02'), ('2024-01-03')) v(c)").await.unwrap();
        let sql = format!("SELECT count(*) FROM d WHERE {filter}");
        let plan = ctx.sql(&format!("EXPLAIN {sql}")).await.unwrap().collect().await.unwrap();
        let plan = datafusion::arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        (plan, crate::analyze::first_row(&ctx, &sql).await.unwrap())
    }

    #[tokio::test]
    async fn comparisons_with_a_timestamp_read_the_date() {
        for (filter, count) in [
            ("x <= DATE '2024-01-03' - INTERVAL '12 hours'", "2"),
            ("x < DATE '2024-01-03' - INTERVAL '1 day'", "1"),
            ("x >= DATE '2024-01-01' + INTERVAL '1 hour'", "2"),
            ("x > DATE '2024-01-01' + INTERVAL '1 day'", "1"),
            ("DATE '2024-01-01' + INTERVAL '1 day' = x", "1"),
            ("x = DATE '2024-01-01' + INTERVAL '1 hour'", "0"),
        ] {
            let (plan, rows) = plan_and_rows(filter).await;
            assert_eq!(rows, count, "{filter}");
            if count != "0" {
                assert!(!plan.contains("CAST(d.x AS Timestamp"), "{filter}: {plan}");
                assert!(plan.contains("Date32(\""), "{filter}: the filter compares with a date: {plan}");
            }
        }
    }
}
