//! datafusion-pg-catalog's statement rules, each in the scope where it keeps PostgreSQL's
//! answer.
//!
//! Everywhere: PostgreSQL spellings DataFusion does not plan — `pg_catalog.f()`,
//! `OPERATOR(pg_catalog.~)`, `'t'::regclass`, `COLLATE`, `current_user`.
//!
//! Catalog queries only, because each changes answers over user data:
//! - `AliasDuplicatedProjectionRewrite` renames `n.oid` beside `n.*` to `__alias_oid` (a
//!   column name the client sees; [`super::wildcard_columns`] keeps PostgreSQL's names in
//!   the statement's own select list);
//! - `RewriteArrayAnyAllOperation` turns `x = ANY(arr)` / `x <> ALL(arr)` into
//!   `array_contains`, which loses the NULL answers (`1 <> ALL(ARRAY[2, NULL])` is NULL,
//!   not true) and takes `x = ANY(SELECT ...)` for an array; DataFusion plans `= ANY` and
//!   `<> ALL` over arrays itself. Clients' introspection queries need it for
//!   `'d' = any(stxkind)`, `relkind = ANY($1)` and `'{r,v}'` string literals;
//! - `ResolveUnqualifiedIdentifier` qualifies bare columns in WHERE/ORDER BY with the one
//!   `t.*` of the select list, which can pick the wrong table.
//!
//! Not used: `PrependUnqualifiedPgTableName` (ignores CTEs of the same name; Ember's
//! [`super::catalog_names`] does not), `FixArrayLiteral` (splits `'{...}'::T[]` on commas,
//! wrong for quoted elements; [`super::array_literals`] reads them as PostgreSQL does) and
//! `RemoveSubqueryFromProjection` (correlated scalar subqueries in a select list become
//! NULL, others get `LIMIT 1`): it changes answers even over the catalog;
//! [`super::aggregated_lookups`] and [`super::lookup_predicates`] make the lookups clients
//! send plannable instead.

use std::sync::{Arc, LazyLock};

use datafusion::sql::sqlparser::ast::{Query, Statement};
use datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall, ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation, RewritePgCatalogOperator, RewriteRegCastToSubquery,
    SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};

use super::Site;
use super::ast::{take_query, take_statement};

static EVERYWHERE: LazyLock<Vec<Arc<dyn SqlStatementRewriteRule>>> = LazyLock::new(|| {
    vec![
        Arc::new(StripCallableQualifier),
        Arc::new(CurrentUserVariableToSessionUserFunctionCall),
        Arc::new(StripCollate),
        Arc::new(RewritePgCatalogOperator),
        Arc::new(RewriteRegCastToSubquery::new()),
    ]
});

static CATALOG: LazyLock<Vec<Arc<dyn SqlStatementRewriteRule>>> = LazyLock::new(|| {
    vec![Arc::new(AliasDuplicatedProjectionRewrite), Arc::new(RewriteArrayAnyAllOperation), Arc::new(ResolveUnqualifiedIdentifier)]
});

pub fn apply_everywhere(statement: &mut Statement) {
    take_statement(statement, |s| EVERYWHERE.iter().fold(s, |s, rule| rule.rewrite(s)));
}

pub fn apply_in_catalog(query: &mut Query, _: &Site<'_>) {
    take_query(query, |s| CATALOG.iter().fold(s, |s, rule| rule.rewrite(s)));
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn postgres_spellings_become_plannable() {
        assert_eq!(rewritten("SELECT pg_catalog.format_type(1, 2)"), "SELECT format_type(1, 2)");
        assert!(rewritten("SELECT relname FROM pg_class").contains("pg_catalog.pg_class"));
        assert!(rewritten("SELECT 'lineitem'::regclass").contains("SELECT c.oid FROM pg_catalog.pg_class"));
    }

    #[test]
    fn array_comparisons_are_rewritten_only_in_catalog_queries() {
        let out = rewritten("SELECT stxname FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_class c ON 'd' = any(s.stxkind)");
        assert!(out.contains("array_contains(s.stxkind, 'd')"), "{out}");
        assert!(rewritten("SELECT relname FROM pg_class WHERE relkind = ANY($1)").contains("array_contains($1, relkind)"));
        // Over user data DataFusion plans them, keeping NULL answers and subqueries.
        for user in [
            "SELECT x <> ALL(ARRAY[1, NULL]) FROM t",
            "SELECT x = ANY(ARRAY[1, 2]) FROM t",
            "SELECT a FROM t WHERE a = ANY(SELECT b FROM u)",
            "SELECT a FROM t WHERE a = ANY(SELECT oid FROM pg_catalog.pg_class)",
        ] {
            assert_eq!(rewritten(user), user);
        }
        // A catalog subquery inside a user query is a catalog query of its own.
        let out = rewritten("SELECT a, (SELECT max(relname) FROM pg_catalog.pg_class WHERE relkind = ANY('{r,v}')) FROM t");
        assert!(out.contains("array_contains(ARRAY['r', 'v'], relkind)") && out.starts_with("SELECT a, "), "{out}");
    }

    #[test]
    fn duplicate_names_beside_a_wildcard_are_aliased_only_in_catalog_queries() {
        // A catalog query nested in a user query (the statement's own select list is
        // named by `wildcard_columns`, with PostgreSQL's names).
        let nested = rewritten("SELECT x.nspname FROM (SELECT n.oid, n.* FROM pg_catalog.pg_namespace n) x JOIN t ON true");
        assert!(nested.contains("n.oid AS __alias_oid, n.*"), "{nested}");
        let user = "SELECT x.name FROM (SELECT u.id, u.* FROM users u) x";
        assert_eq!(rewritten(user), user);
    }

}
