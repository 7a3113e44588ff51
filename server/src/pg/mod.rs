//! The PostgreSQL wire-protocol front end (pgwire handlers over [`crate::session`]).

mod admission;
mod cancel;
mod copy;
mod copy_in;
mod encode;
mod execute;
mod params;
mod query;
mod render;
mod respond;
pub mod security;
mod startup;

use std::sync::Arc;

use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::PgWireServerHandlers;
use pgwire::tokio::process_socket;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::session::Session;

pub use query::QueryHandler;
pub use security::Security;
pub use startup::Startup;

/// The handlers of one connection; each connection has its own [`Session`].
struct ConnectionHandlers {
    query: Arc<QueryHandler>,
    startup: Arc<Startup>,
    cancel: Arc<cancel::Canceller>,
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.query.clone()
    }
}

/// Serve pgwire on an already-bound listener until `shutdown` fires, with `security`'s
/// authentication and TLS.
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, security: Arc<Security>, shutdown: CancellationToken) {
    let tls = security.tls_acceptor();
    let registry = Arc::new(cancel::SessionRegistry::default());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!("set_nodelay: {e}");
        }
        let slot = security.admission().occupy();
        let session = Arc::new(Session::new(engine.clone(), String::new()));
        // Cancel the running statement if the client goes away mid-statement.
        let ended = CancellationToken::new();
        match crate::statement::SocketProbe::new(&socket) {
            Ok(probe) => {
                tokio::spawn(crate::statement::watch_client(Arc::downgrade(&session), probe, ended.clone()));
            }
            Err(e) => tracing::warn!(%peer, "cannot watch the connection for a lost client: {e}"),
        }
        let handlers = ConnectionHandlers {
            query: Arc::new(QueryHandler::new(session.clone())),
            startup: Arc::new(Startup::new(session, registry.clone(), security.clone(), slot.clone())),
            cancel: Arc::new(cancel::Canceller::new(registry.clone())),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            // Ends the lost-client watch however the connection ends.
            let _ended = ended.drop_guard();
            let _slot = slot;
            tracing::debug!(%peer, "connection opened");
            if let Err(e) = process_socket(socket, tls, handlers).await {
                tracing::debug!(%peer, "connection ended with error: {e}");
            }
            tracing::debug!(%peer, "connection closed");
        });
    }
}
