//! The copy-in sub-protocol (CopyInResponse, then the client's CopyData ... CopyDone or
//! CopyFail) for `COPY ... FROM STDIN`, over the session's [`crate::session_copy`].

use std::fmt::Debug;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::{CopyResponse, Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use super::query::QueryHandler;
use crate::error::ServerError;
use crate::session_copy::CopyInTarget;

/// Keep `target` for the data to come and answer with CopyInResponse (text format).
pub(super) fn start(handler: &QueryHandler, target: Box<CopyInTarget>) -> Response {
    let columns = target.columns();
    *handler.copy_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    *handler.copy_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(target);
    Response::CopyIn(CopyResponse::new(0, columns, futures::stream::empty()))
}

fn user_error(e: ServerError) -> PgWireError {
    PgWireError::UserError(Box::new(e.error_info()))
}

impl QueryHandler {
    fn take_target(&self) -> Option<Box<CopyInTarget>> {
        self.copy_in.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[async_trait]
impl CopyHandler for QueryHandler {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // After an error the rest of the data is read and dropped; CopyDone reports it.
        let Some(mut target) = self.take_target() else { return Ok(()) };
        match self.session.copy_in_data(&mut target, &copy_data.data).await {
            Ok(()) => *self.copy_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(target),
            // Dropping the target rolls the COPY back.
            Err(e) => *self.copy_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e),
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(e) = self.copy_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(user_error(e));
        }
        let Some(target) = self.take_target() else {
            return Err(user_error(ServerError::Protocol { message: "CopyDone without a COPY FROM STDIN".to_string() }));
        };
        let rows = self.session.copy_in_done(*target).await.map_err(user_error)?;
        let tag = Tag::new("COPY").with_rows(rows);
        client.send(PgWireBackendMessage::CommandComplete(tag.into())).await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        drop(self.take_target());
        self.copy_error.lock().unwrap_or_else(|p| p.into_inner()).take();
        PgWireError::UserError(Box::new(pgwire::error::ErrorInfo::new(
            "ERROR".to_string(),
            "57014".to_string(),
            format!("COPY from stdin failed: {}", fail.message),
        )))
    }
}
