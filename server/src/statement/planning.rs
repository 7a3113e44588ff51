//! Planning under a statement's limits. Planning is CPU work that does not yield: a
//! statement that takes seconds to plan (thousands of `UNION ALL` branches, a 10,000-term
//! `AND` chain) would hold its runtime thread, and every session served by that thread
//! would wait; nor could `statement_timeout` or a cancel answer before planning ended.
//!
//! - A long statement (text of [`OFF_RUNTIME_TEXT`] bytes or more) is planned with tokio's
//!   `block_in_place`: its thread first hands its other work to another runtime thread.
//!   Short statements, which plan in microseconds, stay where they are (the hand-off costs
//!   more than their planning).
//! - Every analyzer, optimizer and physical optimizer rule is wrapped ([`interruptible`]):
//!   before it runs, it looks at the statement's interrupt flag (the one Python calls watch,
//!   carried in the session's configuration). Past `statement_timeout` or after a cancel,
//!   planning stops at the next rule and the statement fails with 57014.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::analyzer::AnalyzerRule;
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::common::tree_node::Transformed;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use ember_udf_host::Interrupt;

use crate::error::ServerError;

/// Statements this long (bytes of text) or longer are planned off the runtime threads.
pub const OFF_RUNTIME_TEXT: usize = 4096;

tokio::task_local! {
    /// Whether the statement being served plans off the runtime threads.
    static OFF_RUNTIME: bool;
}

/// Run `work` (a statement, through its planning) with planning off the runtime threads
/// when `off_runtime`.
pub(crate) async fn scope<F: Future>(off_runtime: bool, work: F) -> F::Output {
    OFF_RUNTIME.scope(off_runtime, work).await
}

/// Whether the statement being served plans off the runtime threads (false outside one).
pub fn off_runtime() -> bool {
    OFF_RUNTIME.try_with(|off| *off).unwrap_or(false)
}

/// Run `work`, CPU-bound planning, off the runtime's worker threads when `off_runtime`
/// (and the runtime has several: a single-threaded runtime, as in unit tests, runs it
/// in place).
pub async fn plan<T>(off_runtime: bool, work: impl Future<Output = T>) -> T {
    match multi_threaded(off_runtime) {
        Some(handle) => tokio::task::block_in_place(|| handle.block_on(work)),
        None => work.await,
    }
}

/// [`plan`] for synchronous work.
pub fn blocking<T>(off_runtime: bool, work: impl FnOnce() -> T) -> T {
    match multi_threaded(off_runtime) {
        Some(_) => tokio::task::block_in_place(work),
        None => work(),
    }
}

/// The current runtime when `off_runtime` and it can move work off its threads.
fn multi_threaded(off_runtime: bool) -> Option<tokio::runtime::Handle> {
    let handle = tokio::runtime::Handle::try_current().ok().filter(|_| off_runtime)?;
    (handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread).then_some(handle)
}

/// The error a rule returns when the statement's interrupt flag is set; the statement
/// reports it as its cancel or timeout ([`crate::statement::Limits::run`]).
#[derive(Debug)]
pub struct PlanningInterrupted;

impl fmt::Display for PlanningInterrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("planning interrupted")
    }
}

impl std::error::Error for PlanningInterrupted {}

/// Whether `error` is planning stopped by the statement's interrupt flag.
pub fn is_interruption(error: &ServerError) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if e.is::<PlanningInterrupted>() {
            return true;
        }
        next = e.source();
    }
    false
}

fn check(options: &ConfigOptions) -> Result<()> {
    match Interrupt::from_config(options) {
        Some(interrupt) if interrupt.is_interrupted() => Err(DataFusionError::External(Box::new(PlanningInterrupted))),
        _ => Ok(()),
    }
}

/// Every rule of `builder`'s analyzer, optimizer and physical optimizer (the lists given,
/// or DataFusion's defaults, and the rules appended to them) wrapped to stop when its
/// statement is interrupted.
pub fn interruptible(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    let mut analyzer = builder.analyzer().take().unwrap_or_default();
    let appended = builder.analyzer_rules().take().unwrap_or_default();
    analyzer.rules = analyzer.rules.into_iter().chain(appended).map(|rule| Arc::new(Interruptible(rule)) as _).collect();
    *builder.analyzer() = Some(analyzer);

    let mut optimizer = builder.optimizer().take().unwrap_or_default();
    let appended = builder.optimizer_rules().take().unwrap_or_default();
    optimizer.rules = optimizer.rules.into_iter().chain(appended).map(|rule| Arc::new(Interruptible(rule)) as _).collect();
    *builder.optimizer() = Some(optimizer);

    let mut physical = builder.physical_optimizers().take().unwrap_or_default();
    let appended = builder.physical_optimizer_rules().take().unwrap_or_default();
    physical.rules = physical.rules.into_iter().chain(appended).map(|rule| Arc::new(Interruptible(rule)) as _).collect();
    *builder.physical_optimizers() = Some(physical);
    builder
}

/// A rule that first checks its statement's interrupt flag.
#[derive(Debug)]
struct Interruptible<R>(R);

impl AnalyzerRule for Interruptible<Arc<dyn AnalyzerRule + Send + Sync>> {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        check(config)?;
        self.0.analyze(plan, config)
    }

    fn name(&self) -> &str {
        self.0.name()
    }
}

impl OptimizerRule for Interruptible<Arc<dyn OptimizerRule + Send + Sync>> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        check(&config.options())?;
        self.0.rewrite(plan, config)
    }
}

impl PhysicalOptimizerRule for Interruptible<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        check(config)?;
        self.0.optimize(plan, config)
    }

    fn optimize_with_context(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        context: &dyn datafusion::physical_optimizer::PhysicalOptimizerContext,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        check(context.config_options())?;
        self.0.optimize_with_context(plan, context)
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn schema_check(&self) -> bool {
        self.0.schema_check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::optimizer::Analyzer;
    use datafusion::prelude::SessionContext;
    use ember_udf_host::StatementInterrupts;

    fn names<T: ?Sized>(rules: &[Arc<T>], name: impl Fn(&T) -> &str) -> Vec<String> {
        rules.iter().map(|rule| name(rule).to_string()).collect()
    }

    #[test]
    fn every_rule_is_kept_in_order() {
        let builder = || {
            SessionStateBuilder::new()
                .with_default_features()
                .with_analyzer_rules(Analyzer::new().rules.into_iter().take(2).collect())
                .with_analyzer_rule(Analyzer::new().rules.remove(0))
        };
        let plain = builder().build();
        let wrapped = interruptible(builder()).build();
        assert_eq!(names(&wrapped.analyzer().rules, |r| r.name()), names(&plain.analyzer().rules, |r| r.name()));
        assert_eq!(wrapped.analyzer().rules.len(), 3);
        assert_eq!(names(wrapped.optimizers(), |r| r.name()), names(plain.optimizers(), |r| r.name()));
        assert_eq!(names(wrapped.physical_optimizers(), |r| r.name()), names(plain.physical_optimizers(), |r| r.name()));
        assert!(!wrapped.optimizers().is_empty() && !wrapped.physical_optimizers().is_empty());
    }

    #[tokio::test]
    async fn an_interrupted_statement_stops_planning() {
        let state = interruptible(SessionStateBuilder::new().with_default_features()).build();
        let ctx = SessionContext::new_with_state(state);
        let interrupts = StatementInterrupts::default();
        ctx.state_ref().write().config_mut().options_mut().extensions.insert(interrupts.clone());
        let plan = ctx.state().create_logical_plan("SELECT 1 + 1").await.unwrap();
        interrupts.begin(None);
        assert!(ctx.state().create_physical_plan(&plan).await.is_ok());
        interrupts.begin(None).interrupt();
        let error = ServerError::from(ctx.state().create_physical_plan(&plan).await.unwrap_err());
        assert!(is_interruption(&error), "{error:?}");
        // A deadline passed is an interruption too.
        interrupts.begin(Some(std::time::Instant::now()));
        assert!(ctx.state().create_physical_plan(&plan).await.is_err());
        assert!(!is_interruption(&ServerError::Canceled));
    }
}
