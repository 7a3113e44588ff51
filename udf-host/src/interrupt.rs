//! The last link of the cancellation chain: a CancelRequest or `statement_timeout` sets the
//! session's interrupt flag, and a Python call in progress for that session kills its
//! worker within [`POLL`] instead of running to the end of its batch.
//!
//! The session's [`StatementInterrupts`] is put into its DataFusion configuration once (a
//! config extension, which every function invocation receives) and gives each statement a
//! fresh flag ([`StatementInterrupts::begin`]). The configuration a statement is planned
//! and run with carries that statement's flag, pinned ([`StatementInterrupts::pinned`]),
//! so its calls answer to it alone.

use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::config::ConfigOptions;

/// How often a waiting call looks at the flag.
pub const POLL: Duration = Duration::from_millis(50);

/// One statement's interrupt flag.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    /// The statement's `statement_timeout` deadline, if any.
    deadline: Option<Instant>,
}

impl Interrupt {
    pub fn new(deadline: Option<Instant>) -> Self {
        Self { flag: Arc::default(), deadline }
    }

    /// Interrupt the running statement's Python calls.
    pub fn interrupt(&self) {
        self.flag.store(true, Ordering::Release);
    }

    pub fn is_interrupted(&self) -> bool {
        self.flag.load(Ordering::Acquire) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The flag of the statement running in the session whose configuration this is.
    pub fn from_config(options: &ConfigOptions) -> Option<Interrupt> {
        options.extensions.get::<StatementInterrupts>().map(StatementInterrupts::current)
    }
}

/// A session's statement flags: the one of the running statement, replaced per statement.
#[derive(Debug, Clone, Default)]
pub struct StatementInterrupts {
    current: Arc<Mutex<Interrupt>>,
}

impl StatementInterrupts {
    /// A fresh flag for the statement about to run, with its `statement_timeout` deadline.
    /// Calls of an earlier statement keep that statement's flag.
    pub fn begin(&self, deadline: Option<Instant>) -> Interrupt {
        let interrupt = Interrupt::new(deadline);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = interrupt.clone();
        interrupt
    }

    /// Interrupts that always answer `interrupt`: put into one statement's configuration,
    /// so its plan keeps its own flag however long it runs (a suspended portal).
    pub fn pinned(interrupt: Interrupt) -> Self {
        Self { current: Arc::new(Mutex::new(interrupt)) }
    }

    /// The running (or last) statement's flag.
    pub fn current(&self) -> Interrupt {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ConfigExtension for StatementInterrupts {
    const PREFIX: &'static str = "ember_interrupt";
}

impl ExtensionOptions for StatementInterrupts {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> datafusion::common::Result<()> {
        datafusion::common::config_err!("{key} cannot be set")
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_statement_has_its_own_flag() {
        let interrupts = StatementInterrupts::default();
        let mut options = ConfigOptions::new();
        options.extensions.insert(interrupts.clone());
        let first = interrupts.begin(None);
        assert!(!Interrupt::from_config(&options).unwrap().is_interrupted());
        interrupts.current().interrupt();
        assert!(first.is_interrupted());
        assert!(Interrupt::from_config(&options).unwrap().is_interrupted());
        // The next statement starts clean; the first one's calls stay interrupted.
        let second = interrupts.begin(Some(Instant::now() + Duration::from_secs(60)));
        assert!(!second.is_interrupted() && !Interrupt::from_config(&options).unwrap().is_interrupted());
        assert!(first.is_interrupted());
        assert!(interrupts.begin(Some(Instant::now())).is_interrupted(), "a passed deadline interrupts");
    }
}
