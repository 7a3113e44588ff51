//! A Python aggregate as a DataFusion aggregate UDF.
//!
//! Each group's input values are buffered as Arrow arrays (partial aggregation ships them
//! as lists) and handed to a worker in one call when the group is finished: the Python
//! side is either a class with `accumulate(*values)` and `finish()`, or a function that
//! reduces whole columns (pyarrow arrays) to one value.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use crate::function::PythonFunction;
use crate::pool::UdfExecutor;

#[derive(Debug)]
pub struct PythonAggregateUdf {
    function: Arc<PythonFunction>,
    signature: Signature,
    executor: Arc<dyn UdfExecutor>,
}

impl PythonAggregateUdf {
    pub fn new(function: Arc<PythonFunction>, executor: Arc<dyn UdfExecutor>) -> Self {
        let signature = Signature::exact(function.arg_types(), Volatility::Immutable);
        Self { function, signature, executor }
    }
}

crate::function::identity_by_definition!(PythonAggregateUdf);

impl AggregateUDFImpl for PythonAggregateUdf {
    fn name(&self) -> &str {
        &self.function.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.function.returns[0].data_type().clone())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(BufferingAccumulator {
            function: self.function.clone(),
            executor: self.executor.clone(),
            columns: vec![Vec::new(); self.function.args.len()],
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(self
            .function
            .args
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let item = Arc::new(Field::new_list_field(f.data_type().clone(), true));
                Arc::new(Field::new(format!("{}[values{i}]", args.name), DataType::List(item), true))
            })
            .collect())
    }
}

/// Keeps every input value of one group until `evaluate`.
#[derive(Debug)]
struct BufferingAccumulator {
    function: Arc<PythonFunction>,
    executor: Arc<dyn UdfExecutor>,
    /// Per argument, the arrays seen so far.
    columns: Vec<Vec<ArrayRef>>,
}

impl BufferingAccumulator {
    fn concatenated(&self) -> DfResult<Vec<ArrayRef>> {
        self.columns
            .iter()
            .zip(&self.function.args)
            .map(|(arrays, field)| {
                if arrays.is_empty() {
                    return Ok(datafusion::arrow::array::new_empty_array(field.data_type()));
                }
                let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                Ok(concat(&refs)?)
            })
            .collect()
    }
}

impl Accumulator for BufferingAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        for (column, array) in self.columns.iter_mut().zip(values) {
            column.push(array.clone());
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        for (column, state) in self.columns.iter_mut().zip(states) {
            let lists = state.as_list::<i32>();
            for i in 0..lists.len() {
                if lists.is_valid(i) {
                    column.push(lists.value(i));
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let arrays = self.concatenated()?;
        arrays
            .into_iter()
            .map(|values| {
                let item = Arc::new(Field::new_list_field(values.data_type().clone(), true));
                let list = ListArray::try_new(item, OffsetBuffer::from_lengths([values.len()]), values, None)?;
                Ok(ScalarValue::List(Arc::new(list)))
            })
            .collect()
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let arrays = self.concatenated()?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let batch = RecordBatch::try_new_with_options(
            self.function.arg_schema(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        let result = self.executor.call(&self.function, &batch, None)?;
        match result.columns().first() {
            Some(column) if column.len() == 1 => Ok(ScalarValue::try_from_array(column, 0)?),
            _ => exec_err!("Python aggregate {} must return exactly one value", self.function.name),
        }
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.columns.iter().flatten().map(|a| a.get_array_memory_size()).sum::<usize>()
    }
}
