//! Rule (catalog queries): a correlated scalar subquery whose one select item is not an
//! aggregate — a lookup by OID such as pgjdbc's `getTypeInfo`
//! `(SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)` — is aggregated with
//! `max(...)`, which DataFusion needs to decorrelate it. A lookup by a unique OID has at
//! most one row, so the answer is the same; over user data a second row would be
//! PostgreSQL's error 21000, which is why the rule stays inside catalog queries.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, GroupByExpr, Query, SelectItem, SetExpr, Value, Visit, VisitMut, Visitor, VisitorMut};

use super::{Position, Site};
use super::ast::{call, function_name};
use super::correlation::is_correlated;

const AGGREGATES: &[&str] = &["max", "min", "count", "sum", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every"];

fn has_aggregate(expr: &Expr) -> bool {
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Function(f) if function_name(f).is_some_and(|n| AGGREGATES.contains(&n.as_str())) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    expr.visit(&mut Find).is_break()
}

/// Aggregate one correlated scalar subquery's select item.
fn aggregate(query: &mut Query) {
    if query.limit_clause.is_some() || !is_correlated(query) {
        return;
    }
    let SetExpr::Select(select) = query.body.as_mut() else { return };
    let ungrouped = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.projection.len() != 1 || select.having.is_some() || !ungrouped {
        return;
    }
    let (item, alias) = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
        _ => return,
    };
    if has_aggregate(item) {
        return;
    }
    let aggregated = call("max", vec![std::mem::replace(item, Expr::Value(Value::Null.into()))]);
    select.projection[0] = match alias {
        Some(alias) => SelectItem::ExprWithAlias { expr: aggregated, alias },
        None => SelectItem::UnnamedExpr(aggregated),
    };
}

struct Lookups;

impl VisitorMut for Lookups {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Subquery(query) = expr {
            aggregate(query);
        }
        ControlFlow::Continue(())
    }
}

/// The scalar subqueries inside a catalog query, and the catalog query itself when it is a
/// scalar subquery of a user query (`(SELECT c.relkind FROM pg_class c WHERE c.oid = t.x)`).
pub fn apply(query: &mut Query, site: &Site<'_>) {
    if site.position == Position::Scalar {
        aggregate(query);
    }
    let _ = query.visit(&mut Lookups);
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn correlated_catalog_lookups_are_aggregated() {
        let out = rewritten(
            "SELECT t.typname FROM pg_catalog.pg_type t WHERE t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)",
        );
        assert!(out.contains("(SELECT max(c.relkind = 'c') FROM"), "{out}");
        let kept = rewritten("SELECT (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) FROM pg_catalog.pg_type t");
        assert!(!kept.contains("max(count"), "{kept}");
        // Over user data a second row is PostgreSQL's error 21000, not one of the rows.
        let user = "SELECT (SELECT x FROM t WHERE t.a = o.a) FROM o";
        assert_eq!(rewritten(user), user);
    }
}
