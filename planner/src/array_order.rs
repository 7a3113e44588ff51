//! Array comparisons as PostgreSQL's `btarraycmp` makes them (an analyzer rule after type
//! coercion).
//!
//! PostgreSQL compares two arrays element by element, a NULL element being equal to a NULL
//! and greater than any value, then by length: `ARRAY[1, NULL] < ARRAY[1, 2]` is false and
//! `ARRAY[1, NULL] = ARRAY[1, NULL]` is true. Arrow orders NULL elements first. The rule
//! replaces `= <> < <= > >=` between two arrays by [`ArrayCompare`], which compares with
//! Arrow's comparator told that NULLs come last; a NULL array still gives NULL.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, make_comparator};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::pg_functions::arrays::element_field;

/// `a op b` for two arrays, in PostgreSQL's order.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArrayCompare {
    op: Operator,
    signature: Signature,
}

impl ArrayCompare {
    pub fn udf(op: Operator) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(Self { op, signature: Signature::any(2, Volatility::Immutable) }))
    }

    fn holds(&self, ordering: Ordering) -> bool {
        match self.op {
            Operator::Eq => ordering.is_eq(),
            Operator::NotEq => ordering.is_ne(),
            Operator::Lt => ordering.is_lt(),
            Operator::LtEq => ordering.is_le(),
            Operator::Gt => ordering.is_gt(),
            _ => ordering.is_ge(),
        }
    }
}

impl ScalarUDFImpl for ArrayCompare {
    fn name(&self) -> &str {
        "ember_array_compare"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Named as the comparison it replaces.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [l, r] => Ok(format!("{} {} {}", l.schema_name(), self.op, r.schema_name())),
            _ => exec_err!("ember_array_compare takes two arrays"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let [l, r] = args.args.as_slice() else { return exec_err!("ember_array_compare takes two arrays") };
        let (l, r) = (l.to_array(rows)?, r.to_array(rows)?);
        let compare = make_comparator(l.as_ref(), r.as_ref(), SortOptions { descending: false, nulls_first: false })?;
        let out: BooleanArray = (0..rows).map(|i| (l.is_valid(i) && r.is_valid(i)).then(|| self.holds(compare(i, i)))).collect();
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(Arc::new(out)) })
    }
}

/// Analyzer rule: comparisons of two arrays go through [`ArrayCompare`].
#[derive(Debug, Default)]
pub struct ArrayOrder;

impl AnalyzerRule for ArrayOrder {
    fn name(&self) -> &str {
        "ember_array_order"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::analyze::rewrite_plan_expressions(plan, compare)
    }
}

fn compare(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else { return Ok(Transformed::no(expr)) };
    if !matches!(op, Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq) {
        return Ok(Transformed::no(expr));
    }
    let is_array = |e: &Expr| e.get_type(schema).is_ok_and(|t| element_field(&t).is_some());
    if !is_array(left) || !is_array(right) {
        return Ok(Transformed::no(expr));
    }
    let args = vec![left.as_ref().clone(), right.as_ref().clone()];
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(ArrayCompare::udf(*op), args))))
}

#[cfg(test)]
mod tests {
    async fn one(sql: &str) -> datafusion::common::Result<String> {
        crate::analyze::first_row(&crate::analyze::test_context(), sql).await
    }

    #[tokio::test]
    async fn null_elements_sort_last() {
        assert_eq!(
            one("SELECT [1, NULL] = [1, NULL], [1, NULL] < [1, 2], [1, NULL] > [1, 2], [1, 2] < [1, 2, 0], [2] > [1, 5], CAST(NULL AS INT[]) = [1]").await.unwrap(),
            "true,false,true,true,true,NULL"
        );
        assert_eq!(one("SELECT count(*) FROM (VALUES ([1, NULL]), ([1, 3])) v(a) WHERE a > [1, 2]").await.unwrap(), "2");
    }
}
