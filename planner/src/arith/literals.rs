//! Rule on the parsed statement: an integer literal that fits in 32 bits is an `integer`.
//!
//! PostgreSQL types an integer constant `integer` when it fits in 32 bits, `bigint` when it
//! fits in 64, `numeric` beyond; DataFusion reads every one as `bigint`. The type decides
//! the result type of what is computed from it (`pg_typeof(1 + 1)` is `integer`) and where
//! arithmetic overflows (`2147483647 + 1` is `integer out of range`). The rule writes such
//! a literal as `CAST(n AS INTEGER)` before DataFusion plans the statement, so every plan
//! node, outer reference and recursive query is typed consistently from the start; the
//! simplifier folds the casts away.
//!
//! Left as they are, because DataFusion reads them as `bigint` constants or positions:
//! `ORDER BY 1` / `GROUP BY 1` / `DISTINCT ON (1)` positions, `LIMIT` / `OFFSET` / `FETCH`,
//! the literal arguments of window functions and of the aggregates that take constant
//! parameters (`lag(x, 1)`, `ntile(4)`, `nth_value(x, 2)`), and the arguments of table
//! functions in `FROM` (`generate_series(1, 10)`), which are evaluated while planning,
//! window frame offsets, and the fields of a row constructor `(1, 2)`.
//! Such a literal is marked while the rule runs (the `long` flag of a number, which the
//! PostgreSQL dialect never sets) and unmarked at the end.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    LimitClause, NamedWindowExpr, OrderByKind, Query, SetExpr, Statement, TableFactor, UnaryOperator, Value,
    ValueWithSpan, VisitMut, VisitorMut, WindowFrameBound, WindowSpec, WindowType,
};

/// Functions whose literal arguments DataFusion needs as `bigint` constants (`count(1)` is
/// how DataFusion spells `count(*)`, which it answers from statistics).
const CONSTANT_ARGUMENTS: &[&str] = &["count", "nth_value", "lag", "lead", "ntile", "approx_percentile_cont", "approx_percentile_cont_with_weight"];

/// Apply the rule to one statement.
pub fn int4_literals(statement: &mut Statement) {
    let _ = statement.visit(&mut Mark);
    let _ = statement.visit(&mut Narrow);
    let _ = statement.visit(&mut Unmark);
}

fn as_int4(expr: Expr) -> Expr {
    Expr::Cast { kind: CastKind::Cast, expr: Box::new(expr), data_type: SqlType::Integer(None), array: false, format: None }
}

/// Mark a literal (or a negated literal) standing alone in a position that stays `bigint`.
fn mark(expr: &mut Expr) {
    match expr {
        Expr::Value(ValueWithSpan { value: Value::Number(_, long), .. }) => *long = true,
        Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr } => mark(expr),
        Expr::Nested(inner) => mark(inner),
        _ => {}
    }
}

/// Mark every literal inside `expr` (table function arguments are planned as constants).
fn mark_all(expr: &mut Expr) {
    struct All;
    impl VisitorMut for All {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            mark(expr);
            ControlFlow::Continue(())
        }
    }
    let _ = expr.visit(&mut All);
}

fn argument_exprs(args: &mut [FunctionArg]) -> impl Iterator<Item = &mut Expr> {
    args.iter_mut().filter_map(|arg| match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
        FunctionArg::Named { arg: FunctionArgExpr::Expr(e), .. } | FunctionArg::ExprNamed { arg: FunctionArgExpr::Expr(e), .. } => {
            Some(e)
        }
        _ => None,
    })
}

/// Frame offsets (`ROWS BETWEEN 2 PRECEDING ...`) are constants to DataFusion.
fn mark_frame(spec: &mut WindowSpec) {
    if let Some(frame) = &mut spec.window_frame {
        for bound in std::iter::once(&mut frame.start_bound).chain(frame.end_bound.as_mut()) {
            if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) = bound {
                mark_all(e);
            }
        }
    }
}

fn mark_selects(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for window in &mut select.named_window {
                if let NamedWindowExpr::WindowSpec(spec) = &mut window.1 {
                    mark_frame(spec);
                }
            }
            if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
                exprs.iter_mut().for_each(mark);
            }
            if let Some(Distinct::On(exprs)) = &mut select.distinct {
                exprs.iter_mut().for_each(mark);
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            mark_selects(left);
            mark_selects(right);
        }
        SetExpr::Query(query) => mark_selects(&mut query.body),
        _ => {}
    }
}

struct Mark;

impl VisitorMut for Mark {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(order_by) = &mut query.order_by
            && let OrderByKind::Expressions(exprs) = &mut order_by.kind
        {
            exprs.iter_mut().for_each(|e| mark(&mut e.expr));
        }
        match &mut query.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, limit_by }) => {
                limit.iter_mut().for_each(mark_all);
                offset.iter_mut().for_each(|o| mark_all(&mut o.value));
                limit_by.iter_mut().for_each(mark);
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                mark_all(offset);
                mark_all(limit);
            }
            None => {}
        }
        if let Some(fetch) = &mut query.fetch {
            fetch.quantity.iter_mut().for_each(mark_all);
        }
        mark_selects(&mut query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { args: Some(args), .. } => argument_exprs(&mut args.args).for_each(mark_all),
            TableFactor::Function { args, .. } => argument_exprs(args).for_each(mark_all),
            TableFactor::TableFunction { expr, .. } => mark_all(expr),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // `-5` is one constant, as in PostgreSQL (`-2147483648` is an `integer`).
        if let Expr::UnaryOp { op: UnaryOperator::Minus, expr: inner } = expr
            && let Expr::Value(ValueWithSpan { value: Value::Number(digits, long), .. }) = inner.as_ref()
            && !digits.starts_with('-')
        {
            *expr = Expr::value(Value::Number(format!("-{digits}"), *long));
        }
        // `1::bigint` says its type.
        if let Expr::Cast { expr: inner, .. } = expr {
            mark(inner);
        }
        // DataFusion plans a row constructor `(1, NULL)` only over names and literals.
        if let Expr::Tuple(items) = expr {
            items.iter_mut().for_each(mark);
        }
        if let Expr::Function(f) = expr {
            if let Some(WindowType::WindowSpec(spec)) = &mut f.over {
                mark_frame(spec);
            }
            let name = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase()).unwrap_or_default();
            if (f.over.is_some() || CONSTANT_ARGUMENTS.contains(&name.as_str()))
                && let FunctionArguments::List(list) = &mut f.args
            {
                argument_exprs(&mut list.args).for_each(mark);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Wrap unmarked literals that fit in 32 bits.
struct Narrow;

impl VisitorMut for Narrow {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(expr, Expr::Value(ValueWithSpan { value: Value::Number(digits, false), .. }) if digits.parse::<i32>().is_ok()) {
            let literal = std::mem::replace(expr, Expr::value(Value::Null));
            *expr = as_int4(literal);
        }
        ControlFlow::Continue(())
    }
}

struct Unmark;

impl VisitorMut for Unmark {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Value(ValueWithSpan { value: Value::Number(_, long), .. }) = expr {
            *long = false;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Command, parse_for_test};

    fn rewritten(sql: &str) -> String {
        let mut commands = parse_for_test(sql).unwrap();
        match commands.remove(0) {
            Command::Plan(mut statement) => {
                if let datafusion::sql::parser::Statement::Statement(inner) = statement.as_mut() {
                    int4_literals(inner);
                }
                statement.to_string()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn literals_by_size() {
        assert_eq!(rewritten("SELECT 1 + 2147483648"), "SELECT CAST(1 AS INTEGER) + 2147483648");
        assert_eq!(rewritten("SELECT -2147483648, -2147483649"), "SELECT CAST(-2147483648 AS INTEGER), -2147483649");
        assert_eq!(rewritten("SELECT -5, 2 - -3"), "SELECT CAST(-5 AS INTEGER), CAST(2 AS INTEGER) - CAST(-3 AS INTEGER)");
        assert_eq!(rewritten("SELECT 1.5, 1::bigint, CAST(-1 AS SMALLINT)"), "SELECT 1.5, 1::BIGINT, CAST(-1 AS SMALLINT)");
        assert_eq!(rewritten("SELECT -9223372036854775808"), "SELECT -9223372036854775808");
    }

    #[test]
    fn positions_and_constants_stay() {
        assert_eq!(
            rewritten("SELECT a, 2 FROM t GROUP BY 1, a + 1 ORDER BY 2 DESC LIMIT 10 OFFSET 1"),
            "SELECT a, CAST(2 AS INTEGER) FROM t GROUP BY 1, a + CAST(1 AS INTEGER) ORDER BY 2 DESC LIMIT 10 OFFSET 1"
        );
        assert_eq!(
            rewritten("SELECT lag(a, 1) OVER (ORDER BY a ROWS 2 PRECEDING), ntile(4) OVER () FROM generate_series(1, 10) AS g(a)"),
            "SELECT lag(a, 1) OVER (ORDER BY a ROWS 2 PRECEDING), ntile(4) OVER () FROM generate_series(1, 10) AS g (a)"
        );
        assert_eq!(
            rewritten("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r"),
            "WITH RECURSIVE r (n) AS (SELECT CAST(1 AS INTEGER) UNION ALL SELECT n + CAST(1 AS INTEGER) FROM r WHERE n < CAST(3 AS INTEGER)) SELECT n FROM r"
        );
    }
}
