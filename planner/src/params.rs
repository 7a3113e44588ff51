//! Parameter (`$n`) types of a planned statement.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::Result;

/// Types of `$1..$n` by position. DataFusion infers a placeholder's type from what it is
/// compared with or inserted into; PostgreSQL also types `$1::int` by its cast, so a
/// placeholder DataFusion left untyped takes the type of a cast applied directly to it.
/// `None` means unknown (clients are told `text`).
pub fn parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    Ok(parameter_fields(plan)?.into_iter().map(|f| f.map(|f| f.data_type().clone())).collect())
}

/// Like [`parameter_types`], as fields: a parameter typed by a cast to a PostgreSQL type
/// Ember plans as tagged text (`$1::uuid`) keeps the tag ([`crate::types::PG_TYPE_KEY`])
/// in the field's metadata, so it is described to clients as that type.
pub fn parameter_fields(plan: &LogicalPlan) -> Result<Vec<Option<FieldRef>>> {
    // `PREPARE name(...) AS ...` declares its own parameters; the statement itself has none.
    if matches!(plan, LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(_))) {
        return Ok(vec![]);
    }
    let inferred = plan.get_parameter_fields()?;
    let mut casts: HashMap<String, FieldRef> = HashMap::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::Cast(cast) = e
                    && let Expr::Placeholder(p) = cast.expr.as_ref()
                {
                    casts.entry(p.id.clone()).or_insert_with(|| cast.field.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    let mut by_index: Vec<(usize, Option<FieldRef>)> = inferred
        .into_iter()
        .filter_map(|(name, ty)| {
            let index = name.trim_start_matches('$').parse::<usize>().ok()?;
            // A tagged cast says more than the inferred Utf8.
            let cast = casts.get(&name).filter(|f| f.metadata().contains_key(crate::types::PG_TYPE_KEY) || ty.is_none());
            let ty = cast.cloned().or(ty);
            Some((index, ty))
        })
        .collect();
    by_index.sort_by_key(|(i, _)| *i);
    let count = by_index.last().map(|(i, _)| *i).unwrap_or(0);
    let mut result = vec![None; count];
    for (index, ty) in by_index {
        if index >= 1 {
            result[index - 1] = ty;
        }
    }
    Ok(result)
}

/// Whether a parsed statement holds any `$n` placeholder.
pub fn has_placeholders(statement: &datafusion::sql::parser::Statement) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Value, ValueWithSpan, Visit, Visitor};
    use std::ops::ControlFlow;

    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &SqlExpr) -> ControlFlow<()> {
            match expr {
                SqlExpr::Value(ValueWithSpan { value: Value::Placeholder(_), .. }) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    match statement {
        datafusion::sql::parser::Statement::Statement(inner) => inner.visit(&mut Find).is_break(),
        _ => false,
    }
}

/// Parameters cast to `oid` or `oid[]` in the SQL text (`any($1::oid[])`, as asyncpg's type
/// introspection writes), by position: `true` for the array. The plan cannot tell them from
/// `int4`: OID types are planned as `Int32`, untagged (a tag on a cast target breaks
/// DataFusion's physical schema checks). Clients need them described as `oid`/`oid[]`:
/// asyncpg has a built-in codec for `oid[]` but must introspect `int4[]`, with this query.
pub fn oid_parameters(statement: &datafusion::sql::parser::Statement) -> HashMap<usize, bool> {
    use datafusion::sql::sqlparser::ast::{DataType as SqlType, Expr as SqlExpr, Value, ValueWithSpan, Visit, Visitor};
    use std::ops::ControlFlow;

    fn is_oid(t: &SqlType) -> bool {
        matches!(t, SqlType::Custom(name, args) if args.is_empty()
            && name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("oid")))
    }
    struct Casts(HashMap<usize, bool>);
    impl Visitor for Casts {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &SqlExpr) -> ControlFlow<()> {
            if let SqlExpr::Cast { expr, data_type, .. } = expr
                && let SqlExpr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) = expr.as_ref()
                && let Some(index) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            {
                let array = match data_type {
                    SqlType::Array(datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(inner, _))
                    | SqlType::Array(datafusion::sql::sqlparser::ast::ArrayElemTypeDef::AngleBracket(inner)) => is_oid(inner).then_some(true),
                    other => is_oid(other).then_some(false),
                };
                if let Some(array) = array {
                    self.0.insert(index, array);
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut casts = Casts(HashMap::new());
    if let datafusion::sql::parser::Statement::Statement(inner) = statement {
        let _ = inner.visit(&mut casts);
    }
    casts.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_casts_of_parameters_are_found() {
        let commands = crate::statement::parse_for_test("SELECT t.oid FROM pg_catalog.pg_type t WHERE t.oid = any($1::oid[]) AND $2::oid > 0 AND $3::int4 > 0").unwrap();
        let crate::statement::Command::Plan(statement) = &commands[0] else { panic!("{commands:?}") };
        assert_eq!(oid_parameters(statement), HashMap::from([(1, true), (2, false)]));
    }
}
