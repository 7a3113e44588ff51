//! Ember's `ExprPlanner`s, in front of DataFusion's, and the functions they plan into
//! that also replace DataFusion's under PostgreSQL's names.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;

use crate::datetime_arith::{Justify, PgDatetimeArithmetic};
use crate::extract::{PgExtract, date_part_udf};

/// Installs Ember's planners and functions (call after `with_default_features`, so that
/// they come first and replace DataFusion's functions of the same names).
pub fn install(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    let planners = builder.expr_planners().get_or_insert_with(Vec::new);
    planners.insert(0, Arc::new(PgExtract));
    planners.insert(0, Arc::new(PgDatetimeArithmetic));
    let functions = builder.scalar_functions().get_or_insert_with(Vec::new);
    functions.push(Arc::new(date_part_udf()));
    functions.extend(Justify::all().map(Arc::new));
    functions.push(Arc::new(crate::at_time_zone::udf()));
    // row_number/rank/dense_rank as bigint, ntile as integer (after DataFusion's: they replace them).
    let windows = builder.window_functions().get_or_insert_with(Vec::new);
    let retyped = crate::pg_functions::ranking::retyped(windows);
    windows.extend(retyped);
    builder
}
