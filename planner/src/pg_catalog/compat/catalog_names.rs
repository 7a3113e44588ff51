//! Rule (everywhere): an unqualified table name that is a `pg_catalog` relation is read
//! from `pg_catalog`, as PostgreSQL resolves it (`pg_catalog` is searched before the
//! schemas of `search_path`) — unless it names a CTE in scope there (the nearest enclosing
//! `WITH` that defines it; see [`CteScopes`]).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query, Statement, TableFactor, VisitMut, VisitorMut};

use super::scope::CteScopes;

struct Qualify {
    scopes: CteScopes,
}

impl VisitorMut for Qualify {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.scopes.enter(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.scopes.leave(query);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, args: None, .. } = factor
            && let [ObjectNamePart::Identifier(table)] = name.0.as_slice()
            && self.scopes.is_catalog_relation(name)
        {
            let table = table.clone();
            *name = ObjectName::from(vec![Ident::new("pg_catalog"), table]);
        }
        ControlFlow::Continue(())
    }
}

pub fn apply(statement: &mut Statement) {
    let _ = statement.visit(&mut Qualify { scopes: CteScopes::new() });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn unqualified_catalog_names_are_the_catalogs() {
        assert_eq!(rewritten("SELECT relname FROM pg_class c"), "SELECT relname FROM pg_catalog.pg_class c");
        let cte = "WITH pg_class AS (SELECT 1 AS a) SELECT a FROM pg_class";
        assert_eq!(rewritten(cte), cte);
        assert_eq!(rewritten("SELECT * FROM lineitem"), "SELECT * FROM lineitem");
    }

    #[test]
    fn ctes_are_resolved_where_they_are_in_scope() {
        // A CTE of an enclosing query hides the catalog name in a subquery.
        let outer = "WITH pg_type AS (SELECT 1 AS oid) SELECT (SELECT max(oid) FROM pg_type) FROM t";
        assert_eq!(rewritten(outer), outer);
        // A CTE of one subquery does not hide it in another.
        assert_eq!(
            rewritten("SELECT (WITH pg_type AS (SELECT 1 AS oid) SELECT max(oid) FROM pg_type), (SELECT max(oid) FROM pg_type)"),
            "SELECT (WITH pg_type AS (SELECT 1 AS oid) SELECT max(oid) FROM pg_type), (SELECT max(oid) FROM pg_catalog.pg_type)"
        );
        // Unquoted CTE names fold to lower case; quoted ones keep theirs.
        let folded = "WITH PG_TYPE AS (SELECT 1 AS oid) SELECT oid FROM pg_type";
        assert_eq!(rewritten(folded), folded);
        assert_eq!(
            rewritten("WITH \"PG_TYPE\" AS (SELECT 1 AS oid) SELECT oid FROM pg_type"),
            "WITH \"PG_TYPE\" AS (SELECT 1 AS oid) SELECT oid FROM pg_catalog.pg_type"
        );
        // Inside a plain CTE its own name is the catalog's.
        assert_eq!(
            rewritten("WITH pg_type AS (SELECT oid FROM pg_type) SELECT oid FROM pg_type"),
            "WITH pg_type AS (SELECT oid FROM pg_catalog.pg_type) SELECT oid FROM pg_type"
        );
    }
}
