//! Rule on the parsed statement: `unnest` returns every element of a multidimensional array.
//!
//! PostgreSQL's `unnest(ARRAY[[1, 2], [3, 4]])` is four rows, `1` to `4`: an array of any
//! dimensions is one sequence of elements in storage order. DataFusion's `unnest` takes
//! one level and returns two rows of lists. The rule wraps each argument of `unnest`, in
//! `FROM` and in a select list, in `ember_array_elements` ([`crate::pg_functions::arrays`]),
//! which flattens an array to its elements and leaves a one-dimensional array as it is.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, TableFactor, Value, VisitMut, VisitorMut,
};

use crate::pg_catalog::compat::ast::call;
use crate::pg_functions::arrays::Elements;

/// Apply the rule to one statement.
pub fn unnest_all_elements(statement: &mut Statement) {
    let _ = statement.visit(&mut Unnest);
}

fn is_named(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Function(f) if f.name.0.len() == 1 && f.name.0[0].as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case(name)))
}

fn wrap(arg: &mut Expr) {
    if !is_named(arg, Elements::NAME) {
        let inner = std::mem::replace(arg, Expr::value(Value::Null));
        *arg = call(Elements::NAME, vec![inner]);
    }
}

struct Unnest;

impl VisitorMut for Unnest {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::UNNEST { array_exprs, .. } = factor {
            array_exprs.iter_mut().for_each(wrap);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if is_named(expr, "unnest")
            && let Expr::Function(f) = expr
            && f.over.is_none()
            && let FunctionArguments::List(list) = &mut f.args
        {
            for arg in &mut list.args {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)) = arg {
                    wrap(arg);
                }
            }
        }
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
        unnest_all_elements(&mut statement);
        unnest_all_elements(&mut statement);
        statement.to_string()
    }

    #[test]
    fn unnest_arguments_are_flattened_once() {
        assert_eq!(
            rewritten("SELECT x FROM unnest(ARRAY[[1, 2], [3, 4]]) AS t(x)"),
            "SELECT x FROM UNNEST(ember_array_elements(ARRAY[[1, 2], [3, 4]])) AS t (x)"
        );
        assert_eq!(rewritten("SELECT unnest(a), upper(b) FROM t"), "SELECT unnest(ember_array_elements(a)), upper(b) FROM t");
    }
}
