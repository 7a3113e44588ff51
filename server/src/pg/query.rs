//! Simple and extended query protocol handlers.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ParamValues;
use ember_planner::statement::parse;
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DescribePortalResponse, DescribeStatementResponse, FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::ParameterStatus;

use super::encode::{TextOptions, field_infos};
use super::respond::response;
use crate::error::ServerError;
use crate::session::{Outcome, PlannedStatement, Session};
use crate::statement::{self, Prepared, Transaction};

pub struct QueryHandler {
    pub(super) session: Arc<Session>,
    parser: Arc<Parser>,
    /// The `COPY ... FROM STDIN` whose data is arriving, and the error that ended one.
    pub(super) copy_in: std::sync::Mutex<Option<Box<crate::session_copy::CopyInTarget>>>,
    pub(super) copy_error: std::sync::Mutex<Option<ServerError>>,
}

impl QueryHandler {
    pub fn new(session: Arc<Session>) -> Self {
        Self { parser: Arc::new(Parser { session: session.clone() }), session, copy_in: Default::default(), copy_error: Default::default() }
    }

    fn text_options(&self) -> TextOptions {
        let settings = self.session.settings();
        TextOptions {
            time_zone: settings.get("TimeZone").unwrap_or_else(|_| "UTC".to_string()),
            extra_float_digits: settings.get("extra_float_digits").ok().and_then(|v| v.parse().ok()).unwrap_or(1),
        }
    }

    /// Report a changed GUC_REPORT setting to the client.
    async fn report<C>(client: &mut C, change: Option<(String, String)>) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some((name, value)) = change {
            client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
        }
        Ok(())
    }
}

/// The ParameterStatus a changed GUC_REPORT setting sends.
fn reported_change(outcome: &Outcome) -> Option<(String, String)> {
    match outcome {
        Outcome::SettingChanged { setting, value, .. } if setting.report => Some((setting.name.to_string(), value.clone())),
        _ => None,
    }
}

/// The session's transaction state as pgwire keeps it for ReadyForQuery.
fn transaction_of(status: TransactionStatus) -> Transaction {
    match status {
        TransactionStatus::Idle => Transaction::Idle,
        TransactionStatus::Transaction => Transaction::InBlock,
        TransactionStatus::Error => Transaction::Failed,
    }
}

fn error_response(e: ServerError) -> Response {
    Response::Error(Box::new(e.error_info()))
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let nesting = self.session.nesting();
        let off_runtime = query.len() >= statement::planning::OFF_RUNTIME_TEXT;
        let commands = match statement::planning::blocking(off_runtime, || std::panic::catch_unwind(|| parse(query, nesting))) {
            Ok(Ok(commands)) => commands,
            Ok(Err(e)) => return Ok(vec![error_response(e.into())]),
            Err(panic) => return Ok(vec![error_response(ServerError::from_panic(&*panic))]),
        };
        let mut transaction = transaction_of(client.transaction_status());
        let count = commands.len();
        let mut responses = Vec::with_capacity(count);
        for (index, command) in commands.into_iter().enumerate() {
            let failed = transaction == Transaction::Failed;
            if let Err(e) = statement::admit(Some(&command), failed) {
                responses.push(error_response(e));
                break;
            }
            let limits = self.session.start_statement().for_text(query.len());
            let last = index + 1 == count;
            let result = limits.run(self.session.run(command, failed)).await;
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(e) => {
                    responses.push(error_response(e));
                    break;
                }
            };
            Self::report(client, reported_change(&outcome)).await?;
            if let Outcome::CopyIn(target) = outcome {
                // The client sends the rows next; statements after the COPY are not run.
                responses.push(super::copy_in::start(self, target));
                break;
            }
            transaction = transaction.after(&outcome);
            match limits.run(response(outcome, &Format::UnifiedText, !last, limits.clone(), self.text_options())).await {
                Ok(r) => responses.push(r),
                Err(e) => {
                    responses.push(error_response(e));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if super::execute::execute_streaming(self, client, &message).await? {
            return Ok(());
        }
        self._on_execute(client, message).await
    }

    async fn do_describe_statement<C>(&self, _client: &mut C, target: &StoredStatement<Prepared>) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let inferred = self.parser.get_parameter_types(&target.statement)?;
        let count = inferred.len().max(target.parameter_types.len());
        let params = (0..count)
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .or_else(|| inferred.get(i).cloned())
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let fields = self.parser.get_result_schema(&target.statement, None)?;
        Ok(DescribeStatementResponse::new(params, fields))
    }

    async fn do_describe_portal<C>(&self, _client: &mut C, target: &Portal<Prepared>) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = self.parser.get_result_schema(&target.statement.statement, Some(&target.result_column_format))?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let failed = transaction_of(client.transaction_status()) == Transaction::Failed;
        let limits = self.session.start_statement();
        let prepared = &portal.statement.statement;
        let params = match prepared {
            Prepared::Plan(planned) => decode_parameters(portal, planned)?,
            Prepared::Command(_) => ParamValues::List(vec![]),
        };
        let outcome = limits.run(self.session.execute_prepared(prepared, &params, failed)).await?;
        Self::report(client, reported_change(&outcome)).await?;
        if let Outcome::CopyIn(target) = outcome {
            return Ok(super::copy_in::start(self, target));
        }
        Ok(limits.run(response(outcome, &portal.result_column_format, false, limits.clone(), self.text_options())).await?)
    }
}

/// The values of a portal's parameters. A type the client declared at Parse decides how a
/// value is decoded (the plan then coerces it); undeclared parameters use the type Ember
/// described: a tagged one (`$1::uuid`) as that PostgreSQL type, others as inferred.
fn decode_parameters(portal: &Portal<Prepared>, planned: &PlannedStatement) -> PgWireResult<ParamValues> {
    let fields = &planned.params;
    let declared = &portal.statement.parameter_types;
    let count = fields.len().max(declared.len());
    let mut effective = Vec::with_capacity(count);
    let mut refs: Vec<Option<&DataType>> = Vec::with_capacity(count);
    for i in 0..count {
        let field = fields.get(i).and_then(Option::as_ref);
        // `$1::oid[]` (described as oid[]) decodes as the int4[] it is planned as.
        let oid = planned.oid_params.get(&(i + 1)).map(|array| if *array { Type::INT4_ARRAY } else { Type::INT4 });
        match declared.get(i) {
            Some(Some(ty)) if *ty != Type::UNKNOWN => {
                let ty = match (ty, &oid) {
                    (t, Some(int4)) if *t == Type::OID_ARRAY || *t == Type::OID => int4.clone(),
                    (t, _) => t.clone(),
                };
                effective.push(Some(ty));
                refs.push(None);
            }
            _ => match oid.or_else(|| field.and_then(|f| super::encode::tagged_pg_type(f))) {
                Some(tagged) => {
                    effective.push(Some(tagged));
                    refs.push(None);
                }
                None => {
                    effective.push(declared.get(i).cloned().flatten());
                    refs.push(field.map(|f| f.data_type()));
                }
            },
        }
    }
    super::params::decode(portal, &effective, &refs)
}

/// The type a parameter is described as: its tagged PostgreSQL type, the inferred type's
/// PostgreSQL equivalent, or `text` when nothing is known.
fn described_type(field: Option<&FieldRef>) -> Type {
    field
        .and_then(|f| super::encode::tagged_pg_type(f).or_else(|| arrow_pg::datatypes::into_pg_type(f.data_type()).ok()))
        .unwrap_or(Type::TEXT)
}

/// Parses and plans statements for the extended protocol (once, at Parse).
pub struct Parser {
    session: Arc<Session>,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        // Parsing and planning are part of the statement: statement_timeout and a cancel
        // apply (a Python table function runs while its statement is planned).
        let limits = self.session.start_statement().for_text(sql.len());
        Ok(limits.run(self.session.prepare(sql)).await?)
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        match stmt {
            Prepared::Plan(planned) => Ok(planned
                .params
                .iter()
                .enumerate()
                .map(|(i, field)| match planned.oid_params.get(&(i + 1)) {
                    Some(true) => Type::OID_ARRAY,
                    Some(false) => Type::OID,
                    None => described_type(field.as_ref()),
                })
                .collect()),
            Prepared::Command(_) => Ok(vec![]),
        }
    }

    fn get_result_schema(&self, stmt: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.cloned().unwrap_or_default();
        match stmt.result_schema() {
            Some(schema) => Ok(field_infos(&schema, &format)?),
            None => Ok(vec![]),
        }
    }
}
