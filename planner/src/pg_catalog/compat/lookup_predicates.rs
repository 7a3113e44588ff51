//! Rule (catalog queries): the correlated scalar subqueries clients use as lookups get
//! predicates DataFusion can decorrelate, with the same answer.
//!
//! DataFusion decorrelates a scalar subquery whose correlated predicates are equalities
//! (`d.adrelid = a.attrelid`), but not one with an outer-only condition (psql's
//! `... AND a.atthasdef`) or a comparison mixing inner and outer columns (psql's
//! `a.attcollation <> t.typcollation`). Two rewrites, each keeping the answer:
//!
//! 1. Where a conjunct `inner_col = outer_col` holds, the other conjuncts may read
//!    `inner_col` for `outer_col`: `c.oid = a.attcollation AND a.attcollation <> t.x`
//!    becomes `c.oid = a.attcollation AND c.oid <> t.x`. (Catalog columns are OIDs,
//!    integers and names, whose equality is identity; that is why this stays in catalog
//!    queries.)
//! 2. A conjunct that reads only outer columns moves out: `(SELECT max(e) FROM x WHERE p
//!    AND q)` becomes `CASE WHEN q THEN (SELECT max(e) FROM x WHERE p) END`. When `q` does
//!    not hold, both give NULL: no row, or an aggregate over no row — so not for `count`,
//!    which answers 0.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Query, SelectItem, SetExpr, Value, Visit, VisitMut, Visitor, VisitorMut,
};

use super::{Position, Site};
use super::ast::function_name;
use super::correlation::declared;

/// The conjuncts of `expr` (`a AND (b AND c)` -> `[a, b, c]`).
fn conjuncts(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => conjuncts(*inner, out),
        other => out.push(other),
    }
}

fn and_all(mut parts: Vec<Expr>) -> Option<Expr> {
    let first = if parts.is_empty() { return None } else { parts.remove(0) };
    Some(parts.into_iter().fold(first, |acc, e| Expr::BinaryOp { left: Box::new(acc), op: BinaryOperator::And, right: Box::new(e) }))
}

/// Where a column reference points, seen from the subquery.
#[derive(PartialEq)]
enum Side {
    Inner,
    Outer,
}

fn side(expr: &Expr, inner: &HashSet<String>) -> Option<Side> {
    match expr {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            Some(if inner.contains(&parts[parts.len() - 2].value.to_lowercase()) { Side::Inner } else { Side::Outer })
        }
        Expr::Identifier(_) => Some(Side::Inner),
        _ => None,
    }
}

fn key(expr: &Expr) -> String {
    expr.to_string().to_lowercase()
}

/// Whether every column `expr` reads is an outer one (and it reads at least one, and holds
/// no subquery).
fn outer_only(expr: &Expr, inner: &HashSet<String>) -> bool {
    struct Check<'a> {
        inner: &'a HashSet<String>,
        outer: usize,
        other: bool,
    }
    impl Visitor for Check<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => self.other = true,
                Expr::CompoundIdentifier(_) | Expr::Identifier(_) => match side(e, self.inner) {
                    Some(Side::Outer) => self.outer += 1,
                    _ => self.other = true,
                },
                _ => {}
            }
            if self.other { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
    }
    let mut check = Check { inner, outer: 0, other: false };
    let _ = expr.visit(&mut check);
    !check.other && check.outer > 0
}

/// Replace outer columns known equal to inner ones.
fn substitute(expr: &mut Expr, equal: &HashMap<String, Expr>) {
    struct Sub<'a>(&'a HashMap<String, Expr>);
    impl VisitorMut for Sub<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if matches!(e, Expr::CompoundIdentifier(_))
                && let Some(inner) = self.0.get(&key(e))
            {
                *e = inner.clone();
            }
            ControlFlow::Continue(())
        }
    }
    let _ = expr.visit(&mut Sub(equal));
}

/// Rewrite one scalar subquery; returns the outer-only conditions taken out of it.
fn rewrite_lookup(query: &mut Query) -> Vec<Expr> {
    let inner = declared(query);
    let SetExpr::Select(select) = query.body.as_mut() else { return vec![] };
    let Some(selection) = select.selection.take() else { return vec![] };
    let mut parts = Vec::new();
    conjuncts(selection, &mut parts);
    let mut equal: HashMap<String, Expr> = HashMap::new();
    for part in &parts {
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = part {
            match (side(left, &inner), side(right, &inner)) {
                (Some(Side::Inner), Some(Side::Outer)) if matches!(**left, Expr::CompoundIdentifier(_)) => {
                    equal.entry(key(right)).or_insert_with(|| left.as_ref().clone());
                }
                (Some(Side::Outer), Some(Side::Inner)) if matches!(**right, Expr::CompoundIdentifier(_)) => {
                    equal.entry(key(left)).or_insert_with(|| right.as_ref().clone());
                }
                _ => {}
            }
        }
    }
    let counts = select.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => mentions_count(e),
        _ => true,
    });
    let mut kept = Vec::with_capacity(parts.len());
    let mut lifted = Vec::new();
    for mut part in parts {
        let is_correlation = matches!(&part, Expr::BinaryOp { left, op: BinaryOperator::Eq, right }
            if equal.contains_key(&key(left)) || equal.contains_key(&key(right)));
        if !is_correlation {
            substitute(&mut part, &equal);
        }
        if !counts && outer_only(&part, &inner) {
            lifted.push(part);
        } else {
            kept.push(part);
        }
    }
    select.selection = and_all(kept);
    lifted
}

fn mentions_count(expr: &Expr) -> bool {
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Function(f) if function_name(f).as_deref() == Some("count") => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    expr.visit(&mut Find).is_break()
}

struct Lookups;

impl VisitorMut for Lookups {
    type Break = ();
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Subquery(query) = expr else { return ControlFlow::Continue(()) };
        if query.limit_clause.is_some() || !super::correlation::is_correlated(query) {
            return ControlFlow::Continue(());
        }
        let lifted = rewrite_lookup(query);
        if let Some(condition) = and_all(lifted) {
            let subquery = std::mem::replace(expr, Expr::Value(Value::Null.into()));
            *expr = Expr::Case {
                case_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                end_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                operand: None,
                conditions: vec![CaseWhen { condition, result: subquery }],
                else_result: None,
            };
        }
        ControlFlow::Continue(())
    }
}

pub fn apply(query: &mut Query, site: &Site<'_>) {
    if site.position == Position::Scalar {
        // The query is itself the lookup; what moves out has nowhere to go, but the
        // substitutions still make it plannable.
        let lifted = rewrite_lookup(query);
        if let Some(condition) = and_all(lifted)
            && let SetExpr::Select(select) = query.body.as_mut()
        {
            let rest = select.selection.take();
            select.selection = and_all(rest.into_iter().chain([condition]).collect());
        }
    }
    let _ = query.visit(&mut Lookups);
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn outer_only_conditions_move_out_of_the_lookup() {
        let out = rewritten(
            "SELECT a.attname, (SELECT c.relname FROM pg_catalog.pg_class c \
             WHERE c.oid = a.attrelid AND c.relnatts = a.attnum AND a.atthasdef) FROM pg_catalog.pg_attribute a",
        );
        assert!(out.contains("CASE WHEN a.atthasdef THEN (SELECT max(c.relname)"), "{out}");
        assert!(out.contains("WHERE c.oid = a.attrelid AND c.relnatts = a.attnum) END"), "{out}");
    }

    #[test]
    fn outer_columns_equal_to_inner_ones_are_read_inside() {
        let out = rewritten(
            "SELECT (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t \
             WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation \
             FROM pg_catalog.pg_attribute a",
        );
        assert!(out.contains("WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND c.oid <> t.typcollation"), "{out}");
    }

    #[test]
    fn counts_keep_their_conditions() {
        let sql = "SELECT (SELECT count(*) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND a.atthasdef) FROM pg_catalog.pg_attribute a";
        assert!(rewritten(sql).contains("WHERE d.adrelid = a.attrelid AND a.atthasdef)"));
        let user = "SELECT (SELECT max(x) FROM t WHERE t.a = o.a AND o.f) FROM o";
        assert_eq!(rewritten(user), user);
    }
}
