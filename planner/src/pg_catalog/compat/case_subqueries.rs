//! Rule (catalog queries): a correlated scalar subquery inside a `CASE` (condition or
//! branch) becomes NULL. DataFusion cannot decorrelate subqueries under `CASE`; clients put
//! lookups there for objects Ember does not have — domains and composite types (asyncpg's
//! typeinfo), multiranges (Npgsql), identity sequences and collations (SQLAlchemy) — whose
//! `WHEN` guard never holds for Ember's catalog rows.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Query, Value, VisitMut, VisitorMut};

use super::Site;
use super::correlation::is_correlated;

/// Replaces the correlated subqueries within one part of a CASE.
struct Inner;

impl VisitorMut for Inner {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Subquery(query) = expr
            && is_correlated(query)
        {
            *expr = Expr::Value(Value::Null.into());
        }
        ControlFlow::Continue(())
    }
}

struct Cases;

impl VisitorMut for Cases {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Case { conditions, else_result, .. } = expr {
            for when in conditions.iter_mut() {
                let _ = when.condition.visit(&mut Inner);
                let _ = when.result.visit(&mut Inner);
            }
            if let Some(e) = else_result {
                let _ = e.visit(&mut Inner);
            }
        }
        ControlFlow::Continue(())
    }
}

pub fn apply(query: &mut Query, _: &Site<'_>) {
    let _ = query.visit(&mut Cases);
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn correlated_case_subqueries_in_catalog_queries() {
        let sql = "SELECT CASE WHEN t.typtype = 'd' THEN (SELECT b.oid FROM pg_catalog.pg_type b WHERE b.oid = t.typbasetype) \
                   WHEN t.typtype = 'x' THEN (SELECT max(oid) FROM pg_catalog.pg_type) END FROM pg_catalog.pg_type t";
        let out = rewritten(sql);
        assert!(out.contains("THEN NULL"), "{out}");
        assert!(out.contains("SELECT max(oid)"), "{out}");
        let user = "SELECT CASE WHEN o.a > 0 THEN (SELECT max(x) FROM t WHERE t.a = o.a) END FROM o";
        assert_eq!(rewritten(user), user);
    }
}
