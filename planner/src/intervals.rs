//! Intervals compare and sort as PostgreSQL's do: by their length, a month counting as 30
//! days and a day as 24 hours.
//!
//! Arrow compares an interval field by field (months, then days, then nanoseconds), so
//! `INTERVAL '25 hours' > INTERVAL '1 day'` was false and `INTERVAL '30 days' = INTERVAL
//! '1 month'` false; PostgreSQL's `interval_cmp` compares the normalized span and answers
//! true for both. [`IntervalOrder`] (an analyzer rule after type coercion) compares and
//! sorts intervals by [`span`], a `numeric` count of nanoseconds.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Decimal128Array};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNanoType, IntervalUnit};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;

const NANOS_PER_DAY: i128 = 86_400_000_000_000;
const SPAN: DataType = DataType::Decimal128(38, 0);

/// The length of an interval in nanoseconds, a month as 30 days.
pub fn span(months: i32, days: i32, nanos: i64) -> i128 {
    (months as i128 * 30 + days as i128) * NANOS_PER_DAY + nanos as i128
}

#[derive(Debug, Default)]
pub struct IntervalOrder;

impl AnalyzerRule for IntervalOrder {
    fn name(&self) -> &str {
        "ember_interval_order"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::TransformedResult;
        let plan = crate::analyze::rewrite_plan_expressions(plan, compare_spans)?;
        plan.transform_up_with_subqueries(sort_by_span).data()
    }
}

fn is_interval(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(expr.get_type(schema), Ok(DataType::Interval(IntervalUnit::MonthDayNano)))
}

fn span_of(expr: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(IntervalSpan::default())), vec![expr]))
}

fn compare_spans(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else { return Ok(Transformed::no(expr)) };
    let comparison = matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    );
    if !comparison || !is_interval(left, schema) || !is_interval(right, schema) {
        return Ok(Transformed::no(expr));
    }
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else { unreachable!() };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(Box::new(span_of(*left)), op, Box::new(span_of(*right))))))
}

/// Sort keys that are intervals sort by their span.
pub fn sort_by_span(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Sort(mut sort) = plan else { return Ok(Transformed::no(plan)) };
    let schema = sort.input.schema().clone();
    let mut changed = false;
    for key in &mut sort.expr {
        if is_interval(&key.expr, &schema) {
            let inner = std::mem::replace(&mut key.expr, Expr::Literal(ScalarValue::Null, None));
            key.expr = span_of(inner);
            changed = true;
        }
    }
    Ok(Transformed::new_transformed(LogicalPlan::Sort(sort), changed))
}

/// `ember_interval_span(interval) -> numeric`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntervalSpan {
    signature: Signature,
}

impl Default for IntervalSpan {
    fn default() -> Self {
        Self { signature: Signature::exact(vec![DataType::Interval(IntervalUnit::MonthDayNano)], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for IntervalSpan {
    fn name(&self) -> &str {
        "ember_interval_span"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(SPAN)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args.first(), Some(ColumnarValue::Scalar(_)));
        let values = args.args.first().ok_or_else(|| DataFusionError::Plan("ember_interval_span takes one argument".into()))?;
        let values = values.to_array(args.number_rows)?;
        let intervals = values.as_primitive::<IntervalMonthDayNanoType>();
        let spans: Decimal128Array = intervals.iter().map(|v| v.map(|v| span(v.months, v.days, v.nanoseconds))).collect();
        let spans = Arc::new(spans.with_data_type(SPAN));
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(spans.as_ref(), 0)?) } else { ColumnarValue::Array(spans) })
    }
}

#[cfg(test)]
mod tests {
    async fn row(sql: &str) -> String {
        crate::analyze::first_row(&crate::analyze::test_context(), sql).await.unwrap()
    }

    #[tokio::test]
    async fn intervals_compare_by_length() {
        let sql = "SELECT INTERVAL '30 days' = INTERVAL '1 month', INTERVAL '25 hours' > INTERVAL '1 day', \
                   INTERVAL '1 day -24 hours' = INTERVAL '0 seconds', INTERVAL '1 year' < INTERVAL '365 days'";
        assert_eq!(row(sql).await, "true,true,true,true");
        let sorted = "SELECT CAST(i AS VARCHAR) AS t FROM (VALUES (INTERVAL '1 day'), (INTERVAL '25 hours'), (INTERVAL '23 hours')) v(i) ORDER BY i";
        let batches = crate::analyze::test_context().sql(sorted).await.unwrap().collect().await.unwrap();
        let order: Vec<String> = batches.iter().flat_map(|b| (0..b.num_rows()).map(|r| datafusion::common::ScalarValue::try_from_array(b.column(0), r).unwrap().to_string()).collect::<Vec<_>>()).collect();
        assert_eq!(order.len(), 3);
        assert!(order[0].contains("23"), "{order:?}");
        assert!(order[2].contains("25"), "{order:?}");
    }
}
