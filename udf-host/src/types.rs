//! The Arrow types Python functions take and return, and their names in the worker
//! protocol. One exhaustive mapping; anything else is a clear `Unsupported` error.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::error::{Result, UdfError};

/// The worker's name for an Arrow type (see `TYPES` in `ember_udf_worker.py`).
pub fn worker_type_name(data_type: &DataType) -> Result<String> {
    Ok(match data_type {
        DataType::Boolean => "bool".to_string(),
        DataType::Int8 => "int8".to_string(),
        DataType::Int16 => "int16".to_string(),
        DataType::Int32 => "int32".to_string(),
        DataType::Int64 => "int64".to_string(),
        DataType::Float32 => "float32".to_string(),
        DataType::Float64 => "float64".to_string(),
        DataType::Utf8 => "utf8".to_string(),
        DataType::LargeUtf8 => "large_utf8".to_string(),
        DataType::Binary => "binary".to_string(),
        DataType::Date32 => "date32".to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => "timestamp_us".to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" || tz.as_ref() == "+00:00" => {
            "timestamp_us_utc".to_string()
        }
        DataType::Decimal128(precision, scale) => format!("decimal128:{precision}:{scale}"),
        other => return Err(UdfError::Unsupported { what: format!("type {other}") }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(worker_type_name(&DataType::Int64).unwrap(), "int64");
        assert_eq!(worker_type_name(&DataType::Decimal128(15, 2)).unwrap(), "decimal128:15:2");
        assert!(worker_type_name(&DataType::Utf8View).is_err());
    }
}
