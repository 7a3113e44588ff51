//! Rule on the parsed statement: unary minus binds tighter than `^`, as in PostgreSQL.
//!
//! PostgreSQL's grammar gives prefix `-` a higher precedence than `^`, so `-2 ^ 2` is
//! `(-2) ^ 2` = 4. sqlparser parses it as `-(2 ^ 2)` = -4. The rule moves the minus onto
//! the leftmost operand of the `^` chain it was put in front of (`-2 ^ 3 ^ 2` is
//! `((-2) ^ 3) ^ 2`, `^` being left-associative). A written parenthesis, `-(2 ^ 2)`, is
//! kept: sqlparser keeps it as a node of its own.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Statement, UnaryOperator, Value, VisitMut, VisitorMut};

/// Apply the rule to one statement.
pub fn minus_binds_tighter_than_power(statement: &mut Statement) {
    let _ = statement.visit(&mut Minus);
}

/// `-(a ^ b ...)` as sqlparser parsed it, to `(-a) ^ b ...`.
fn push_minus_down(operand: Expr) -> Expr {
    match operand {
        Expr::BinaryOp { left, op: BinaryOperator::PGExp, right } => {
            Expr::BinaryOp { left: Box::new(push_minus_down(*left)), op: BinaryOperator::PGExp, right }
        }
        other => Expr::UnaryOp { op: UnaryOperator::Minus, expr: Box::new(other) },
    }
}

struct Minus;

impl VisitorMut for Minus {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::UnaryOp { op: UnaryOperator::Minus, expr: operand } = expr
            && matches!(operand.as_ref(), Expr::BinaryOp { op: BinaryOperator::PGExp, .. })
        {
            let operand = std::mem::replace(operand.as_mut(), Expr::value(Value::Null));
            *expr = push_minus_down(operand);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    /// The first select item of `sql` after the rule.
    fn first_item(sql: &str) -> Expr {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        minus_binds_tighter_than_power(&mut statement);
        let Statement::Query(query) = statement else { panic!() };
        let SetExpr::Select(select) = *query.body else { panic!() };
        let SelectItem::UnnamedExpr(expr) = &select.projection[0] else { panic!() };
        expr.clone()
    }

    #[test]
    fn minus_goes_on_the_leftmost_base() {
        // ((-2) ^ 3) ^ 2
        let expr = first_item("SELECT -2 ^ 3 ^ 2");
        let Expr::BinaryOp { left, op: BinaryOperator::PGExp, .. } = &expr else { panic!("{expr:?}") };
        let Expr::BinaryOp { left, op: BinaryOperator::PGExp, .. } = left.as_ref() else { panic!("{left:?}") };
        assert!(matches!(left.as_ref(), Expr::UnaryOp { op: UnaryOperator::Minus, .. }), "{left:?}");
        let expr = first_item("SELECT -x ^ 2 FROM t");
        assert!(matches!(&expr, Expr::BinaryOp { left, .. } if matches!(left.as_ref(), Expr::UnaryOp { .. })), "{expr:?}");
    }

    #[test]
    fn written_parentheses_stay() {
        let expr = first_item("SELECT -(2 ^ 2)");
        assert!(matches!(&expr, Expr::UnaryOp { op: UnaryOperator::Minus, expr } if matches!(expr.as_ref(), Expr::Nested(_))), "{expr:?}");
        let expr = first_item("SELECT -2 * 3");
        assert!(matches!(&expr, Expr::BinaryOp { op: BinaryOperator::Multiply, .. }), "{expr:?}");
    }
}
