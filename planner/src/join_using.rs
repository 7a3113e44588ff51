//! Rule on the parsed statement: the merged column of `RIGHT`/`FULL JOIN ... USING (k)`.
//!
//! In PostgreSQL the `k` of `a FULL JOIN b USING (k)` is one column,
//! `COALESCE(a.k, b.k)` (for a `RIGHT JOIN`, `b.k`): `SELECT *` and an unqualified `k` show
//! the key of every row, whichever side it came from. DataFusion resolves `k` to the left
//! side's column, so rows only the right side had showed `NULL` as their key (and a `FULL
//! JOIN` of an `integer` and a `bigint` key typed it `integer`). The rule writes the merged
//! column out in the select the join belongs to: an unqualified `k` in its select list,
//! `WHERE`, `GROUP BY`, `HAVING` and `ORDER BY` becomes the merged expression (named `k` in
//! the select list), and `*` becomes `* REPLACE (<merged> AS k)`. Qualified references
//! (`a.k`) keep their side's value, as in PostgreSQL; subqueries are left alone (their `k` is
//! their own).
//!
//! It handles a `FROM` item with one such join between two named relations. Chains of
//! `USING` joins and `NATURAL` joins (whose columns only the catalog knows) keep
//! DataFusion's reading (README, known differences).

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, ObjectName, Query, ReplaceSelectElement, ReplaceSelectItem, Select, SelectItem,
    SetExpr, Statement, TableFactor, TableWithJoins, VisitMut, VisitorMut,
};

use crate::pg_catalog::compat::ast::call;

/// Apply the rule to one statement.
pub fn merged_using_columns(statement: &mut Statement) {
    let _ = statement.visit(&mut Queries);
}

struct Queries;

impl VisitorMut for Queries {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else { return ControlFlow::Continue(()) };
        let merged = merged_columns(&select.from);
        if merged.is_empty() {
            return ControlFlow::Continue(());
        }
        rewrite_select(select, &merged);
        if let Some(order_by) = &mut query.order_by
            && let datafusion::sql::sqlparser::ast::OrderByKind::Expressions(items) = &mut order_by.kind
        {
            for item in items {
                replace_in(&mut item.expr, &merged);
            }
        }
        ControlFlow::Continue(())
    }
}

/// The name a relation is referred to by: its alias, or its table name.
fn relation_name(factor: &TableFactor) -> Option<Ident> {
    match factor {
        TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => Some(alias.name.clone()),
        TableFactor::Table { name, alias: None, .. } => name.0.last().and_then(|p| p.as_ident()).cloned(),
        _ => None,
    }
}

fn qualified(relation: &Ident, column: &Ident) -> Expr {
    Expr::CompoundIdentifier(vec![relation.clone(), column.clone()])
}

/// Merged column name (lower case) -> (its name, the expression for it).
fn merged_columns(from: &[TableWithJoins]) -> HashMap<String, (Ident, Expr)> {
    let mut merged = HashMap::new();
    let mut seen = HashMap::<String, usize>::new();
    for item in from {
        let [join] = item.joins.as_slice() else { continue };
        let (full, constraint) = match &join.join_operator {
            JoinOperator::FullOuter(c) => (true, c),
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (false, c),
            _ => continue,
        };
        let JoinConstraint::Using(columns) = constraint else { continue };
        let (Some(left), Some(right)) = (relation_name(&item.relation), relation_name(&join.relation)) else { continue };
        for column in columns {
            let Some(name) = single_name(column) else { continue };
            let expr = if full { call("coalesce", vec![qualified(&left, &name), qualified(&right, &name)]) } else { qualified(&right, &name) };
            let key = name.value.to_lowercase();
            *seen.entry(key.clone()).or_default() += 1;
            merged.insert(key, (name, expr));
        }
    }
    // A name merged by two joins of one FROM list is ambiguous: left as it was.
    merged.retain(|key, _| seen.get(key) == Some(&1));
    merged
}

fn single_name(name: &ObjectName) -> Option<Ident> {
    match name.0.as_slice() {
        [part] => part.as_ident().cloned(),
        _ => None,
    }
}

fn rewrite_select(select: &mut Select, merged: &HashMap<String, (Ident, Expr)>) {
    for item in &mut select.projection {
        match item {
            SelectItem::UnnamedExpr(Expr::Identifier(id)) if merged.contains_key(&id.value.to_lowercase()) => {
                let (name, expr) = &merged[&id.value.to_lowercase()];
                *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: name.clone() };
            }
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => replace_in(expr, merged),
            SelectItem::Wildcard(options) if options.opt_replace.is_none() => {
                let mut items: Vec<_> = merged
                    .values()
                    .map(|(name, expr)| Box::new(ReplaceSelectElement { expr: expr.clone(), column_name: name.clone(), as_keyword: true }))
                    .collect();
                items.sort_by(|a, b| a.column_name.value.cmp(&b.column_name.value));
                options.opt_replace = Some(ReplaceSelectItem { items });
            }
            _ => {}
        }
    }
    if let Some(selection) = &mut select.selection {
        replace_in(selection, merged);
    }
    if let Some(having) = &mut select.having {
        replace_in(having, merged);
    }
    if let datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for expr in exprs {
            replace_in(expr, merged);
        }
    }
}

/// Replaces unqualified references to a merged column in `expr`, not in its subqueries.
fn replace_in(expr: &mut Expr, merged: &HashMap<String, (Ident, Expr)>) {
    let _ = expr.visit(&mut Replace { merged, depth: 0 });
}

struct Replace<'a> {
    merged: &'a HashMap<String, (Ident, Expr)>,
    depth: usize,
}

impl VisitorMut for Replace<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth == 0
            && let Expr::Identifier(id) = expr
            && let Some((_, merged)) = self.merged.get(&id.value.to_lowercase())
        {
            *expr = merged.clone();
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        merged_using_columns(&mut statement);
        statement.to_string()
    }

    #[test]
    fn full_join_keys_are_merged() {
        assert_eq!(
            rewritten("SELECT * FROM a FULL JOIN b USING (k) ORDER BY k"),
            "SELECT * REPLACE (coalesce(a.k, b.k) AS k) FROM a FULL JOIN b USING(k) ORDER BY coalesce(a.k, b.k)"
        );
        assert_eq!(
            rewritten("SELECT k, a.k, count(*) FROM a AS x FULL JOIN b USING (k) WHERE k > 1 GROUP BY k"),
            "SELECT coalesce(x.k, b.k) AS k, a.k, count(*) FROM a AS x FULL JOIN b USING(k) WHERE coalesce(x.k, b.k) > 1 GROUP BY coalesce(x.k, b.k)"
        );
    }

    #[test]
    fn right_join_keys_come_from_the_right() {
        assert_eq!(rewritten("SELECT k FROM a RIGHT JOIN b USING (k)"), "SELECT b.k AS k FROM a RIGHT JOIN b USING(k)");
    }

    #[test]
    fn other_joins_and_subqueries_are_left_alone() {
        for sql in [
            "SELECT k FROM a LEFT JOIN b USING (k)",
            "SELECT k FROM a JOIN b USING (k)",
            "SELECT k FROM a FULL JOIN b ON a.k = b.k",
            "SELECT k FROM a FULL JOIN b USING (k) FULL JOIN c USING (k)",
        ] {
            assert_eq!(rewritten(sql), Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0).to_string());
        }
        assert_eq!(
            rewritten("SELECT k FROM a FULL JOIN b USING (k) WHERE k IN (SELECT k FROM c)"),
            "SELECT coalesce(a.k, b.k) AS k FROM a FULL JOIN b USING(k) WHERE coalesce(a.k, b.k) IN (SELECT k FROM c)"
        );
    }
}
