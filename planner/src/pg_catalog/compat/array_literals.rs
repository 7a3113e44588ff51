//! Rule (everywhere): a string literal cast to an array type, `'{1,2}'::int8[]`, is read as
//! PostgreSQL's `array_in` reads it (quoted elements, escapes, `NULL`) and becomes
//! `CAST(ARRAY['1', '2'] AS BIGINT[])`: DataFusion casts a list element by element but has
//! no cast from text to a list. Text that is not a one-dimensional array literal is left
//! for DataFusion to refuse.

use datafusion::sql::sqlparser::ast::{Array, DataType, Expr, Statement, Value, ValueWithSpan};

use super::ast::{each_expr, string};
use crate::pg_input::array_text;

pub fn apply(statement: &mut Statement) {
    each_expr(statement, |expr| {
        if let Expr::Cast { expr: inner, data_type: DataType::Array(_), .. } = expr
            && let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), .. }) = inner.as_ref()
            && let Some(items) = array_text::parse(text)
        {
            let elem = items.iter().map(|item| item.as_deref().map_or_else(|| Expr::Value(Value::Null.into()), string)).collect();
            **inner = Expr::Array(Array { elem, named: true });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn array_literals_read_as_postgres_reads_them() {
        assert_eq!(rewritten("SELECT '{1,2}'::int8[]"), "SELECT ARRAY['1', '2']::INT8[]");
        assert_eq!(rewritten(r#"SELECT '{"a,b",NULL, c}'::text[]"#), "SELECT ARRAY['a,b', NULL, 'c']::TEXT[]");
        assert_eq!(rewritten("SELECT '{{1},{2}}'::int[]"), "SELECT '{{1},{2}}'::INT[]");
    }
}
