//! Rule (catalog queries): `proargtypes::regtype[]` / `proallargtypes::regtype[]` (an
//! `oidvector` / `oid[]`, which Ember's `pg_proc` holds as space-separated text) becomes
//! `string_to_array(col, ' ')`: the argument type OIDs as a text array. pgcli's function
//! query reads them as `COALESCE(proallargtypes::regtype[], proargtypes::regtype[])::text[]`;
//! PostgreSQL's answer names the types (`{integer,text}`), Ember's gives their OIDs, as its
//! `::regtype::text` does.

use datafusion::sql::sqlparser::ast::{Expr, Query};

use super::Site;
use super::ast::{call, column_name, each_expr, string, type_is};

pub fn apply(query: &mut Query, _: &Site<'_>) {
    each_expr(query, |expr| {
        if let Expr::Cast { expr: inner, data_type, .. } = expr
            && type_is(data_type, &["regtype[]", "oid[]"])
            && column_name(inner).is_some_and(|c| matches!(c.value.to_ascii_lowercase().as_str(), "proargtypes" | "proallargtypes"))
        {
            let column = std::mem::replace(inner.as_mut(), Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()));
            *expr = call("string_to_array", vec![column, string(" ")]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn argument_types_as_text_arrays() {
        let out = rewritten("SELECT COALESCE(proallargtypes::regtype[], p.proargtypes::regtype[])::text[] FROM pg_catalog.pg_proc p");
        assert!(out.contains("COALESCE(string_to_array(proallargtypes, ' '), string_to_array(p.proargtypes, ' '))"), "{out}");
        let other = rewritten("SELECT typname::regtype[] FROM pg_catalog.pg_type");
        assert!(!other.contains("string_to_array"), "{other}");
        let user = "SELECT proargtypes::REGTYPE[] FROM my_functions";
        assert_eq!(rewritten(user), user);
    }
}
