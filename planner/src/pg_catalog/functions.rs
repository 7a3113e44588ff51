//! Catalog functions datafusion-pg-catalog does not provide, or provides without the
//! session's state: `version()`, `current_setting`, `set_config`, `session_user`,
//! `current_schemas`, `obj_description`/`col_description`/`shobj_description`, `pg_get_viewdef`,
//! `pg_get_indexdef`, `pg_get_serial_sequence`, `format`, `pg_typeof`, `to_char`.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionImplementation, ScalarUDF, Signature, TypeSignature, Volatility};
use datafusion::logical_expr::expr_fn::SimpleScalarUDF;
use datafusion::prelude::SessionContext;

/// What catalog functions need from the session they run in.
pub trait SessionInfo: Send + Sync + Debug {
    /// A setting's current value (`None`: no such setting).
    fn setting(&self, name: &str) -> Option<String>;
    /// Change a setting for the session; returns the stored value or an error message.
    fn set_setting(&self, name: &str, value: &str) -> std::result::Result<String, String>;
    /// The session's user.
    fn user(&self) -> String;
    /// `server_version` as reported at startup, e.g. `16.6 (Ember 0.1.0)`.
    fn server_version(&self) -> String;
}

pub(super) fn register(ctx: &SessionContext, session: Arc<dyn SessionInfo>) {
    ctx.register_udf(version(session.clone()));
    ctx.register_udf(current_setting(session.clone()));
    ctx.register_udf(set_config(session.clone()));
    ctx.register_udf(session_user(session.clone()));
    ctx.register_udf(current_schemas(session));
    // Every Ember object lives in a schema on the search path.
    for name in ["pg_function_is_visible", "pg_type_is_visible", "pg_opclass_is_visible", "pg_collation_is_visible"] {
        ctx.register_udf(always_true(name));
    }
    // Ember keeps no comments, view source in pg_catalog, indexes or sequences, so these
    // are NULL, as PostgreSQL answers for objects without them.
    ctx.register_udf(null_text("obj_description", &[1, 2]));
    ctx.register_udf(null_text("col_description", &[2]));
    ctx.register_udf(null_text("shobj_description", &[2]));
    ctx.register_udf(null_text("pg_get_indexdef", &[1, 3]));
    ctx.register_udf(null_text("pg_get_serial_sequence", &[2]));
    ctx.register_udf(null_text("pg_get_viewdef", &[1, 2]));
    ctx.register_udf(null_text("pg_get_triggerdef", &[1, 2]));
    ctx.register_udf(null_text("pg_get_ruledef", &[1, 2]));
    ctx.register_udf(pg_size_pretty());
    // External tables keep no storage of their own, like PostgreSQL's foreign tables, for
    // which these sizes are 0 (pg_relation_size and pg_total_relation_size come from the crate).
    ctx.register_udf(zero_size("pg_table_size"));
    ctx.register_udf(zero_size("pg_indexes_size"));
    // Known gap: a database's size would be the size of its external files; not summed yet.
    ctx.register_udf(zero_size("pg_database_size"));
    ctx.register_udf(no_temp_schema());
    ctx.register_udf(super::format::udf());
    ctx.register_udf(super::type_of::udf());
    ctx.register_udf(super::to_char::udf());
    ctx.register_udf(ScalarUDF::new_from_impl(crate::array_compare::ArrayCompare::any()));
    ctx.register_udf(ScalarUDF::new_from_impl(crate::array_compare::ArrayCompare::all()));
    crate::pg_functions::register(ctx);
}

/// `pg_my_temp_schema()`: the OID of the session's temporary schema, 0 when it has none.
/// Ember keeps temporary objects outside the catalog, so it is always 0 (ADBC's
/// `get_objects` lists schemas with `nspname !~ '^pg_' OR oid = pg_my_temp_schema()`).
fn no_temp_schema() -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "pg_my_temp_schema",
        Signature::new(TypeSignature::Nullary, Volatility::Stable),
        DataType::Int32,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(0))))),
    ))
}

fn udf(name: &str, signature: TypeSignature, volatility: Volatility, fun: ScalarFunctionImplementation) -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(name, Signature::new(signature, volatility), DataType::Utf8, fun))
}

/// The number of rows to produce: the longest array argument, or 1 for scalars only.
fn rows(args: &[ColumnarValue]) -> Option<usize> {
    args.iter().find_map(|a| match a {
        ColumnarValue::Array(array) => Some(array.len()),
        ColumnarValue::Scalar(_) => None,
    })
}

/// Apply `f` to the text of the first argument (and the optional bool second), row by row.
fn map_text(
    args: &[ColumnarValue],
    mut f: impl FnMut(Option<&str>, &[ColumnarValue], usize) -> Result<Option<String>>,
) -> Result<ColumnarValue> {
    let n = rows(args);
    let first = args.first().ok_or_else(|| DataFusionError::Plan("missing argument".to_string()))?;
    let first = first.to_array(n.unwrap_or(1))?;
    let first = datafusion::arrow::compute::cast(&first, &DataType::Utf8)?;
    let first = first.as_string::<i32>();
    let mut out = Vec::with_capacity(first.len());
    for i in 0..first.len() {
        let value = if first.is_null(i) { None } else { Some(first.value(i)) };
        out.push(f(value, args, i)?);
    }
    let array: ArrayRef = Arc::new(StringArray::from(out));
    Ok(match n {
        Some(_) => ColumnarValue::Array(array),
        None => ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?),
    })
}

fn bool_arg(args: &[ColumnarValue], index: usize, row: usize) -> Result<bool> {
    let Some(arg) = args.get(index) else { return Ok(false) };
    Ok(match arg {
        ColumnarValue::Scalar(ScalarValue::Boolean(b)) => b.unwrap_or(false),
        ColumnarValue::Array(array) => {
            let array = array.as_boolean_opt().ok_or_else(|| DataFusionError::Plan("expected boolean".to_string()))?;
            !array.is_null(row) && array.value(row)
        }
        other => return Err(DataFusionError::Plan(format!("expected boolean, got {}", other.data_type()))),
    })
}

fn text_args(count: usize) -> Vec<DataType> {
    vec![DataType::Utf8; count]
}

/// `version()`: PostgreSQL's format, which drivers parse for the major version.
fn version(session: Arc<dyn SessionInfo>) -> ScalarUDF {
    let text = format!(
        "PostgreSQL {} on {}-unknown-linux-gnu, compiled by rustc, 64-bit",
        session.server_version(),
        std::env::consts::ARCH
    );
    udf(
        "version",
        TypeSignature::Nullary,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))),
    )
}

/// `current_setting(name [, missing_ok])`.
fn current_setting(session: Arc<dyn SessionInfo>) -> ScalarUDF {
    let signature = TypeSignature::OneOf(vec![
        TypeSignature::Exact(text_args(1)),
        TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
    ]);
    udf(
        "current_setting",
        signature,
        Volatility::Stable,
        Arc::new(move |args| {
            map_text(args, |name, args, row| {
                let Some(name) = name else { return Ok(None) };
                match session.setting(name) {
                    Some(value) => Ok(Some(value)),
                    None if bool_arg(args, 1, row)? => Ok(None),
                    None => Err(DataFusionError::Plan(format!("unrecognized configuration parameter \"{name}\""))),
                }
            })
        }),
    )
}

/// `set_config(name, value, is_local)`: sets the session value (Ember has no transaction-
/// scoped settings, so `is_local` changes it for the session too).
fn set_config(session: Arc<dyn SessionInfo>) -> ScalarUDF {
    let signature = TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8, DataType::Boolean]);
    udf(
        "set_config",
        signature,
        Volatility::Volatile,
        Arc::new(move |args| {
            let n = rows(args).unwrap_or(1);
            let values = args
                .get(1)
                .ok_or_else(|| DataFusionError::Plan("set_config needs a value".to_string()))?
                .to_array(n)?;
            let values = datafusion::arrow::compute::cast(&values, &DataType::Utf8)?;
            let values = values.as_string::<i32>().clone();
            map_text(args, |name, _, row| {
                let Some(name) = name else { return Ok(None) };
                let value = if values.is_null(row) { "" } else { values.value(row) };
                session.set_setting(name, value).map(Some).map_err(DataFusionError::Plan)
            })
        }),
    )
}

/// `session_user` (also `current_user` and `user`, which sqlparser and the compatibility
/// rules turn into this call).
fn session_user(session: Arc<dyn SessionInfo>) -> ScalarUDF {
    udf(
        "session_user",
        TypeSignature::Nullary,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(session.user()))))),
    )
}

/// `current_schemas(include_implicit)`: the session's `search_path` (without `$user`,
/// as no schema is named after a user), with the implicitly searched `pg_catalog` first
/// when asked — PostgreSQL's answer (`{pg_catalog,public}`), which pgcli shows as its
/// search path and completes from.
fn current_schemas(session: Arc<dyn SessionInfo>) -> ScalarUDF {
    let item = Arc::new(datafusion::arrow::datatypes::Field::new("item", DataType::Utf8, true));
    let list = DataType::List(item.clone());
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "current_schemas",
        Signature::new(TypeSignature::Exact(vec![DataType::Boolean]), Volatility::Stable),
        list,
        Arc::new(move |args: &[ColumnarValue]| {
            let path = session.setting("search_path").unwrap_or_default();
            let explicit = search_path_schemas(&path);
            let n = rows(args);
            let implicit = args.first().ok_or_else(|| DataFusionError::Plan("current_schemas needs one argument".to_string()))?;
            let implicit = implicit.to_array(n.unwrap_or(1))?;
            let implicit = implicit.as_boolean_opt().ok_or_else(|| DataFusionError::Plan("current_schemas takes a boolean".to_string()))?;
            let mut builder = datafusion::arrow::array::ListBuilder::new(datafusion::arrow::array::StringBuilder::new()).with_field(item.clone());
            for i in 0..implicit.len() {
                if implicit.is_null(i) {
                    builder.append_null();
                    continue;
                }
                if implicit.value(i) && !explicit.iter().any(|s| s == "pg_catalog") {
                    builder.values().append_value("pg_catalog");
                }
                for schema in &explicit {
                    builder.values().append_value(schema);
                }
                builder.append(true);
            }
            let array: ArrayRef = Arc::new(builder.finish());
            Ok(match n {
                Some(_) => ColumnarValue::Array(array),
                None => ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?),
            })
        }),
    ))
}

/// `"$user", public` -> `["public"]`.
pub fn search_path_schemas(path: &str) -> Vec<String> {
    path.split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && *s != "\"$user\"" && *s != "$user")
        .map(|s| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).map(str::to_string).unwrap_or_else(|| s.to_lowercase()))
        .collect()
}

/// PostgreSQL's size rendering: bytes below 10 kB, then kB, MB, GB, TB, PB, half-rounded.
pub fn size_pretty(bytes: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    if bytes.abs() < LIMIT {
        return format!("{bytes} bytes");
    }
    let mut size = bytes >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if size.abs() < LIMIT2 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} PB", half_rounded(size))
}

fn pg_size_pretty() -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "pg_size_pretty",
        Signature::new(TypeSignature::Exact(vec![DataType::Int64]), Volatility::Immutable),
        DataType::Utf8,
        Arc::new(|args| {
            let n = rows(args);
            let sizes = args.first().ok_or_else(|| DataFusionError::Plan("pg_size_pretty needs a size".to_string()))?.to_array(n.unwrap_or(1))?;
            let sizes = datafusion::arrow::compute::cast(&sizes, &DataType::Int64)?;
            let sizes = sizes.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let out: StringArray = sizes.iter().map(|v| v.map(size_pretty)).collect();
            let array: ArrayRef = Arc::new(out);
            Ok(match n {
                Some(_) => ColumnarValue::Array(array),
                None => ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?),
            })
        }),
    ))
}

fn zero_size(name: &str) -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::new(TypeSignature::Any(1), Volatility::Stable),
        DataType::Int64,
        Arc::new(|args| {
            Ok(match rows(args) {
                Some(n) => ColumnarValue::Array(Arc::new(datafusion::arrow::array::Int64Array::from(vec![0i64; n]))),
                None => ColumnarValue::Scalar(ScalarValue::Int64(Some(0))),
            })
        }),
    ))
}

/// A visibility test that holds for every object (one argument of any type).
fn always_true(name: &str) -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::new(TypeSignature::Any(1), Volatility::Stable),
        DataType::Boolean,
        Arc::new(|args| {
            Ok(match rows(args) {
                Some(n) => ColumnarValue::Array(Arc::new(datafusion::arrow::array::BooleanArray::from(vec![true; n]))),
                None => ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))),
            })
        }),
    ))
}

/// A function answering NULL text for every row, taking `arities` arguments of any type.
fn null_text(name: &str, arities: &[usize]) -> ScalarUDF {
    let signature = TypeSignature::OneOf(arities.iter().map(|n| TypeSignature::Any(*n)).collect());
    udf(
        name,
        signature,
        Volatility::Stable,
        Arc::new(|args| {
            Ok(match rows(args) {
                Some(n) => ColumnarValue::Array(Arc::new(StringArray::from(vec![None::<&str>; n]))),
                None => ColumnarValue::Scalar(ScalarValue::Utf8(None)),
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_as_schemas() {
        assert_eq!(search_path_schemas("\"$user\", public"), vec!["public"]);
        assert_eq!(search_path_schemas("Dbt_Smoke, \"Mixed\", pg_catalog"), vec!["dbt_smoke", "Mixed", "pg_catalog"]);
        assert!(search_path_schemas("").is_empty());
    }

    #[test]
    fn sizes_like_postgres() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(8 * 1024 * 1024), "8192 kB");
        assert_eq!(size_pretty(100 * 1024 * 1024), "100 MB");
    }
}
