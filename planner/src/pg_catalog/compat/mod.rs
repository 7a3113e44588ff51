//! PostgreSQL-compatibility rules on the parsed statement: one file per rule, one ordered
//! list ([`RULES`]).
//!
//! A rule is applied by what a node of the statement *resolves to*, never by the words of
//! the SQL text: a comment, a string literal or a column alias that spells a catalog name
//! changes nothing. There are two scopes:
//!
//! - [`Scope::Everywhere`]: the rule only makes a PostgreSQL spelling plannable and keeps
//!   PostgreSQL's answer (`pg_catalog.func()`, `OPERATOR(pg_catalog.~)`, `'t'::regclass`,
//!   `obj_description(...)`, which is NULL because Ember keeps no comments).
//! - [`Scope::CatalogQueries`]: the rule leans on what Ember's catalog holds (no domains,
//!   composite types, reloptions, ...) to make client introspection queries plannable, so
//!   it would change the answer of a query over user data. It is applied only inside a
//!   query whose every relation, down to its deepest subquery, is a catalog relation
//!   ([`scope::reads_only_catalog`]); user tables next to it keep their answer. Relation
//!   names are resolved through the `WITH` clauses around them ([`scope::CteScopes`]), so
//!   a CTE that spells a catalog name, in this query or an enclosing one, is the CTE.
//!
//! The rules build replacement nodes from templates parsed once ([`ast::Template`]); the
//! client's expressions are moved into them as AST nodes, never printed and re-parsed.

mod aggregated_lookups;
mod array_literals;
pub(crate) mod ast;
mod case_subqueries;
mod catalog_names;
mod correlation;
mod crate_rules;
mod empty_arrays;
mod empty_relations;
mod exists_in_select_list;
mod expandarray;
mod generate_subscripts;
mod lateral_unnest;
mod lookup_predicates;
mod no_comments;
mod oidvector;
mod regexp_split;
mod regproc_names;
mod regtype_text;
mod scope;
mod text_regclass;
mod to_regclass;
mod unnest_alias;
mod wildcard_columns;

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Query, Statement, VisitMut, VisitorMut};

pub use empty_relations::{EMPTY as EMPTY_CATALOG_RELATIONS, EMPTY_KINDS as EMPTY_CATALOG_KINDS};
pub use scope::{CteScopes, Resolved, reads_only_catalog};

/// Where a rule may change a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Anywhere in any statement: the answer stays PostgreSQL's.
    Everywhere,
    /// Only inside queries that read nothing but catalog relations.
    CatalogQueries,
}

/// Where a catalog query stands in its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The statement's own query.
    Outermost,
    /// A scalar subquery (`(SELECT ...)` used as a value) of a query that is not a catalog query.
    Scalar,
    /// Any other nested query (a derived table, `IN (...)`, `EXISTS (...)`, a CTE).
    Nested,
}

/// Where a catalog query stands: its position and the CTEs in scope around it (by which
/// a rule resolves the relation names it reads).
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub position: Position,
    pub scopes: &'a CteScopes,
}

/// A catalog rule: rewrites one maximal catalog query standing at a [`Site`].
pub type QueryRule = fn(&mut Query, &Site<'_>);

/// How a rule changes its target.
#[derive(Clone, Copy)]
pub enum Apply {
    /// A whole statement ([`Scope::Everywhere`]).
    Statement(fn(&mut Statement)),
    /// One maximal catalog query ([`Scope::CatalogQueries`]).
    Query(QueryRule),
}

/// One named compatibility rule.
#[derive(Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub apply: Apply,
}

impl Rule {
    pub fn scope(&self) -> Scope {
        match self.apply {
            Apply::Statement(_) => Scope::Everywhere,
            Apply::Query(_) => Scope::CatalogQueries,
        }
    }
}

/// Every rule, in the order it is applied. Statement rules run first (in order), then the
/// catalog rules (in order) on each maximal catalog query.
pub const RULES: &[Rule] = &[
    Rule { name: "no_comments", apply: Apply::Statement(no_comments::apply) },
    Rule { name: "text_regclass_casts", apply: Apply::Statement(text_regclass::apply) },
    Rule { name: "to_regclass_as_lookup", apply: Apply::Statement(to_regclass::apply) },
    Rule { name: "regtype_text_as_format_type", apply: Apply::Statement(regtype_text::apply) },
    Rule { name: "unnest_alias_names_column", apply: Apply::Statement(unnest_alias::apply) },
    Rule { name: "array_literals", apply: Apply::Statement(array_literals::apply) },
    Rule { name: "exists_in_select_list", apply: Apply::Statement(exists_in_select_list::apply) },
    Rule { name: "columns_beside_wildcards", apply: Apply::Statement(wildcard_columns::apply) },
    Rule { name: "unqualified_catalog_names", apply: Apply::Statement(catalog_names::apply) },
    Rule { name: "postgres_spellings", apply: Apply::Statement(crate_rules::apply_everywhere) },
    Rule { name: "information_schema_views", apply: Apply::Statement(information_schema_views) },
    Rule { name: "empty_catalog_relations", apply: Apply::Query(empty_relations::apply) },
    Rule { name: "catalog_query_spellings", apply: Apply::Query(crate_rules::apply_in_catalog) },
    Rule { name: "generate_subscripts_as_unnest", apply: Apply::Query(generate_subscripts::apply) },
    Rule { name: "oidvector_as_text_array", apply: Apply::Query(oidvector::apply) },
    Rule { name: "regexp_split_as_unnest", apply: Apply::Query(regexp_split::apply) },
    Rule { name: "empty_catalog_arrays", apply: Apply::Query(empty_arrays::apply) },
    Rule { name: "correlated_case_subqueries", apply: Apply::Query(case_subqueries::apply) },
    Rule { name: "regproc_names", apply: Apply::Query(regproc_names::apply) },
    Rule { name: "lateral_unnest_as_projection", apply: Apply::Query(lateral_unnest::apply) },
    Rule { name: "expandarray_as_unnest", apply: Apply::Query(expandarray::apply) },
    Rule { name: "aggregated_lookups", apply: Apply::Query(aggregated_lookups::apply) },
    Rule { name: "lookup_predicates", apply: Apply::Query(lookup_predicates::apply) },
];

fn information_schema_views(statement: &mut Statement) {
    ast::take_statement(statement, super::information_schema::rewrite);
}

/// Apply every rule to the statements DataFusion's parser produced.
pub fn rewrite(statements: impl IntoIterator<Item = DfStatement>) -> Vec<DfStatement> {
    statements
        .into_iter()
        .map(|statement| match statement {
            DfStatement::Statement(mut inner) => {
                apply_rules(&mut inner, RULES);
                DfStatement::Statement(inner)
            }
            other => other,
        })
        .collect()
}

/// Apply `rules` (in order) to one statement.
pub fn apply_rules(statement: &mut Statement, rules: &[Rule]) {
    for rule in rules {
        if let Apply::Statement(apply) = rule.apply {
            apply(statement);
        }
    }
    let catalog: Vec<QueryRule> = rules
        .iter()
        .filter_map(|r| match r.apply {
            Apply::Query(apply) => Some(apply),
            Apply::Statement(_) => None,
        })
        .collect();
    if catalog.is_empty() {
        return;
    }
    let mut visitor = CatalogQueries { rules: &catalog, scopes: CteScopes::new(), inside: 0, scalar: false };
    let _ = statement.visit(&mut visitor);
}

/// Finds the maximal catalog queries of a statement and applies the catalog rules to each.
struct CatalogQueries<'a> {
    rules: &'a [QueryRule],
    /// The queries enclosing the one being visited, with their CTEs.
    scopes: CteScopes,
    /// Nesting depth inside a catalog query already rewritten (0: outside any).
    inside: usize,
    /// The next query visited is a scalar subquery.
    scalar: bool,
}

impl VisitorMut for CatalogQueries<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut datafusion::sql::sqlparser::ast::Expr) -> ControlFlow<()> {
        self.scalar = matches!(expr, datafusion::sql::sqlparser::ast::Expr::Subquery(_));
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let scalar = std::mem::take(&mut self.scalar);
        if self.inside > 0 {
            self.inside += 1;
        } else if reads_only_catalog(query, &self.scopes) {
            let position = match (self.scopes.depth(), scalar) {
                (0, _) => Position::Outermost,
                (_, true) => Position::Scalar,
                (_, false) => Position::Nested,
            };
            let site = Site { position, scopes: &self.scopes };
            for rule in self.rules {
                rule(query, &site);
            }
            self.inside = 1;
        }
        // Entered after the rules ran: the scopes see the query as rewritten.
        self.scopes.enter(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.scopes.leave(query);
        self.inside = self.inside.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParserBuilder;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    pub(super) fn rewritten(sql: &str) -> String {
        let dialect = PostgreSqlDialect {};
        let statements = DFParserBuilder::new(sql).with_dialect(&dialect).build().unwrap().parse_statements().unwrap();
        rewrite(statements).iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn words_in_comments_literals_and_aliases_change_nothing() {
        let plain = "SELECT a, (SELECT max(x) FROM t WHERE t.a = o.a) AS m FROM o ORDER BY a";
        assert_eq!(rewritten(plain), plain);
        assert_eq!(rewritten(&format!("{plain} -- not pg_class")), plain);
        assert_eq!(rewritten(&format!("/* pg_catalog.pg_type */ {plain}")), plain);
        let literal = "SELECT a, (SELECT x FROM t WHERE t.a = o.a AND t.s = 'pg_class') AS pg_type FROM o";
        assert_eq!(rewritten(literal), literal);
    }

    #[test]
    fn user_subqueries_beside_catalog_tables_keep_their_meaning() {
        // The outer query reads a user table and pg_class: it is not a catalog query, so
        // its correlated subquery over user data is left exactly as written.
        let sql = "SELECT (SELECT x FROM t WHERE t.a = o.a) AS m FROM o JOIN pg_catalog.pg_class c ON c.relname = o.name";
        assert_eq!(rewritten(sql), sql);
        // A catalog subquery inside a user query is rewritten on its own.
        let out = rewritten("SELECT o.a, (SELECT c.relkind = 'r' FROM pg_catalog.pg_class c WHERE c.oid = o.a) FROM o");
        assert!(out.contains("(SELECT max(c.relkind = 'r') FROM pg_catalog.pg_class c WHERE c.oid = o.a)"), "{out}");
    }

    #[test]
    fn subqueries_reading_an_enclosing_cte_are_not_catalog_queries() {
        // `pg_class` in the subquery is the outer CTE over user data: no max() around it
        // (PostgreSQL raises 21000 when two rows match).
        let sql = "WITH pg_class AS (SELECT a, x FROM cw_t) SELECT o.a, (SELECT x FROM pg_class p WHERE p.a = o.a) FROM cw_o o";
        assert_eq!(rewritten(sql), sql);
        // Nor is an empty-relation name defined by an outer CTE emptied.
        let sql = "WITH pg_trigger AS (SELECT a FROM cw_t) SELECT a FROM cw_o WHERE a IN (SELECT a FROM pg_trigger)";
        assert_eq!(rewritten(sql), sql);
        // Where the CTE is out of scope the same subquery is a catalog lookup.
        let out = rewritten(
            "SELECT (WITH pg_class AS (SELECT a, x FROM cw_t) SELECT max(x) FROM pg_class), \
             (SELECT relkind FROM pg_class p WHERE p.oid = o.a) FROM cw_o o",
        );
        assert!(out.ends_with("(SELECT max(relkind) FROM pg_catalog.pg_class p WHERE p.oid = o.a) FROM cw_o o"), "{out}");
    }

    #[test]
    fn a_catalog_cte_of_a_user_query_is_a_catalog_query() {
        let out = rewritten(
            "WITH k AS (SELECT c.relname, (SELECT n.nspname FROM pg_namespace n WHERE n.oid = c.relnamespace) AS s FROM pg_class c) \
             SELECT k.s, t.x FROM k JOIN t ON t.name = k.relname",
        );
        assert!(out.contains("(SELECT max(n.nspname) FROM pg_catalog.pg_namespace n WHERE n.oid = c.relnamespace) AS s"), "{out}");
        assert!(out.ends_with("SELECT k.s, t.x FROM k JOIN t ON t.name = k.relname"), "{out}");
    }

    #[test]
    fn every_rule_has_a_unique_name() {
        let mut names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
        assert!(RULES.iter().any(|r| r.scope() == Scope::CatalogQueries));
    }
}
