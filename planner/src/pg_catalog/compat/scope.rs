//! Which relations a query reads, resolved as PostgreSQL resolves their names.
//!
//! A one-part name refers first to the CTE of that name of the nearest enclosing `WITH`
//! that defines it ([`CteScopes`]); otherwise PostgreSQL searches `pg_catalog` before the
//! schemas of `search_path` (unless the path names it explicitly), so an unqualified
//! `pg_class` is the catalog's. A qualified name is a catalog relation when its schema is
//! `pg_catalog` or `information_schema` (a qualified name never names a CTE). Names fold
//! as PostgreSQL folds them: unquoted identifiers are lowercased, quoted ones keep their
//! case. The built-in table functions (`generate_series(...)`, `unnest(...)`) and `VALUES`
//! read no relation; any other table function (a Python one) reads user data.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Query, TableFactor, Visit, Visitor};
use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;

/// Table functions that read no relation: DataFusion's, Ember's catalog ones, and those a
/// catalog rule turns into `unnest` (so the rule can see the query they are in).
const BUILTIN_TABLE_FUNCTIONS: &[&str] = &[
    "generate_series",
    "range",
    "unnest",
    "pg_get_keywords",
    "generate_subscripts",
    "regexp_split_to_table",
    "_pg_expandarray",
];

/// The CTE names in scope at one point of a walk over a statement: one frame per
/// enclosing query, innermost last. A walker calls [`CteScopes::enter`] when it reaches a
/// query (before its `WITH`) and [`CteScopes::leave`] after it.
///
/// A CTE of a plain `WITH` sees only the CTEs listed before it (its own name, inside it,
/// is whatever encloses the `WITH`); under `WITH RECURSIVE` every CTE sees all of them;
/// the query's body sees all of them.
#[derive(Debug, Clone, Default)]
pub struct CteScopes {
    frames: Vec<Frame>,
}

#[derive(Debug, Clone)]
struct Frame {
    /// The query's CTEs: folded name and the address of its defining query, by which the
    /// walker's arrival at that query is recognised (addresses are compared, never read).
    ctes: Vec<(String, *const Query)>,
    recursive: bool,
    /// How many of `ctes` are in scope where the walk stands.
    visible: usize,
}

/// What a relation name in `FROM` refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// A `pg_catalog` or `information_schema` relation.
    Catalog,
    /// A CTE, defined by the query in frame `depth` (0: outermost) of the scopes.
    Cte { depth: usize },
    /// Anything else: a user table or view (or a name that does not exist).
    User,
}

impl CteScopes {
    /// No CTE in scope (the statement's own query is about to be entered).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many queries enclose the point the walk stands at.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// The walk reaches `query`: if it is a CTE of the query enclosing it, only the CTEs
    /// that one may see are in scope while inside; then `query`'s own CTEs are.
    pub fn enter(&mut self, query: &Query) {
        if let Some(parent) = self.frames.last_mut()
            && let Some(index) = parent.ctes.iter().position(|(_, q)| std::ptr::eq(*q, query))
        {
            parent.visible = if parent.recursive { parent.ctes.len() } else { index };
        }
        let (ctes, recursive) = match &query.with {
            Some(with) => (with.cte_tables.iter().map(|cte| (fold(&cte.alias.name), &*cte.query as *const Query)).collect(), with.recursive),
            None => (Vec::new(), false),
        };
        let visible = ctes.len();
        self.frames.push(Frame { ctes, recursive, visible });
    }

    /// The walk is done with `query` (the one last entered).
    pub fn leave(&mut self, query: &Query) {
        self.frames.pop();
        if let Some(parent) = self.frames.last_mut()
            && parent.ctes.iter().any(|(_, q)| std::ptr::eq(*q, query))
        {
            parent.visible = parent.ctes.len();
        }
    }

    /// What a table name (as written in `FROM`) refers to at the point the walk stands.
    pub fn resolve(&self, name: &ObjectName) -> Resolved {
        let parts: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
        if parts.len() != name.0.len() {
            return Resolved::User;
        }
        match parts.as_slice() {
            [table] => {
                let table = fold(table);
                let cte = self.frames.iter().enumerate().rev().find(|(_, f)| f.ctes[..f.visible].iter().any(|(n, _)| *n == table));
                match cte {
                    Some((depth, _)) => Resolved::Cte { depth },
                    None if PG_CATALOG_TABLES.contains(&table.as_str()) => Resolved::Catalog,
                    None => Resolved::User,
                }
            }
            [.., schema, _] if is_catalog_schema(schema) => Resolved::Catalog,
            _ => Resolved::User,
        }
    }

    /// Whether a table name resolves to a catalog relation at the point the walk stands.
    pub fn is_catalog_relation(&self, name: &ObjectName) -> bool {
        self.resolve(name) == Resolved::Catalog
    }
}

fn is_catalog_schema(schema: &Ident) -> bool {
    matches!(fold(schema).as_str(), "pg_catalog" | "information_schema")
}

/// Whether a table function (`FROM f(...)`) is a built-in one that reads no relation;
/// any other is a user's (Python) function, which reads user data.
fn is_builtin_table_function(name: &ObjectName) -> bool {
    let parts: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    if parts.len() != name.0.len() {
        return false;
    }
    match parts.as_slice() {
        [function] => BUILTIN_TABLE_FUNCTIONS.contains(&fold(function).as_str()),
        [schema, function] => is_catalog_schema(schema) && BUILTIN_TABLE_FUNCTIONS.contains(&fold(function).as_str()),
        _ => false,
    }
}

/// An identifier as PostgreSQL folds it: unquoted names are lowercased.
pub fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// Whether `query` reads at least one relation and every relation it reads — in its
/// `FROM` clauses, joins, CTEs and subqueries at any depth — is a catalog relation.
/// `enclosing` holds the CTEs in scope around `query` (not yet entered). A CTE `query`
/// defines is judged by what its own query reads; a CTE of an enclosing query is outside
/// what is judged, so reading one makes `query` a user query.
pub fn reads_only_catalog(query: &Query, enclosing: &CteScopes) -> bool {
    let mut relations = Relations { scopes: enclosing.clone(), outside: enclosing.depth(), catalog: 0, user: false };
    let _ = query.visit(&mut relations);
    !relations.user && relations.catalog > 0
}

struct Relations {
    scopes: CteScopes,
    /// Frames below this depth belong to queries enclosing the one judged.
    outside: usize,
    catalog: usize,
    user: bool,
}

impl Visitor for Relations {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.scopes.enter(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.scopes.leave(query);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { name, args: None, .. } => match self.scopes.resolve(name) {
                Resolved::Catalog => self.catalog += 1,
                Resolved::Cte { depth } if depth >= self.outside => {}
                Resolved::Cte { .. } | Resolved::User => self.user = true,
            },
            TableFactor::Table { name, args: Some(_), .. } | TableFactor::Function { name, .. } => {
                self.user |= !is_builtin_table_function(name);
            }
            _ => {}
        }
        if self.user { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::{Expr, Statement, VisitMut, VisitorMut};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn query(sql: &str) -> Box<Query> {
        let Some(Statement::Query(query)) = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().pop() else { panic!("{sql}") };
        query
    }

    fn catalog_only(sql: &str) -> bool {
        reads_only_catalog(&query(sql), &CteScopes::new())
    }

    /// Whether each scalar subquery (in order) of `sql`, judged where it stands, reads only
    /// the catalog.
    fn scalar_subqueries(sql: &str) -> Vec<bool> {
        struct Walk {
            scopes: CteScopes,
            scalar: bool,
            found: Vec<bool>,
        }
        impl VisitorMut for Walk {
            type Break = ();
            fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
                self.scalar = matches!(expr, Expr::Subquery(_));
                ControlFlow::Continue(())
            }
            fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
                if std::mem::take(&mut self.scalar) {
                    self.found.push(reads_only_catalog(query, &self.scopes));
                }
                self.scopes.enter(query);
                ControlFlow::Continue(())
            }
            fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
                self.scopes.leave(query);
                ControlFlow::Continue(())
            }
        }
        let mut walk = Walk { scopes: CteScopes::new(), scalar: false, found: vec![] };
        let _ = VisitMut::visit(query(sql).as_mut(), &mut walk);
        walk.found
    }

    #[test]
    fn catalog_queries_are_recognised_by_their_relations() {
        assert!(catalog_only("SELECT * FROM pg_catalog.pg_class"));
        assert!(catalog_only("select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"));
        assert!(catalog_only("SELECT * FROM information_schema.columns"));
        assert!(catalog_only("SELECT (SELECT 1 FROM pg_type t WHERE t.oid = c.reltype) FROM \"pg_catalog\".pg_class c"));
        assert!(catalog_only("SELECT x FROM pg_catalog.pg_index i, UNNEST(i.indkey) AS x"));
        assert!(catalog_only("WITH w AS (SELECT oid FROM pg_proc) SELECT * FROM w, generate_series(1, 3)"));
        assert!(catalog_only("SELECT * FROM pg_catalog.pg_proc, pg_catalog.generate_series(1, 3)"));
        // A plain CTE's own name inside it is the catalog's relation.
        assert!(catalog_only("WITH pg_class AS (SELECT oid FROM pg_class) SELECT * FROM pg_class"));
    }

    #[test]
    fn user_relations_anywhere_make_it_a_user_query() {
        assert!(!catalog_only("SELECT * FROM lineitem"));
        assert!(!catalog_only("SELECT pg_col FROM my_pg_class_copy"));
        assert!(!catalog_only("SELECT 1"));
        assert!(!catalog_only("SELECT * FROM pg_class WHERE oid IN (SELECT a FROM t)"));
        assert!(!catalog_only("SELECT * FROM pg_class c JOIN public.t ON true"));
        assert!(!catalog_only("SELECT a FROM t -- pg_class"));
        assert!(!catalog_only("SELECT 'pg_class' AS pg_type FROM t"));
        // Quoted names are case-sensitive: "PG_CLASS" is not the catalog's pg_class.
        assert!(!catalog_only("SELECT * FROM \"PG_CLASS\""));
        // A CTE that spells a catalog name is the CTE; what it reads decides.
        assert!(!catalog_only("WITH pg_class AS (SELECT * FROM t) SELECT * FROM pg_class"));
        // A Python table function reads user data.
        assert!(!catalog_only("SELECT * FROM pg_catalog.pg_class, my_python_udtf(1)"));
        assert!(!catalog_only("SELECT * FROM pg_catalog.pg_class, public.generate_series(1, 3)"));
    }

    #[test]
    fn ctes_of_enclosing_queries_are_seen_by_subqueries() {
        // The subquery reads the outer CTE `pg_class`, which is user data.
        let sql = "WITH pg_class AS (SELECT a, x FROM cw_t) SELECT o.a, (SELECT x FROM pg_class p WHERE p.a = o.a) FROM cw_o o";
        assert_eq!(scalar_subqueries(sql), [false]);
        // Without the CTE the same subquery is a catalog lookup.
        assert_eq!(scalar_subqueries("SELECT o.a, (SELECT x FROM pg_class p WHERE p.a = o.a) FROM cw_o o"), [true]);
        // A CTE of a sibling subquery is out of scope: `pg_type` below is the catalog's.
        let sibling = "SELECT (WITH pg_type AS (SELECT 1 AS oid FROM t) SELECT max(oid) FROM pg_type), \
                       (SELECT max(oid) FROM pg_type) FROM o";
        assert_eq!(scalar_subqueries(sibling), [false, true]);
        // Quoted CTE names keep their case: "PG_CLASS" does not hide pg_class.
        let quoted = "WITH \"PG_CLASS\" AS (SELECT 1 AS x FROM t) SELECT (SELECT max(oid) FROM pg_class) FROM o";
        assert_eq!(scalar_subqueries(quoted), [true]);
        let unquoted = "WITH PG_Class AS (SELECT 1 AS oid FROM t) SELECT (SELECT max(oid) FROM pg_class) FROM o";
        assert_eq!(scalar_subqueries(unquoted), [false]);
    }

    #[test]
    fn a_cte_in_one_subquery_does_not_hide_a_table_elsewhere() {
        // `t` is a CTE in the first subquery only; the second reads the user table `t`.
        assert!(!catalog_only(
            "SELECT * FROM pg_class c WHERE c.oid IN (WITH t AS (SELECT oid FROM pg_type) SELECT oid FROM t) \
             AND c.relname IN (SELECT name FROM t)"
        ));
        assert!(catalog_only("SELECT * FROM pg_class c WHERE c.oid IN (WITH t AS (SELECT oid FROM pg_type) SELECT oid FROM t)"));
    }

    #[test]
    fn scopes_follow_with_order() {
        let scopes_at = |sql: &str, table: &str| -> Vec<Resolved> {
            struct Walk<'a> {
                scopes: CteScopes,
                table: &'a str,
                found: Vec<Resolved>,
            }
            impl Visitor for Walk<'_> {
                type Break = ();
                fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
                    self.scopes.enter(q);
                    ControlFlow::Continue(())
                }
                fn post_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
                    self.scopes.leave(q);
                    ControlFlow::Continue(())
                }
                fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
                    if let TableFactor::Table { name, .. } = f
                        && name.to_string() == self.table
                    {
                        self.found.push(self.scopes.resolve(name));
                    }
                    ControlFlow::Continue(())
                }
            }
            let mut walk = Walk { scopes: CteScopes::new(), table, found: vec![] };
            let _ = Visit::visit(query(sql).as_ref(), &mut walk);
            walk.found
        };
        // In a plain WITH, a CTE sees only the ones before it; the body sees all.
        let plain = "WITH a AS (SELECT * FROM pg_type), pg_type AS (SELECT * FROM a) SELECT * FROM pg_type";
        assert_eq!(scopes_at(plain, "pg_type"), [Resolved::Catalog, Resolved::Cte { depth: 0 }]);
        let recursive = "WITH RECURSIVE pg_type AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM pg_type) SELECT * FROM pg_type";
        assert_eq!(scopes_at(recursive, "pg_type"), [Resolved::Cte { depth: 0 }, Resolved::Cte { depth: 0 }]);
        // The nearest enclosing WITH wins.
        let nested = "WITH x AS (SELECT 1) SELECT * FROM (WITH x AS (SELECT 2) SELECT * FROM x) d, x";
        assert_eq!(scopes_at(nested, "x"), [Resolved::Cte { depth: 1 }, Resolved::Cte { depth: 0 }]);
    }
}
