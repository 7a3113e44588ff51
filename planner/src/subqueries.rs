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
//!
//! A scalar subquery that finds no row is NULL. DataFusion types `(SELECT 1 WHERE false)`
//! as its column is typed, non-nullable, and the batch with the NULL then fails its own
//! schema check. [`SetComparisonScope`] also wraps every scalar subquery in
//! [`NullableSubquery`], an identity function whose result may be NULL.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DataFusionError, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{ScalarFunction, SetComparison};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, SubqueryAlias, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct SetComparisonScope;

impl AnalyzerRule for SetComparisonScope {
    fn name(&self) -> &str {
        "ember_set_comparison_scope"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut next = 0;
        plan.transform_up_with_subqueries(|node| node.map_expressions(|e| e.transform_up(|e| scope(e, &mut next))))
            .data()
    }
}

/// `next` numbers the aliases within one plan, so nested comparisons never share one.
fn scope(expr: Expr, next: &mut usize) -> Result<Transformed<Expr>> {
    if let Expr::ScalarSubquery(subquery) = &expr
        && subquery.subquery.schema().fields().first().is_some_and(|f| !f.is_nullable())
    {
        let nullable = Arc::new(ScalarUDF::new_from_impl(NullableSubquery::default()));
        return Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(nullable, vec![expr]))));
    }
    let Expr::SetComparison(SetComparison { expr, mut subquery, op, quantifier }) = expr else {
        return Ok(Transformed::no(expr));
    };
    if !matches!(subquery.subquery.as_ref(), LogicalPlan::SubqueryAlias(a) if a.alias.table().starts_with("__ember_any_")) {
        let alias = format!("__ember_any_{next}");
        *next += 1;
        subquery.subquery = Arc::new(LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(subquery.subquery, alias)?));
    }
    Ok(Transformed::yes(Expr::SetComparison(SetComparison { expr, subquery, op, quantifier })))
}

/// `ember_nullable(x)`: `x`, typed as possibly NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NullableSubquery {
    signature: Signature,
}

impl Default for NullableSubquery {
    fn default() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for NullableSubquery {
    fn name(&self) -> &str {
        "ember_nullable"
    }

    /// Named as what it wraps.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(args.first().map(|a| a.schema_name().to_string()).unwrap_or_default())
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        arg_types.first().cloned().ok_or_else(|| DataFusionError::Plan("ember_nullable takes one argument".into()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        args.args.into_iter().next().ok_or_else(|| DataFusionError::Plan("ember_nullable takes one argument".into()))
    }
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

    #[tokio::test]
    async fn a_scalar_subquery_without_a_row_is_null() {
        let batches = crate::analyze::test_context().sql("SELECT (SELECT 1 WHERE false) AS x, 2 AS y").await.unwrap().collect().await.unwrap();
        assert!(batches[0].column(0).is_null(0));
    }
}
