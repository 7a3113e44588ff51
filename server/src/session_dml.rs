//! `UPDATE` and `DELETE` of managed tables for a session. The statement is planned as the
//! query that finds its rows ([`ember_planner::dml`]): the new values (for `UPDATE`), the
//! `RETURNING` values, over the target and the `FROM`/`USING` tables with the `WHERE`
//! predicate, subqueries and all. When it runs, the target's scan in that plan becomes a
//! scan of the table's [`DmlTarget`], which also names each row (file and row number), and
//! the storage ([`crate::storage::dml`]) rewrites the rows the query returned.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::{Column, DFSchema, TableReference};
use datafusion::datasource::memory::{MemTable, MemorySourceConfig};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::execution::SessionState;
use datafusion::datasource::TableProvider;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableScanBuilder, TableSource};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DfStatement;
use ember_planner::dml::{DmlKind, DmlQuery};

use crate::error::{Result, ServerError};
use crate::session::{Outcome, Session};
use crate::statement::planning;
use crate::storage::dml::{DmlTarget, FILE_COLUMN, ROW_COLUMN};
use crate::storage::table::ManagedTable;

/// A planned `UPDATE`/`DELETE` of a managed table: its plan is the query of
/// [`ember_planner::dml`], these say how to read its columns.
#[derive(Debug, Clone)]
pub struct ManagedDml {
    pub kind: DmlKind,
    pub table: TableReference,
    /// Leading columns of the query with the new values of every column (`UPDATE`).
    pub values: usize,
    /// Columns after those with the `RETURNING` values.
    pub returning: usize,
    /// `UPDATE ... RETURNING` over the updated rows: `SELECT <list> FROM target`, planned;
    /// the query then has no `RETURNING` columns.
    pub over_new_rows: Option<Arc<LogicalPlan>>,
}

impl ManagedDml {
    /// Whether the statement returns rows (it has a `RETURNING` list).
    pub fn returns_rows(&self) -> bool {
        self.returning > 0 || self.over_new_rows.is_some()
    }

    /// The columns the statement returns (its `RETURNING` list; none without one).
    pub fn result_schema(&self, plan: &LogicalPlan) -> Result<DFSchema> {
        if let Some(over) = &self.over_new_rows {
            return Ok(over.schema().as_ref().clone());
        }
        let schema = plan.schema();
        let fields = (self.values..self.values + self.returning).map(|i| {
            let (qualifier, field) = schema.qualified_field(i);
            (qualifier.cloned(), Arc::clone(field))
        });
        Ok(DFSchema::new_with_metadata(fields.collect(), Default::default())?)
    }
}

impl Session {
    /// `statement` as the query of an `UPDATE`/`DELETE` of a managed table; `None` when it
    /// is something else (DataFusion plans it).
    pub(crate) async fn managed_dml_query(&self, state: &SessionState, statement: &DfStatement) -> Result<Option<(DfStatement, ManagedDml)>> {
        let DfStatement::Statement(inner) = statement else {
            return Ok(None);
        };
        let Some(name) = ember_planner::dml::target(inner) else {
            return Ok(None);
        };
        let table = datafusion::sql::planner::object_name_to_table_reference(name.clone(), true)?;
        let Some(provider) = self.table_provider(state, &table).await? else {
            return Ok(None);
        };
        let Some(managed) = provider.downcast_ref::<ManagedTable>() else {
            return Ok(None);
        };
        let columns: Vec<String> = managed.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut defaults = std::collections::HashMap::new();
        for column in &columns {
            if let Some(default) = managed.get_column_default(column) {
                defaults.insert(column.clone(), datafusion::sql::unparser::expr_to_sql(default)?);
            }
        }
        let DmlQuery { kind, query, values, returning, over_new_rows } = ember_planner::dml::as_query(inner.as_ref().clone(), &columns, &defaults)?;
        let as_statement = |query| DfStatement::Statement(Box::new(datafusion::sql::sqlparser::ast::Statement::Query(query)));
        if let Some((plain, over)) = over_new_rows {
            // RETURNING over the updated rows, when its list reads only the target.
            let mut over = as_statement(over);
            ember_planner::rewrite::apply(&mut over)?;
            if let Ok(planned) = planning::plan(planning::off_runtime(), state.statement_to_plan(over)).await {
                let dml = ManagedDml { kind, table, values, returning: 0, over_new_rows: Some(Arc::new(planned)) };
                return Ok(Some((as_statement(plain), dml)));
            }
        }
        Ok(Some((as_statement(query), ManagedDml { kind, table, values, returning, over_new_rows: None })))
    }

    /// `EXPLAIN UPDATE|DELETE` of a managed table explains the query that finds the rows
    /// (`EXPLAIN ANALYZE`, which would have to change them, is refused).
    pub(crate) async fn explain_managed_dml(&self, state: &SessionState, statement: &mut DfStatement) -> Result<()> {
        let DfStatement::Explain(explain) = statement else {
            return Ok(());
        };
        let Some((query, dml)) = self.managed_dml_query(state, &explain.statement).await? else {
            return Ok(());
        };
        if explain.options.analyze {
            return Err(ServerError::Unsupported { feature: format!("EXPLAIN ANALYZE {}", dml.kind.tag()) });
        }
        *explain.statement = query;
        Ok(())
    }

    /// The planned query of `dml` with its `$n` assigned to a column typed as that column
    /// (`SET amount = $1`), as PostgreSQL infers them.
    pub(crate) async fn type_assigned_parameters(&self, state: &SessionState, plan: LogicalPlan, dml: &ManagedDml) -> Result<LogicalPlan> {
        let LogicalPlan::Projection(projection) = &plan else {
            return Ok(plan);
        };
        let Some(table) = self.table_provider(state, &dml.table).await? else {
            return Ok(plan);
        };
        let schema = table.schema();
        let mut exprs = projection.expr.clone();
        let mut changed = false;
        for (expr, field) in exprs.iter_mut().take(dml.values).zip(schema.fields()) {
            if let Expr::Alias(alias) = expr
                && let Expr::Placeholder(placeholder) = alias.expr.as_mut()
                && placeholder.field.is_none()
            {
                placeholder.field = Some(Arc::clone(field));
                changed = true;
            }
        }
        if !changed {
            return Ok(plan);
        }
        let input = Arc::clone(&projection.input);
        Ok(LogicalPlanBuilder::from(Arc::unwrap_or_clone(input)).project(exprs)?.build()?)
    }

    /// Run the planned (and bound) query of `dml` and change the rows it returns.
    pub(crate) async fn run_managed_dml(&self, state: &SessionState, plan: LogicalPlan, dml: &ManagedDml) -> Result<Outcome> {
        let provider = self.table_provider(state, &dml.table).await?.ok_or_else(|| ServerError::UndefinedTable { name: dml.table.to_string() })?;
        let table = provider.downcast_ref::<ManagedTable>().ok_or_else(|| internal(format!("{} is no longer a managed table", dml.table)))?;
        let target = Arc::new(DmlTarget::new(Arc::new(table.renamed(table.name())), state.config()).await?);
        let query = identity_query(plan, provider_as_source(target.clone()), dml.values + dml.returning)?;
        let physical = planning::plan(planning::off_runtime(), state.create_physical_plan(&query)).await?;
        let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
        let keep_new_rows = dml.over_new_rows.is_some();
        let (rows, returned) = target.apply(stream, dml.kind == DmlKind::Update, dml.values, dml.returning, keep_new_rows).await?;
        if let Some(over) = &dml.over_new_rows {
            let updated = Arc::new(MemTable::try_new(Arc::clone(table.schema_ref()), vec![returned])?);
            let mut replaced = false;
            let query = replace_first_scan(LogicalPlan::clone(over), &provider_as_source(updated), &mut replaced)?;
            let physical = planning::plan(planning::off_runtime(), state.create_physical_plan(&query)).await?;
            let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
            return Ok(Outcome::Rows { stream, tag: dml.kind.tag() });
        }
        if dml.returning == 0 {
            return Ok(Outcome::Done { tag: dml.kind.tag().to_string(), rows: Some(rows as usize), oid: None });
        }
        let schema = Arc::new(dml.result_schema(&query)?.as_arrow().clone());
        let batches = returned
            .into_iter()
            .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()).map_err(datafusion::error::DataFusionError::from))
            .collect::<Vec<_>>();
        let stream = RecordBatchStreamAdapter::new(schema, futures::stream::iter(batches));
        Ok(Outcome::Rows { stream: Box::pin(stream), tag: dml.kind.tag() })
    }

    /// `INSERT ... RETURNING`: the rows to insert are computed once, written, and read by
    /// `returning` (the planned `SELECT <RETURNING list> FROM table`) in place of the table.
    pub(crate) async fn run_insert_returning(&self, state: &SessionState, plan: LogicalPlan, returning: &LogicalPlan) -> Result<Outcome> {
        let LogicalPlan::Dml(dml) = &plan else {
            return Err(internal(format!("INSERT ... RETURNING is not an INSERT: {}", plan.display())));
        };
        let provider = datafusion::datasource::source_as_provider(&dml.target)?;
        let off_runtime = planning::off_runtime();
        let input = planning::plan(off_runtime, state.create_physical_plan(&dml.input)).await?;
        let schema = input.schema();
        let (_, rows) = crate::session::collect_stream(datafusion::physical_plan::execute_stream(input, state.task_ctx())?).await?;
        let values = MemorySourceConfig::try_new_exec(std::slice::from_ref(&rows), Arc::clone(&schema), None)?;
        let insert = provider.insert_into(state, values, InsertOp::Append).await?;
        crate::session::collect_stream(datafusion::physical_plan::execute_stream(insert, state.task_ctx())?).await?;
        let inserted = Arc::new(MemTable::try_new(schema, vec![rows])?);
        let mut replaced = false;
        let query = replace_first_scan(returning.clone(), &provider_as_source(inserted), &mut replaced)?;
        let physical = planning::plan(off_runtime, state.create_physical_plan(&query)).await?;
        let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
        Ok(Outcome::Rows { stream, tag: "INSERT 0" })
    }

    async fn table_provider(&self, state: &SessionState, table: &TableReference) -> Result<Option<Arc<dyn datafusion::catalog::TableProvider>>> {
        let Ok(schema) = state.schema_for_ref(table.clone()) else {
            return Ok(None);
        };
        Ok(schema.table(table.table()).await?)
    }
}

/// `plan` (the statement's query) reading `target` in place of the table, returning its
/// first `keep` columns and then the rows' identity.
fn identity_query(plan: LogicalPlan, target: Arc<dyn TableSource>, keep: usize) -> Result<LogicalPlan> {
    let LogicalPlan::Projection(projection) = plan else {
        return Err(internal(format!("the query of UPDATE/DELETE is not a projection: {}", plan.display())));
    };
    let mut replaced = false;
    let below = replace_first_scan(Arc::unwrap_or_clone(projection.input), &target, &mut replaced)?;
    if !replaced {
        return Err(internal("the query of UPDATE/DELETE does not scan its table".to_string()));
    }
    let mut exprs: Vec<Expr> = projection.expr.into_iter().take(keep).collect();
    for name in [FILE_COLUMN, ROW_COLUMN] {
        let (qualifier, field) = below.schema().qualified_field_with_unqualified_name(name)?;
        exprs.push(Expr::Column(Column::from((qualifier, field))));
    }
    Ok(LogicalPlanBuilder::from(below).project(exprs)?.build()?)
}

/// `plan` with its first scan, left to right, reading `target` instead: the target of the
/// statement, first in its `FROM` list. Subqueries in expressions keep reading the table.
fn replace_first_scan(plan: LogicalPlan, target: &Arc<dyn TableSource>, replaced: &mut bool) -> Result<LogicalPlan> {
    if let LogicalPlan::TableScan(scan) = &plan {
        *replaced = true;
        let scan = TableScanBuilder::new(scan.table_name.clone(), Arc::clone(target)).with_filters(scan.filters.clone()).with_fetch(scan.fetch).build()?;
        return Ok(LogicalPlan::TableScan(scan));
    }
    let mut inputs = Vec::new();
    for input in plan.inputs() {
        inputs.push(if *replaced { input.clone() } else { replace_first_scan(input.clone(), target, replaced)? });
    }
    if !*replaced {
        return Ok(plan);
    }
    // Rebuilt so every node above the scan has the target's two more columns.
    Ok(plan.with_new_exprs(plan.expressions(), inputs)?)
}

fn internal(message: String) -> ServerError {
    ServerError::DataFusion(datafusion::error::DataFusionError::Internal(message))
}
