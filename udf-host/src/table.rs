//! A Python table function: `SELECT * FROM f(1, 'x')`. Called once at planning time with
//! literal arguments; the rows it yields become an in-memory table.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result as DfResult, ScalarValue, plan_err};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::Expr;

use crate::function::PythonFunction;
use crate::pool::UdfExecutor;

#[derive(Debug)]
pub struct PythonTableFunction {
    function: Arc<PythonFunction>,
    executor: Arc<dyn UdfExecutor>,
}

impl PythonTableFunction {
    pub fn new(function: Arc<PythonFunction>, executor: Arc<dyn UdfExecutor>) -> Self {
        Self { function, executor }
    }
}

impl TableFunctionImpl for PythonTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let function = &self.function;
        if exprs.len() != function.args.len() {
            return plan_err!("{}() takes {} arguments, {} given", function.name, function.args.len(), exprs.len());
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(exprs.len());
        for (expr, field) in exprs.iter().zip(&function.args) {
            let value = match expr {
                Expr::Literal(value, _) => value.clone(),
                other => return plan_err!("arguments of table function {} must be constants, got {other}", function.name),
            };
            let value = if value.data_type() == *field.data_type() { value } else { value.cast_to(field.data_type())? };
            arrays.push(ScalarValue::to_array(&value)?);
        }
        let batch = RecordBatch::try_new_with_options(
            function.arg_schema(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let interrupt = crate::interrupt::Interrupt::from_config(args.session().config_options());
        let rows = self.executor.call(function, &batch, interrupt.as_ref())?;
        let schema = function.return_schema();
        let rows = RecordBatch::try_new(schema.clone(), rows.columns().to_vec())?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![rows]])?))
    }
}
