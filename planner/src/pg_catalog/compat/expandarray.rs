//! Rule (catalog queries): `information_schema._pg_expandarray(a)` — a set-returning
//! function of `(x, n)` records that pgjdbc's `getPrimaryKeys`/`getIndexInfo` apply to
//! `pg_index.indkey` — becomes `named_struct('x', unnest(a), 'n', unnest(range(1, len + 1)))`
//! (calls in one select list run in step, like PostgreSQL's), and a composite field access
//! `(e).f` becomes `get_field(e, 'f')`.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{AccessExpr, Expr, Query};

use super::Site;
use super::ast::{Template, call, each_expr, function_name, plain_args, string};

static EXPAND: LazyLock<Option<Template>> = LazyLock::new(|| {
    Template::expr("named_struct('x', unnest($1), 'n', unnest(range(1, CAST(coalesce(array_length($1, 1), 0) AS BIGINT) + 1)))")
});

/// `(e).a.b` as `get_field(get_field(e, 'a'), 'b')`; `None` for other access chains.
fn field_access(root: &Expr, chain: &[AccessExpr]) -> Option<Expr> {
    let mut expr = root.clone();
    for access in chain {
        let AccessExpr::Dot(Expr::Identifier(field)) = access else { return None };
        expr = call("get_field", vec![expr, string(&field.value)]);
    }
    Some(expr)
}

pub fn apply(query: &mut Query, _: &Site<'_>) {
    let Some(expand) = EXPAND.as_ref() else { return };
    each_expr(query, |expr| {
        let replacement = match expr {
            Expr::Function(f) if function_name(f).as_deref() == Some("_pg_expandarray") => match plain_args(f).as_deref() {
                Some([array]) => Some(expand.fill(&[array])),
                _ => None,
            },
            Expr::CompoundFieldAccess { root, access_chain } if matches!(root.as_ref(), Expr::Nested(_)) => field_access(root, access_chain),
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn pgjdbc_key_lookups_become_plannable() {
        let out = rewritten(
            "SELECT (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, information_schema._pg_expandarray(i.indkey) AS KEYS FROM pg_catalog.pg_index i",
        );
        assert!(out.contains("get_field((named_struct('x', unnest(i.indkey), 'n', unnest(range(1,"), "{out}");
        let out = rewritten("SELECT 1 FROM (SELECT 1 AS k) AS result, pg_catalog.pg_class WHERE 1 = (result.k).x");
        assert!(out.contains("get_field((result.k), 'x')"), "{out}");
        // Over user data the rule does not apply (only the qualifier goes, everywhere).
        assert_eq!(rewritten("SELECT information_schema._pg_expandarray(t.a) FROM t"), "SELECT _pg_expandarray(t.a) FROM t");
    }
}
