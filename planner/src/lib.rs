//! `ember-planner` — the SQL layer of Ember.
//!
//! It owns everything between SQL text and a DataFusion plan: the engine configuration
//! chosen for analytical work ([`config`]), parsing in the PostgreSQL dialect and sorting
//! statements into those Ember answers itself (transaction control, PostgreSQL session
//! settings) and those DataFusion plans ([`statement`]), the mapping of parameter
//! types ([`params`]), PostgreSQL's `pg_catalog` schema and catalog functions
//! ([`pg_catalog`]) and the copy-protocol `COPY` statements ([`copy`]). It knows nothing
//! of the wire protocol; `ember-server` drives it.

pub mod aggregates;
pub mod alter;
pub mod analyze;
pub mod arith;
pub mod array_compare;
pub mod array_order;
pub mod array_subscripts;
pub mod array_unnest;
pub mod at_time_zone;
pub mod bool_literals;
pub mod casts;
pub mod char_casts;
pub mod config;
pub mod conjunctions;
pub mod copy;
pub mod copy_text;
pub mod data_error;
pub mod date_bounds;
pub mod depth;
pub mod datetime_arith;
pub mod datetime_fields;
pub mod dml;
pub mod dialect;
pub mod error;
pub mod extract;
pub mod float_text;
pub mod function;
pub mod insert_values;
pub mod intervals;
pub mod join_using;
pub mod named_windows;
pub mod optimizer_rules;
pub mod params;
pub mod parser;
pub mod pg_input;
pub mod pg_output;
pub mod pg_planners;
pub mod pg_catalog;
pub mod pg_functions;
pub mod rewrite;
pub mod row_values;
pub mod select_list_series;
pub mod sequence;
pub mod set_operations;
pub mod similar_to;
pub mod statement;
pub mod subqueries;
pub mod types;
pub mod window_args;

pub use error::{PlannerError, Result};
