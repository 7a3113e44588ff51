//! A Python function as a DataFusion scalar UDF (row-at-a-time and vectorized kinds).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::function::PythonFunction;
use crate::pool::UdfExecutor;

/// Evaluates a Python function batch by batch in the worker pool.
#[derive(Debug)]
pub struct PythonScalarUdf {
    function: Arc<PythonFunction>,
    signature: Signature,
    executor: Arc<dyn UdfExecutor>,
}

impl PythonScalarUdf {
    pub fn new(function: Arc<PythonFunction>, executor: Arc<dyn UdfExecutor>) -> Self {
        let volatility = if function.volatile { Volatility::Volatile } else { Volatility::Immutable };
        let signature = Signature::exact(function.arg_types(), volatility);
        Self { function, signature, executor }
    }
}

crate::function::identity_by_definition!(PythonScalarUdf);

impl ScalarUDFImpl for PythonScalarUdf {
    fn name(&self) -> &str {
        &self.function.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.function.returns[0].data_type().clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<DfResult<_>>()?;
        let batch = RecordBatch::try_new_with_options(
            self.function.arg_schema(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        let interrupt = crate::interrupt::Interrupt::from_config(&args.config_options);
        let result = self.executor.call(&self.function, &batch, interrupt.as_ref())?;
        let Some(column) = result.columns().first() else {
            return exec_err!("Python function {} returned no column", self.function.name);
        };
        if column.len() != rows {
            return exec_err!("Python function {} returned {} values for {rows} rows", self.function.name, column.len());
        }
        Ok(ColumnarValue::Array(column.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::{FunctionBody, FunctionKind, VectorInput};
    use datafusion::arrow::array::{Array, AsArray, Int64Array};
    use datafusion::arrow::datatypes::{Field, Int64Type};
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::SessionContext;

    /// Stands in for the worker pool: doubles its single argument, counts the calls.
    #[derive(Debug, Default)]
    struct Doubler {
        calls: std::sync::atomic::AtomicUsize,
    }

    impl UdfExecutor for Doubler {
        fn check(&self, _: &PythonFunction) -> crate::Result<()> {
            Ok(())
        }

        fn call(&self, function: &PythonFunction, args: &RecordBatch, _: Option<&crate::Interrupt>) -> crate::Result<RecordBatch> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let input = args.column(0).as_primitive::<Int64Type>();
            let doubled: Int64Array = input.iter().map(|v| v.map(|v| v * 2)).collect();
            Ok(RecordBatch::try_new(function.return_schema(), vec![Arc::new(doubled)])?)
        }
    }

    #[tokio::test]
    async fn evaluates_batches_through_the_executor() {
        let function = PythonFunction::new(
            "double".into(),
            FunctionKind::Scalar,
            VectorInput::Arrow,
            vec![Field::new("x", DataType::Int64, true)],
            vec![Field::new("double", DataType::Int64, true)],
            FunctionBody::Source("def double(x): return 2 * x".into()),
            false,
            false,
        )
        .unwrap();
        let executor = Arc::new(Doubler::default());
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::new_from_impl(PythonScalarUdf::new(Arc::new(function), executor.clone())));
        // An int32 argument is coerced to the declared bigint; NULL stays NULL.
        let batches = ctx
            .sql("SELECT double(CAST(v AS INT)) AS d FROM (VALUES (1), (NULL), (21)) t(v)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let column = batches[0].column(0).as_primitive::<Int64Type>();
        assert_eq!(column.iter().collect::<Vec<_>>(), vec![Some(2), None, Some(42)]);
        assert!(column.is_null(1));
        assert!(executor.calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    }
}
