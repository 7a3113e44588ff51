//! Rule (everywhere): `obj_description(...)`, `col_description(...)` and
//! `shobj_description(...)` are a typed NULL — Ember keeps no comments, so NULL is
//! PostgreSQL's answer for its objects. The call's arguments, often catalog lookups such as
//! Metabase's `col_description(format(...)::regclass::oid, n)` that DataFusion cannot
//! decorrelate inside a function argument, then need not be planned. Only the built-in
//! functions: unqualified or `pg_catalog.` names, not a user's `public.obj_description`.

use datafusion::sql::sqlparser::ast::{DataType, Expr, Statement};

use super::ast::{builtin_function_name, each_expr, typed_null};

pub fn apply(statement: &mut Statement) {
    each_expr(statement, |expr| {
        if let Expr::Function(f) = expr
            && f.over.is_none()
            && builtin_function_name(f).is_some_and(|n| matches!(n.as_str(), "obj_description" | "col_description" | "shobj_description"))
        {
            *expr = typed_null(DataType::Text);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn comment_functions_are_null() {
        assert_eq!(rewritten("SELECT col_description(c.oid, 1) AS d FROM t c"), "SELECT CAST(NULL AS TEXT) AS d FROM t c");
        assert_eq!(rewritten("SELECT description(c.oid) FROM t c"), "SELECT description(c.oid) FROM t c");
        assert_eq!(rewritten("SELECT pg_catalog.obj_description(1, 'pg_class')"), "SELECT CAST(NULL AS TEXT)");
        // A user's function of the same name in another schema is called (the qualifier
        // goes later: DataFusion resolves functions by their bare name).
        assert_eq!(rewritten("SELECT public.col_description(c.oid, 1) AS d FROM t c"), "SELECT col_description(c.oid, 1) AS d FROM t c");
    }
}
