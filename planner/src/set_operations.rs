//! `INTERSECT ALL` and `EXCEPT ALL` with PostgreSQL's multiset counts.
//!
//! A row that appears `m` times on the left and `n` times on the right appears
//! `min(m, n)` times in `INTERSECT ALL` and `max(m - n, 0)` times in `EXCEPT ALL`.
//! DataFusion plans both as a semi or anti join of the two sides (NULLs equal), which keeps
//! all `m` copies of a row that appears on the right at all, or drops all of them:
//! `{1,1,1,2} EXCEPT ALL {1,2,2}` answered nothing instead of `{1,1}`.
//!
//! [`SetOperationsAll`] (an analyzer rule) numbers the copies of each row on both sides
//! (`row_number() OVER (PARTITION BY every column)`) and adds that number to the join's
//! keys: the `k`-th copy on the left matches the `k`-th copy on the right, which gives
//! exactly PostgreSQL's counts. The `DISTINCT` forms are left alone (DataFusion puts a
//! `Distinct` under their left side; with one copy of each row the join is right).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult};
use datafusion::common::{Column, NullEquality, Result};
use datafusion::config::ConfigOptions;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{Expr, ExprFunctionExt, Join, JoinType, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::AnalyzerRule;

/// The column numbering the copies of a row.
const COPY: &str = "__ember_copy_of_row";

#[derive(Debug, Default)]
pub struct SetOperationsAll;

impl AnalyzerRule for SetOperationsAll {
    fn name(&self) -> &str {
        "ember_set_operations_all"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite).data()
    }
}

/// Whether `join` is how DataFusion plans `INTERSECT ALL` / `EXCEPT ALL`: a semi or anti
/// join on every column, NULLs equal, no filter, its left side not made distinct. Nothing
/// else plans such a join before optimization (`IN` and `EXISTS` are still subqueries).
fn is_set_operation_all(join: &Join) -> bool {
    matches!(join.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        && join.filter.is_none()
        && join.null_equality == NullEquality::NullEqualsNull
        && join.on.len() == join.left.schema().fields().len()
        && !matches!(join.left.as_ref(), LogicalPlan::Distinct(_))
        && join.left.schema().field_with_unqualified_name(COPY).is_err()
}

/// `plan` with a column numbering the copies of each of its rows.
fn number_copies(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let columns: Vec<Expr> = plan.schema().columns().into_iter().map(Expr::Column).collect();
    let copy = row_number().partition_by(columns).build()?.alias(COPY);
    LogicalPlanBuilder::from(plan.clone()).window(vec![copy])?.build()
}

fn rewrite(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Join(join) = &plan else { return Ok(Transformed::no(plan)) };
    if !is_set_operation_all(join) {
        return Ok(Transformed::no(plan));
    }
    let output: Vec<Expr> = join.left.schema().columns().into_iter().map(Expr::Column).collect();
    let mut on = join.on.clone();
    on.push((Expr::Column(Column::from_name(COPY)), Expr::Column(Column::from_name(COPY))));
    let numbered = Join::try_new(
        Arc::new(number_copies(&join.left)?),
        Arc::new(number_copies(&join.right)?),
        on,
        None,
        join.join_type,
        join.join_constraint,
        NullEquality::NullEqualsNull,
        join.null_aware,
    )?;
    let projected = LogicalPlanBuilder::from(LogicalPlan::Join(numbered)).project(output)?.build()?;
    Ok(Transformed::yes(projected))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;

    async fn values(sql: &str) -> Vec<Option<i64>> {
        let batches = crate::analyze::test_context().sql(sql).await.unwrap().collect().await.unwrap();
        let mut out: Vec<Option<i64>> = batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().iter().collect::<Vec<_>>()).collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn copies_count_as_in_postgres() {
        let a = "SELECT x FROM (VALUES (1), (1), (1), (2), (NULL), (NULL)) a(x)";
        let b = "SELECT y FROM (VALUES (1), (2), (2), (NULL), (3)) b(y)";
        assert_eq!(values(&format!("{a} EXCEPT ALL {b}")).await, vec![None, Some(1), Some(1)]);
        assert_eq!(values(&format!("{a} INTERSECT ALL {b}")).await, vec![None, Some(1), Some(2)]);
        assert_eq!(values(&format!("{b} EXCEPT ALL {a}")).await, vec![Some(2), Some(3)]);
        // The DISTINCT forms as before.
        assert_eq!(values(&format!("{a} EXCEPT {b}")).await, Vec::<Option<i64>>::new());
        assert_eq!(values(&format!("{a} INTERSECT {b}")).await, vec![None, Some(1), Some(2)]);
    }
}
