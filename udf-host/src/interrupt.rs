//! The last link of the cancellation chain: a CancelRequest or `statement_timeout` sets the
//! session's interrupt flag, and a Python call in progress for that session kills its
//! worker within [`POLL`] instead of running to the end of its batch.
//!
//! The flag travels to the UDF inside DataFusion's session configuration (a config
//! extension), which every function invocation receives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::config::ConfigOptions;

/// How often a waiting call looks at the flag.
pub const POLL: Duration = Duration::from_millis(50);

/// One statement's interrupt flag, shared by every clone of the configuration it is in.
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

    /// The session's flag, if its configuration carries one.
    pub fn from_config(options: &ConfigOptions) -> Option<&Interrupt> {
        options.extensions.get::<Interrupt>()
    }
}

impl ConfigExtension for Interrupt {
    const PREFIX: &'static str = "ember_interrupt";
}

impl ExtensionOptions for Interrupt {
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
