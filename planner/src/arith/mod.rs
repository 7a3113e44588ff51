//! PostgreSQL's integer and float arithmetic on DataFusion's plans.
//!
//! - [`literals`] (a rule on the parsed statement): an integer literal that fits in 32 bits
//!   is an `integer`, as PostgreSQL types it; DataFusion reads every integer literal as
//!   `bigint`. So `SELECT 1 + 1` is `integer`, and `2147483647 + 1` overflows as it does in
//!   PostgreSQL instead of answering in 64 bits.
//! - [`checked::CheckedArithmetic`] (an analyzer rule after type coercion): each tree of
//!   `+ - * / %` and unary minus over one of `smallint`/`integer`/`bigint`/`real`/`double
//!   precision` becomes one call of Ember's function, which computes the tree with arrow's
//!   checked kernels and raises PostgreSQL's errors (`22003 integer out of range`, `22012
//!   division by zero`, `22003 value out of range: overflow`) where DataFusion's kernels
//!   wrap around or return infinity. The call names itself as the operators it replaces,
//!   so column names read as before; EXPLAIN shows `ember_checked_arithmetic(a, b)`.
//!
//! `SET ember.checked_arithmetic = off` turns the second rule off for a session (it is how
//! `bench/tpch` measures what checking costs, with one binary).

pub mod checked;
pub mod literals;
pub mod unary_minus;

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// Ember's own session options, under the `ember.` prefix of DataFusion's configuration.
    pub struct EmberOptions {
        /// Integer and float arithmetic raises PostgreSQL's overflow and division errors.
        pub checked_arithmetic: bool, default = true
    }
}

impl ConfigExtension for EmberOptions {
    const PREFIX: &'static str = "ember";
}

/// Whether `config` asks for checked arithmetic (on unless a session turned it off).
pub fn checked_arithmetic(config: &datafusion::config::ConfigOptions) -> bool {
    config.extensions.get::<EmberOptions>().is_none_or(|o| o.checked_arithmetic)
}
