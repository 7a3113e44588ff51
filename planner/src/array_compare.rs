//! `x op ANY (array)` and `x op ALL (array)` with PostgreSQL's NULL rules.
//!
//! PostgreSQL compares `x` with each element: `ANY` is true if a comparison is true, else
//! NULL if one is NULL (a NULL element or a NULL `x`), else false (an empty array: false);
//! `ALL` is false if one is false, else NULL if one is NULL, else true. DataFusion planned
//! `= ANY` as `array_has`, which ignores NULL elements (`5 = ANY (ARRAY[1, NULL])` was
//! false), and the other operators over `array_min`/`array_max` (`0 > ANY (ARRAY[1, NULL])`
//! was false). The rule [`array_comparisons`] writes such comparisons (not those over a
//! subquery) as calls of [`ArrayCompare`] before planning; for a constant array, `= ANY`
//! and `<> ALL` simplify to `IN` / `NOT IN` lists, which have the same NULL rules and which
//! DataFusion prunes and pushes down.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::compute::kernels::cmp;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::binary::comparison_coercion;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr as SqlExpr, Statement, Value, VisitMut, VisitorMut};

use crate::data_error::PgDataError;
use crate::pg_catalog::compat::ast::call;

/// Apply the rule to one statement.
pub fn array_comparisons(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewrite);
}

fn operator_text(op: &BinaryOperator) -> Option<&'static str> {
    Some(match op {
        BinaryOperator::Eq => "=",
        BinaryOperator::NotEq => "<>",
        BinaryOperator::Lt => "<",
        BinaryOperator::LtEq => "<=",
        BinaryOperator::Gt => ">",
        BinaryOperator::GtEq => ">=",
        _ => return None,
    })
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
        let (all, left, op, right) = match expr {
            SqlExpr::AnyOp { left, compare_op, right, .. } => (false, left, compare_op, right),
            SqlExpr::AllOp { left, compare_op, right } => (true, left, compare_op, right),
            _ => return ControlFlow::Continue(()),
        };
        if matches!(right.as_ref(), SqlExpr::Subquery(_)) {
            return ControlFlow::Continue(());
        }
        let Some(op) = operator_text(op) else { return ControlFlow::Continue(()) };
        let left = std::mem::replace(left.as_mut(), SqlExpr::value(Value::Null));
        let right = std::mem::replace(right.as_mut(), SqlExpr::value(Value::Null));
        let name = if all { "ember_array_all" } else { "ember_array_any" };
        *expr = call(name, vec![left, right, SqlExpr::value(Value::SingleQuotedString(op.to_string()))]);
        ControlFlow::Continue(())
    }
}

/// `ember_array_any(x, array, op)` / `ember_array_all(x, array, op)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArrayCompare {
    all: bool,
    signature: Signature,
}

impl ArrayCompare {
    pub fn any() -> Self {
        Self { all: false, signature: Signature::any(3, Volatility::Immutable) }
    }

    pub fn all() -> Self {
        Self { all: true, signature: Signature::any(3, Volatility::Immutable) }
    }
}

fn operator_of(args: &[Expr]) -> Option<&str> {
    match args.get(2) {
        Some(Expr::Literal(ScalarValue::Utf8(Some(op)), _)) => Some(op.as_str()),
        _ => None,
    }
}

impl ScalarUDFImpl for ArrayCompare {
    fn name(&self) -> &str {
        if self.all { "ember_array_all" } else { "ember_array_any" }
    }

    /// Named as written: `x = ANY(a)`.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let op = operator_of(args).unwrap_or("?");
        let quantifier = if self.all { "ALL" } else { "ANY" };
        Ok(format!("{} {op} {quantifier}({})", args[0].schema_name(), args[1].schema_name()))
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    /// `x = ANY (constant array)` is `x IN (...)` and `x <> ALL (...)` is `x NOT IN (...)`,
    /// NULL elements included.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let in_list = match (self.all, operator_of(&args)) {
            (false, Some("=")) => Some(false),
            (true, Some("<>")) => Some(true),
            _ => None,
        };
        let (Some(negated), Some(Expr::Literal(list @ (ScalarValue::List(_) | ScalarValue::LargeList(_)), _))) = (in_list, args.get(1))
        else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        let elements = list.to_array()?;
        let elements = match elements.data_type() {
            DataType::LargeList(_) => elements.as_list::<i64>().value(0),
            _ => elements.as_list::<i32>().value(0),
        };
        if elements.is_empty() {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let items = (0..elements.len()).map(|i| ScalarValue::try_from_array(&elements, i).map(|v| Expr::Literal(v, None))).collect::<Result<Vec<_>>>()?;
        Ok(ExprSimplifyResult::Simplified(args[0].clone().in_list(items, negated)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [needle, haystack, op] = args.args.as_slice() else {
            return Err(DataFusionError::Plan("array comparison takes three arguments".into()));
        };
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(op))) = op else {
            return Err(DataFusionError::Plan("array comparison needs its operator as a constant".into()));
        };
        let (needle, haystack) = (needle.to_array(rows)?, haystack.to_array(rows)?);
        let out = compare(&needle, &haystack, op, self.all)?;
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
    }
}

fn compare(needle: &ArrayRef, haystack: &ArrayRef, op: &str, all: bool) -> Result<ArrayRef> {
    let rows = needle.len();
    let element = match haystack.data_type() {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.data_type().clone(),
        DataType::Null => return Ok(Arc::new(datafusion::arrow::array::BooleanArray::new_null(rows))),
        other => return Err(PgDataError::new("42809", format!("op ANY/ALL (array) requires array on right side, not {other}")).into()),
    };
    let common = comparison_coercion(needle.data_type(), &element).ok_or_else(|| {
        PgDataError::new("42883", format!("operator does not exist: {} {op} {}", needle.data_type(), element))
    })?;
    let list = cast(haystack, &DataType::List(Arc::new(Field::new("item", common.clone(), true))))?;
    let list = list.as_list::<i32>();
    let needle = cast(needle, &common)?;
    let kernel = match op {
        "=" => cmp::eq,
        "<>" => cmp::neq,
        "<" => cmp::lt,
        "<=" => cmp::lt_eq,
        ">" => cmp::gt,
        _ => cmp::gt_eq,
    };
    // One comparison over every element of the batch: `x` repeated for its row's elements.
    let offsets = list.value_offsets();
    let (first, last) = (offsets[0] as usize, offsets[rows] as usize);
    let owners: UInt32Array = (0..rows).flat_map(|row| std::iter::repeat_n(row as u32, (offsets[row + 1] - offsets[row]) as usize)).collect();
    let results = kernel(&take(&needle, &owners, None)?, &list.values().slice(first, last - first))?;
    let mut out = BooleanBuilder::with_capacity(rows);
    for row in 0..rows {
        if list.is_null(row) {
            out.append_null();
            continue;
        }
        let (start, end) = (offsets[row] as usize - first, offsets[row + 1] as usize - first);
        let (mut trues, mut falses, mut nulls) = (0, 0, 0);
        for i in start..end {
            match results.is_valid(i).then(|| results.value(i)) {
                Some(true) => trues += 1,
                Some(false) => falses += 1,
                None => nulls += 1,
            }
        }
        // ANY: a true, else a NULL, else false (an empty array: false); ALL the other way round.
        match (all, trues > 0, falses > 0, nulls > 0) {
            (false, true, _, _) | (true, _, false, false) => out.append_value(true),
            (false, false, _, false) | (true, _, true, _) => out.append_value(false),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {

    async fn row(sql: &str) -> String {
        let ctx = crate::analyze::test_context();
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(super::ArrayCompare::any()));
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(super::ArrayCompare::all()));
        let mut statement = datafusion::sql::sqlparser::parser::Parser::parse_sql(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {}, sql).unwrap().remove(0);
        super::array_comparisons(&mut statement);
        crate::analyze::first_row(&ctx, &statement.to_string()).await.unwrap()
    }

    #[tokio::test]
    async fn nulls_as_postgres_treats_them() {
        let constants = "SELECT 2 = ANY (ARRAY[1, 2]), 5 = ANY (ARRAY[1, 2]), 5 = ANY (ARRAY[1, NULL]), 1 = ANY (ARRAY[1, NULL]), 3 <> ALL (ARRAY[1, NULL]), 0 > ANY (ARRAY[1, NULL]), 5 > ANY (ARRAY[1, NULL])";
        assert_eq!(row(constants).await, "true,false,NULL,true,NULL,NULL,true");
        let columns = "SELECT x = ANY (a), x < ALL (a), x >= ALL (a), x = ANY (e) FROM (VALUES (5, ARRAY[1, NULL], CAST(ARRAY[] AS INT[]))) v(x, a, e)";
        assert_eq!(row(columns).await, "NULL,false,NULL,false");
        // Rows of a batch each see their own elements.
        let rows = "SELECT count(*) FILTER (WHERE x = ANY (a)), count(*) FILTER (WHERE (x = ANY (a)) IS NULL) \
                    FROM (VALUES (1, ARRAY[1, 2]), (3, ARRAY[1, NULL]), (2, ARRAY[5, 2]), (4, ARRAY[1, 2])) v(x, a)";
        assert_eq!(row(rows).await, "2,1");
    }
}
