//! `pg_tables` and `pg_views`: PostgreSQL defines them as views over `pg_class`, and so
//! does Ember — their rows are `pg_class`'s tables (`relkind` `r`/`p`) and views (`v`), so
//! the three always agree. (datafusion-pg-catalog lists every relation, views included, in
//! `pg_tables` and has no rows in `pg_views`; dbt finds its models through these two.)
//! `pg_views.definition` is the view's query, as PostgreSQL shows it.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, Session};
use datafusion::datasource::{TableProvider, ViewTable};
use datafusion::error::Result;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use super::patch::{int32, scan_all, text};
use crate::config::DEFAULT_CATALOG;

/// The owner every relation reports (as `pg_get_userbyid(relowner)` does).
const OWNER: &str = "postgres";

/// Which view over `pg_class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationView {
    /// `pg_tables`: ordinary and partitioned tables.
    Tables,
    /// `pg_views`: views, with their definitions.
    Views,
}

/// `pg_tables` or `pg_views`, computed from `pg_class` and `pg_namespace` at scan time.
#[derive(Debug, Clone)]
pub struct RelationList {
    view: RelationView,
    pg_class: Arc<dyn TableProvider>,
    pg_namespace: Arc<dyn TableProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
    schema: SchemaRef,
}

impl RelationList {
    pub fn new(
        view: RelationView,
        pg_class: Arc<dyn TableProvider>,
        pg_namespace: Arc<dyn TableProvider>,
        catalogs: Arc<dyn CatalogProviderList>,
    ) -> Self {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let flag = |name: &str| Field::new(name, DataType::Boolean, true);
        let fields = match view {
            RelationView::Tables => vec![
                text("schemaname"),
                text("tablename"),
                text("tableowner"),
                text("tablespace"),
                flag("hasindexes"),
                flag("hasrules"),
                flag("hastriggers"),
                flag("rowsecurity"),
            ],
            RelationView::Views => vec![text("schemaname"), text("viewname"), text("viewowner"), text("definition")],
        };
        Self { view, pg_class, pg_namespace, catalogs, schema: Arc::new(Schema::new(fields)) }
    }

    async fn scan_rows(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        Ok(vec![self.batch(state).await?])
    }

    async fn batch(&self, state: &dyn Session) -> Result<RecordBatch> {
        let mut namespaces = HashMap::new();
        for batch in scan_all(state, self.pg_namespace.as_ref()).await? {
            let (oids, names) = (int32(&batch, "oid")?, text(&batch, "nspname")?);
            for i in 0..batch.num_rows() {
                namespaces.insert(oids.value(i), names.value(i).to_string());
            }
        }
        let kinds: &[&str] = match self.view {
            RelationView::Tables => &["r", "p"],
            RelationView::Views => &["v"],
        };
        let mut relations = Vec::new();
        for batch in scan_all(state, self.pg_class.as_ref()).await? {
            let (names, schemas, relkinds) = (text(&batch, "relname")?, int32(&batch, "relnamespace")?, text(&batch, "relkind")?);
            for i in 0..batch.num_rows() {
                if kinds.contains(&relkinds.value(i))
                    && let Some(schema) = namespaces.get(&schemas.value(i))
                {
                    relations.push((schema.clone(), names.value(i).to_string()));
                }
            }
        }
        relations.sort();
        let column = |values: Vec<Option<String>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
        let schemas = column(relations.iter().map(|(s, _)| Some(s.clone())).collect());
        let names = column(relations.iter().map(|(_, n)| Some(n.clone())).collect());
        let owners = column(relations.iter().map(|_| Some(OWNER.to_string())).collect());
        let columns = match self.view {
            RelationView::Tables => {
                let no = || -> ArrayRef { Arc::new(BooleanArray::from(vec![false; relations.len()])) };
                vec![schemas, names, owners, column(vec![None; relations.len()]), no(), no(), no(), no()]
            }
            RelationView::Views => {
                let mut definitions = Vec::with_capacity(relations.len());
                for (schema, name) in &relations {
                    definitions.push(self.definition(schema, name).await?);
                }
                vec![schemas, names, owners, column(definitions)]
            }
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// The query of view `schema.name` (` SELECT ...;` in PostgreSQL; here without the
    /// leading space), from the `CREATE VIEW` statement DataFusion keeps.
    async fn definition(&self, schema: &str, name: &str) -> Result<Option<String>> {
        let Some(schema) = self.catalogs.catalog(DEFAULT_CATALOG).and_then(|c| c.schema(schema)) else {
            return Ok(None);
        };
        let Some(table) = schema.table(name).await? else { return Ok(None) };
        let Some(view) = table.downcast_ref::<ViewTable>() else { return Ok(None) };
        Ok(view.definition().map(|sql| view_query(sql).unwrap_or_else(|| sql.to_string())))
    }
}

/// `CREATE VIEW v AS <query>` -> `<query>;`.
fn view_query(create: &str) -> Option<String> {
    let dialect = PostgreSqlDialect {};
    let mut statements = DFParserBuilder::new(create).with_dialect(&dialect).build().ok()?.parse_statements().ok()?;
    match statements.pop_front()? {
        DfStatement::Statement(inner) => match *inner {
            SqlStatement::CreateView(view) => Some(format!("{};", view.query)),
            _ => None,
        },
        _ => None,
    }
}

computed_view!(RelationList, View);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_definition_is_the_query() {
        assert_eq!(view_query("CREATE VIEW s.v AS SELECT a, b FROM t WHERE a > 1").as_deref(), Some("SELECT a, b FROM t WHERE a > 1;"));
        assert_eq!(view_query("not sql"), None);
    }
}
