//! Rule on the parsed statement: a window that names another (`OVER (w ORDER BY id)`,
//! `WINDOW w2 AS (w1 ORDER BY x)`) inherits its `PARTITION BY` and `ORDER BY`, as in
//! PostgreSQL.
//!
//! DataFusion substitutes a bare `OVER w`, but in `OVER (w ORDER BY id)` it ignores `w`:
//! `count(*) OVER (w ORDER BY id)` with `WINDOW w AS (PARTITION BY dept)` counted over
//! every row instead of per department. The rule writes each such window out in full
//! before planning, with PostgreSQL's errors (`42P20`) for what may not be combined: a
//! `PARTITION BY` of its own, a second `ORDER BY`, or copying a window with a frame.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, NamedWindowExpr, Query, Select, SetExpr, Statement, VisitMut, VisitorMut, WindowSpec, WindowType,
};

use crate::data_error::PgDataError;

/// Apply the rule to one statement.
pub fn inherit_named_windows(statement: &mut Statement) -> Result<(), PgDataError> {
    match statement.visit(&mut Resolve) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn window_error(message: String) -> PgDataError {
    PgDataError::new("42P20", message)
}

/// `spec` written out over the window it names.
fn merge(base_name: &str, base: &WindowSpec, spec: &WindowSpec) -> Result<WindowSpec, PgDataError> {
    if !spec.partition_by.is_empty() {
        return Err(window_error(format!("cannot override PARTITION BY clause of window \"{base_name}\"")));
    }
    if !spec.order_by.is_empty() && !base.order_by.is_empty() {
        return Err(window_error(format!("cannot override ORDER BY clause of window \"{base_name}\"")));
    }
    if base.window_frame.is_some() {
        return Err(window_error(format!("cannot copy window \"{base_name}\" because it has a frame clause")));
    }
    Ok(WindowSpec {
        window_name: None,
        partition_by: base.partition_by.clone(),
        order_by: if spec.order_by.is_empty() { base.order_by.clone() } else { spec.order_by.clone() },
        window_frame: spec.window_frame.clone(),
    })
}

/// A window specification written out, when it names a window in `windows`.
fn resolve(spec: &WindowSpec, windows: &HashMap<String, WindowSpec>) -> Result<Option<WindowSpec>, PgDataError> {
    let Some(name) = &spec.window_name else { return Ok(None) };
    match windows.get(&name.value) {
        Some(base) => merge(&name.value, base, spec).map(Some),
        None => Ok(None),
    }
}

/// The `WINDOW` clause of `select`, each definition written out over those before it.
fn resolve_definitions(select: &mut Select) -> Result<HashMap<String, WindowSpec>, PgDataError> {
    let mut windows: HashMap<String, WindowSpec> = HashMap::new();
    for definition in &mut select.named_window {
        let spec = match &mut definition.1 {
            NamedWindowExpr::WindowSpec(spec) => {
                if let Some(full) = resolve(spec, &windows)? {
                    *spec = full;
                }
                spec.clone()
            }
            NamedWindowExpr::NamedWindow(other) => match windows.get(&other.value) {
                Some(spec) => spec.clone(),
                None => continue,
            },
        };
        windows.insert(definition.0.value.clone(), spec);
    }
    Ok(windows)
}

/// Rewrites the inline windows of the window functions in one SELECT's expressions.
struct Inline<'a> {
    windows: &'a HashMap<String, WindowSpec>,
}

impl VisitorMut for Inline<'_> {
    type Break = PgDataError;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<PgDataError> {
        if let Expr::Function(f) = expr
            && let Some(WindowType::WindowSpec(spec)) = &mut f.over
        {
            match resolve(spec, self.windows) {
                Ok(Some(full)) => *spec = full,
                Ok(None) => {}
                Err(e) => return ControlFlow::Break(e),
            }
        }
        ControlFlow::Continue(())
    }
}

/// Queries are rewritten innermost first, so a subquery's windows are written out (and no
/// longer name anything) before its enclosing SELECT is looked at.
struct Resolve;

impl VisitorMut for Resolve {
    type Break = PgDataError;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<PgDataError> {
        let SetExpr::Select(select) = query.body.as_mut() else { return ControlFlow::Continue(()) };
        if select.named_window.is_empty() {
            return ControlFlow::Continue(());
        }
        let windows = match resolve_definitions(select) {
            Ok(windows) => windows,
            Err(e) => return ControlFlow::Break(e),
        };
        let mut inline = Inline { windows: &windows };
        select.projection.visit(&mut inline)?;
        if let Some(order_by) = &mut query.order_by {
            order_by.visit(&mut inline)?;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> Result<String, PgDataError> {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        inherit_named_windows(&mut statement)?;
        Ok(statement.to_string())
    }

    #[test]
    fn windows_inherit_partition_and_order() {
        assert_eq!(
            rewritten("SELECT count(*) OVER (w ORDER BY id) FROM t WINDOW w AS (PARTITION BY dept)").unwrap(),
            "SELECT count(*) OVER (PARTITION BY dept ORDER BY id) FROM t WINDOW w AS (PARTITION BY dept)"
        );
        assert_eq!(
            rewritten("SELECT sum(x) OVER w2 FROM t WINDOW w1 AS (PARTITION BY d), w2 AS (w1 ORDER BY id DESC)").unwrap(),
            "SELECT sum(x) OVER w2 FROM t WINDOW w1 AS (PARTITION BY d), w2 AS (PARTITION BY d ORDER BY id DESC)"
        );
        assert_eq!(
            rewritten("SELECT sum(x) OVER (w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t WINDOW w AS (PARTITION BY d ORDER BY id)").unwrap(),
            "SELECT sum(x) OVER (PARTITION BY d ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t WINDOW w AS (PARTITION BY d ORDER BY id)"
        );
    }

    #[test]
    fn what_postgres_refuses_is_42p20() {
        for sql in [
            "SELECT sum(x) OVER (w ORDER BY id) FROM t WINDOW w AS (ORDER BY salary)",
            "SELECT sum(x) OVER (w PARTITION BY d) FROM t WINDOW w AS (ORDER BY salary)",
            "SELECT sum(x) OVER (w) FROM t WINDOW w AS (ORDER BY salary ROWS UNBOUNDED PRECEDING)",
        ] {
            assert_eq!(rewritten(sql).unwrap_err().sqlstate(), "42P20", "{sql}");
        }
    }
}
