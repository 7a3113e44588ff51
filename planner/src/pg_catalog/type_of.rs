//! `pg_typeof(any)`: the PostgreSQL name of an expression's type, as PostgreSQL's
//! `format_type` spells it (`integer`, `double precision`, `timestamp with time zone`,
//! `text[]`). People and tests use it to see what type an expression has; it is how a
//! difference in result types shows itself.
//!
//! PostgreSQL returns `regtype`, which prints as the name; Ember returns the name as
//! `text` (it keeps no `regtype` values).

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::types::PG_TYPE_KEY;

pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgTypeOf { signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeOf {
    signature: Signature,
}

impl ScalarUDFImpl for PgTypeOf {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// One value for every row: the type is the argument's, not its values'.
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = args.arg_fields.first().map(|f| field_type_name(f)).unwrap_or_else(|| "unknown".to_string());
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

/// The PostgreSQL name of a field's type: its tag (`uuid`, `json`, `jsonb`) or its Arrow
/// type's name.
pub fn field_type_name(field: &Field) -> String {
    match field.metadata().get(PG_TYPE_KEY) {
        Some(tag) => tag.clone(),
        None => type_name(field.data_type()),
    }
}

/// The PostgreSQL name of the type an Arrow type is sent as.
pub fn type_name(data_type: &DataType) -> String {
    let name = match data_type {
        DataType::Null => "unknown",
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int64 | DataType::UInt32 => "bigint",
        DataType::UInt64 | DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            "numeric"
        }
        DataType::Float16 | DataType::Float32 => "real",
        DataType::Float64 => "double precision",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "bytea",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Time32(_) | DataType::Time64(_) => "time without time zone",
        DataType::Timestamp(_, None) => "timestamp without time zone",
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone",
        DataType::Interval(_) | DataType::Duration(_) => "interval",
        DataType::Struct(_) => "record",
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) | DataType::FixedSizeList(item, _) => {
            return format!("{}[]", field_type_name(item));
        }
        DataType::Dictionary(_, values) => return type_name(values),
        _ => "unknown",
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn names_as_postgres_formats_them() {
        assert_eq!(type_name(&DataType::Int32), "integer");
        assert_eq!(type_name(&DataType::Float64), "double precision");
        assert_eq!(type_name(&DataType::Decimal128(38, 10)), "numeric");
        assert_eq!(type_name(&DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))), "timestamp with time zone");
        assert_eq!(type_name(&DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))), "text[]");
        let json = Field::new("j", DataType::Utf8, true)
            .with_metadata([(PG_TYPE_KEY.to_string(), "jsonb".to_string())].into_iter().collect());
        assert_eq!(field_type_name(&json), "jsonb");
    }
}
