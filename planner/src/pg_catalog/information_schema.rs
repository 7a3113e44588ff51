//! PostgreSQL's `information_schema` views that DataFusion's own `information_schema` lacks
//! or answers in Arrow terms, defined over `pg_catalog` as PostgreSQL defines them.
//!
//! DataFusion serves `information_schema` itself (`SHOW TABLES` / `SHOW COLUMNS` keep using
//! it), so a reference to one of these views in a statement is replaced by the view's query
//! as a derived table under the same name or alias:
//!
//! - `columns`: PostgreSQL's column set and values — `data_type` is the SQL type name
//!   (`bigint`, `timestamp without time zone`, `ARRAY`), not the Arrow type; `udt_schema`/
//!   `udt_name`, `is_identity`, numeric precision and scale are there (Metabase's field sync
//!   reads them).
//! - `table_constraints`, `key_column_usage`, `constraint_column_usage`,
//!   `referential_constraints`, `check_constraints`: empty, with PostgreSQL's columns —
//!   Ember tables have no constraints.

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{Query, Statement, TableAlias, TableFactor, VisitMut, VisitorMut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `information_schema.columns`, after PostgreSQL's definition (src/backend/catalog/
/// information_schema.sql), over Ember's `pg_attribute` (which carries the types Ember sends).
const COLUMNS: &str = "
SELECT CAST(current_database() AS TEXT) AS table_catalog,
       n.nspname AS table_schema,
       c.relname AS table_name,
       a.attname AS column_name,
       CAST(a.attnum AS INT) AS ordinal_position,
       CAST(NULL AS TEXT) AS column_default,
       CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable,
       CASE WHEN t.typcategory = 'A' THEN 'ARRAY' ELSE format_type(a.atttypid, NULL) END AS data_type,
       CAST(CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 0 THEN a.atttypmod - 4 END AS INT) AS character_maximum_length,
       CAST(CASE WHEN a.atttypid IN (25, 1042, 1043) THEN 1073741824 END AS INT) AS character_octet_length,
       CAST(CASE a.atttypid WHEN 21 THEN 16 WHEN 23 THEN 32 WHEN 20 THEN 64 WHEN 700 THEN 24 WHEN 701 THEN 53
            WHEN 1700 THEN CASE WHEN a.atttypmod > 0 THEN ((a.atttypmod - 4) / 65536) % 65536 END END AS INT) AS numeric_precision,
       CAST(CASE WHEN a.atttypid IN (21, 23, 20, 700, 701) THEN 2 WHEN a.atttypid = 1700 THEN 10 END AS INT) AS numeric_precision_radix,
       CAST(CASE WHEN a.atttypid IN (21, 23, 20) THEN 0
            WHEN a.atttypid = 1700 AND a.atttypmod > 0 THEN (a.atttypmod - 4) % 65536 END AS INT) AS numeric_scale,
       CAST(CASE WHEN a.atttypid = 1082 THEN 0 WHEN a.atttypid IN (1083, 1114, 1184, 1266, 1186) THEN 6 END AS INT) AS datetime_precision,
       CAST(NULL AS TEXT) AS interval_type,
       CAST(NULL AS INT) AS interval_precision,
       CAST(NULL AS TEXT) AS character_set_catalog,
       CAST(NULL AS TEXT) AS character_set_schema,
       CAST(NULL AS TEXT) AS character_set_name,
       CAST(NULL AS TEXT) AS collation_catalog,
       CAST(NULL AS TEXT) AS collation_schema,
       CAST(NULL AS TEXT) AS collation_name,
       CAST(NULL AS TEXT) AS domain_catalog,
       CAST(NULL AS TEXT) AS domain_schema,
       CAST(NULL AS TEXT) AS domain_name,
       CAST(current_database() AS TEXT) AS udt_catalog,
       tn.nspname AS udt_schema,
       t.typname AS udt_name,
       CAST(NULL AS TEXT) AS scope_catalog,
       CAST(NULL AS TEXT) AS scope_schema,
       CAST(NULL AS TEXT) AS scope_name,
       CAST(NULL AS INT) AS maximum_cardinality,
       CAST(a.attnum AS TEXT) AS dtd_identifier,
       'NO' AS is_self_referencing,
       'NO' AS is_identity,
       CAST(NULL AS TEXT) AS identity_generation,
       CAST(NULL AS TEXT) AS identity_start,
       CAST(NULL AS TEXT) AS identity_increment,
       CAST(NULL AS TEXT) AS identity_maximum,
       CAST(NULL AS TEXT) AS identity_minimum,
       'NO' AS identity_cycle,
       'NEVER' AS is_generated,
       CAST(NULL AS TEXT) AS generation_expression,
       'NO' AS is_updatable
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON a.attrelid = c.oid
JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
JOIN pg_catalog.pg_type t ON a.atttypid = t.oid
JOIN pg_catalog.pg_namespace tn ON t.typnamespace = tn.oid
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'f', 'p')";

/// The views Ember defines, by name: (view, its query, or the text columns of an empty view).
enum View {
    Query(&'static str),
    /// No rows; these text columns, and these integer columns after them.
    Empty(&'static [&'static str], &'static [&'static str]),
}

const VIEWS: &[(&str, View)] = &[
    ("columns", View::Query(COLUMNS)),
    (
        "table_constraints",
        View::Empty(
            &[
                "constraint_catalog", "constraint_schema", "constraint_name", "table_catalog", "table_schema", "table_name",
                "constraint_type", "is_deferrable", "initially_deferred", "enforced", "nulls_distinct",
            ],
            &[],
        ),
    ),
    (
        "key_column_usage",
        View::Empty(
            &["constraint_catalog", "constraint_schema", "constraint_name", "table_catalog", "table_schema", "table_name", "column_name"],
            &["ordinal_position", "position_in_unique_constraint"],
        ),
    ),
    (
        "constraint_column_usage",
        View::Empty(
            &["table_catalog", "table_schema", "table_name", "column_name", "constraint_catalog", "constraint_schema", "constraint_name"],
            &[],
        ),
    ),
    (
        "referential_constraints",
        View::Empty(
            &[
                "constraint_catalog", "constraint_schema", "constraint_name", "unique_constraint_catalog", "unique_constraint_schema",
                "unique_constraint_name", "match_option", "update_rule", "delete_rule",
            ],
            &[],
        ),
    ),
    ("check_constraints", View::Empty(&["constraint_catalog", "constraint_schema", "constraint_name", "check_clause"], &[])),
];

static PARSED: LazyLock<Vec<(&'static str, Box<Query>)>> = LazyLock::new(|| {
    VIEWS
        .iter()
        .filter_map(|(name, view)| {
            let sql = match view {
                View::Query(sql) => sql.to_string(),
                View::Empty(text, ints) => {
                    let columns: Vec<String> = text
                        .iter()
                        .map(|c| format!("CAST(NULL AS TEXT) AS {c}"))
                        .chain(ints.iter().map(|c| format!("CAST(NULL AS INT) AS {c}")))
                        .collect();
                    format!("SELECT {} WHERE false", columns.join(", "))
                }
            };
            match Parser::parse_sql(&PostgreSqlDialect {}, &sql).ok()?.pop()? {
                Statement::Query(query) => Some((*name, query)),
                _ => None,
            }
        })
        .collect()
});

/// Replace references to Ember's `information_schema` views in `statement`.
pub fn rewrite(statement: Statement) -> Statement {
    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table { name, alias, args: None, .. } = factor else { return ControlFlow::Continue(()) };
            let parts: Vec<String> = name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect();
            let view = match parts.as_slice() {
                [schema, view] | [_, schema, view] if schema == "information_schema" => view.clone(),
                _ => return ControlFlow::Continue(()),
            };
            let Some((view_name, query)) = PARSED.iter().find(|(n, _)| *n == view) else { return ControlFlow::Continue(()) };
            let alias = alias.clone().unwrap_or_else(|| TableAlias { explicit: true, name: (*view_name).into(), columns: vec![], at: None });
            *factor = TableFactor::Derived { lateral: false, subquery: query.clone(), alias: Some(alias), sample: None };
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().pop().unwrap();
        rewrite(statement).to_string()
    }

    #[test]
    fn views_parse() {
        assert_eq!(PARSED.len(), VIEWS.len());
    }

    #[test]
    fn references_become_derived_tables_under_their_name() {
        let out = rewritten("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't'");
        assert!(out.contains("FROM (SELECT CAST(current_database() AS TEXT) AS table_catalog"), "{out}");
        assert!(out.ends_with(") AS columns WHERE table_name = 't'"), "{out}");
        let out = rewritten("SELECT tc.constraint_name FROM \"information_schema\".\"table_constraints\" AS tc");
        assert!(out.contains("WHERE false) AS tc"), "{out}");
        // DataFusion's own views stay.
        assert_eq!(rewritten("SELECT * FROM information_schema.tables"), "SELECT * FROM information_schema.tables");
    }
}
