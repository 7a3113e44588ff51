//! CancelRequest → the session's cancellation token: the one cancellation chain.
//!
//! pgwire's own `ConnectionManager` only interrupts a query while `do_query` runs; rows
//! are produced (and most work done) later, while the result streams. So Ember fires the
//! session's statement token instead, which both `do_query` (`QueryHandler::timed`) and
//! the result stream (`encode::data_rows`) watch: work stops, DataFusion's tasks are
//! dropped, and the client gets 57014.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;

use crate::session::Session;

/// (pid, secret key bytes): what a CancelRequest must present.
type Key = (i32, Vec<u8>);

/// Live sessions by backend key.
#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<Key, Weak<Session>>>,
}

impl SessionRegistry {
    fn key(pid: i32, secret: &SecretKey) -> Key {
        (pid, secret.to_bytes().to_vec())
    }

    pub fn register(&self, pid: i32, secret: &SecretKey, session: &Arc<Session>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.strong_count() > 0);
        sessions.insert(Self::key(pid, secret), Arc::downgrade(session));
    }

    fn find(&self, pid: i32, secret: &SecretKey) -> Option<Arc<Session>> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(&Self::key(pid, secret)).and_then(Weak::upgrade)
    }
}

/// Cancels the statement running in the session a CancelRequest names.
pub struct Canceller {
    registry: Arc<SessionRegistry>,
}

impl Canceller {
    pub fn new(registry: Arc<SessionRegistry>) -> Self {
        Self { registry }
    }
}

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        if let Some(session) = self.registry.find(request.pid, &request.secret_key) {
            tracing::info!(pid = request.pid, "cancel request");
            session.cancel_statement();
        }
    }
}
