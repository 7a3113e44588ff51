//! Rule (everywhere): `EXISTS (SELECT ... FROM x WHERE p)` in a select list becomes the
//! scalar subquery `(SELECT count(*) > 0 FROM x WHERE p)` (`= 0` for `NOT EXISTS`), the same
//! truth value: DataFusion plans `EXISTS` only as a filter, but decorrelates a counting
//! scalar subquery (0 for no row). An unaliased `EXISTS` column keeps PostgreSQL's name,
//! `exists` (`NOT EXISTS` is `?column?`, as the naming rule calls an unnamed expression).
//!
//! Only plain subqueries are rewritten, where counting rows is the same as asking for one:
//! no grouping, `HAVING`, `DISTINCT`, `LIMIT` or set operations, and a select list of
//! constants, column references and `*` only. A function call there may be an aggregate
//! (`EXISTS (SELECT my_agg(x) FROM t WHERE false)` is true: one row) or return a set, and
//! its name cannot tell which, so such an `EXISTS` is left as written.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
    ObjectName, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, Value, VisitMut, VisitorMut,
};

fn count_star() -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("count")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// A constant or a column reference (possibly parenthesized, negated or cast): one value
/// per row, whatever the row.
fn is_plain(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) | Expr::TypedString(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } | Expr::Cast { expr: inner, .. } => is_plain(inner),
        _ => false,
    }
}

fn plain_select_list(select: &Select) -> bool {
    select.projection.iter().all(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } | SelectItem::ExprWithAliases { expr: e, .. } => is_plain(e),
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(_), _) => true,
        // `(f(x)).*`
        SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(_), _) => false,
    })
}

/// The counting form of `EXISTS (query)`, when `query` is plain.
fn counting(query: &Query, negated: bool) -> Option<Box<Query>> {
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    let ungrouped = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !ungrouped || select.having.is_some() || select.distinct.is_some() || select.from.is_empty() || !plain_select_list(select) {
        return None;
    }
    let mut counted = Box::new(query.clone());
    counted.order_by = None;
    if let SetExpr::Select(select) = counted.body.as_mut() {
        let zero = Expr::Value(Value::Number("0".to_string(), false).into());
        let op = if negated { BinaryOperator::Eq } else { BinaryOperator::Gt };
        select.projection = vec![SelectItem::UnnamedExpr(Expr::BinaryOp { left: Box::new(count_star()), op, right: Box::new(zero) })];
    }
    Some(counted)
}

struct SelectLists;

impl VisitorMut for SelectLists {
    type Break = ();
    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in select.projection.iter_mut() {
            if let SelectItem::UnnamedExpr(Expr::Exists { subquery, negated: false }) = item
                && let Some(counted) = counting(subquery, false)
            {
                *item = SelectItem::ExprWithAlias { expr: Expr::Subquery(counted), alias: Ident::new("exists") };
                continue;
            }
            let expr = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => continue,
            };
            let _ = expr.visit(&mut Exists);
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites `EXISTS` anywhere inside one select-list expression.
struct Exists;

impl VisitorMut for Exists {
    type Break = ();
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Exists { subquery, negated } = expr
            && let Some(counted) = counting(subquery, *negated)
        {
            *expr = Expr::Subquery(counted);
        }
        ControlFlow::Continue(())
    }
}

pub fn apply(statement: &mut Statement) {
    let _ = statement.visit(&mut SelectLists);
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn exists_in_a_select_list_counts() {
        assert_eq!(
            rewritten("SELECT a, EXISTS (SELECT 1 FROM t WHERE t.a = o.a) FROM o"),
            "SELECT a, (SELECT count(*) > 0 FROM t WHERE t.a = o.a) AS exists FROM o"
        );
        assert_eq!(
            rewritten("SELECT NOT EXISTS (SELECT 1 FROM t WHERE t.a = o.a) AS missing FROM o"),
            "SELECT (SELECT count(*) = 0 FROM t WHERE t.a = o.a) AS missing FROM o"
        );
        // In WHERE, EXISTS is DataFusion's own.
        let filter = "SELECT a FROM o WHERE EXISTS (SELECT 1 FROM t WHERE t.a = o.a)";
        assert_eq!(rewritten(filter), filter);
        let grouped = "SELECT EXISTS (SELECT a FROM t GROUP BY a) FROM o";
        assert_eq!(rewritten(grouped), grouped);
    }

    #[test]
    fn not_exists_is_not_named_exists() {
        assert_eq!(
            rewritten("SELECT a, NOT EXISTS (SELECT 1 FROM t WHERE t.a = o.a) FROM o"),
            "SELECT a, (SELECT count(*) = 0 FROM t WHERE t.a = o.a) FROM o"
        );
    }

    #[test]
    fn only_plain_select_lists_are_counted() {
        assert_eq!(
            rewritten("SELECT EXISTS (SELECT *, t.*, t.a, -1, CAST('x' AS TEXT), (b) FROM t WHERE t.a = o.a) FROM o"),
            "SELECT (SELECT count(*) > 0 FROM t WHERE t.a = o.a) AS exists FROM o"
        );
        // Any function call may be an aggregate (one row over none) or return a set.
        for kept in [
            "SELECT EXISTS (SELECT count(*) FROM t WHERE false) FROM o",
            "SELECT EXISTS (SELECT my_agg(x) FROM t WHERE false) FROM o",
            "SELECT EXISTS (SELECT json_agg(x) FROM t WHERE t.a = o.a) FROM o",
            "SELECT EXISTS (SELECT stddev(x) FROM t) FROM o",
            "SELECT NOT EXISTS (SELECT generate_series(1, x) FROM t) FROM o",
            "SELECT EXISTS (SELECT upper(s) FROM t) FROM o",
            "SELECT EXISTS (SELECT (SELECT 1) FROM t) FROM o",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }
}
