//! PostgreSQL's result types for the ranking window functions: `row_number`, `rank` and
//! `dense_rank` are `bigint`, `ntile` is `integer`.
//!
//! DataFusion's answer `UInt64`, which Ember must send as `numeric` (a `bigint` cannot hold
//! every `UInt64`), so `row_number() OVER ()` reached psycopg as a `Decimal` and pandas as
//! an object column. Each is wrapped here: the same function, its field typed as
//! PostgreSQL's and its values cast to that type as they are computed (a count of rows
//! fits); everything else — ordering, reversal, bounded execution — is the wrapped one's.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::{SortOptions, cast};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::window_state::WindowAggState;
use datafusion::logical_expr::{LimitEffect, PartitionEvaluator, ReversedUDWF, Signature, WindowUDF, WindowUDFImpl};
use datafusion::physical_expr::PhysicalExpr;

/// The ranking functions of `window_functions` (a session's registry), retyped.
pub fn retyped(window_functions: &[Arc<WindowUDF>]) -> Vec<Arc<WindowUDF>> {
    window_functions
        .iter()
        .filter_map(|f| {
            let to = match f.name() {
                "row_number" | "rank" | "dense_rank" => DataType::Int64,
                "ntile" => DataType::Int32,
                _ => return None,
            };
            Some(Arc::new(WindowUDF::new_from_impl(Retyped { inner: f.clone(), to })))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Retyped {
    inner: Arc<WindowUDF>,
    to: DataType,
}

impl WindowUDFImpl for Retyped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        self.inner.expressions(expr_args)
    }

    fn partition_evaluator(&self, args: PartitionEvaluatorArgs) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(CastEvaluator { inner: self.inner.partition_evaluator_factory(args)?, to: self.to.clone() }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let field = self.inner.field(field_args)?;
        Ok(Arc::new(Field::new(field.name(), self.to.clone(), field.is_nullable())))
    }

    fn sort_options(&self) -> Option<SortOptions> {
        self.inner.sort_options()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        match self.inner.reverse_expr() {
            ReversedUDWF::Reversed(reversed) => {
                ReversedUDWF::Reversed(Arc::new(WindowUDF::new_from_impl(Retyped { inner: reversed, to: self.to.clone() })))
            }
            other => other,
        }
    }

    fn limit_effect(&self, args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        self.inner.inner().limit_effect(args)
    }
}

/// The wrapped function's evaluator, its values cast to PostgreSQL's type.
#[derive(Debug)]
struct CastEvaluator {
    inner: Box<dyn PartitionEvaluator>,
    to: DataType,
}

impl PartitionEvaluator for CastEvaluator {
    fn memoize(&mut self, state: &mut WindowAggState) -> Result<()> {
        self.inner.memoize(state)
    }

    fn get_range(&self, idx: usize, n_rows: usize) -> Result<Range<usize>> {
        self.inner.get_range(idx, n_rows)
    }

    fn is_causal(&self) -> bool {
        self.inner.is_causal()
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        Ok(cast(&self.inner.evaluate_all(values, num_rows)?, &self.to)?)
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        self.inner.evaluate(values, range)?.cast_to(&self.to)
    }

    fn evaluate_all_with_rank(&self, num_rows: usize, ranks_in_partition: &[Range<usize>]) -> Result<ArrayRef> {
        Ok(cast(&self.inner.evaluate_all_with_rank(num_rows, ranks_in_partition)?, &self.to)?)
    }

    fn supports_bounded_execution(&self) -> bool {
        self.inner.supports_bounded_execution()
    }

    fn uses_window_frame(&self) -> bool {
        self.inner.uses_window_frame()
    }

    fn include_rank(&self) -> bool {
        self.inner.include_rank()
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn ranks_are_bigint_and_ntile_integer() {
        let ctx = crate::analyze::test_context();
        let sql = "SELECT arrow_typeof(row_number() OVER (ORDER BY x)), arrow_typeof(rank() OVER (ORDER BY x)), \
                   arrow_typeof(dense_rank() OVER (ORDER BY x DESC)), arrow_typeof(ntile(2) OVER (ORDER BY x)), \
                   row_number() OVER (ORDER BY x DESC), rank() OVER (ORDER BY x) FROM (VALUES (1), (2), (2)) v(x) ORDER BY x LIMIT 1";
        assert_eq!(crate::analyze::first_row(&ctx, sql).await.unwrap(), "Int64,Int64,Int64,Int32,3,1");
    }
}
