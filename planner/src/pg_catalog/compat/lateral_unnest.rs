//! Rule (catalog queries): `FROM t AS c CROSS JOIN unnest(c.col) AS x` — a lateral reference
//! DataFusion cannot plan — becomes `FROM (SELECT c.*, unnest(c.col) AS x FROM t AS c) AS c`,
//! the same rows (ADBC's constraint query unnests `pg_constraint.conkey` this way).

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinOperator, ObjectName, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableAlias,
    TableFactor, VisitMut, VisitorMut,
};

use super::Site;
use super::ast::QueryTemplate;

/// `SELECT base.*, unnest($1) AS column FROM <relation>`: the names are set per use.
static PROJECTION: LazyLock<Option<QueryTemplate>> = LazyLock::new(|| QueryTemplate::parse("SELECT base.*, unnest($1) AS x FROM base"));

fn projected(relation: &TableFactor, base: &Ident, array: &Expr, column: &Ident) -> Option<Box<Query>> {
    let mut query = PROJECTION.as_ref()?.fill(&[array]);
    let SetExpr::Select(select) = query.body.as_mut() else { return None };
    let [wildcard, unnest] = select.projection.as_mut_slice() else { return None };
    if let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) = wildcard {
        *name = ObjectName::from(vec![base.clone()]);
    }
    if let SelectItem::ExprWithAlias { alias, .. } = unnest {
        *alias = column.clone();
    }
    select.from.first_mut()?.relation = relation.clone();
    Some(query)
}

struct Lateral;

impl VisitorMut for Lateral {
    type Break = ();
    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for from in select.from.iter_mut() {
            let Some(first) = from.joins.first() else { continue };
            let (JoinOperator::CrossJoin(_), TableFactor::UNNEST { alias: Some(alias), array_exprs, with_offset: false, with_ordinality: false, .. }) =
                (&first.join_operator, &first.relation)
            else {
                continue;
            };
            let TableFactor::Table { name, alias: base_alias, args: None, .. } = &from.relation else { continue };
            let base = base_alias.as_ref().map(|a| a.name.clone()).or_else(|| name.0.last().and_then(|p| p.as_ident()).cloned());
            let (Some(base), [array], true) = (base, array_exprs.as_slice(), alias.columns.len() <= 1) else { continue };
            let refers_to_base = match array {
                Expr::Identifier(_) => true,
                Expr::CompoundIdentifier(parts) => parts.len() == 2 && parts[0].value.eq_ignore_ascii_case(&base.value),
                _ => false,
            };
            if !refers_to_base {
                continue;
            }
            let column = alias.columns.first().map(|c| c.name.clone()).unwrap_or_else(|| alias.name.clone());
            let Some(subquery) = projected(&from.relation, &base, array, &column) else { continue };
            from.relation = TableFactor::Derived {
                lateral: false,
                subquery,
                alias: Some(TableAlias { explicit: true, name: base, columns: vec![], at: None }),
                sample: None,
            };
            from.joins.remove(0);
        }
        ControlFlow::Continue(())
    }
}

pub fn apply(query: &mut Query, _: &Site<'_>) {
    let _ = query.visit(&mut Lateral);
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn cross_joined_unnest_becomes_a_projection() {
        let out = rewritten("SELECT conkeys FROM pg_catalog.pg_constraint AS con CROSS JOIN UNNEST(conkey) AS conkeys JOIN pg_catalog.pg_class c ON true");
        assert!(
            out.contains("FROM (SELECT con.*, unnest(conkey) AS conkeys FROM pg_catalog.pg_constraint AS con) AS con JOIN pg_catalog.pg_class"),
            "{out}"
        );
        // A user table's lateral unnest stays a join (only its alias names the column).
        assert_eq!(
            rewritten("SELECT k FROM t AS con CROSS JOIN UNNEST(con.keys) AS k"),
            "SELECT k FROM t AS con CROSS JOIN UNNEST(con.keys) AS k (k)"
        );
    }
}
