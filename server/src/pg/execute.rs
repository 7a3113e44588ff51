//! Streaming `Execute` for the extended protocol.
//!
//! pgwire 0.41's default `on_execute` collects every row of a portal into memory before
//! sending when the client asks for all rows (`max_rows = 0`, what most drivers send).
//! For that case Ember streams DataRows straight from the result stream instead; an
//! Execute with a row limit keeps pgwire's PortalSuspended handling, which buffers at
//! most `max_rows` rows.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Portal, PortalExecutionState};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::response::EmptyQueryResponse;


/// Execute a portal, streaming all rows. Returns `Ok(false)` when this path does not
/// apply (row limit, portal already started) and pgwire's default should run.
pub async fn execute_streaming<H, C>(handler: &H, client: &mut C, message: &Execute) -> PgWireResult<bool>
where
    H: ExtendedQueryHandler,
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = H::Statement>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if message.max_rows != 0 || !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
        return Ok(false);
    }
    let portal_name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
    let portal: Arc<Portal<H::Statement>> = match client.portal_store().get_portal(portal_name) {
        Some(Entry::Value(portal)) => portal,
        _ => return Ok(false),
    };
    if !matches!(*portal.state().lock().await, PortalExecutionState::Initial) {
        return Ok(false);
    }
    let mut status = client.transaction_status();
    client.set_state(PgWireConnectionState::QueryInProgress);

    // Cancellation and statement_timeout are watched inside do_query and the row stream.
    let response = handler.do_query(client, portal.as_ref(), 0).await?;
    *portal.state().lock().await = PortalExecutionState::Finished;

    match response {
        Response::Query(mut results) => {
            let command = results.command_tag().to_owned();
            let mut rows = 0usize;
            let data_rows = results.data_rows();
            while let Some(row) = data_rows.next().await {
                client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                rows += 1;
            }
            client.send(PgWireBackendMessage::CommandComplete(Tag::new(&command).with_rows(rows).into())).await?;
        }
        Response::Execution(tag) => client.send(PgWireBackendMessage::CommandComplete(tag.into())).await?,
        Response::TransactionStart(tag) => {
            client.send(PgWireBackendMessage::CommandComplete(tag.into())).await?;
            status = status.to_in_transaction_state();
        }
        Response::TransactionEnd(tag) => {
            client.send(PgWireBackendMessage::CommandComplete(tag.into())).await?;
            status = status.to_idle_state();
            client.portal_store().rm_portal(DEFAULT_NAME);
        }
        Response::EmptyQuery => client.send(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?,
        Response::Error(err) => {
            client.send(PgWireBackendMessage::ErrorResponse((*err).into())).await?;
            status = status.to_error_state();
        }
        Response::CopyOut(copy) => pgwire::api::copy::send_copy_out_response(client, copy).await?,
        Response::CopyIn(copy) => {
            // The rows come next as CopyData; pgwire hands them to the copy handler.
            pgwire::api::copy::send_copy_in_response(client, copy).await?;
            client.set_state(PgWireConnectionState::CopyInProgress(true));
            client.set_transaction_status(status);
            return Ok(true);
        }
        Response::CopyBoth(_) => {
            return Err(crate::error::ServerError::Unsupported { feature: "COPY through the extended protocol".into() }.into());
        }
    }
    client.set_state(PgWireConnectionState::ReadyForQuery);
    client.set_transaction_status(status);
    Ok(true)
}
