//! Row values (`ROW(a, b)`, `(a, b)`) tested and compared as PostgreSQL does, field by
//! field, instead of as one Arrow struct:
//! - `row IS NULL` is true when every field is NULL, `row IS NOT NULL` when none is
//!   (a struct whose fields are NULL is itself not NULL, so `ROW(NULL, NULL) IS NULL` was
//!   false);
//! - `=` and `<>` compare the fields pairwise in three-valued logic
//!   (`(1, NULL) = (1, 2)` is NULL, not false);
//! - `<`, `<=`, `>`, `>=` are lexicographic: the first pair that is not equal decides, and
//!   a NULL met before that makes the answer NULL.
//!
//! An analyzer rule after type coercion (the types of both sides are known), rewriting to
//! `get_field` of each field; rows of different lengths are left for DataFusion to refuse.

use datafusion::arrow::datatypes::{DataType, Fields};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator, lit};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct RowValues;

impl AnalyzerRule for RowValues {
    fn name(&self) -> &str {
        "ember_row_values"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::analyze::rewrite_plan_expressions(plan, rewrite)
    }
}

fn struct_fields(expr: &Expr, schema: &DFSchema) -> Option<Fields> {
    match expr.get_type(schema) {
        Ok(DataType::Struct(fields)) => Some(fields),
        _ => None,
    }
}

/// The `i`th field of a row value.
fn field(row: &Expr, fields: &Fields, i: usize) -> Expr {
    get_field(row.clone(), fields[i].name().as_str())
}

fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let rewritten = match &expr {
        Expr::IsNull(row) | Expr::IsNotNull(row) => struct_fields(row, schema).map(|fields| {
            let test = |f: Expr| if matches!(expr, Expr::IsNull(_)) { f.is_null() } else { f.is_not_null() };
            all((0..fields.len()).map(|i| test(field(row, &fields, i))).collect())
        }),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match (struct_fields(left, schema), struct_fields(right, schema)) {
            (Some(l), Some(r)) if l.len() == r.len() && !l.is_empty() => {
                let pairs: Vec<(Expr, Expr)> = (0..l.len()).map(|i| (field(left, &l, i), field(right, &r, i))).collect();
                compare(pairs, *op)
            }
            _ => None,
        },
        _ => None,
    };
    Ok(match rewritten {
        Some(e) => Transformed::yes(e),
        None => Transformed::no(expr),
    })
}

/// The comparison of two rows given as their field pairs, or `None` for an operator
/// that is not a comparison.
fn compare(mut pairs: Vec<(Expr, Expr)>, op: Operator) -> Option<Expr> {
    match op {
        Operator::Eq => Some(all(pairs.into_iter().map(|(a, b)| a.eq(b)).collect())),
        Operator::NotEq => Some(any(pairs.into_iter().map(|(a, b)| a.not_eq(b)).collect())),
        Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
            // (a1, a2, a3) < (b1, b2, b3):
            //   a1 < b1 OR (a1 = b1 AND (a2 < b2 OR (a2 = b2 AND a3 < b3)))
            // with the operator as written (`<=`, ...) only on the last pair.
            let strict = match op {
                Operator::LtEq => Operator::Lt,
                Operator::GtEq => Operator::Gt,
                other => other,
            };
            let (a, b) = pairs.pop()?;
            let mut result = Expr::BinaryExpr(BinaryExpr::new(Box::new(a), op, Box::new(b)));
            while let Some((a, b)) = pairs.pop() {
                let decided = Expr::BinaryExpr(BinaryExpr::new(Box::new(a.clone()), strict, Box::new(b.clone())));
                result = decided.or(a.eq(b).and(result));
            }
            Some(result)
        }
        _ => None,
    }
}

fn all(terms: Vec<Expr>) -> Expr {
    terms.into_iter().reduce(Expr::and).unwrap_or_else(|| lit(true))
}

fn any(terms: Vec<Expr>) -> Expr {
    terms.into_iter().reduce(Expr::or).unwrap_or_else(|| lit(false))
}

#[cfg(test)]
mod tests {
    use crate::analyze::{first_row, test_context};

    async fn row(sql: &str) -> String {
        first_row(&test_context(), sql).await.unwrap()
    }

    #[tokio::test]
    async fn a_row_is_null_when_every_field_is() {
        let got = row("SELECT ROW(NULL, NULL) IS NULL, ROW(1, NULL) IS NULL, ROW(1, NULL) IS NOT NULL, ROW(1, 2) IS NOT NULL").await;
        assert_eq!(got, "true,false,false,true");
    }

    #[tokio::test]
    async fn rows_compare_field_by_field_in_three_valued_logic() {
        let got = row("SELECT (1, 2) = (1, 2), (1, NULL) = (1, 2), (1, NULL) = (2, 2), (1, 2) < (1, 3), (1, NULL) <> (2, 2)").await;
        assert_eq!(got, "true,NULL,false,true,true");
        let got = row("SELECT (1, NULL) < (2, 0), (NULL, 1) < (2, 2), (1, 2) < (1, NULL), (2, NULL) < (1, 5), (1, 2) <= (1, 2), (1, 3) >= (1, 2), (2, 1) > (1, 9)").await;
        assert_eq!(got, "true,NULL,NULL,false,true,true,true");
    }
}
