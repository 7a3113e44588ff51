//! Rule (catalog queries): `ARRAY(SELECT ...)` becomes NULL. DataFusion has no
//! array-from-subquery constructor; in catalog queries it collects array columns Ember
//! always leaves NULL (`reloptions`, `polroles`, `stxkind`), so NULL is PostgreSQL's answer
//! for Ember's objects too (`NULL || array(...)` is NULL). Over user data it would not be.

use datafusion::sql::sqlparser::ast::{Expr, FunctionArguments, Query, Value};

use super::Site;
use super::ast::{each_expr, function_name};

pub fn apply(query: &mut Query, _: &Site<'_>) {
    each_expr(query, |expr| {
        if let Expr::Function(f) = expr
            && matches!(f.args, FunctionArguments::Subquery(_))
            && f.name.0.len() == 1
            && function_name(f).as_deref() == Some("array")
        {
            *expr = Expr::Value(Value::Null.into());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn catalog_array_constructors_are_null() {
        assert_eq!(
            rewritten("SELECT array_to_string(c.reloptions || array(select x from unnest(c.reloptions) x), ', ') FROM pg_catalog.pg_class c"),
            "SELECT array_to_string(c.reloptions || NULL, ', ') FROM pg_catalog.pg_class c"
        );
        let user = "SELECT array(SELECT a FROM t)";
        assert_eq!(rewritten(user), user);
    }
}
