//! A Python function as a DataFusion scalar UDF (row-at-a-time and vectorized kinds).

use std::hash::{Hash, Hasher};
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

    pub fn function(&self) -> &Arc<PythonFunction> {
        &self.function
    }
}

impl PartialEq for PythonScalarUdf {
    fn eq(&self, other: &Self) -> bool {
        self.function.id == other.function.id
    }
}

impl Eq for PythonScalarUdf {}

impl Hash for PythonScalarUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.function.id.hash(state);
    }
}

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
        let result = self.executor.call(&self.function, &batch)?;
        let Some(column) = result.columns().first() else {
            return exec_err!("Python function {} returned no column", self.function.name);
        };
        if column.len() != rows {
            return exec_err!("Python function {} returned {} values for {rows} rows", self.function.name, column.len());
        }
        Ok(ColumnarValue::Array(column.clone()))
    }
}
