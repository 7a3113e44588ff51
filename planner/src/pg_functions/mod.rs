//! PostgreSQL's built-in functions where DataFusion's namesakes answer differently, each
//! registered under PostgreSQL's name so it replaces DataFusion's in every session.
//!
//! - [`arrays`]: `array_length`/`array_ndims`/`array_dims` by PostgreSQL's dimensions,
//!   `array_remove`/`array_replace` of every occurrence (NULL included), and
//!   `ember_array_elements`, what `unnest` reads.
//! - [`math`]: `exp`, `power` (and `^`), `ln`, `log`, `log10`, `asin`, `acos`, `sqrt` with
//!   PostgreSQL's domain and range errors; `round` of a float half to even.
//! - [`integers`]: `gcd`/`lcm` in the arguments' width with range errors; `factorial` as
//!   `numeric`.
//! - [`dates`]: `make_date` with PostgreSQL's years (negative is BC, no year 0).
//! - [`ranking`]: `row_number`/`rank`/`dense_rank` as `bigint`, `ntile` as `integer`
//!   (installed with the session's window functions by `crate::pg_planners`).
//! - [`text`]: `to_hex` in the argument's width, `encode` with PostgreSQL's base64, `chr`
//!   with its errors, `similar_to_escape` (what `SIMILAR TO` runs).

pub mod arrays;
pub mod dates;
pub mod integers;
pub mod math;
pub mod ranking;
pub mod text;

use datafusion::prelude::SessionContext;

/// Register every function of this module in `ctx`.
pub fn register(ctx: &SessionContext) {
    let udfs = arrays::udfs().into_iter().chain(math::udfs()).chain(text::udfs()).chain([integers::GcdLcm::gcd(), integers::GcdLcm::lcm(), integers::Factorial::udf(), dates::make_date()]);
    for udf in udfs {
        ctx.register_udf(udf);
    }
}
