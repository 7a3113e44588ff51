//! Engine configuration: how DataFusion is set up for Ember's workload.
//!
//! Ember serves analytical SQL over Parquet/CSV/JSON files to many clients. The choices
//! below are deliberate for that workload (TPC-H-style scans, joins and aggregates) and are
//! measured by `bench/tpch`.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::common::config::Dialect;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;

use crate::Result;

/// The catalog and schema every session starts in (`current_database()`, `current_schema()`).
pub const DEFAULT_CATALOG: &str = "ember";
pub const DEFAULT_SCHEMA: &str = "public";

/// Engine knobs taken from the command line.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Worker threads == DataFusion target partitions. 0 means "all cores".
    pub threads: usize,
    /// Upper bound on memory used by query operators (bytes); `None` means unbounded.
    pub memory_limit: Option<usize>,
    /// Where operators spill when the memory limit is reached.
    pub spill_dir: Option<PathBuf>,
    /// How long and how deep a statement may be (from the statement threads' stack).
    pub nesting: crate::depth::Nesting,
    /// Register the functions tests use to reach failure paths (`ember_test_panic`).
    pub test_functions: bool,
}


impl EngineOptions {
    /// The number of partitions queries are split into.
    pub fn partitions(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        }
    }
}

/// The session configuration every Ember session starts from.
pub fn session_config(options: &EngineOptions) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(DEFAULT_CATALOG, DEFAULT_SCHEMA)
        // SHOW TABLES / information_schema are what clients introspect with.
        .with_information_schema(true)
        // One partition per core: scans, joins and aggregates use every core and no more;
        // more partitions than cores only adds repartition and merge overhead.
        .with_target_partitions(options.partitions())
        // 8192-row batches: large enough to amortise per-batch work in the vectorised
        // kernels, small enough to stay cache-friendly and to stream results early.
        .with_batch_size(8192)
        .with_create_default_catalog_and_schema(true)
        // Ember's own options (`ember.checked_arithmetic`), set per session like DataFusion's.
        .with_option_extension(crate::arith::EmberOptions::default());
    let opts = config.options_mut();
    opts.sql_parser.dialect = Dialect::PostgreSQL;
    // `1.5` is an exact numeric in PostgreSQL, not a double: keep literals exact.
    opts.sql_parser.parse_float_as_decimal = true;
    // Statistics from Parquet footers let the optimizer pick join sides and skip files.
    opts.execution.collect_statistics = true;
    // Filter pushdown into the Parquet decoder (late materialisation) stays off: measured
    // with bench/tpch at SF1 on 2 cores, it made the 22 queries slower in total (6.49 s vs
    // 6.21 s in-process), because TPC-H's predicates are not selective enough per page to
    // pay for evaluating them row by row inside the decoder. Row-group and page pruning
    // from statistics (below) still skip data. `SET datafusion.execution.parquet.
    // pushdown_filters = true` turns it on per session for selective workloads.
    opts.execution.parquet.pushdown_filters = false;
    opts.execution.parquet.reorder_filters = false;
    // Page-index pruning on top of row-group statistics.
    opts.execution.parquet.enable_page_index = true;
    // Sessions report timestamps with time zone in UTC unless the client sets TimeZone.
    opts.execution.time_zone = Some("UTC".to_string());
    config
}

/// The runtime (memory pool, spill directory) shared by every session of a server.
pub fn runtime_env(options: &EngineOptions) -> Result<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        // The whole limit is available to operators; spill-capable operators (sort,
        // aggregate, join) spill to disk instead of failing when it is reached.
        builder = builder.with_memory_limit(limit, 1.0);
    }
    if let Some(dir) = &options.spill_dir {
        builder = builder.with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
        );
    }
    Ok(builder.build_arc()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_threads() {
        let options = EngineOptions { threads: 3, ..Default::default() };
        assert_eq!(session_config(&options).target_partitions(), 3);
        assert!(EngineOptions::default().partitions() >= 1);
    }

    #[test]
    fn postgres_dialect_and_information_schema() {
        let config = session_config(&EngineOptions::default());
        assert!(matches!(config.options().sql_parser.dialect, Dialect::PostgreSQL));
        assert!(config.information_schema());
    }
}
