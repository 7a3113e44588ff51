//! Python functions of the server: the node's worker pool, the persistent functions every
//! session sees, and `CREATE FUNCTION` / `DROP FUNCTION`.
//!
//! Persistent functions live in the engine-wide registry; each session copies them into
//! its DataFusion context when the registry's generation changed since it last looked.
//! Temporary functions live only in the creating session's context.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;
use ember_planner::function::{FunctionShape, FunctionSpec};
use ember_udf_host::aggregate::PythonAggregateUdf;
use ember_udf_host::scalar::PythonScalarUdf;
use ember_udf_host::table::PythonTableFunction;
use ember_udf_host::{FunctionBody, FunctionKind, PoolConfig, PythonFunction, UdfError, UdfExecutor, VectorInput, WorkerPool};

use crate::error::{Result, ServerError};

/// A function as DataFusion sees it.
#[derive(Debug, Clone)]
pub enum Registered {
    Scalar(Arc<ScalarUDF>),
    Aggregate(Arc<AggregateUDF>),
    Table(Arc<dyn TableFunctionImpl>),
}

impl Registered {
    pub fn register(&self, name: &str, ctx: &SessionContext) {
        match self {
            Registered::Scalar(udf) => ctx.register_udf(udf.as_ref().clone()),
            Registered::Aggregate(udaf) => ctx.register_udaf(udaf.as_ref().clone()),
            Registered::Table(udtf) => ctx.register_udtf(name, udtf.clone()),
        }
    }

    pub fn deregister(&self, name: &str, ctx: &SessionContext) {
        match self {
            Registered::Scalar(_) => ctx.deregister_udf(name),
            Registered::Aggregate(_) => ctx.deregister_udaf(name),
            Registered::Table(_) => ctx.deregister_udtf(name),
        }
    }
}

/// Who may use Python functions on this server.
#[derive(Debug, Clone)]
pub struct UdfPolicy {
    /// `--no-python-udfs`: refuse to create or run Python functions.
    pub disabled: bool,
    /// When set, only these users may create or drop functions.
    pub creators: Option<Vec<String>>,
}

/// The node's Python functions.
#[derive(Debug)]
pub struct Functions {
    pool: Arc<WorkerPool>,
    policy: UdfPolicy,
    generation: AtomicU64,
    persistent: RwLock<BTreeMap<String, (FunctionSpec, Registered)>>,
}

impl Functions {
    pub fn new(pool: PoolConfig, policy: UdfPolicy) -> Self {
        Self { pool: Arc::new(WorkerPool::new(pool)), policy, generation: AtomicU64::new(1), persistent: RwLock::default() }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every persistent function, for a session to register.
    pub fn persistent(&self) -> Vec<(String, Registered)> {
        self.persistent.read().unwrap_or_else(|p| p.into_inner()).iter().map(|(n, (_, r))| (n.clone(), r.clone())).collect()
    }

    /// The persistent functions as `pg_proc` lists them.
    pub fn listing(&self) -> Vec<ember_planner::pg_catalog::user_functions::UserFunction> {
        let map = self.persistent.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .map(|(spec, _)| ember_planner::pg_catalog::user_functions::UserFunction {
                name: spec.name.clone(),
                args: spec.args.iter().map(|f| f.data_type().clone()).collect(),
                returns: spec.returns.first().map(|f| f.data_type().clone()).unwrap_or(datafusion::arrow::datatypes::DataType::Null),
                aggregate: spec.shape == FunctionShape::Aggregate,
                returns_set: spec.shape == FunctionShape::Table,
                strict: spec.strict,
                volatile: spec.volatile,
                source: spec.body.clone(),
            })
            .collect()
    }

    pub fn is_persistent(&self, name: &str) -> bool {
        self.persistent.read().unwrap_or_else(|p| p.into_inner()).contains_key(name)
    }

    /// May `user` create or drop functions?
    pub fn check_creator(&self, user: &str) -> Result<()> {
        if self.policy.disabled {
            return Err(UdfError::Disabled.into());
        }
        match &self.policy.creators {
            Some(creators) if !creators.iter().any(|c| c == user) => Err(ServerError::InsufficientPrivilege {
                message: format!("user {user} may not create or drop functions (see --udf-creators)"),
            }),
            _ => Ok(()),
        }
    }

    /// Turn a definition into DataFusion functions backed by the pool.
    pub fn build(&self, spec: &FunctionSpec) -> Result<(Arc<PythonFunction>, Registered)> {
        let (kind, vector_input) = match spec.shape {
            FunctionShape::Scalar => (FunctionKind::Scalar, VectorInput::Arrow),
            FunctionShape::Vectorized { pandas } => {
                (FunctionKind::Vectorized, if pandas { VectorInput::Pandas } else { VectorInput::Arrow })
            }
            FunctionShape::Aggregate => (FunctionKind::Aggregate, VectorInput::Arrow),
            FunctionShape::Table => (FunctionKind::Table, VectorInput::Arrow),
        };
        let body = match &spec.pickle_python {
            Some(version) => FunctionBody::Pickle { base64: spec.body.trim().to_string(), python_version: version.clone() },
            None => FunctionBody::Source(dedent(&spec.body)),
        };
        let function = Arc::new(PythonFunction::new(
            spec.name.clone(),
            kind,
            vector_input,
            spec.args.clone(),
            spec.returns.clone(),
            body,
            spec.volatile,
            spec.strict,
        )?);
        let executor: Arc<dyn UdfExecutor> = if self.policy.disabled { Arc::new(Disabled) } else { self.pool.clone() };
        let registered = match kind {
            FunctionKind::Scalar | FunctionKind::Vectorized => {
                Registered::Scalar(Arc::new(ScalarUDF::new_from_impl(PythonScalarUdf::new(function.clone(), executor))))
            }
            FunctionKind::Aggregate => {
                Registered::Aggregate(Arc::new(AggregateUDF::new_from_impl(PythonAggregateUdf::new(function.clone(), executor))))
            }
            FunctionKind::Table => Registered::Table(Arc::new(PythonTableFunction::new(function.clone(), executor))),
        };
        Ok((function, registered))
    }

    /// Load the function in a worker, so a bad body fails `CREATE FUNCTION`, not a query.
    pub async fn check(&self, function: Arc<PythonFunction>) -> Result<()> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || pool.check(&function))
            .await
            .map_err(|e| ServerError::io("function check", std::io::Error::other(e)))??;
        Ok(())
    }

    /// Make a persistent function visible to every session.
    pub fn insert(&self, spec: FunctionSpec, registered: Registered) {
        let mut map = self.persistent.write().unwrap_or_else(|p| p.into_inner());
        map.insert(spec.name.clone(), (spec, registered));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn remove(&self, name: &str) -> bool {
        let mut map = self.persistent.write().unwrap_or_else(|p| p.into_inner());
        let removed = map.remove(name).is_some();
        if removed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        removed
    }
}

/// The executor when Python functions are disabled: restored functions stay in the
/// catalog but refuse to run.
#[derive(Debug)]
struct Disabled;

impl UdfExecutor for Disabled {
    fn check(&self, _: &PythonFunction) -> ember_udf_host::Result<()> {
        Err(UdfError::Disabled)
    }

    fn call(
        &self,
        _: &PythonFunction,
        _: &datafusion::arrow::array::RecordBatch,
        _: Option<&ember_udf_host::Interrupt>,
    ) -> ember_udf_host::Result<datafusion::arrow::array::RecordBatch> {
        Err(UdfError::Disabled)
    }
}

/// Bodies are usually indented inside `$$ ... $$`; Python needs them flush left.
fn dedent(body: &str) -> String {
    let indent = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    body.lines().map(|l| if l.trim().is_empty() { "" } else { l.get(indent..).unwrap_or(l) }).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_dedented() {
        assert_eq!(dedent("\n    def f(x):\n        return x\n"), "\ndef f(x):\n    return x");
        assert_eq!(dedent("def f(x): return x"), "def f(x): return x");
    }
}
