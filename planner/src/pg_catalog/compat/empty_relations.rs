//! Rule (catalog queries): a `SELECT` that reads a catalog relation Ember always leaves
//! empty — through its `FROM` list or an inner join, with no aggregate to make one row of
//! nothing — returns no rows, so its select list and `WHERE` are never evaluated; they
//! become `NULL` and `false`, keeping the column names. psql's `\d` asks for row policies,
//! extended statistics and publications, Superset for identity sequences, with expressions
//! DataFusion cannot plan (`'d' = any(stxkind)` over `char[]`, unnamed duplicate `NULL`
//! columns, `pg_relation_is_publishable('...')`); the answer, no rows, is PostgreSQL's for
//! Ember's objects. The integration tests check that every relation listed is empty.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, JoinOperator, Query, Select, SelectItem, SetExpr, TableFactor, TableWithJoins, Value, Visit, VisitMut, Visitor,
    VisitorMut,
};

use super::Site;
use super::ast::function_name;
use super::scope::{CteScopes, fold};

/// Catalog relations that hold no rows in Ember: it has no column defaults, policies,
/// publications, extended statistics, sequences, inheritance, triggers or partitions.
pub const EMPTY: &[&str] = &[
    "pg_attrdef",
    "pg_policy",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_statistic_ext",
    "pg_statistic_ext_data",
    "pg_sequence",
    "pg_inherits",
    "pg_trigger",
    "pg_partitioned_table",
];

/// Catalog relations that hold no rows of one kind in Ember, as (relation, column, value):
/// read with `column = 'value'` among its `WHERE` conjuncts, the relation yields nothing.
/// Ember's tables have no foreign keys, and PostgreSQL's own catalog rows hold none
/// (pgcli lists foreign keys with a query DataFusion cannot decorrelate).
pub const EMPTY_KINDS: &[(&str, &str, &str)] = &[("pg_constraint", "contype", "f")];

const AGGREGATES: &[&str] = &["count", "max", "min", "sum", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every", "json_agg"];

/// Whether `factor` is one of the [`EMPTY`] catalog relations (not a CTE or a user table
/// of that name), resolved where the walk stands, or one of [`EMPTY_KINDS`] restricted by
/// `selection` to its empty kind.
fn is_empty_relation(factor: &TableFactor, scopes: &CteScopes, selection: Option<&Expr>) -> bool {
    let TableFactor::Table { name, alias, args: None, .. } = factor else { return false };
    let Some(last) = name.0.last().and_then(|p| p.as_ident()).map(fold) else { return false };
    if !scopes.is_catalog_relation(name) {
        return false;
    }
    if EMPTY.contains(&last.as_str()) {
        return true;
    }
    let reference = alias.as_ref().map(|a| fold(&a.name)).unwrap_or_else(|| last.clone());
    EMPTY_KINDS.iter().any(|(relation, column, value)| {
        *relation == last && selection.is_some_and(|w| conjuncts(w).any(|c| restricts(c, &reference, column, value)))
    })
}

/// The `AND`-ed parts of a condition.
fn conjuncts(expr: &Expr) -> Box<dyn Iterator<Item = &Expr> + '_> {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => Box::new(conjuncts(left).chain(conjuncts(right))),
        Expr::Nested(inner) => conjuncts(inner),
        other => Box::new(std::iter::once(other)),
    }
}

/// `reference.column = 'value'` (or unqualified `column`), either way round.
fn restricts(expr: &Expr, reference: &str, column: &str, value: &str) -> bool {
    let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = expr else { return false };
    let names_column = |e: &Expr| match e {
        Expr::Identifier(i) => fold(i) == column,
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [table, c] => fold(table) == reference && fold(c) == column,
            _ => false,
        },
        _ => false,
    };
    let is_value = |e: &Expr| matches!(e, Expr::Value(v) if matches!(&v.value, Value::SingleQuotedString(s) if s == value));
    (names_column(left) && is_value(right)) || (names_column(right) && is_value(left))
}

/// Whether a `FROM` item yields no rows because an empty relation is joined in a way that
/// keeps none (the leftmost relation, or any inner or cross join; no right or full join).
fn yields_nothing(from: &TableWithJoins, scopes: &CteScopes, selection: Option<&Expr>) -> bool {
    let restores_rows = from.joins.iter().any(|j| {
        matches!(j.join_operator, JoinOperator::RightOuter(_) | JoinOperator::FullOuter(_) | JoinOperator::Right(_))
    });
    if restores_rows {
        return false;
    }
    is_empty_relation(&from.relation, scopes, selection)
        || from.joins.iter().any(|j| {
            matches!(j.join_operator, JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_))
                && is_empty_relation(&j.relation, scopes, selection)
        })
}

/// Whether `select` itself aggregates (an aggregate inside a subquery of its select list
/// is the subquery's).
fn aggregates(select: &Select) -> bool {
    struct Find {
        subqueries: usize,
    }
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.subqueries += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.subqueries -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Function(f) if self.subqueries == 0 && f.over.is_none() && function_name(f).is_some_and(|n| AGGREGATES.contains(&n.as_str())) => {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    select.projection.visit(&mut Find { subqueries: 0 }).is_break() || select.having.visit(&mut Find { subqueries: 0 }).is_break()
}

fn grouped(select: &Select) -> bool {
    !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
}

/// Empty `select`'s expressions when it yields no rows; returns whether it did.
fn empty_select(select: &mut Select, scopes: &CteScopes) -> bool {
    let selection = select.selection.as_ref();
    if !select.from.iter().any(|from| yields_nothing(from, scopes, selection)) || (aggregates(select) && !grouped(select)) {
        return false;
    }
    let mut taken = std::collections::HashSet::new();
    for item in select.projection.iter_mut() {
        let alias = match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.clone()),
            SelectItem::UnnamedExpr(expr) => match expr {
                Expr::Identifier(ident) => Some(ident.clone()),
                Expr::CompoundIdentifier(parts) => parts.last().cloned(),
                Expr::Value(_) => None,
                other => crate::rewrite::figure_name(other).map(Ident::new),
            },
            _ => continue,
        };
        // A name used twice is left to the naming rule, which tells the two apart.
        let alias = alias.filter(|a| taken.insert(a.value.to_lowercase()));
        let null = Expr::Value(Value::Null.into());
        *item = match alias {
            Some(alias) => SelectItem::ExprWithAlias { expr: null, alias },
            None => SelectItem::UnnamedExpr(null),
        };
    }
    select.selection = Some(Expr::Value(Value::Boolean(false).into()));
    select.having = None;
    true
}

/// Walks a catalog query, resolving relation names through the CTEs in scope.
struct Empty {
    scopes: CteScopes,
}

impl VisitorMut for Empty {
    type Break = ();
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.scopes.enter(query);
        // No rows to order: the ORDER BY may name the expressions just emptied.
        if let SetExpr::Select(select) = query.body.as_mut()
            && empty_select(select, &self.scopes)
        {
            query.order_by = None;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.scopes.leave(query);
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        empty_select(select, &self.scopes);
        ControlFlow::Continue(())
    }
}

pub fn apply(query: &mut Query, site: &Site<'_>) {
    let _ = query.visit(&mut Empty { scopes: site.scopes.clone() });
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn selects_over_empty_catalog_relations_answer_no_rows() {
        let out = rewritten(
            "SELECT oid, stxname, 'd' = any(stxkind) AS ndist_enabled, pg_catalog.pg_get_statisticsobjdef_columns(oid) \
             FROM pg_catalog.pg_statistic_ext WHERE stxrelid = '16384' ORDER BY stxname",
        );
        assert_eq!(
            out,
            "SELECT NULL AS oid, NULL AS stxname, NULL AS ndist_enabled, NULL AS pg_get_statisticsobjdef_columns \
             FROM pg_catalog.pg_statistic_ext WHERE false"
        );
        // An aggregate over nothing is one row; a left join keeps the left side's rows.
        let count = "SELECT count(*) FROM pg_catalog.pg_policy";
        assert_eq!(rewritten(count), count);
        let left = "SELECT c.relname, p.polname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid";
        assert_eq!(rewritten(left), left);
        // A user table of the same name is not the catalog's.
        let user = "SELECT x FROM public.pg_policy";
        assert_eq!(rewritten(user), user);
    }

    #[test]
    fn foreign_key_constraints_are_empty_other_kinds_are_not() {
        let out = rewritten("SELECT fk.conname, t.relname FROM pg_catalog.pg_constraint fk JOIN pg_catalog.pg_class t ON t.oid = fk.conrelid WHERE fk.contype = 'f' AND t.relkind = 'r'");
        assert_eq!(out, "SELECT NULL AS conname, NULL AS relname FROM pg_catalog.pg_constraint fk JOIN pg_catalog.pg_class t ON t.oid = fk.conrelid WHERE false");
        // pgcli's foreign-key listing: its correlated lookups are never evaluated.
        let pgcli = "SELECT s_p.nspname AS parentschema, unnest((SELECT array_agg(attname ORDER BY i) \
                     FROM (SELECT unnest(confkey) AS attnum, generate_subscripts(confkey, 1) AS i) x \
                     JOIN pg_catalog.pg_attribute c USING(attnum) WHERE c.attrelid = fk.confrelid)) AS parentcolumn \
                     FROM pg_catalog.pg_constraint fk JOIN pg_catalog.pg_class t_p ON t_p.oid = fk.confrelid \
                     JOIN pg_catalog.pg_namespace s_p ON s_p.oid = t_p.relnamespace WHERE fk.contype = 'f'";
        let out = rewritten(pgcli);
        assert!(out.starts_with("SELECT NULL AS parentschema, NULL AS parentcolumn FROM") && out.ends_with("WHERE false"), "{out}");
        // Primary keys exist (PostgreSQL's own); an OR is no restriction; another alias's contype is not fk's.
        for sql in [
            "SELECT conname FROM pg_catalog.pg_constraint WHERE contype = 'p'",
            "SELECT conname FROM pg_catalog.pg_constraint WHERE contype = 'f' OR contype = 'p'",
            "SELECT c.conname FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_constraint d ON d.oid = c.oid WHERE x.contype = 'f'",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn ctes_named_like_empty_relations_keep_their_rows() {
        // A CTE over user data, used in a catalog query's IN: the CTE is read, not emptied
        // (the query reads user data, so no catalog rule touches it).
        let in_list = "WITH pg_trigger AS (SELECT a FROM cw_t) SELECT relname FROM pg_catalog.pg_class WHERE oid IN (SELECT a FROM pg_trigger)";
        assert_eq!(rewritten(in_list), in_list);
        // A CTE over the catalog, in a catalog query: the name is the CTE, not the empty
        // catalog relation.
        let catalog = "WITH pg_attrdef AS (SELECT oid AS adrelid FROM pg_catalog.pg_class) \
                       SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid IN (SELECT adrelid FROM pg_attrdef)";
        assert_eq!(rewritten(catalog), catalog);
        // An enclosing query's CTE, seen from a nested catalog query.
        let nested = "WITH pg_trigger AS (SELECT oid AS tgrelid FROM pg_catalog.pg_class) \
                      SELECT (SELECT count(*) FROM pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid) FROM pg_trigger";
        assert_eq!(rewritten(nested), nested);
        // Where the name is the catalog's (the CTE's own body, in a plain WITH), it is emptied.
        let own = rewritten("WITH pg_trigger AS (SELECT tgname FROM pg_trigger) SELECT tgname FROM pg_trigger");
        assert_eq!(own, "WITH pg_trigger AS (SELECT NULL AS tgname FROM pg_catalog.pg_trigger WHERE false) SELECT tgname FROM pg_trigger");
    }
}
