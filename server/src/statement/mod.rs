//! The statement service: the one place where a statement starts, runs under its limits
//! (`statement_timeout`, a CancelRequest, its client going away) and ends. It knows no
//! protocol: the pgwire adapter (`crate::pg`) starts each statement here and runs its
//! work and its result stream through the statement's [`Limits`]; an Arrow Flight SQL
//! endpoint does the same with its own request handlers.
//!
//! The cancellation chain: a CancelRequest, the statement timeout and a lost client all
//! end in the statement's token ([`crate::session::Session::cancel_statement`]), which
//! stops the DataFusion stream (dropped) and the Python calls in flight
//! ([`ember_udf_host::Interrupt`]).

mod client;
pub mod planning;
mod prepared;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};

use datafusion::arrow::record_batch::RecordBatch;
use ember_planner::statement::Command;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use client::{ClientProbe, SocketProbe, watch_client};
pub use prepared::Prepared;

use crate::error::{Result, ServerError};
use crate::session::Outcome;

/// When a statement must stop: its timeout deadline and its cancellation token. The
/// statement runs while any clone of its limits lives (its result stream holds one).
#[derive(Debug, Clone)]
pub struct Limits {
    pub deadline: Option<Instant>,
    pub cancel: CancellationToken,
    running: Arc<()>,
    /// Plan this statement off the runtime threads ([`planning`]).
    off_runtime: bool,
}

impl Limits {
    /// New limits, and a handle that tells whether the statement still runs.
    pub fn new(deadline: Option<Instant>, cancel: CancellationToken) -> (Limits, Weak<()>) {
        let running = Arc::new(());
        let handle = Arc::downgrade(&running);
        (Limits { deadline, cancel, running, off_runtime: false }, handle)
    }

    /// These limits for a statement of `text_len` bytes: a long one is planned off the
    /// runtime threads ([`planning::OFF_RUNTIME_TEXT`]).
    pub fn for_text(mut self, text_len: usize) -> Limits {
        self.off_runtime = text_len >= planning::OFF_RUNTIME_TEXT;
        self
    }

    /// The same cancellation without the deadline (rows already computed and buffered).
    pub fn without_deadline(&self) -> Limits {
        Limits { deadline: None, cancel: self.cancel.clone(), running: self.running.clone(), off_runtime: self.off_runtime }
    }

    /// Run `work` until it ends, the deadline passes (57014) or the statement is cancelled
    /// (57014); either way `work` is dropped, which stops what it started. A panic under
    /// `work` fails the statement (XX000) and leaves the session usable.
    /// Planning stopped by the deadline or a cancel (it looks at them between rules,
    /// [`planning`]) fails the same way.
    pub async fn run<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let work = planning::scope(self.off_runtime, work);
        tokio::select! {
            result = AssertUnwindSafe(work).catch_unwind() => match result {
                Ok(Err(e)) if planning::is_interruption(&e) => Err(self.interruption()),
                Ok(result) => result,
                Err(panic) => Err(ServerError::from_panic(&*panic)),
            },
            _ = deadline(self.deadline) => Err(ServerError::StatementTimeout),
            _ = self.cancel.cancelled() => Err(ServerError::Canceled),
        }
    }

    /// Why the statement was interrupted: its deadline passed, else it was cancelled.
    fn interruption(&self) -> ServerError {
        match self.deadline {
            Some(at) if Instant::now() >= at => ServerError::StatementTimeout,
            _ => ServerError::Canceled,
        }
    }

    /// A result stream that ends with 57014 once the deadline passes or the statement is
    /// cancelled; dropping the inner stream stops DataFusion's tasks.
    pub fn stream(
        &self,
        batches: BoxStream<'static, datafusion::error::Result<RecordBatch>>,
    ) -> impl Stream<Item = Result<RecordBatch>> + Send + 'static + use<> {
        let limits = self.clone();
        stream::unfold(Some(batches), move |state| {
            let limits = limits.clone();
            async move {
                let mut batches = state?;
                let next = tokio::select! {
                    next = AssertUnwindSafe(batches.next()).catch_unwind() => match next {
                        Ok(next) => next,
                        Err(panic) => return Some((Err(ServerError::from_panic(&*panic)), None)),
                    },
                    _ = deadline(limits.deadline) => return Some((Err(ServerError::StatementTimeout), None)),
                    _ = limits.cancel.cancelled() => return Some((Err(ServerError::Canceled), None)),
                };
                match next? {
                    Ok(batch) => Some((Ok(batch), Some(batches))),
                    Err(e) => Some((Err(ServerError::from(e)), None)),
                }
            }
        })
    }
}

async fn deadline(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Where a session stands with respect to transaction blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// No block open.
    Idle,
    /// Inside `BEGIN` ... `COMMIT`.
    InBlock,
    /// Inside a block in which a statement failed: only its end runs.
    Failed,
}

impl Transaction {
    /// The state after a statement that produced `outcome`.
    pub fn after(self, outcome: &Outcome) -> Transaction {
        match outcome {
            Outcome::TransactionStart if self == Transaction::Idle => Transaction::InBlock,
            Outcome::TransactionEnd { .. } => Transaction::Idle,
            _ => self,
        }
    }
}

/// Whether `command` may run in a transaction block that already failed: only what ends
/// the block (PostgreSQL answers everything else with 25P02).
pub fn allowed_in_failed_transaction(command: &Command) -> bool {
    matches!(command, Command::Commit | Command::Rollback | Command::Savepoint { tag: "ROLLBACK", .. })
}

/// Refuse a statement in a failed transaction block unless it ends the block.
pub fn admit(command: Option<&Command>, in_failed_transaction: bool) -> Result<()> {
    match command {
        _ if !in_failed_transaction => Ok(()),
        Some(command) if allowed_in_failed_transaction(command) => Ok(()),
        _ => Err(ServerError::InFailedTransaction),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn run_stops_at_the_deadline_and_on_cancel() {
        let (limits, running) = Limits::new(Some(Instant::now() + Duration::from_millis(20)), CancellationToken::new());
        assert!(running.upgrade().is_some());
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(1)
        };
        assert!(matches!(limits.run(slow).await, Err(ServerError::StatementTimeout)));
        drop(limits);
        assert!(running.upgrade().is_none(), "a statement whose limits are gone has ended");
        let (limits, _) = Limits::new(None, CancellationToken::new());
        limits.cancel.cancel();
        assert!(matches!(limits.run(std::future::pending::<Result<()>>()).await, Err(ServerError::Canceled)));
        let (limits, _) = Limits::new(None, CancellationToken::new());
        assert_eq!(limits.run(async { Ok(7) }).await.ok(), Some(7));
    }

    #[tokio::test]
    async fn a_cancelled_stream_ends_with_an_error() {
        let (limits, _) = Limits::new(None, CancellationToken::new());
        let endless = stream::pending::<datafusion::error::Result<RecordBatch>>().boxed();
        let mut limited = Box::pin(limits.stream(endless));
        limits.cancel.cancel();
        assert!(matches!(limited.next().await, Some(Err(ServerError::Canceled))));
        assert!(limited.next().await.is_none());
    }

    #[test]
    fn transaction_blocks_open_fail_and_end() {
        let done = Outcome::Done { tag: "SELECT".into(), rows: None, oid: None };
        let state = Transaction::Idle.after(&Outcome::TransactionStart);
        assert_eq!(state, Transaction::InBlock);
        assert_eq!(state.after(&done), Transaction::InBlock);
        assert_eq!(Transaction::Failed.after(&Outcome::TransactionStart), Transaction::Failed);
        assert_eq!(Transaction::Failed.after(&Outcome::TransactionEnd { tag: "ROLLBACK" }), Transaction::Idle);
    }

    #[test]
    fn only_the_end_of_a_block_runs_in_a_failed_transaction() {
        assert!(admit(Some(&Command::Rollback), true).is_ok());
        assert!(admit(Some(&Command::Commit), true).is_ok());
        assert!(matches!(admit(Some(&Command::Begin), true), Err(ServerError::InFailedTransaction)));
        assert!(matches!(admit(None, true), Err(ServerError::InFailedTransaction)));
        assert!(admit(None, false).is_ok());
    }
}
