//! Rule on the parsed statement: an explicit cast to `varchar(n)` or `char(n)` keeps `n`
//! characters, as PostgreSQL's does.
//!
//! DataFusion plans every character type as text and drops the length, so
//! `'abcdef'::varchar(3)` was `abcdef`; PostgreSQL answers `abc`. `char(n)` (`char` is
//! `char(1)`) keeps `n` characters too (`true::char` is `t`) and its trailing blanks do not
//! count: PostgreSQL pads it for display but drops the padding when the value becomes text
//! (`'ab'::char(5) || '|'` is `ab|`) and ignores it in comparisons and `length`.
//! The rule writes such a cast as `left(CAST(x AS VARCHAR), n)` or
//! `rtrim(left(CAST(x AS VARCHAR), n))` before planning. What stays different: a `char(n)`
//! value is shown without its padding, and a length in a table's column definition is
//! not enforced on assignment.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{CastKind, CharacterLength, DataType as SqlType, Expr, Statement, Value, VisitMut, VisitorMut};

use crate::pg_catalog::compat::ast::call;

/// Apply the rule to one statement.
pub fn bounded_character_casts(statement: &mut Statement) {
    let _ = statement.visit(&mut Bound);
}

/// What a cast to a character type with a length does to its text.
fn bound(data_type: &SqlType) -> Option<(bool, u64)> {
    let length = |l: &Option<CharacterLength>| match l {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
        _ => None,
    };
    match data_type {
        SqlType::Varchar(l) | SqlType::CharacterVarying(l) => length(l).map(|n| (false, n)),
        SqlType::Char(l) | SqlType::Character(l) => Some((true, length(l).unwrap_or(1))),
        _ => None,
    }
}

struct Bound;

impl VisitorMut for Bound {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, data_type, array: false, format: None, .. } = expr
            && let Some((blank_padded, length)) = bound(data_type)
        {
            let Expr::Cast { expr: inner, kind, .. } = std::mem::replace(expr, Expr::value(Value::Null)) else { return ControlFlow::Continue(()) };
            let text = Expr::Cast { kind, expr: inner, data_type: SqlType::Varchar(None), array: false, format: None };
            let kept = call("left", vec![text, Expr::value(Value::Number(length.to_string(), false))]);
            *expr = if blank_padded { call("rtrim", vec![kept]) } else { kept };
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
        bounded_character_casts(&mut statement);
        statement.to_string()
    }

    #[test]
    fn lengths_become_functions() {
        assert_eq!(rewritten("SELECT 'abcdef'::varchar(3)"), "SELECT left('abcdef'::VARCHAR, 3)");
        assert_eq!(rewritten("SELECT CAST(x AS character varying(2)) FROM t"), "SELECT left(CAST(x AS VARCHAR), 2) FROM t");
        assert_eq!(rewritten("SELECT true::char, 'ab  '::char(4)"), "SELECT rtrim(left(true::VARCHAR, 1)), rtrim(left('ab  '::VARCHAR, 4))");
        // Without a length, varchar is text.
        assert_eq!(rewritten("SELECT 12::varchar, CAST(x AS text) FROM t"), "SELECT 12::VARCHAR, CAST(x AS TEXT) FROM t");
    }
}
