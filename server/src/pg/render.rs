//! PostgreSQL text output for the types whose generic rendering differs from PostgreSQL's:
//! floats (`3993`, not `3993.0`; `Infinity`, `1e+20`), and dates, times, timestamps and
//! intervals through `ember_planner::pg_output` (the same text a cast to text gives:
//! fractional seconds only when present, `timestamptz` in the session time zone with
//! PostgreSQL's `+00` offset style, years BC).
//!
//! Text-format columns of those types are rendered to strings before row encoding; the
//! RowDescription keeps the real PostgreSQL type.
//!
//! `numeric` (Arrow Decimal128 and, beyond 38 digits, Decimal256) is rendered here in both
//! formats, exactly at any precision: text as digits with the column's scale (`0.00`), binary as PostgreSQL's
//! base-10000 digits with weight, sign and display scale.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Decimal256Type, DecimalType, i256, Field, Float32Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit,
    IntervalYearMonthType, Float64Type, Schema,
};
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::results::{FieldFormat, FieldInfo};

use crate::error::ServerError;

/// Whether a column of this type is rendered here in text format.
fn handled(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) | DataType::Decimal256(_, _))
        || ember_planner::pg_output::is_datetime(data_type)
}

fn handled_binary(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Decimal128(_, _) | DataType::Decimal256(_, _) | DataType::Interval(_) | DataType::Date32 | DataType::Time64(_))
}

/// Replace text-format columns Ember renders itself by their PostgreSQL text.
pub fn render_columns(batch: RecordBatch, fields: &[FieldInfo], session_tz: &str, extra_float_digits: i32) -> Result<RecordBatch, ServerError> {
    let schema = batch.schema();
    let ours = |f: &Field, info: &FieldInfo| {
        is_tagged(info)
            || match info.format() {
                FieldFormat::Text => handled(f.data_type()),
                FieldFormat::Binary => handled_binary(f.data_type()),
            }
    };
    let needs = schema.fields().iter().zip(fields).any(|(f, info)| ours(f, info));
    if !needs {
        return Ok(batch);
    }
    let tz: Option<Tz> = session_tz.parse().ok();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut new_fields = Vec::with_capacity(batch.num_columns());
    for ((field, column), info) in schema.fields().iter().zip(batch.columns()).zip(fields) {
        if is_tagged(info) {
            let (array, data_type) = tagged_column(column, info)?;
            columns.push(array);
            new_fields.push(Arc::new(Field::new(field.name(), data_type, field.is_nullable())));
        } else if info.format() == FieldFormat::Binary && handled_binary(field.data_type()) {
            columns.push(Arc::new(binary_column(column)));
            new_fields.push(Arc::new(Field::new(field.name(), DataType::Binary, field.is_nullable())));
        } else if ours(field, info) {
            columns.push(Arc::new(render(column, tz.as_ref(), extra_float_digits)));
            new_fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, field.is_nullable())));
        } else {
            columns.push(column.clone());
            new_fields.push(field.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(new_fields)), columns)
        .map_err(|e| ServerError::from(datafusion::error::DataFusionError::from(e)))
}

fn render(column: &ArrayRef, tz: Option<&Tz>, extra_float_digits: i32) -> datafusion::arrow::array::StringArray {
    let mut out = StringBuilder::with_capacity(column.len(), column.len() * 12);
    macro_rules! each {
        ($array:expr, |$v:ident| $body:expr) => {{
            let array = $array;
            for i in 0..array.len() {
                if array.is_null(i) {
                    out.append_null();
                } else {
                    let $v = array.value(i);
                    out.append_value($body);
                }
            }
        }};
    }
    match column.data_type() {
        DataType::Float32 => each!(column.as_primitive::<Float32Type>(), |v| float4_text(v, extra_float_digits)),
        DataType::Float64 => each!(column.as_primitive::<Float64Type>(), |v| float8_text(v, extra_float_digits)),
        t if ember_planner::pg_output::is_datetime(t) => {
            // Rendering a datetime column cannot fail (its casts are to wider units).
            if let Ok(Some(text)) = ember_planner::pg_output::datetime_text(column, tz) {
                return text;
            }
            for _ in 0..column.len() {
                out.append_null();
            }
        }
        DataType::Decimal128(precision, scale) => {
            let (precision, scale) = (*precision, *scale);
            each!(column.as_primitive::<Decimal128Type>(), |v| numeric_text(v, precision, scale))
        }
        DataType::Decimal256(precision, scale) => {
            let (precision, scale) = (*precision, *scale);
            each!(column.as_primitive::<Decimal256Type>(), |v| Decimal256Type::format_decimal(v, precision, scale))
        }
        _ => {
            for _ in 0..column.len() {
                out.append_null();
            }
        }
    }
    out.finish()
}

pub use ember_planner::float_text::{float4_text, float8_text};

/// uuid/json/jsonb columns: Arrow `Utf8` tagged with their PostgreSQL type.
fn is_tagged(info: &FieldInfo) -> bool {
    matches!(*info.datatype(), pgwire::api::Type::UUID | pgwire::api::Type::JSONB)
}

/// uuid: validated and normalized (text), 16 bytes (binary); jsonb binary: version 1 + text.
fn tagged_column(column: &ArrayRef, info: &FieldInfo) -> Result<(ArrayRef, DataType), ServerError> {
    let strings = datafusion::arrow::compute::cast(column, &DataType::Utf8)
        .map_err(|e| ServerError::from(datafusion::error::DataFusionError::from(e)))?;
    let strings = strings.as_string::<i32>();
    let binary = info.format() == FieldFormat::Binary;
    if *info.datatype() == pgwire::api::Type::UUID {
        let mut parsed = Vec::with_capacity(strings.len());
        for value in strings.iter() {
            parsed.push(match value {
                None => None,
                Some(text) => Some(parse_uuid(text).ok_or_else(|| ServerError::InvalidText {
                    type_name: "uuid",
                    value: text.to_string(),
                })?),
            });
        }
        if binary {
            let array: datafusion::arrow::array::BinaryArray = parsed.iter().map(|v| v.as_ref().map(|b| b.to_vec())).collect();
            return Ok((Arc::new(array), DataType::Binary));
        }
        let array: datafusion::arrow::array::StringArray = parsed.iter().map(|v| v.as_ref().map(uuid_text)).collect();
        return Ok((Arc::new(array), DataType::Utf8));
    }
    // jsonb
    if binary {
        let array: datafusion::arrow::array::BinaryArray = strings
            .iter()
            .map(|v| v.map(|t| [&[1u8][..], t.as_bytes()].concat()))
            .collect();
        return Ok((Arc::new(array), DataType::Binary));
    }
    Ok((Arc::new(strings.clone()), DataType::Utf8))
}

/// uuid_in: 32 hex digits, optionally hyphenated in the standard places or braced.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(trimmed);
    let hex: String = inner.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn uuid_text(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// numeric_out: all digits, exactly `scale` of them after the point (Arrow's own
/// decimal formatting, which is PostgreSQL's for these values).
pub fn numeric_text(value: i128, precision: u8, scale: i8) -> String {
    Decimal128Type::format_decimal(value, precision, scale)
}

/// numeric_send: ndigits, weight, sign, dscale, then base-10000 digits (int16 each).
pub fn numeric_binary(value: i128, scale: i8) -> Vec<u8> {
    numeric_binary_digits(value < 0, value.unsigned_abs().to_string(), scale)
}

/// numeric_send of a Decimal256 value.
pub fn numeric256_binary(value: i256, scale: i8) -> Vec<u8> {
    let text = value.to_string();
    let negative = text.starts_with('-');
    numeric_binary_digits(negative, text.trim_start_matches('-').to_string(), scale)
}

/// numeric_send from the unscaled value's decimal digits (no sign).
fn numeric_binary_digits(negative: bool, mut digits: String, scale: i8) -> Vec<u8> {
    let dscale = scale.max(0) as usize;
    // Work on the decimal digit string, aligned so the point falls on a 4-digit boundary.
    if scale < 0 {
        digits.push_str(&"0".repeat((-scale) as usize));
    }
    let (mut int, mut frac) = if digits.len() > dscale {
        let (i, f) = digits.split_at(digits.len() - dscale);
        (i.to_string(), f.to_string())
    } else {
        (String::new(), format!("{}{digits}", "0".repeat(dscale - digits.len())))
    };
    let int_pad = (4 - int.len() % 4) % 4;
    int.insert_str(0, &"0".repeat(int_pad));
    let frac_pad = (4 - frac.len() % 4) % 4;
    frac.push_str(&"0".repeat(frac_pad));
    let groups: Vec<i16> = int
        .as_bytes()
        .chunks(4)
        .chain(frac.as_bytes().chunks(4))
        .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + (d - b'0') as i16))
        .collect();
    let int_groups = int.len() / 4;
    // Strip leading and trailing zero groups; weight is the exponent of the first group.
    let first = groups.iter().position(|g| *g != 0);
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    let Some(first) = first else {
        for word in [0i16, 0, 0, dscale as i16] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        return out;
    };
    let last = groups.iter().rposition(|g| *g != 0).unwrap_or(first);
    let weight = int_groups as i16 - 1 - first as i16;
    let sign: u16 = if negative { 0x4000 } else { 0 };
    out.extend_from_slice(&((last - first + 1) as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(dscale as i16).to_be_bytes());
    for g in &groups[first..=last] {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

/// interval_send: microseconds (int64), days (int32), months (int32).
pub fn interval_binary(months: i32, days: i32, nanos: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&(nanos / 1_000).to_be_bytes());
    out.extend_from_slice(&days.to_be_bytes());
    out.extend_from_slice(&months.to_be_bytes());
    out
}

/// Binary wire values for the types whose binary form Ember writes itself.
fn binary_column(column: &ArrayRef) -> datafusion::arrow::array::BinaryArray {
    match column.data_type() {
        DataType::Decimal128(_, scale) => {
            column.as_primitive::<Decimal128Type>().iter().map(|v| v.map(|v| numeric_binary(v, *scale))).collect()
        }
        DataType::Decimal256(_, scale) => {
            column.as_primitive::<Decimal256Type>().iter().map(|v| v.map(|v| numeric256_binary(v, *scale))).collect()
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => column
            .as_primitive::<IntervalMonthDayNanoType>()
            .iter()
            .map(|v| v.map(|v| interval_binary(v.months, v.days, v.nanoseconds)))
            .collect(),
        DataType::Interval(IntervalUnit::DayTime) => column
            .as_primitive::<IntervalDayTimeType>()
            .iter()
            .map(|v| v.map(|v| interval_binary(0, v.days, v.milliseconds as i64 * 1_000_000)))
            .collect(),
        DataType::Interval(IntervalUnit::YearMonth) => {
            column.as_primitive::<IntervalYearMonthType>().iter().map(|v| v.map(|v| interval_binary(v, 0, 0))).collect()
        }
        // date: days since 2000-01-01 (years beyond chrono's, up to 5874897, too).
        DataType::Date32 => column
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
            .iter()
            .map(|v| v.map(|days| (days - 10_957).to_be_bytes().to_vec()))
            .collect(),
        // time: microseconds since midnight (24:00:00 included).
        DataType::Time64(unit) => {
            let per_us = if *unit == datafusion::arrow::datatypes::TimeUnit::Nanosecond { 1000 } else { 1 };
            let values = datafusion::arrow::compute::cast(column, &DataType::Int64).ok();
            match values {
                Some(values) => values
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .iter()
                    .map(|v| v.map(|v| (v / per_us).to_be_bytes().to_vec()))
                    .collect(),
                None => datafusion::arrow::array::BinaryArray::new_null(column.len()),
            }
        }
        _ => datafusion::arrow::array::BinaryArray::new_null(column.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_like_postgres() {
        let bytes = parse_uuid("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}").unwrap();
        assert_eq!(uuid_text(&bytes), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(parse_uuid("a0eebc999c0b4ef8bb6d6bb9bd380a11"), Some(bytes));
        assert_eq!(parse_uuid("not-a-uuid"), None);
    }

    #[test]
    fn numerics_like_postgres() {
        assert_eq!(numeric_text(12345678, 10, 3), "12345.678");
        assert_eq!(numeric_text(-5, 5, 2), "-0.05");
        assert_eq!(numeric_text(0, 5, 2), "0.00");
        assert_eq!(numeric_text(12, 5, 0), "12");
        assert_eq!(numeric_text(12345678901234567890123456789012, 38, 2), "123456789012345678901234567890.12");
        // 12345.678: digits [1, 2345, 6780], weight 1, dscale 3
        let expect = |words: &[i16]| words.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        assert_eq!(numeric_binary(12345678, 3), expect(&[3, 1, 0, 3, 1, 2345, 6780]));
        // -0.05: one digit 500 at weight -1, dscale 2
        assert_eq!(numeric_binary(-5, 2), expect(&[1, -1, 0x4000, 2, 500]));
        assert_eq!(numeric_binary(0, 2), expect(&[0, 0, 0, 2]));
        // 10000: one digit 1 at weight 1
        assert_eq!(numeric_binary(10000, 0), expect(&[1, 1, 0, 0, 1]));
        // Decimal256 agrees with Decimal128 where both fit, and goes beyond 38 digits.
        for (v, scale) in [(12345678i128, 3i8), (-5, 2), (0, 2), (10000, 0), (-123456789012345678901234567890123, 9)] {
            assert_eq!(numeric256_binary(i256::from_i128(v), scale), numeric_binary(v, scale), "{v} scale {scale}");
        }
        // 10^45 + 1 with scale 9: 1000000000000000000000000000000000000.000000001
        let big = i256::from_i128(10i128.pow(30)).wrapping_mul(i256::from_i128(10i128.pow(15))).wrapping_add(i256::ONE);
        assert_eq!(Decimal256Type::format_decimal(big, 46, 9), format!("1{}.000000001", "0".repeat(36)));
        // 13 base-10000 digits: 1 at weight 9 (10^36), nine zero groups, then the fraction
        // .0000 0000 1000; sign 0, dscale 9.
        let words = [13, 9, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000];
        assert_eq!(numeric256_binary(big, 9), expect(&words));
    }
}
