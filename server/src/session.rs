//! One client session: a DataFusion context with its own settings, and the execution of
//! statements — shared by the simple and the extended query protocol.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, TableReference};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DdlStatement, DmlStatement, LogicalPlan, Statement as PlanStatement, WriteOp};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use ember_planner::config::DEFAULT_SCHEMA;
use ember_planner::statement::Command;
use futures::StreamExt;

use crate::catalog::{ObjectKind, StoredObject};
use crate::engine::Engine;
use crate::error::{Result, ServerError};
use crate::functions::Registered;
use crate::settings::{PgSetting, SessionSettings};
use crate::statement::planning;
use crate::storage::transaction::TransactionWrites;

/// A statement planned once (at Parse time for the extended protocol), executable many times.
#[derive(Debug, Clone)]
pub struct PlannedStatement {
    pub plan: LogicalPlan,
    /// Result schema when it differs from the plan's (SQL `EXECUTE name`: the prepared query's).
    result_schema: Option<datafusion::common::DFSchemaRef>,
    /// What to record in the persistent catalog once the statement succeeded.
    persist: Option<Persist>,
    /// Parameters cast to `oid` (`false`) or `oid[]` (`true`) in the SQL, by position.
    pub oid_params: std::collections::HashMap<usize, bool>,
    /// The types of `$1..$n`, found once when the statement was planned (`None`: unknown).
    pub params: Vec<Option<datafusion::arrow::datatypes::FieldRef>>,
    /// A long statement: its physical planning runs off the runtime threads too.
    off_runtime: bool,
    /// An `UPDATE`/`DELETE` of a managed table: `plan` is the query that finds its rows.
    dml: Option<Arc<crate::session_dml::ManagedDml>>,
    /// `INSERT ... RETURNING`: the planned `SELECT <RETURNING list> FROM table`.
    insert_returning: Option<Arc<LogicalPlan>>,
    /// `CREATE TABLE` with serial or identity columns: their sequences.
    serials: Vec<crate::session_sequences::SerialSequence>,
    /// `CREATE TEMPORARY TABLE` (DataFusion's planner refuses the word; Ember plans the
    /// statement without it and remembers it here).
    temporary: bool,
}

#[derive(Debug, Clone)]
enum Persist {
    Put(StoredObject),
    Remove { kind: ObjectKind, schema: String, name: String },
    RemoveSchema { schema: String },
}

impl PlannedStatement {
    /// Replace `$n` placeholders with bound values.
    pub fn bind(&self, params: &ParamValues) -> Result<PlannedStatement> {
        // `PREPARE name AS ...` keeps its placeholders; `EXECUTE` fills them.
        if matches!(self.plan, LogicalPlan::Statement(PlanStatement::Prepare(_))) {
            return Ok(self.clone());
        }
        let assigned;
        let params = if matches!(self.plan, LogicalPlan::Dml(DmlStatement { op: WriteOp::Insert(_), .. })) {
            assigned = assignment_casts(&self.plan, params)?;
            &assigned
        } else {
            params
        };
        Ok(PlannedStatement {
            plan: self.plan.clone().replace_params_with_values(params)?,
            result_schema: self.result_schema.clone(),
            persist: self.persist.clone(),
            oid_params: self.oid_params.clone(),
            params: self.params.clone(),
            off_runtime: self.off_runtime,
            dml: self.dml.clone(),
            insert_returning: match &self.insert_returning {
                Some(returning) => Some(Arc::new(LogicalPlan::clone(returning).replace_params_with_values(params)?)),
                None => None,
            },
            serials: self.serials.clone(),
            temporary: self.temporary,
        })
    }

    /// The columns executing this statement returns.
    pub fn result_schema(&self) -> &datafusion::common::DFSchema {
        self.result_schema.as_deref().unwrap_or_else(|| self.plan.schema())
    }

    /// Whether executing returns rows (a RowDescription) or just a command tag.
    pub fn returns_rows(&self) -> bool {
        if let Some(dml) = &self.dml {
            return dml.returns_rows();
        }
        if self.insert_returning.is_some() {
            return true;
        }
        !matches!(self.plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) | LogicalPlan::Statement(PlanStatement::SetVariable(_) | PlanStatement::Prepare(_) | PlanStatement::Deallocate(_)))
    }
}

/// What executing one statement produced.
pub enum Outcome {
    /// Rows, streamed batch by batch.
    Rows { stream: SendableRecordBatchStream, tag: &'static str },
    /// A command with a completion tag (`CREATE TABLE`, `INSERT 0 5`).
    Done { tag: String, rows: Option<usize>, oid: Option<u32> },
    TransactionStart,
    TransactionEnd { tag: &'static str },
    /// `COPY ... TO STDOUT`: rows to send through the copy protocol.
    CopyOut { stream: SendableRecordBatchStream, options: ember_planner::copy::CopyOptions },
    /// `COPY ... FROM STDIN`: the client sends the rows next (CopyData ... CopyDone).
    CopyIn(Box<crate::session_copy::CopyInTarget>),
    /// A session setting changed; reported to the client when the setting is GUC_REPORT.
    SettingChanged { setting: &'static PgSetting, value: String, tag: &'static str },
}

/// One client's session.
pub struct Session {
    /// Managed-table writes of the open transaction block.
    writes: Arc<TransactionWrites>,
    /// `CREATE TEMPORARY TABLE`s of this session.
    temp_tables: Arc<crate::temp_tables::TempTables>,
    engine: Arc<Engine>,
    ctx: SessionContext,
    settings: Arc<Mutex<SessionSettings>>,
    user: Arc<Mutex<String>>,
    /// Result schemas of SQL-level `PREPARE`d statements, so `EXECUTE` can be described.
    prepared: Mutex<std::collections::HashMap<String, datafusion::common::DFSchemaRef>>,
    /// Fired by a CancelRequest; a new token per statement.
    statement_token: Mutex<tokio_util::sync::CancellationToken>,
    /// Stops the running statement's Python calls (fired with the token): a new flag per
    /// statement, pinned in the configuration its plan captures, so a late cancel never
    /// reaches the next statement.
    interrupts: ember_udf_host::StatementInterrupts,
    /// Alive while the last started statement runs ([`crate::statement::Limits`]).
    running: Mutex<std::sync::Weak<()>>,
    /// Python functions in this session's context: the persistent ones as of
    /// `functions_generation`, and the session's temporary ones (which shadow them).
    functions_generation: std::sync::atomic::AtomicU64,
    persistent_functions: Mutex<Vec<(String, Registered)>>,
    temporary_functions: Mutex<std::collections::HashMap<String, Registered>>,
}

impl Session {
    /// How long and how deep this server's statements may be.
    pub fn nesting(&self) -> ember_planner::depth::Nesting {
        self.engine.options().nesting
    }

    pub fn new(engine: Arc<Engine>, user: String) -> Self {
        let temp_tables = Arc::new(crate::temp_tables::TempTables::default());
        let ctx = engine.new_context(Some(temp_tables.clone()));
        let interrupts = ember_udf_host::StatementInterrupts::default();
        ctx.state_ref().write().config_mut().options_mut().extensions.insert(interrupts.clone());
        // What `currval`/`lastval` read: this session's last `nextval` values.
        ctx.state_ref().write().config_mut().options_mut().extensions.insert(crate::sequences::SessionSequences::default());
        // The transaction block's writes, which the session's scans and sinks find here.
        let writes = Arc::new(TransactionWrites::new(engine.storage().clone()));
        ctx.state_ref().write().config_mut().set_extension(writes.clone());
        let settings = Arc::new(Mutex::new(SessionSettings::default()));
        let user = Arc::new(Mutex::new(user));
        let handle = crate::introspection::SessionHandle { settings: settings.clone(), user: user.clone() };
        engine.pg_catalog().register_functions(&ctx, Arc::new(handle));
        Self {
            writes,
            temp_tables,
            interrupts,
            running: Mutex::default(),
            engine,
            ctx,
            settings,
            user,
            prepared: Mutex::default(),
            statement_token: Mutex::default(),
            functions_generation: std::sync::atomic::AtomicU64::new(0),
            persistent_functions: Mutex::default(),
            temporary_functions: Mutex::default(),
        }
    }

    /// Start a statement: its `statement_timeout` deadline and a fresh cancellation token,
    /// which [`Session::cancel_statement`] fires. The deadline also stops Python calls in
    /// progress.
    pub fn start_statement(&self) -> crate::statement::Limits {
        let deadline = match self.settings().statement_timeout_ms() {
            0 => None,
            ms => Some(tokio::time::Instant::now() + std::time::Duration::from_millis(ms)),
        };
        let token = tokio_util::sync::CancellationToken::new();
        // Token and flag change together: a cancel sees both of one statement.
        let mut current = self.statement_token.lock().unwrap_or_else(|p| p.into_inner());
        *current = token.clone();
        self.interrupts.begin(deadline.map(|d| d.into_std()));
        drop(current);
        let (limits, running) = crate::statement::Limits::new(deadline, token);
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = running;
        limits
    }

    /// Whether a statement is running: started and not yet done with its result.
    pub fn statement_running(&self) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).strong_count() > 0
    }

    /// Cancel the running statement (CancelRequest, a lost client).
    pub fn cancel_statement(&self) {
        let current = self.statement_token.lock().unwrap_or_else(|p| p.into_inner());
        self.interrupts.current().interrupt();
        current.cancel();
    }

    pub(crate) fn writes(&self) -> &Arc<TransactionWrites> {
        &self.writes
    }

    pub(crate) fn temp_tables(&self) -> &Arc<crate::temp_tables::TempTables> {
        &self.temp_tables
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub(crate) fn functions_generation(&self) -> &std::sync::atomic::AtomicU64 {
        &self.functions_generation
    }

    pub(crate) fn persistent_functions_lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Registered)>> {
        self.persistent_functions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn temporary_functions_lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Registered>> {
        self.temporary_functions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn user(&self) -> String {
        self.user.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_user(&self, user: &str) {
        *self.user.lock().unwrap_or_else(|p| p.into_inner()) = user.to_string();
    }

    /// Push settings DataFusion also needs (after startup parameters were applied).
    pub fn sync_engine_settings(&self) -> Result<()> {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        self.mirror_settings(state.config_mut().options_mut())
    }

    /// The session's PostgreSQL settings are the one source of truth; DataFusion's options
    /// mirror those it needs: `TimeZone`, and `search_path` as the default schema. Applied
    /// to the context on `SET`/`RESET` and to every statement's snapshot, which also
    /// covers `set_config(...)` and schemas created after the path was set.
    fn mirror_settings(&self, options: &mut datafusion::config::ConfigOptions) -> Result<()> {
        let (time_zone, path, checked) = {
            let settings = self.settings();
            (settings.get("TimeZone")?, settings.get("search_path")?, settings.get("ember.checked_arithmetic")?)
        };
        options.set("datafusion.execution.time_zone", &time_zone)?;
        options.set("ember.checked_arithmetic", if checked == "on" { "true" } else { "false" })?;
        options.catalog.default_schema = self.default_schema(&options.catalog.default_catalog, &path);
        Ok(())
    }

    /// The schema unqualified names resolve to: the first schema of `search_path` that
    /// exists (PostgreSQL skips missing ones; `pg_catalog` is searched by the catalog rules),
    /// else `public`.
    fn default_schema(&self, catalog: &str, path: &str) -> String {
        let catalog = self.engine.catalogs().catalog(catalog);
        ember_planner::pg_catalog::functions::search_path_schemas(path)
            .into_iter()
            .filter(|s| s != ember_planner::pg_catalog::PG_CATALOG)
            .find(|s| catalog.as_ref().is_some_and(|c| c.schema(s).is_some()))
            .unwrap_or_else(|| DEFAULT_SCHEMA.to_string())
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn settings(&self) -> std::sync::MutexGuard<'_, SessionSettings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Execute one command of the simple query protocol (parse -> plan -> run).
    pub async fn run(&self, command: Command, in_failed_transaction: bool) -> Result<Outcome> {
        match command {
            Command::Begin => {
                self.writes.begin();
                Ok(Outcome::TransactionStart)
            }
            Command::Commit if in_failed_transaction => {
                self.writes.rollback();
                Ok(Outcome::TransactionEnd { tag: "ROLLBACK" })
            }
            Command::Commit => {
                self.writes.commit().await?;
                Ok(Outcome::TransactionEnd { tag: "COMMIT" })
            }
            Command::Rollback => {
                self.writes.rollback();
                Ok(Outcome::TransactionEnd { tag: "ROLLBACK" })
            }
            Command::Savepoint { tag, name } => {
                let known = match tag {
                    "SAVEPOINT" => {
                        self.writes.savepoint(&name);
                        true
                    }
                    "RELEASE" => self.writes.release(&name),
                    _ => self.writes.rollback_to(&name),
                };
                if !known {
                    return Err(ServerError::UndefinedSavepoint { name });
                }
                Ok(Outcome::Done { tag: tag.to_string(), rows: None, oid: None })
            }
            Command::Noop { tag } => Ok(Outcome::Done { tag: tag.to_string(), rows: None, oid: None }),
            Command::Set { name, value } => self.set(&name, &value),
            Command::Reset { name } => {
                let (setting, value) = self.settings().reset(&name)?;
                self.apply_engine_setting(setting)?;
                Ok(Outcome::SettingChanged { setting, value, tag: "RESET" })
            }
            Command::Show { name } => self.show(&name),
            Command::CreateFunction(spec) => self.create_function(*spec).await,
            Command::DropFunction(spec) => self.drop_function(spec).await,
            Command::Plan(statement) => {
                let state = self.snapshot();
                let planned = self.plan_with(&state, *statement).await?;
                self.execute_with(&state, planned).await
            }
            Command::Rename(spec) => self.rename(spec).await,
            Command::Copy(copy) => self.copy(*copy).await,
            Command::CreateSequence(spec) => self.create_sequence(spec).await,
            Command::DropSequence(spec) => self.drop_sequence(spec).await,
            Command::Vacuum { table } => self.vacuum(table).await,
        }
    }

    /// `COPY ... TO STDOUT` runs its query; `COPY ... FROM STDIN` needs a managed table.
    async fn copy(&self, copy: ember_planner::copy::CopyCommand) -> Result<Outcome> {
        match copy {
            ember_planner::copy::CopyCommand::Out(out) => {
                let state = self.snapshot();
                let planned = self.plan_with(&state, *out.query).await?;
                match self.execute_with(&state, planned).await? {
                    Outcome::Rows { stream, .. } => Ok(Outcome::CopyOut { stream, options: out.options }),
                    _ => Err(ServerError::Unsupported { feature: "COPY of a statement that returns no rows".to_string() }),
                }
            }
            ember_planner::copy::CopyCommand::In(copy) => Ok(Outcome::CopyIn(Box::new(self.copy_in_start(copy).await?))),
        }
    }

    fn set(&self, name: &str, value: &str) -> Result<Outcome> {
        let (setting, value) = self.settings().set(name, value)?;
        self.apply_engine_setting(setting)?;
        Ok(Outcome::SettingChanged { setting, value, tag: "SET" })
    }

    /// Settings that DataFusion must also know about.
    fn apply_engine_setting(&self, setting: &PgSetting) -> Result<()> {
        if matches!(setting.name, "TimeZone" | "search_path") {
            self.sync_engine_settings()?;
        }
        Ok(())
    }

    /// `SHOW name`: one row, one text column named after the setting.
    pub fn show(&self, name: &str) -> Result<Outcome> {
        let value = self.settings().get(name)?;
        let schema = Self::show_schema(name);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(datafusion::arrow::array::StringArray::from(vec![value]))],
        )
        .map_err(datafusion::error::DataFusionError::from)?;
        let stream = RecordBatchStreamAdapter::new(schema, futures::stream::iter(vec![Ok(batch)]));
        Ok(Outcome::Rows { stream: Box::pin(stream), tag: "SHOW" })
    }

    /// The schema `SHOW name` returns, for Describe.
    pub fn show_schema(name: &str) -> SchemaRef {
        let column = crate::settings::find(name).map(|s| s.name.to_lowercase()).unwrap_or_else(|| name.to_string());
        Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, false)]))
    }

    /// The session's state for one statement: its settings, functions and catalog as they
    /// are now. One copy per statement serves planning, physical planning and execution.
    pub(crate) fn snapshot(&self) -> SessionState {
        self.sync_functions();
        let mut state = self.ctx.state();
        let pinned = ember_udf_host::StatementInterrupts::pinned(self.interrupts.current());
        let options = state.config_mut().options_mut();
        options.extensions.insert(pinned);
        if let Err(e) = self.mirror_settings(options) {
            tracing::warn!("session settings not applied to the statement: {}", e.message());
        }
        // The query start time (`now()`) and the configuration functions capture.
        state.mark_start_execution();
        state
    }

    /// Plan a DataFusion statement (the extended protocol's Parse).
    pub async fn plan(&self, statement: DfStatement) -> Result<PlannedStatement> {
        self.plan_with(&self.snapshot(), statement).await
    }

    /// Plan with `state`. Postgres-compatibility rules applied here: relative `LOCATION`s
    /// become absolute; in-memory `CREATE TABLE` is refused (it would not survive a restart).
    async fn plan_with(&self, state: &SessionState, mut statement: DfStatement) -> Result<PlannedStatement> {
        if let DfStatement::CreateExternalTable(create) = &mut statement {
            for location in &mut create.locations {
                *location = absolute_location(self.engine.base_dir(), location);
            }
        }
        let temporary = take_temporary(&mut statement);
        // serial and identity columns: integers with a sequence default.
        let serials = self.serial_sequences(state, &mut statement)?;
        // An UPDATE/DELETE of a managed table is planned as the query that finds its rows.
        self.explain_managed_dml(state, &mut statement).await?;
        let dml = match self.managed_dml_query(state, &statement).await? {
            Some((query, dml)) => {
                statement = query;
                Some(Arc::new(dml))
            }
            None => None,
        };
        // `INSERT ... RETURNING`: DataFusion plans the INSERT, Ember the RETURNING list.
        let insert_returning = match &mut statement {
            DfStatement::Statement(inner) => ember_planner::dml::take_insert_returning(inner)?,
            _ => None,
        };
        ember_planner::rewrite::apply(&mut statement)?;
        let off_runtime = planning::off_runtime();
        let oid_params = ember_planner::params::oid_parameters(&statement);
        // The catalog keeps the text of what it must recreate; nothing else is printed.
        let ddl_text = is_persisted_ddl(&statement).then(|| ddl_text(&statement, &state.config().options().catalog.default_schema));
        // Parameters nothing types (`SELECT $1 || $2`) are text, as in PostgreSQL: planned
        // again with them cast when the first attempt fails.
        let retry = ember_planner::params::has_placeholders(&statement).then(|| statement.clone());
        let plan = match planning::plan(off_runtime, state.statement_to_plan(statement)).await {
            Ok(plan) => plan,
            Err(e) => {
                let Some(mut statement) = retry else { return Err(e.into()) };
                if !ember_planner::rewrite::untyped_parameters_as_text(&mut statement) {
                    return Err(e.into());
                }
                planning::plan(off_runtime, state.statement_to_plan(statement)).await.map_err(|_| e)?
            }
        };
        let plan = match &dml {
            Some(dml) => self.type_assigned_parameters(state, plan, dml).await?,
            None => plan,
        };
        let insert_returning = match insert_returning {
            Some(query) => {
                let mut query = DfStatement::Statement(Box::new(SqlStatement::Query(query)));
                ember_planner::rewrite::apply(&mut query)?;
                Some(Arc::new(planning::plan(off_runtime, state.statement_to_plan(query)).await?))
            }
            None => None,
        };
        let params = ember_planner::params::parameter_fields(&plan)?;
        let catalog = &state.config().options().catalog;
        let persist = persist_for(&plan, ddl_text, &catalog.default_catalog, &catalog.default_schema)?;
        let result_schema = match &plan {
            _ if dml.is_some() => dml.as_ref().map(|d| d.result_schema(&plan).map(Arc::new)).transpose()?,
            _ if insert_returning.is_some() => insert_returning.as_ref().map(|r| Arc::clone(r.schema())),
            LogicalPlan::Statement(PlanStatement::Execute(execute)) => {
                self.prepared.lock().unwrap_or_else(|p| p.into_inner()).get(&execute.name).cloned()
            }
            _ => planning::blocking(off_runtime, || analyzed_schema(state, &plan))?,
        };
        Ok(PlannedStatement { plan, result_schema, persist, oid_params, params, off_runtime, dml, insert_returning, serials, temporary })
    }

    /// Run a planned (and bound) statement (the extended protocol's Execute).
    pub async fn execute(&self, planned: PlannedStatement) -> Result<Outcome> {
        self.execute_with(&self.snapshot(), planned).await
    }

    /// Run a planned statement with `state`. Queries, DML, `COPY ... TO` and `EXPLAIN` are
    /// planned physically and run with `state`; what changes the session or the catalog
    /// (DDL, `SET`, `PREPARE`/`EXECUTE`/`DEALLOCATE`) goes through the context.
    async fn execute_with(&self, state: &SessionState, planned: PlannedStatement) -> Result<Outcome> {
        let PlannedStatement { plan, persist, off_runtime, dml, insert_returning, serials, temporary, .. } = planned;
        if let Some(dml) = dml {
            return self.run_managed_dml(state, plan, &dml).await;
        }
        if let Some(returning) = insert_returning {
            return self.run_insert_returning(state, plan, &returning).await;
        }
        if let LogicalPlan::Statement(PlanStatement::Prepare(prepare)) = &plan {
            self.prepared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(prepare.name.clone(), prepare.input.schema().clone());
        }
        if let LogicalPlan::Statement(PlanStatement::Deallocate(deallocate)) = &plan
            && deallocate.name.eq_ignore_ascii_case("all")
        {
            // `DEALLOCATE ALL` (psycopg 3 sends it at ROLLBACK): every SQL-level prepared statement goes.
            let names: Vec<String> = self.prepared.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(name, _)| name).collect();
            for name in names {
                let one = LogicalPlan::Statement(PlanStatement::Deallocate(datafusion::logical_expr::Deallocate { name }));
                self.ctx.execute_logical_plan(one).await?;
            }
            return Ok(Outcome::Done { tag: "DEALLOCATE ALL".to_string(), rows: None, oid: None });
        }
        if let LogicalPlan::Dml(dml @ DmlStatement { op: WriteOp::Truncate, .. }) = &plan
            && let Some(done) = self.truncate_managed_table(dml).await?
        {
            return Ok(done);
        }
        let done_tag = completion_tag(&plan);
        let is_insert = matches!(&plan, LogicalPlan::Dml(DmlStatement { op: WriteOp::Insert(_), .. }));
        let is_copy = matches!(&plan, LogicalPlan::Copy(_));
        let returns_rows = done_tag.is_none();
        let stream = match &plan {
            LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) => {
                let mut plan = plan;
                if let LogicalPlan::Ddl(ddl) = &mut plan {
                    // The context runs it where this statement's search_path points.
                    crate::session_ddl::qualify(state, ddl);
                    self.check_ddl(state, ddl).await?;
                    match ddl {
                        DdlStatement::CreateMemoryTable(create) => {
                            let mut create = create.clone();
                            create.temporary |= temporary;
                            return self.create_managed_table(state, &create, &serials).await;
                        }
                        DdlStatement::DropTable(drop) => {
                            if let Some(done) = self.drop_managed_table(state, drop).await? {
                                return Ok(done);
                            }
                        }
                        _ => {}
                    }
                }
                self.ctx.execute_logical_plan(plan).await?.execute_stream().await?
            }
            _ => {
                let tag = match &plan {
                    LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => "EXPLAIN",
                    _ => "SELECT",
                };
                let off_runtime = off_runtime || planning::off_runtime();
                let physical = planning::plan(off_runtime, state.create_physical_plan(&plan)).await?;
                let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
                if returns_rows {
                    return Ok(Outcome::Rows { stream, tag });
                }
                stream
            }
        };
        if returns_rows {
            // `EXECUTE name` of a prepared query.
            return Ok(Outcome::Rows { stream, tag: "SELECT" });
        }
        // DDL ran in execute_logical_plan; DML and COPY answer with one `count` row.
        let (_, batches) = collect_stream(stream).await?;
        let rows = (is_insert || is_copy).then(|| count_rows(&batches));
        if let Some(persist) = persist {
            self.persist(persist).await?;
        }
        let tag = done_tag.unwrap_or("SELECT").to_string();
        Ok(Outcome::Done { tag, rows, oid: if is_insert { Some(0) } else { None } })
    }

    /// Re-run a stored DDL statement at startup without recording it again.
    pub async fn restore_statement(&self, statement: DfStatement) -> Result<()> {
        let mut planned = self.plan(statement).await?;
        planned.persist = None;
        self.execute(planned).await.map(|_| ())
    }

    async fn persist(&self, persist: Persist) -> Result<()> {
        let store = self.engine.store().clone();
        tokio::task::spawn_blocking(move || match persist {
            Persist::Put(object) => store.put(&object),
            Persist::Remove { kind, schema, name } => store.remove(kind, &schema, &name).map(|_| ()),
            Persist::RemoveSchema { schema } => store.remove_schema(&schema),
        })
        .await
        .map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))?
    }
}

/// `CREATE TEMP[ORARY] TABLE`: drop the word (DataFusion's planner refuses it) and say
/// whether it was there.
fn take_temporary(statement: &mut DfStatement) -> bool {
    match statement {
        DfStatement::Statement(inner) => match inner.as_mut() {
            SqlStatement::CreateTable(create) if create.temporary => {
                create.temporary = false;
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// The parameters of an `INSERT`, each cast to the type of the column it goes to (the type
/// the plan gave its placeholder), as PostgreSQL's assignment casts do: a client that sends
/// a small integer as `int2` for an `integer` column writes an `integer`, and a value the
/// column's type cannot hold is an error.
fn assignment_casts(plan: &LogicalPlan, params: &ParamValues) -> Result<ParamValues> {
    let ParamValues::List(list) = params else {
        return Ok(params.clone());
    };
    let fields = plan.get_parameter_fields()?;
    let mut cast = list.clone();
    for (i, slot) in cast.iter_mut().enumerate() {
        let Some(Some(field)) = fields.get(&format!("${}", i + 1)) else { continue };
        if !slot.value.is_null() && slot.value.data_type() != *field.data_type() {
            slot.value = slot.value.cast_to(field.data_type())?;
        }
    }
    Ok(ParamValues::List(cast))
}

/// `None` for statements that return rows; the command tag for the rest.
fn completion_tag(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::Ddl(ddl) => Some(match ddl {
            DdlStatement::CreateExternalTable(_) | DdlStatement::CreateMemoryTable(_) => "CREATE TABLE",
            DdlStatement::CreateView(_) => "CREATE VIEW",
            DdlStatement::CreateCatalogSchema(_) => "CREATE SCHEMA",
            DdlStatement::CreateCatalog(_) => "CREATE DATABASE",
            DdlStatement::CreateIndex(_) => "CREATE INDEX",
            DdlStatement::DropTable(_) => "DROP TABLE",
            DdlStatement::DropView(_) => "DROP VIEW",
            DdlStatement::DropCatalogSchema(_) => "DROP SCHEMA",
            DdlStatement::CreateFunction(_) => "CREATE FUNCTION",
            DdlStatement::DropFunction(_) => "DROP FUNCTION",
        }),
        LogicalPlan::Dml(dml) => Some(match dml.op {
            WriteOp::Insert(_) => "INSERT",
            WriteOp::Delete => "DELETE",
            WriteOp::Update => "UPDATE",
            WriteOp::Ctas => "SELECT",
            WriteOp::Truncate => "TRUNCATE TABLE",
            _ => "UPDATE",
        }),
        LogicalPlan::Copy(_) => Some("COPY"),
        LogicalPlan::Statement(PlanStatement::SetVariable(_)) => Some("SET"),
        LogicalPlan::Statement(PlanStatement::ResetVariable(_)) => Some("RESET"),
        LogicalPlan::Statement(PlanStatement::Prepare(_)) => Some("PREPARE"),
        LogicalPlan::Statement(PlanStatement::Deallocate(_)) => Some("DEALLOCATE"),
        _ => None,
    }
}

/// What the persistent catalog must learn from a DDL plan; refuses DDL Ember cannot keep.
/// Unqualified names are in `catalog`.`schema` (the statement's `search_path`).
fn persist_for(plan: &LogicalPlan, ddl: Option<String>, catalog: &str, schema: &str) -> Result<Option<Persist>> {
    let LogicalPlan::Ddl(ddl_plan) = plan else {
        return Ok(None);
    };
    // A bug if it happens: is_persisted_ddl and this function disagree.
    let ddl = move || ddl.ok_or_else(|| ServerError::DataFusion(datafusion::error::DataFusionError::Internal("DDL to record without its text".to_string())));
    let resolve = |name: &TableReference| {
        let resolved = name.clone().resolve(catalog, schema);
        (resolved.schema.to_string(), resolved.table.to_string())
    };
    Ok(match ddl_plan {
        DdlStatement::CreateExternalTable(create) => {
            if create.temporary {
                None
            } else {
                let (schema, name) = resolve(&create.name);
                Some(Persist::Put(StoredObject { kind: ObjectKind::Table, schema, name, ddl: ddl()? }))
            }
        }
        DdlStatement::CreateView(view) => {
            if view.temporary {
                None
            } else {
                let (schema, name) = resolve(&view.name);
                Some(Persist::Put(StoredObject { kind: ObjectKind::View, schema, name, ddl: ddl()? }))
            }
        }
        DdlStatement::CreateCatalogSchema(create) => {
            let schema = create.schema_name.rsplit('.').next().unwrap_or(&create.schema_name).to_string();
            Some(Persist::Put(StoredObject { kind: ObjectKind::Schema, schema: schema.clone(), name: schema, ddl: ddl()? }))
        }
        DdlStatement::DropTable(drop) => {
            let (schema, name) = resolve(&drop.name);
            Some(Persist::Remove { kind: ObjectKind::Table, schema, name })
        }
        DdlStatement::DropView(drop) => {
            let (schema, name) = resolve(&drop.name);
            Some(Persist::Remove { kind: ObjectKind::View, schema, name })
        }
        DdlStatement::DropCatalogSchema(drop) => Some(Persist::RemoveSchema { schema: drop.name.schema_name().to_string() }),
        // Managed tables are recorded by the storage layer as they are created.
        DdlStatement::CreateMemoryTable(_) => None,
        DdlStatement::CreateCatalog(_) => {
            return Err(ServerError::Unsupported { feature: "CREATE DATABASE".to_string() });
        }
        DdlStatement::CreateIndex(_) => {
            return Err(ServerError::Unsupported { feature: "CREATE INDEX".to_string() });
        }
        DdlStatement::CreateFunction(_) | DdlStatement::DropFunction(_) => {
            return Err(ServerError::Unsupported { feature: "CREATE/DROP FUNCTION".to_string() });
        }
    })
}

/// The text the catalog records for `statement`: an unqualified relation name created
/// under another `search_path` than public is qualified with its schema, so the relation
/// comes back there.
fn ddl_text(statement: &DfStatement, default_schema: &str) -> String {
    use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
    let qualify = |name: &mut ObjectName| {
        if name.0.len() == 1 && default_schema != DEFAULT_SCHEMA {
            name.0.insert(0, ObjectNamePart::Identifier(Ident::with_quote('"', default_schema)));
        }
    };
    match statement {
        DfStatement::CreateExternalTable(create) if create.name.0.len() == 1 && default_schema != DEFAULT_SCHEMA => {
            let mut create = create.clone();
            qualify(&mut create.name);
            DfStatement::CreateExternalTable(create).to_string()
        }
        DfStatement::Statement(inner) if matches!(inner.as_ref(), SqlStatement::CreateView(v) if v.name.0.len() == 1) && default_schema != DEFAULT_SCHEMA => {
            let mut inner = inner.clone();
            if let SqlStatement::CreateView(view) = inner.as_mut() {
                qualify(&mut view.name);
            }
            DfStatement::Statement(inner).to_string()
        }
        other => other.to_string(),
    }
}

/// Whether the catalog records `statement`'s text (see [`persist_for`]).
fn is_persisted_ddl(statement: &DfStatement) -> bool {
    match statement {
        DfStatement::CreateExternalTable(_) => true,
        DfStatement::Statement(inner) => matches!(inner.as_ref(), SqlStatement::CreateView(_) | SqlStatement::CreateSchema { .. }),
        _ => false,
    }
}

/// Local relative paths are made absolute; URLs (`s3://`, `file://`) are left alone.
fn absolute_location(base: &std::path::Path, location: &str) -> String {
    if location.contains("://") || std::path::Path::new(location).is_absolute() {
        return location.to_string();
    }
    let mut absolute = base.join(location).to_string_lossy().into_owned();
    if location.ends_with('/') && !absolute.ends_with('/') {
        absolute.push('/');
    }
    absolute
}

/// DataFusion's DML plans answer with one `count` row.
pub(crate) fn count_rows(batches: &[RecordBatch]) -> usize {
    batches
        .iter()
        .filter_map(|b| b.columns().first().and_then(|c| c.as_any().downcast_ref::<UInt64Array>().map(|a| (0..a.len()).map(|i| a.value(i)).sum::<u64>())))
        .sum::<u64>() as usize
}

/// Collect a stream fully (used between statements of a multi-statement query, so a
/// later statement never runs before an earlier one finished).
pub async fn collect_stream(stream: SendableRecordBatchStream) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema = stream.schema();
    let batches: Vec<RecordBatch> = stream.collect::<Vec<_>>().await.into_iter().collect::<Result<_, _>>()?;
    Ok((schema, batches))
}


/// The columns of a query whose analysis changes result types, as the analyzer makes them
/// (see `ember_planner::analyze::analysis_changes_types`), so Describe reports the types
/// Execute sends.
/// Errors other than an interruption are left for execution to report.
fn analyzed_schema(state: &SessionState, plan: &LogicalPlan) -> Result<Option<datafusion::common::DFSchemaRef>> {
    if matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) | LogicalPlan::Explain(_))
        || !ember_planner::analyze::analysis_changes_types(plan)
    {
        return Ok(None);
    }
    match state.analyzer().execute_and_check(plan.clone(), state.config_options(), |_, _| {}) {
        Ok(analyzed) => Ok((analyzed.schema() != plan.schema()).then(|| analyzed.schema().clone())),
        Err(e) => {
            let e = ServerError::from(e);
            if planning::is_interruption(&e) { Err(e) } else { Ok(None) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_locations_become_absolute() {
        let base = std::path::Path::new("/srv/ember");
        assert_eq!(absolute_location(base, "data/t.parquet"), "/srv/ember/data/t.parquet");
        assert_eq!(absolute_location(base, "data/dir/"), "/srv/ember/data/dir/");
        assert_eq!(absolute_location(base, "/abs/t.csv"), "/abs/t.csv");
        assert_eq!(absolute_location(base, "s3://bucket/t/"), "s3://bucket/t/");
    }
}
