//! Rule (everywhere): in the statement's own select list, a column named beside a wildcard
//! that may repeat one the wildcard yields (`SELECT id, * FROM users`, `SELECT n.oid, n.*`)
//! gets an internal alias, its PostgreSQL name followed by
//! [`NAME_SUFFIX`] and its position, which the wire layer strips: the client sees `id`
//! twice, as from PostgreSQL, while DataFusion, which requires unique names within a
//! projection, sees two names. Only the statement's own query: in a derived table or a CTE
//! the enclosing query would see the internal name.

use datafusion::sql::sqlparser::ast::{Expr, Ident, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, Value};

use super::scope::fold;
use crate::rewrite::NAME_SUFFIX;

/// Whether a column reference may name a column a wildcard of the select list also
/// yields: any column beside `*`, and `t.x` or a bare `x` beside `t.*`. (DataFusion tells
/// `o.x` from `t.x`: those need no alias.)
fn may_repeat(expr: &Expr, plain_wildcard: bool, wildcard_tables: &[String]) -> Option<String> {
    let (name, qualifier) = match expr {
        Expr::Identifier(ident) => (fold(ident), None),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [.., qualifier, name] => (fold(name), Some(fold(qualifier))),
            _ => return None,
        },
        _ => return None,
    };
    let repeats = plain_wildcard || qualifier.is_none_or(|q| wildcard_tables.contains(&q));
    repeats.then_some(name)
}

fn name_beside_wildcard(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let mut plain_wildcard = false;
            let mut wildcard_tables = Vec::new();
            for item in &select.projection {
                match item {
                    SelectItem::Wildcard(_) => plain_wildcard = true,
                    SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                        if let Some(table) = name.0.last().and_then(|p| p.as_ident()) {
                            wildcard_tables.push(fold(table));
                        }
                    }
                    _ => {}
                }
            }
            if !plain_wildcard && wildcard_tables.is_empty() {
                return;
            }
            for (position, item) in select.projection.iter_mut().enumerate() {
                let SelectItem::UnnamedExpr(expr) = item else { continue };
                let Some(name) = may_repeat(expr, plain_wildcard, &wildcard_tables) else { continue };
                let expr = std::mem::replace(expr, Expr::Value(Value::Null.into()));
                *item = SelectItem::ExprWithAlias { expr, alias: Ident::with_quote('"', format!("{name}{NAME_SUFFIX}{position}")) };
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_beside_wildcard(left);
            name_beside_wildcard(right);
        }
        SetExpr::Query(query) => name_beside_wildcard(&mut query.body),
        _ => {}
    }
}

pub fn apply(statement: &mut Statement) {
    if let Statement::Query(query) = statement {
        name_beside_wildcard(&mut query.body);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn columns_beside_a_wildcard_keep_their_names() {
        assert_eq!(rewritten("SELECT id, * FROM users"), "SELECT id AS \"id\u{1f}0\", * FROM users");
        assert_eq!(
            rewritten("SELECT u.\"Id\", u.* FROM users u ORDER BY 1"),
            "SELECT u.\"Id\" AS \"Id\u{1f}0\", u.* FROM users u ORDER BY 1"
        );
        // Also in a catalog query (instead of datafusion-pg-catalog's `__alias_oid`).
        assert_eq!(
            rewritten("SELECT n.oid, n.* FROM pg_catalog.pg_namespace n"),
            "SELECT n.oid AS \"oid\u{1f}0\", n.* FROM pg_catalog.pg_namespace n"
        );
        assert_eq!(
            rewritten("SELECT c.relname, a.*, relkind FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON a.attrelid = c.oid"),
            "SELECT c.relname, a.*, relkind AS \"relkind\u{1f}2\" FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON a.attrelid = c.oid"
        );
        // No wildcard, an aliased column, an expression or another table's column: DataFusion
        // tells them apart.
        for kept in [
            "SELECT id, name FROM users",
            "SELECT id AS k, * FROM users",
            "SELECT id + 1, * FROM users",
            "SELECT o.id, u.* FROM o JOIN users u ON true",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
        // Names an enclosing query reads are left alone.
        let derived = "SELECT d.id FROM (SELECT id, * FROM users) d";
        assert_eq!(rewritten(derived), derived);
    }
}
