//! Rule (everywhere): `CAST(<text expression> AS regclass)` — a name built at run time, as
//! in Metabase's `format('%I.%I', schema, table)::regclass` — looks the relation up as
//! `to_regclass` does (see [`super::to_regclass`]). A string literal is handled by the
//! `'t'::regclass` rule of datafusion-pg-catalog; a column is taken as an OID. A text
//! expression is one of the built-in text functions (unqualified or `pg_catalog.`), `||`
//! or a cast to text; a user's `public.format(...)` returns whatever it returns.

use datafusion::sql::sqlparser::ast::{BinaryOperator, DataType, Expr, Statement};

use super::ast::{builtin_function_name, call, each_expr, type_is};

const TEXT_FUNCTIONS: &[&str] = &["format", "concat", "concat_ws", "quote_ident", "lower", "upper", "trim", "btrim"];

fn is_text(expr: &Expr) -> bool {
    match expr {
        Expr::Nested(inner) => is_text(inner),
        Expr::BinaryOp { op: BinaryOperator::StringConcat, .. } => true,
        Expr::Cast { data_type: DataType::Text | DataType::Varchar(_) | DataType::String(_), .. } => true,
        Expr::Function(f) => builtin_function_name(f).is_some_and(|n| TEXT_FUNCTIONS.contains(&n.as_str())),
        _ => false,
    }
}

pub fn apply(statement: &mut Statement) {
    each_expr(statement, |expr| {
        if let Expr::Cast { expr: inner, data_type, .. } = expr
            && type_is(data_type, &["regclass"])
            && is_text(inner)
        {
            let inner = std::mem::replace(inner.as_mut(), Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()));
            *expr = call("to_regclass", vec![inner]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn names_built_at_run_time_are_looked_up() {
        let built = rewritten("SELECT CAST(CAST(format('%I.%I', s, t) AS REGCLASS) AS OID) FROM x");
        assert!(built.contains("SELECT max(c.oid) FROM pg_catalog.pg_class") && built.contains("parse_ident(format('%I.%I', s, t)::TEXT)"), "{built}");
        // A column cast to regclass is an OID already.
        assert!(!rewritten("SELECT c.oid::regclass FROM pg_catalog.pg_class c").contains("max(c.oid)"));
        let qualified = rewritten("SELECT pg_catalog.format('%I', t)::regclass FROM x");
        assert!(qualified.contains("SELECT max(c.oid)") && qualified.contains("format('%I', t)::TEXT)"), "{qualified}");
        // A user's function of the same name in another schema is not known to be text.
        assert_eq!(rewritten("SELECT CAST(public.format(t) AS REGCLASS) FROM x"), "SELECT CAST(format(t) AS REGCLASS) FROM x");
    }
}
