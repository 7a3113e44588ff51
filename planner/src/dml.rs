//! `UPDATE` and `DELETE` as the queries that find their rows.
//!
//! DataFusion's SQL planner refuses `UPDATE ... FROM`, `DELETE ... USING` and `RETURNING`,
//! and hands a table provider only the filters it can scrape from an optimized plan. For
//! tables Ember writes itself, a data-changing statement is instead planned as a `SELECT`
//! over the same tables and predicate — the target first in `FROM`, then the `FROM`/`USING`
//! tables — whose select list is:
//! - for `UPDATE`, one expression per column of the target in table order: the assigned
//!   value, or the column itself;
//! - then the `RETURNING` expressions (over the new values for `UPDATE`: references to the
//!   target's columns are replaced by their assigned values).
//!
//! The server reads the target through a scan that also names each row, runs the query,
//! and rewrites the rows it returned.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, Ident, ObjectName, Query, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement,
    TableFactor, TableObject, TableWithJoins, UpdateTableFromKind, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{PlannerError, Result};

/// The new values of an `UPDATE` are the query's columns `__ember_value_0`, `__ember_value_1`, ...
pub const VALUE_PREFIX: &str = "__ember_value_";

/// Whether a data-changing statement updates or deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmlKind {
    Update,
    Delete,
}

impl DmlKind {
    /// The command tag.
    pub fn tag(self) -> &'static str {
        match self {
            DmlKind::Update => "UPDATE",
            DmlKind::Delete => "DELETE",
        }
    }
}

/// An `UPDATE` or `DELETE` as a query (see the module documentation).
#[derive(Debug, Clone)]
pub struct DmlQuery {
    pub kind: DmlKind,
    /// The query: `values` columns (for `UPDATE`), then `returning` ones.
    pub query: Box<Query>,
    pub values: usize,
    pub returning: usize,
    /// For `UPDATE ... RETURNING`: the statement's query without the `RETURNING` columns,
    /// and `SELECT <RETURNING list> FROM target` to run over the updated rows. Used when
    /// the list reads only the target (so a volatile `SET c = nextval(..)` is evaluated
    /// once); `query` above, which computes the list from the assigned expressions, is
    /// the fallback for lists that read the `FROM` tables too.
    pub over_new_rows: Option<(Box<Query>, Box<Query>)>,
}

/// The target table of an `UPDATE` or `DELETE`, as written; `None` for other statements.
pub fn target(statement: &Statement) -> Option<&ObjectName> {
    match statement {
        Statement::Update(update) => match &update.table.relation {
            TableFactor::Table { name, .. } => Some(name),
            _ => None,
        },
        Statement::Delete(delete) => match &delete.from {
            FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => match from.first().map(|t| &t.relation) {
                Some(TableFactor::Table { name, .. }) => Some(name),
                _ => None,
            },
        },
        _ => None,
    }
}

/// `statement` (an `UPDATE` or `DELETE` of a table whose columns are `columns`, in order,
/// with the `DEFAULT` expressions `defaults`) as its query.
pub fn as_query(statement: Statement, columns: &[String], defaults: &HashMap<String, Expr>) -> Result<DmlQuery> {
    match statement {
        Statement::Update(update) => {
            if update.or.is_some() || update.limit.is_some() || !update.order_by.is_empty() || update.output.is_some() {
                return Err(unsupported("UPDATE with OR, LIMIT, ORDER BY or OUTPUT"));
            }
            if !update.table.joins.is_empty() {
                return Err(unsupported("UPDATE of a join"));
            }
            let qualifier = qualifier(&update.table.relation)?;
            let mut assigned: HashMap<String, Expr> = HashMap::new();
            for assignment in update.assignments {
                let AssignmentTarget::ColumnName(name) = assignment.target else {
                    return Err(unsupported("UPDATE ... SET (a, b) = (...)"));
                };
                let column = name.0.last().and_then(|part| part.as_ident()).map(normalize).ok_or_else(|| unsupported("this SET target"))?;
                if !columns.contains(&column) {
                    let table = qualifier.last().map(normalize).unwrap_or_default();
                    return Err(PlannerError::UndefinedColumn { name: column, table });
                }
                // `SET c = DEFAULT`: the column's default, or NULL.
                let value = match assignment.value {
                    Expr::Identifier(ident) if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") => {
                        defaults.get(&column).cloned().unwrap_or(Expr::value(datafusion::sql::sqlparser::ast::Value::Null))
                    }
                    value => value,
                };
                if assigned.insert(column.clone(), value).is_some() {
                    // PostgreSQL's 42601.
                    let message = format!("multiple assignments to same column \"{column}\"");
                    return Err(datafusion::error::DataFusionError::SQL(Box::new(datafusion::sql::sqlparser::parser::ParserError::ParserError(message)), None).into());
                }
            }
            // Named by position: the server reads them so, and a `RETURNING` item may take a
            // column's name.
            let mut projection: Vec<SelectItem> = columns
                .iter()
                .enumerate()
                .map(|(i, column)| SelectItem::ExprWithAlias {
                    expr: assigned.get(column).cloned().unwrap_or_else(|| column_of(&qualifier, column)),
                    alias: Ident::with_quote('"', format!("{VALUE_PREFIX}{i}")),
                })
                .collect();
            let values = projection.len();
            let from_tables: Vec<TableWithJoins> = match update.from {
                Some(UpdateTableFromKind::BeforeSet(tables) | UpdateTableFromKind::AfterSet(tables)) => tables,
                None => Vec::new(),
            };
            let mut over_new_rows = None;
            let returning = match update.returning {
                Some(items) => {
                    let plain = select(projection.clone(), std::iter::once(update.table.clone()).chain(from_tables.iter().cloned()).collect(), update.selection.clone())?;
                    let over = select(items.clone(), vec![update.table.clone()], None)?;
                    over_new_rows = Some((plain, over));
                    let new_values: HashMap<String, Expr> = columns
                        .iter()
                        .map(|c| (c.clone(), Expr::Nested(Box::new(assigned.get(c).cloned().unwrap_or_else(|| column_of(&qualifier, c))))))
                        .collect();
                    let items = expand_wildcards(items, &qualifier, columns, &from_tables)?;
                    let count = items.len();
                    for mut item in items {
                        // A column keeps its name when its new value takes its place.
                        if let SelectItem::UnnamedExpr(expr) = &item
                            && let Some(column) = target_column(expr, &qualifier).filter(|c| new_values.contains_key(c))
                        {
                            item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', column) };
                        }
                        let _ = item.visit(&mut NewValues { qualifier: &qualifier, new_values: &new_values });
                        projection.push(item);
                    }
                    count
                }
                None => 0,
            };
            let mut tables = vec![update.table];
            tables.extend(from_tables);
            Ok(DmlQuery { kind: DmlKind::Update, query: select(projection, tables, update.selection)?, values, returning, over_new_rows })
        }
        Statement::Delete(delete) => {
            if !delete.tables.is_empty() || delete.limit.is_some() || !delete.order_by.is_empty() || delete.output.is_some() {
                return Err(unsupported("DELETE with several targets, LIMIT, ORDER BY or OUTPUT"));
            }
            let (FromTable::WithFromKeyword(mut tables) | FromTable::WithoutKeyword(mut tables)) = delete.from;
            if tables.len() != 1 || !tables[0].joins.is_empty() {
                return Err(unsupported("DELETE from several tables"));
            }
            let qualifier = qualifier(&tables[0].relation)?;
            let using = delete.using.unwrap_or_default();
            let (projection, returning) = match delete.returning {
                Some(items) => {
                    let items = expand_wildcards(items, &qualifier, columns, &using)?;
                    let count = items.len();
                    (items, count)
                }
                // The select list is replaced by the rows' identity; one item keeps it valid.
                None => (vec![SelectItem::UnnamedExpr(Expr::value(datafusion::sql::sqlparser::ast::Value::Boolean(true)))], 0),
            };
            tables.extend(using);
            Ok(DmlQuery { kind: DmlKind::Delete, query: select(projection, tables, delete.selection)?, values: 0, returning, over_new_rows: None })
        }
        _ => Err(unsupported("this statement as a query")),
    }
}

/// `INSERT ... RETURNING items`: takes the `RETURNING` list out of `statement` (DataFusion's
/// planner refuses it) and returns it as `SELECT items FROM table [AS alias]`, which the
/// server runs over the rows the `INSERT` wrote. `None` for anything else.
pub fn take_insert_returning(statement: &mut Statement) -> Result<Option<Box<Query>>> {
    let Statement::Insert(insert) = statement else {
        return Ok(None);
    };
    let Some(items) = insert.returning.take() else {
        return Ok(None);
    };
    let TableObject::TableName(name) = &insert.table else {
        return Err(unsupported("INSERT ... RETURNING into a table function"));
    };
    let (name, alias) = (name.clone(), insert.table_alias.as_ref().map(|a| a.alias.clone()));
    let template = if alias.is_some() { "SELECT 1 FROM t AS x" } else { "SELECT 1 FROM t" };
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, template).map_err(datafusion::error::DataFusionError::from)?.pop();
    let Some(Statement::Query(mut query)) = parsed else {
        return Err(unsupported("INSERT ... RETURNING"));
    };
    let SetExpr::Select(body) = query.body.as_mut() else {
        return Err(unsupported("INSERT ... RETURNING"));
    };
    body.projection = items;
    if let Some(TableFactor::Table { name: table, alias: table_alias, .. }) = body.from.first_mut().map(|t| &mut t.relation) {
        *table = name;
        if let (Some(table_alias), Some(alias)) = (table_alias, alias) {
            table_alias.name = alias;
        }
    }
    Ok(Some(query))
}

/// How the statement names the target's columns: its alias, else its name as written.
fn qualifier(relation: &TableFactor) -> Result<Vec<Ident>> {
    match relation {
        TableFactor::Table { alias: Some(alias), .. } => Ok(vec![alias.name.clone()]),
        TableFactor::Table { name, .. } => name.0.iter().map(|p| p.as_ident().cloned().ok_or_else(|| unsupported("this table name"))).collect(),
        _ => Err(unsupported("UPDATE or DELETE of something other than a table")),
    }
}

fn column_of(qualifier: &[Ident], column: &str) -> Expr {
    let mut parts = qualifier.to_vec();
    parts.push(Ident::with_quote('"', column));
    Expr::CompoundIdentifier(parts)
}

/// `*` in `RETURNING`: the target's columns (then those of the `FROM`/`USING` tables, as in
/// PostgreSQL); `target.*` only the target's.
fn expand_wildcards(items: Vec<SelectItem>, qualifier: &[Ident], columns: &[String], others: &[TableWithJoins]) -> Result<Vec<SelectItem>> {
    let mut out = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard(_) => {
                out.extend(columns.iter().map(|c| SelectItem::UnnamedExpr(column_of(qualifier, c))));
                for other in others {
                    let name = match &other.relation {
                        TableFactor::Table { alias: Some(alias), .. } => ObjectName::from(vec![alias.name.clone()]),
                        TableFactor::Table { name, .. } => name.clone(),
                        TableFactor::Derived { alias: Some(alias), .. } => ObjectName::from(vec![alias.name.clone()]),
                        _ => return Err(unsupported("RETURNING * with this FROM item")),
                    };
                    out.push(SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), Default::default()));
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _)
                if same_name(&name.0.iter().filter_map(|p| p.as_ident().cloned()).collect::<Vec<_>>(), qualifier) =>
            {
                out.extend(columns.iter().map(|c| SelectItem::UnnamedExpr(column_of(qualifier, c))));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `SELECT projection FROM tables WHERE selection`.
fn select(projection: Vec<SelectItem>, tables: Vec<TableWithJoins>, selection: Option<Expr>) -> Result<Box<Query>> {
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1 FROM t").map_err(datafusion::error::DataFusionError::from)?.pop();
    let Some(Statement::Query(mut query)) = parsed else {
        return Err(unsupported("UPDATE or DELETE"));
    };
    let SetExpr::Select(body) = query.body.as_mut() else {
        return Err(unsupported("UPDATE or DELETE"));
    };
    body.projection = projection;
    body.from = tables;
    body.selection = selection;
    Ok(query)
}

/// In `RETURNING` of an `UPDATE`: a reference to a column of the target reads its new value.
struct NewValues<'a> {
    qualifier: &'a [Ident],
    new_values: &'a HashMap<String, Expr>,
}

impl VisitorMut for NewValues<'_> {
    type Break = ();

    // After the children: a replacement is not visited again.
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(value) = target_column(expr, self.qualifier).and_then(|c| self.new_values.get(&c)) {
            *expr = value.clone();
        }
        ControlFlow::Continue(())
    }
}

/// The column `expr` names if it is a column reference that may be the target's: a bare
/// name, or one qualified the way the statement names the target.
fn target_column(expr: &Expr, qualifier: &[Ident]) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(normalize(ident)),
        Expr::CompoundIdentifier(parts) if parts.len() > 1 && same_name(&parts[..parts.len() - 1], qualifier) => parts.last().map(normalize),
        _ => None,
    }
}

/// Whether two (possibly qualified) names are the same: a shorter one matches the end of a
/// longer one (`t` names `public.t`).
fn same_name(a: &[Ident], b: &[Ident]) -> bool {
    let n = a.len().min(b.len());
    n > 0 && a[a.len() - n..].iter().zip(&b[b.len() - n..]).all(|(x, y)| normalize(x) == normalize(y))
}

/// An identifier as PostgreSQL folds it: unquoted names are lower-cased.
fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

fn unsupported(feature: &str) -> PlannerError {
    PlannerError::Unsupported { feature: feature.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(sql: &str, columns: &[&str]) -> DmlQuery {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let defaults = HashMap::from([("amount".to_string(), Expr::value(datafusion::sql::sqlparser::ast::Value::Number("7".into(), false)))]);
        as_query(statement, &columns, &defaults).unwrap()
    }

    #[test]
    fn an_update_selects_every_column_new_or_old_and_returning_reads_new_values() {
        let q = query("UPDATE acc AS a SET amount = amount + b.v FROM bonus b WHERE b.id = a.id RETURNING a.id, amount * 2 AS twice", &["id", "amount"]);
        assert_eq!((q.kind, q.values, q.returning), (DmlKind::Update, 2, 2));
        assert_eq!(
            q.query.to_string(),
            "SELECT a.\"id\" AS \"__ember_value_0\", amount + b.v AS \"__ember_value_1\", (a.\"id\") AS \"id\", (amount + b.v) * 2 AS twice FROM acc AS a, bonus b WHERE b.id = a.id"
        );
    }

    #[test]
    fn a_delete_selects_its_rows_with_using_and_returning_star() {
        let q = query("DELETE FROM s.t USING u WHERE u.k = t.k RETURNING *", &["k", "v"]);
        assert_eq!((q.kind, q.values, q.returning), (DmlKind::Delete, 0, 3));
        assert_eq!(q.query.to_string(), "SELECT s.t.\"k\", s.t.\"v\", u.* FROM s.t, u WHERE u.k = t.k");
        let q = query("UPDATE t SET amount = DEFAULT, id = DEFAULT", &["id", "amount"]);
        assert_eq!(q.query.to_string(), "SELECT NULL AS \"__ember_value_0\", 7 AS \"__ember_value_1\" FROM t");
        let q = query("DELETE FROM t", &["k"]);
        assert_eq!((q.values, q.returning), (0, 0));
        assert_eq!(q.query.to_string(), "SELECT true FROM t");
    }

    #[test]
    fn insert_returning_becomes_a_query_over_the_table() {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "INSERT INTO s.t AS x (a) VALUES (1) RETURNING x.a, *").unwrap().remove(0);
        let returning = take_insert_returning(&mut statement).unwrap().unwrap();
        assert_eq!(returning.to_string(), "SELECT x.a, * FROM s.t AS x");
        assert_eq!(statement.to_string(), "INSERT INTO s.t AS x (a) VALUES (1)");
        let mut plain = Parser::parse_sql(&PostgreSqlDialect {}, "INSERT INTO t VALUES (1)").unwrap().remove(0);
        assert!(take_insert_returning(&mut plain).unwrap().is_none());
    }

    #[test]
    fn what_postgresql_refuses_or_ember_cannot_do_yet_is_an_error() {
        let statement = |sql: &str| Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        let columns = vec!["a".to_string()];
        let as_query = |statement, columns: &Vec<String>| as_query(statement, columns, &HashMap::new());
        assert!(matches!(as_query(statement("UPDATE t SET nope = 1"), &columns), Err(PlannerError::UndefinedColumn { .. })));
        assert!(matches!(as_query(statement("UPDATE t SET a = 1, a = 2"), &columns), Err(PlannerError::DataFusion(_))));
        assert!(matches!(as_query(statement("UPDATE t SET (a) = (1)"), &columns), Err(PlannerError::Unsupported { .. })));
        assert_eq!(target(&statement("UPDATE s.t SET a = 1")).map(|n| n.to_string()), Some("s.t".to_string()));
        assert_eq!(target(&statement("DELETE FROM t")).map(|n| n.to_string()), Some("t".to_string()));
        assert_eq!(target(&statement("SELECT 1")), None);
    }
}
