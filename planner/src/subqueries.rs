//! `x op ANY (subquery)` / `x op ALL (subquery)` over the table the outer query reads.
//!
//! DataFusion rewrites such a comparison into `EXISTS` subqueries filtered on
//! `x op <the subquery's column>`, and decorrelates those into semi joins. When the
//! subquery reads the same table as the outer query without an alias (`WHERE salary > ANY
//! (SELECT salary FROM emp WHERE ...)` over `emp`), the subquery's column and the outer
//! column have the same qualified name, the join filter compares a column with itself,
//! and the answer is silently wrong: `> ANY` found no rows, `>= ALL` found every row.
//!
//! [`SetComparisonScope`] (an analyzer rule) gives each such subquery an alias of its own,
//! so its column can never be mistaken for an outer one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::SetComparison;
use datafusion::logical_expr::{Expr, LogicalPlan, SubqueryAlias};
use datafusion::optimizer::AnalyzerRule;

/// Numbers the aliases, so nested comparisons never share one.
static NEXT: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Default)]
pub struct SetComparisonScope;

impl AnalyzerRule for SetComparisonScope {
    fn name(&self) -> &str {
        "ember_set_comparison_scope"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| node.map_expressions(|e| e.transform_up(scope)))
            .data()
    }
}

fn scope(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::SetComparison(SetComparison { expr, mut subquery, op, quantifier }) = expr else {
        return Ok(Transformed::no(expr));
    };
    if !matches!(subquery.subquery.as_ref(), LogicalPlan::SubqueryAlias(a) if a.alias.table().starts_with("__ember_any_")) {
        let alias = format!("__ember_any_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        subquery.subquery = Arc::new(LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(subquery.subquery, alias)?));
    }
    Ok(Transformed::yes(Expr::SetComparison(SetComparison { expr, subquery, op, quantifier })))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;

    async fn ids(sql: &str) -> Vec<i64> {
        let ctx = crate::analyze::test_context();
        ctx.sql("CREATE VIEW emp AS SELECT * FROM (VALUES (CAST(1 AS BIGINT), 100, 1), (2, 200, 1), (3, 50, 2), (4, 150, 2)) v(id, salary, dept)")
            .await
            .unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut out: Vec<i64> = batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_subquery_over_the_same_table_compares_its_own_rows() {
        assert_eq!(ids("SELECT id FROM emp WHERE salary > ANY (SELECT salary FROM emp WHERE dept = 2)").await, vec![1, 2, 4]);
        assert_eq!(ids("SELECT id FROM emp WHERE salary >= ALL (SELECT salary FROM emp)").await, vec![2]);
        assert_eq!(ids("SELECT id FROM emp WHERE salary < ALL (SELECT salary FROM emp WHERE dept = 1)").await, vec![3]);
    }
}
