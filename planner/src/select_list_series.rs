//! Rule on the parsed statement: `generate_series` in a select list returns rows.
//!
//! In PostgreSQL a set-returning function in the select list produces one row per value
//! (`SELECT generate_series(1, 3)` is three rows; several such functions run side by side,
//! the shorter ones padded with NULLs). DataFusion's scalar `generate_series` returns one
//! array (`{1,2,3}`). The rule writes a select item that is a `generate_series` call as
//! `unnest(generate_series(...))`, which DataFusion expands into rows with PostgreSQL's
//! side-by-side semantics. `generate_series` in `FROM` is a table function and is left alone.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut};

use crate::pg_catalog::compat::ast::call;

/// Apply the rule to one statement.
pub fn select_list_series(statement: &mut Statement) {
    let _ = statement.visit(&mut Series);
}

fn is_series(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f) if f.over.is_none()
        && f.name.0.len() == 1
        && f.name.0[0].as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series")))
}

fn expand(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item
                    && is_series(expr)
                {
                    let series = std::mem::replace(expr, Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
                    *expr = call("unnest", vec![series]);
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            expand(left);
            expand(right);
        }
        _ => {}
    }
}

struct Series;

impl VisitorMut for Series {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        expand(&mut query.body);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        select_list_series(&mut statement);
        statement.to_string()
    }

    #[test]
    fn select_items_expand_and_table_functions_stay() {
        assert_eq!(rewritten("SELECT generate_series(1, 3) AS g, 'x'"), "SELECT unnest(generate_series(1, 3)) AS g, 'x'");
        assert_eq!(rewritten("SELECT g FROM generate_series(1, 3) AS t(g)"), "SELECT g FROM generate_series(1, 3) AS t (g)");
        assert_eq!(
            rewritten("SELECT count(*) FROM (SELECT generate_series(1, 5)) s"),
            "SELECT count(*) FROM (SELECT unnest(generate_series(1, 5))) s"
        );
    }
}
