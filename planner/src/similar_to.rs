//! Rule on the parsed statement: `x SIMILAR TO p [ESCAPE e]` is `x ~ similar_to_escape(p [, e])`,
//! which is how PostgreSQL itself runs it.
//!
//! PostgreSQL translates a SQL regular expression into a POSIX one anchored at both ends
//! (`'(a|b)%'` is `^(?:(?:a|b).*)$`), so `'abd' SIMILAR TO '(a|b)%'` is true; DataFusion's own
//! translation answers false. [`similar_to_escape`] is PostgreSQL's `similar_escape_internal`
//! (registered as the function of that name, [`crate::pg_functions::text`]), and the match is
//! DataFusion's `~`.

use std::ops::ControlFlow;

use datafusion::common::Result;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Statement, Value, VisitMut, VisitorMut};

use crate::data_error::PgDataError;
use crate::pg_catalog::compat::ast::call;

/// PostgreSQL's translation of a `SIMILAR TO` pattern to a regular expression. `escape`
/// is the `ESCAPE` character (`\` when absent, none when empty).
pub fn similar_to_escape(pattern: &str, escape: Option<&str>) -> Result<String> {
    let escape = match escape {
        None => Some('\\'),
        Some(e) => {
            let mut chars = e.chars();
            match (chars.next(), chars.next()) {
                (None, _) => None,
                (Some(c), None) => Some(c),
                _ => return Err(PgDataError::new("22025", "invalid escape string").into()),
            }
        }
    };
    let mut out = String::with_capacity(pattern.len() * 3 + 23);
    out.push_str("^(?:");
    let (mut after_escape, mut quotes, mut bracket_depth, mut class_pos) = (false, 0, 0, 0);
    for c in pattern.chars() {
        if after_escape {
            if c == '"' && bracket_depth < 1 {
                match quotes {
                    0 => out.push_str("){1,1}?("),
                    1 => out.push_str("){1,1}(?:"),
                    _ => {
                        return Err(PgDataError::new(
                            "2200C",
                            "SQL regular expression may not contain more than two escape-double-quote separators",
                        )
                        .into());
                    }
                }
                quotes += 1;
            } else {
                out.push('\\');
                out.push(c);
                class_pos = 3;
            }
            after_escape = false;
        } else if Some(c) == escape {
            after_escape = true;
        } else if bracket_depth > 0 {
            if c == '\\' {
                out.push('\\');
            }
            out.push(c);
            match c {
                ']' if class_pos > 2 => bracket_depth -= 1,
                '[' => {
                    bracket_depth += 1;
                    class_pos = 3;
                }
                '^' => class_pos += 1,
                _ => class_pos = 3,
            }
        } else {
            match c {
                '[' => {
                    out.push('[');
                    bracket_depth = 1;
                    class_pos = 1;
                }
                '%' => out.push_str(".*"),
                '_' => out.push('.'),
                '(' => out.push_str("(?:"),
                '\\' | '.' | '^' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// Apply the rule to one statement.
pub fn similar_to_as_regex(statement: &mut Statement) {
    let _ = statement.visit(&mut SimilarTo);
}

struct SimilarTo;

impl VisitorMut for SimilarTo {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::SimilarTo { negated, expr: subject, pattern, escape_char } = expr {
            let mut args = vec![std::mem::replace(pattern.as_mut(), Expr::value(Value::Null))];
            if let Some(escape) = escape_char.take() {
                args.push(Expr::Value(escape));
            }
            let op = if *negated { BinaryOperator::PGRegexNotMatch } else { BinaryOperator::PGRegexMatch };
            let subject = std::mem::replace(subject.as_mut(), Expr::value(Value::Null));
            *expr = Expr::Nested(Box::new(Expr::BinaryOp { left: Box::new(subject), op, right: Box::new(call("similar_to_escape", args)) }));
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn patterns_translate_as_postgres_translates_them() {
        assert_eq!(similar_to_escape("(a|b)%", None).unwrap(), "^(?:(?:a|b).*)$");
        assert_eq!(similar_to_escape("a_c", None).unwrap(), "^(?:a.c)$");
        assert_eq!(similar_to_escape("a.b$", None).unwrap(), "^(?:a\\.b\\$)$");
        assert_eq!(similar_to_escape("a\\%", None).unwrap(), "^(?:a\\%)$");
        assert_eq!(similar_to_escape("a#%b", Some("#")).unwrap(), "^(?:a\\%b)$");
        assert_eq!(similar_to_escape("a\\b", Some("")).unwrap(), "^(?:a\\\\b)$");
        assert_eq!(similar_to_escape("[]%]x", None).unwrap(), "^(?:[]%]x)$");
        assert_eq!(similar_to_escape("a#\"b#\"c", Some("#")).unwrap(), "^(?:a){1,1}?(b){1,1}(?:c)$");
        let err = similar_to_escape("a#\"b#\"c#\"d", Some("#")).unwrap_err();
        assert_eq!(PgDataError::find(&err).map(PgDataError::sqlstate), Some("2200C"));
        assert!(similar_to_escape("a", Some("ab")).is_err());
    }

    #[test]
    fn similar_to_becomes_a_regex_match() {
        let rewritten = |sql: &str| {
            let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
            similar_to_as_regex(&mut statement);
            statement.to_string()
        };
        assert_eq!(rewritten("SELECT a SIMILAR TO 'x%' FROM t"), "SELECT (a ~ similar_to_escape('x%')) FROM t");
        assert_eq!(rewritten("SELECT a NOT SIMILAR TO 'x#%' ESCAPE '#'"), "SELECT (a !~ similar_to_escape('x#%', '#'))");
    }
}
