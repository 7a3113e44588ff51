//! Rule: a quoted literal compared with a boolean is a boolean (`ix.indisprimary = 'f'`).
//!
//! PostgreSQL gives a quoted literal the type of what it is compared with (it is "unknown"
//! until then), so `active = 't'` reads `'t'` as `true`. DataFusion types it as text and
//! finds no common type for Boolean and Utf8. SQLAlchemy's index reflection (Superset's
//! `get_indexes`) compares `pg_index.indisprimary = 'f'`. This analyzer rule runs before
//! DataFusion's type coercion and turns such literals into booleans, spelled as PostgreSQL
//! reads them (`t`, `true`, `yes`, `on`, `1`, their prefixes, any case); other text is left
//! for type coercion to refuse, as before.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::arrow::datatypes::DataType;
use datafusion::optimizer::{Analyzer, AnalyzerRule};

/// DataFusion's analyzer rules with Ember's around them: boolean text literals,
/// PostgreSQL's casts, `sum(bigint)` as `numeric`, the counts of `INTERSECT ALL` /
/// `EXCEPT ALL` and the scope of `ANY`/`ALL` subqueries in front of type coercion, checked
/// arithmetic, interval comparison by length, row values field by field, array subscripts and array
/// comparisons as PostgreSQL's after it.
pub fn analyzer_rules() -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
    let mut rules = Analyzer::new().rules;
    rules.insert(0, Arc::new(BoolTextLiterals));
    rules.insert(1, Arc::new(crate::insert_values::NullableInsertValues));
    // Before type coercion: only the casts the statement wrote.
    let coercion = rules.iter().position(|r| r.name() == "type_coercion").unwrap_or(rules.len());
    rules.insert(coercion, Arc::new(crate::casts::PgCasts));
    rules.insert(coercion + 1, Arc::new(crate::aggregates::BigintSum));
    rules.insert(coercion + 2, Arc::new(crate::set_operations::SetOperationsAll));
    rules.insert(coercion + 3, Arc::new(crate::subqueries::SetComparisonScope));
    rules.insert(coercion + 4, Arc::new(crate::window_args::WindowArguments));
    rules.push(Arc::new(crate::arith::checked::CheckedArithmetic));
    rules.push(Arc::new(crate::intervals::IntervalOrder));
    rules.push(Arc::new(crate::row_values::RowValues));
    rules.push(Arc::new(crate::array_subscripts::ArraySubscripts));
    rules.push(Arc::new(crate::array_order::ArrayOrder));
    rules
}

#[derive(Debug, Default)]
pub struct BoolTextLiterals;

impl AnalyzerRule for BoolTextLiterals {
    fn name(&self) -> &str {
        "ember_bool_text_literals"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = merge_schema(&plan.inputs());
            plan.map_expressions(|expr| expr.transform_up(|e| typed_literal(e, &schema)))
        })
        .map(|t| t.data)
    }
}

fn typed_literal(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    use Operator::*;
    if !matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom) {
        return Ok(Transformed::no(expr));
    }
    let is_bool = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Boolean));
    let (left, right) = match (text_as_bool(left), text_as_bool(right)) {
        (None, Some(b)) if is_bool(left) => (left.as_ref().clone(), Expr::Literal(ScalarValue::Boolean(Some(b)), None)),
        (Some(b), None) if is_bool(right) => (Expr::Literal(ScalarValue::Boolean(Some(b)), None), right.as_ref().clone()),
        _ => return Ok(Transformed::no(expr)),
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr { left: Box::new(left), op: *op, right: Box::new(right) })))
}

/// A text literal's value as PostgreSQL's boolean input reads it.
fn text_as_bool(expr: &Expr) -> Option<bool> {
    let Expr::Literal(ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)) | ScalarValue::LargeUtf8(Some(text)), _) = expr
    else {
        return None;
    };
    parse_bool(text)
}

/// PostgreSQL's `boolin`: `t`/`true`/`y`/`yes`/`on`/`1` and the negatives, unique
/// prefixes allowed, any case, surrounding spaces ignored.
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim().to_ascii_lowercase();
    let prefix_of = |word: &str| !t.is_empty() && word.starts_with(t.as_str());
    match t.as_str() {
        "1" => Some(true),
        "0" => Some(false),
        "o" => None, // on or off: ambiguous
        _ if prefix_of("true") || prefix_of("yes") || (t.len() >= 2 && prefix_of("on")) => Some(true),
        _ if prefix_of("false") || prefix_of("no") || (t.len() >= 2 && prefix_of("off")) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_spellings() {
        for (text, value) in [("t", Some(true)), ("f", Some(false)), ("TRUE", Some(true)), ("fal", Some(false)), ("yes", Some(true)),
            ("n", Some(false)), ("on", Some(true)), ("of", Some(false)), ("o", None), ("1", Some(true)), ("0", Some(false)),
            (" t ", Some(true)), ("x", None), ("", None), ("truex", None)]
        {
            assert_eq!(parse_bool(text), value, "{text:?}");
        }
    }

    #[test]
    fn text_literal_compared_with_boolean() {
        use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
        let values = vec![vec![lit(true), lit("f")], vec![lit(false), lit("t")]];
        let filter = |predicate: Expr| {
            let plan = LogicalPlanBuilder::values(values.clone()).unwrap().filter(predicate).unwrap().build().unwrap();
            let plan = BoolTextLiterals.analyze(plan, &ConfigOptions::default()).unwrap();
            let LogicalPlan::Filter(filter) = plan else { panic!("{plan}") };
            filter.predicate.to_string()
        };
        assert_eq!(filter(col("column1").eq(lit("f"))), "column1 = Boolean(false)");
        assert_eq!(filter(lit("yes").not_eq(col("column1"))), "Boolean(true) != column1");
        // Text compared with text is left alone; an unreadable boolean is left for type
        // coercion to refuse.
        assert_eq!(filter(col("column2").eq(lit("f"))), "column2 = Utf8(\"f\")");
        assert_eq!(filter(col("column1").eq(lit("maybe"))), "column1 = Utf8(\"maybe\")");
    }
}
