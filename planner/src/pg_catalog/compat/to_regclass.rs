//! Rule (everywhere): `to_regclass('t')` (and `to_regtype`, `to_regnamespace`,
//! `to_regproc`) looks the name up like the `::regclass` cast does, but answers NULL for a
//! missing object: the lookup is an aggregated scalar subquery (`max(oid)`), which has
//! exactly one, nullable, row. Only the built-in functions (unqualified or `pg_catalog.`).

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{Expr, Statement};

use super::ast::{QueryTemplate, builtin_function_name, each_expr, plain_args};

static LOOKUPS: LazyLock<Vec<(&'static str, QueryTemplate)>> = LazyLock::new(|| {
    [
        (
            "to_regclass",
            "SELECT max(c.oid) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
             CROSS JOIN (SELECT parse_ident($1::TEXT) AS parts) \
             WHERE (array_length(parts, 1) = 1 AND n.nspname = current_schema() AND c.relname = parts[1]) \
             OR (array_length(parts, 1) = 2 AND n.nspname = parts[1] AND c.relname = parts[2])",
        ),
        ("to_regtype", "SELECT max(oid) FROM pg_catalog.pg_type WHERE typname = $1"),
        ("to_regnamespace", "SELECT max(oid) FROM pg_catalog.pg_namespace WHERE nspname = $1"),
        ("to_regproc", "SELECT max(oid) FROM pg_catalog.pg_proc WHERE proname = $1"),
    ]
    .into_iter()
    .filter_map(|(name, sql)| Some((name, QueryTemplate::parse(sql)?)))
    .collect()
});

pub fn apply(statement: &mut Statement) {
    each_expr(statement, |expr| {
        let Expr::Function(f) = expr else { return };
        let Some(name) = builtin_function_name(f) else { return };
        let Some((_, template)) = LOOKUPS.iter().find(|(n, _)| *n == name) else { return };
        let Some(args) = plain_args(f) else { return };
        let [arg] = args.as_slice() else { return };
        let lookup = template.fill(&[arg]);
        *expr = Expr::Subquery(lookup);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::tests::rewritten;

    #[test]
    fn every_lookup_parses() {
        assert_eq!(LOOKUPS.len(), 4);
    }

    #[test]
    fn missing_objects_answer_null() {
        let out = rewritten("SELECT to_regclass('public.lineitem')");
        assert!(out.contains("SELECT max(c.oid)") && out.contains("parse_ident('public.lineitem'::TEXT)"), "{out}");
        assert!(rewritten("SELECT to_regtype($1)").contains("WHERE typname = $1"));
        assert!(rewritten("SELECT pg_catalog.to_regclass('t')").contains("SELECT max(c.oid)"));
        // A user's function of the same name in another schema is called (the qualifier
        // goes later: DataFusion resolves functions by their bare name).
        assert_eq!(rewritten("SELECT public.to_regclass('t'), myschema.to_regtype('int4')"), "SELECT to_regclass('t'), to_regtype('int4')");
    }
}
