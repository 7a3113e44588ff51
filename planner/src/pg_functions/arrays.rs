//! Array functions as PostgreSQL answers them, over Arrow lists (a PostgreSQL array of
//! N dimensions is a list nested N deep, every array's lower bound 1).
//!
//! | PostgreSQL 15 | DataFusion |
//! |---|---|
//! | `array_length('{}'::int[], 1)`, `array_ndims('{}'::int[])` → NULL (no dimensions) | `0`, `1` |
//! | `array_dims(ARRAY[[1,2,3],[4,5,6]])` → `[1:2][1:3]` | `[2, 3]` |
//! | `array_remove(ARRAY[1,NULL,2], NULL)` → `{1,2}` (`IS NOT DISTINCT FROM`) | NULL |
//! | `array_replace(ARRAY[1,2,1], 1, 9)` → `{9,2,9}` (every occurrence) | `{9,2,1}` |
//!
//! `ember_array_elements` flattens an array of any dimensions into its elements in storage
//! order, which is what PostgreSQL's `unnest` returns ([`crate::array_unnest`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, StringArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::kernels::cmp::not_distinct;
use datafusion::arrow::compute::{filter, not, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::data_error::PgDataError;

/// The element field of a list type (any of Arrow's list layouts).
pub fn element_field(t: &DataType) -> Option<&FieldRef> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) | DataType::LargeListView(f) => {
            Some(f)
        }
        _ => None,
    }
}

/// How many lists deep `t` is: an array's number of dimensions by its type.
pub fn type_dims(t: &DataType) -> usize {
    element_field(t).map_or(0, |f| 1 + type_dims(f.data_type()))
}

/// The value at `row` of a list array, or `None` when it is NULL or not a list.
pub fn row_value(array: &dyn Array, row: usize) -> Option<ArrayRef> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::List(_) => Some(array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => Some(array.as_list::<i64>().value(row)),
        DataType::FixedSizeList(..) => Some(array.as_fixed_size_list().value(row)),
        _ => None,
    }
}

/// PostgreSQL's dimensions of one array value (its elements as `elements`), or `None`
/// for an empty array, which has none.
pub fn dims(elements: &ArrayRef) -> Option<Vec<usize>> {
    let mut dims = vec![elements.len()];
    let mut current = elements.clone();
    loop {
        if current.is_empty() {
            return None;
        }
        match row_value(current.as_ref(), 0) {
            Some(first) => {
                dims.push(first.len());
                current = first;
            }
            None => return Some(dims),
        }
    }
}

/// The list argument of a call as a `List` type: other list layouts are cast to it.
fn as_list_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::List(_) | DataType::Null => Some(t.clone()),
        other => element_field(other).map(|f| DataType::List(f.clone())),
    }
}

fn one_row(args: &ScalarFunctionArgs) -> (usize, bool) {
    let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    (if scalar { 1 } else { args.number_rows }, scalar)
}

fn answer(array: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?) } else { ColumnarValue::Array(array) })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum DimsKind {
    Length,
    Ndims,
    Dims,
}

/// `array_length(a, d)`, `array_ndims(a)`, `array_dims(a)`: from each value's dimensions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Dimensions {
    kind: DimsKind,
    signature: Signature,
}

impl Dimensions {
    fn udf(kind: DimsKind) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { kind, signature: Signature::user_defined(Volatility::Immutable) })
    }
}

impl ScalarUDFImpl for Dimensions {
    fn name(&self) -> &str {
        match self.kind {
            DimsKind::Length => "array_length",
            DimsKind::Ndims => "array_ndims",
            DimsKind::Dims => "array_dims",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let arity = if self.kind == DimsKind::Length { 2 } else { 1 };
        let Some(list) = arg_types.first().and_then(as_list_type).filter(|_| arg_types.len() == arity) else {
            return plan_err!("function {}({arg_types:?}) does not exist", self.name());
        };
        Ok(std::iter::once(list).chain(arg_types.get(1).map(|_| DataType::Int64)).collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.kind == DimsKind::Dims { DataType::Utf8 } else { DataType::Int32 })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (n, scalar) = one_row(&args);
        let arrays = args.args.iter().map(|a| a.to_array(n)).collect::<Result<Vec<_>>>()?;
        let dims_of = |row: usize| row_value(arrays[0].as_ref(), row).and_then(|v| dims(&v));
        let out: ArrayRef = match self.kind {
            DimsKind::Length => {
                let wanted = arrays[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                Arc::new(
                    (0..n)
                        .map(|row| {
                            let d = wanted.is_valid(row).then(|| wanted.value(row))?;
                            let dims = dims_of(row)?;
                            let index = usize::try_from(d).ok()?.checked_sub(1)?;
                            dims.get(index).map(|l| *l as i32)
                        })
                        .collect::<Int32Array>(),
                )
            }
            DimsKind::Ndims => Arc::new((0..n).map(|row| dims_of(row).map(|d| d.len() as i32)).collect::<Int32Array>()),
            DimsKind::Dims => Arc::new(
                (0..n)
                    .map(|row| dims_of(row).map(|d| d.iter().map(|l| format!("[1:{l}]")).collect::<String>()))
                    .collect::<StringArray>(),
            ),
        };
        answer(out, scalar)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum EditKind {
    Remove,
    Replace,
}

/// `array_remove(a, x)` and `array_replace(a, x, y)`: every element `IS NOT DISTINCT FROM x`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Edit {
    kind: EditKind,
    signature: Signature,
}

impl Edit {
    fn udf(kind: EditKind) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { kind, signature: Signature::user_defined(Volatility::Immutable) })
    }
}

/// The element type `array` and the values `others` share (PostgreSQL's `anycompatible`).
fn common_element(list: &DataType, others: &[DataType]) -> Option<DataType> {
    let mut common = element_field(list).map(|f| f.data_type().clone()).or_else(|| (list == &DataType::Null).then_some(DataType::Null))?;
    for other in others {
        common = match (&common, other) {
            (DataType::Null, t) | (t, DataType::Null) => t.clone(),
            (a, b) if a == b => a.clone(),
            (a, b) => comparison_coercion(a, b)?,
        };
    }
    Some(common)
}

impl ScalarUDFImpl for Edit {
    fn name(&self) -> &str {
        match self.kind {
            EditKind::Remove => "array_remove",
            EditKind::Replace => "array_replace",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let arity = if self.kind == EditKind::Remove { 2 } else { 3 };
        if arg_types.len() == arity && type_dims(&arg_types[0]) > 1 {
            // Refused when called, with PostgreSQL's error.
            return Ok(arg_types.to_vec());
        }
        let common = match arg_types {
            [list, others @ ..] if arg_types.len() == arity => common_element(list, others),
            _ => None,
        };
        let Some(common) = common else {
            return plan_err!("function {}({arg_types:?}) does not exist", self.name());
        };
        let list = DataType::List(Arc::new(Field::new_list_field(common.clone(), true)));
        Ok(std::iter::once(list).chain(std::iter::repeat_n(common, arity - 1)).collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (n, scalar) = one_row(&args);
        let arrays = args.args.iter().map(|a| a.to_array(n)).collect::<Result<Vec<_>>>()?;
        let Some(list) = arrays[0].as_list_opt::<i32>() else {
            return exec_err!("{} expects an array, got {}", self.name(), arrays[0].data_type());
        };
        if type_dims(list.data_type()) > 1 {
            let what = if self.kind == EditKind::Remove { "removing elements from" } else { "replacing elements in" };
            return Err(PgDataError::new("0A000", format!("{what} multidimensional arrays is not supported")).into());
        }
        // Each element compared with the value of its own row.
        let offsets = list.value_offsets();
        let mut row_of = vec![0u32; list.values().len()];
        for row in 0..list.len() {
            row_of[offsets[row] as usize..offsets[row + 1] as usize].fill(row as u32);
        }
        let row_of = UInt32Array::from(row_of);
        let same: BooleanArray = not_distinct(list.values(), &take(arrays[1].as_ref(), &row_of, None)?)?;
        let field = match list.data_type() {
            DataType::List(f) => f.clone(),
            _ => return exec_err!("{} expects a list", self.name()),
        };
        let out = match self.kind {
            EditKind::Remove => {
                let keep = not(&same)?;
                let mut kept_before = Vec::with_capacity(keep.len() + 1);
                kept_before.push(0i32);
                for keep in keep.iter() {
                    kept_before.push(kept_before[kept_before.len() - 1] + i32::from(keep == Some(true)));
                }
                let offsets: Vec<i32> = offsets.iter().map(|o| kept_before[*o as usize]).collect();
                ListArray::try_new(field, OffsetBuffer::new(offsets.into()), filter(list.values(), &keep)?, list.nulls().cloned())?
            }
            EditKind::Replace => {
                let with = take(arrays[2].as_ref(), &row_of, None)?;
                let values = datafusion::arrow::compute::kernels::zip::zip(&same, &with, list.values())?;
                ListArray::try_new(field, list.offsets().clone(), values, list.nulls().cloned())?
            }
        };
        answer(Arc::new(out), scalar)
    }
}

/// `ember_array_elements(a)`: the elements of an array of any dimensions as one list, in
/// storage order; any other value as it is.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Elements {
    signature: Signature,
}

impl Elements {
    pub const NAME: &str = "ember_array_elements";

    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { signature: Signature::any(1, Volatility::Immutable) })
    }
}

/// Flatten nested `List`s into their innermost elements.
fn flatten(array: ArrayRef) -> ArrayRef {
    let Some(outer) = array.as_list_opt::<i32>() else { return array };
    let Some(inner) = outer.values().as_list_opt::<i32>() else { return array };
    let inner_offsets = inner.value_offsets();
    let offsets: Vec<i32> = outer.value_offsets().iter().map(|o| inner_offsets[*o as usize]).collect();
    let DataType::List(field) = inner.data_type() else { return array };
    match ListArray::try_new(field.clone(), OffsetBuffer::new(offsets.into()), inner.values().clone(), outer.nulls().cloned()) {
        Ok(flat) => flatten(Arc::new(flat)),
        Err(_) => array,
    }
}

fn flat_type(t: &DataType) -> DataType {
    match t {
        DataType::List(f) if matches!(f.data_type(), DataType::List(_)) => flat_type(f.data_type()),
        other => other.clone(),
    }
}

impl ScalarUDFImpl for Elements {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Named as its argument, so `SELECT unnest(x)` keeps the column name it had.
    fn schema_name(&self, args: &[datafusion::logical_expr::Expr]) -> Result<String> {
        Ok(args.first().map(|a| a.schema_name().to_string()).unwrap_or_default())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().map(flat_type).unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(arg) = args.args.into_iter().next() else { return exec_err!("{} takes one argument", Self::NAME) };
        Ok(match arg {
            ColumnarValue::Array(array) => ColumnarValue::Array(flatten(array)),
            ColumnarValue::Scalar(value) => ColumnarValue::Scalar(ScalarValue::try_from_array(&flatten(value.to_array()?), 0)?),
        })
    }
}

pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        Dimensions::udf(DimsKind::Length),
        Dimensions::udf(DimsKind::Ndims),
        Dimensions::udf(DimsKind::Dims),
        Edit::udf(EditKind::Remove),
        Edit::udf(EditKind::Replace),
        Elements::udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one(sql: &str) -> Result<String> {
        let ctx = crate::analyze::test_context();
        for udf in udfs() {
            ctx.register_udf(udf);
        }
        crate::analyze::first_row(&ctx, sql).await
    }

    #[tokio::test]
    async fn dimensions_as_postgres_reports_them() {
        assert_eq!(
            one("SELECT array_length([1, 2, 3], 1), array_length([1, 2, 3], 2), array_length(CAST([] AS INT[]), 1), array_length([[1, 2, 3], [4, 5, 6]], 2)").await.unwrap(),
            "3,NULL,NULL,3"
        );
        assert_eq!(one("SELECT array_ndims([1, 2]), array_ndims([[1], [2]]), array_ndims(CAST([] AS INT[]))").await.unwrap(), "1,2,NULL");
        assert_eq!(one("SELECT array_dims([1, 2, 3]), array_dims([[1, 2, 3], [4, 5, 6]]), array_dims(CAST([] AS INT[]))").await.unwrap(), "[1:3],[1:2][1:3],NULL");
        assert_eq!(one("SELECT array_dims(a) FROM (VALUES ([1]), ([2, 3])) v(a) ORDER BY 1 DESC").await.unwrap(), "[1:2]");
    }

    #[tokio::test]
    async fn every_occurrence_and_null_elements() {
        assert_eq!(
            one("SELECT array_remove([1, 2, 1, 3], 1), array_remove([1, NULL, 2], NULL), array_remove([1, 2], 5)").await.unwrap(),
            "[2, 3],[1, 2],[1, 2]"
        );
        assert_eq!(one("SELECT array_replace([1, 2, 1], 1, 9), array_replace([1, NULL], NULL, 0)").await.unwrap(), "[9, 2, 9],[1, 0]");
        // Row by row over columns.
        assert_eq!(
            one("SELECT array_remove(a, x) FROM (VALUES ([1, 2, 2], 2), ([3, 3], 3)) v(a, x)").await.unwrap(),
            "[1]"
        );
        let err = one("SELECT array_remove([[1, 2], [3, 4]], 1)").await.unwrap_err();
        assert_eq!(PgDataError::find(&err).map(PgDataError::sqlstate), Some("0A000"), "{err}");
    }

    #[tokio::test]
    async fn elements_in_storage_order() {
        assert_eq!(one("SELECT ember_array_elements([[1, 2], [3, 4]]), ember_array_elements([5]), ember_array_elements(7)").await.unwrap(), "[1, 2, 3, 4],[5],7");
    }
}
