//! PostgreSQL text output for the types whose generic rendering differs from PostgreSQL's:
//! floats (`3993`, not `3993.0`; `Infinity`, `1e+20`), timestamps and times (fractional
//! seconds only when present, trailing zeros dropped), and `timestamptz` in the session
//! time zone with PostgreSQL's `+00` offset style.
//!
//! Text-format columns of those types are rendered to strings before row encoding; the
//! RowDescription keeps the real PostgreSQL type.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Offset, TimeZone};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Schema, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::results::{FieldFormat, FieldInfo};

use crate::error::ServerError;

/// Whether a column of this type is rendered here in text format.
fn handled(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Float32 | DataType::Float64 | DataType::Timestamp(_, _) | DataType::Time32(_) | DataType::Time64(_))
}

/// Replace text-format columns Ember renders itself by their PostgreSQL text.
pub fn render_text_columns(batch: RecordBatch, fields: &[FieldInfo], session_tz: &str, extra_float_digits: i32) -> Result<RecordBatch, ServerError> {
    let schema = batch.schema();
    let needs = schema
        .fields()
        .iter()
        .zip(fields)
        .any(|(f, info)| info.format() == FieldFormat::Text && handled(f.data_type()));
    if !needs {
        return Ok(batch);
    }
    let tz: Option<Tz> = session_tz.parse().ok();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut new_fields = Vec::with_capacity(batch.num_columns());
    for ((field, column), info) in schema.fields().iter().zip(batch.columns()).zip(fields) {
        if info.format() == FieldFormat::Text && handled(field.data_type()) {
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
        DataType::Timestamp(unit, zone) => {
            let to_nanos = |v: i64| -> i64 {
                match unit {
                    TimeUnit::Second => v.saturating_mul(1_000_000_000),
                    TimeUnit::Millisecond => v.saturating_mul(1_000_000),
                    TimeUnit::Microsecond => v.saturating_mul(1_000),
                    TimeUnit::Nanosecond => v,
                }
            };
            let with_zone = zone.is_some();
            macro_rules! ts {
                ($t:ty) => {
                    each!(column.as_primitive::<$t>(), |v| timestamp_text(to_nanos(v), with_zone, tz))
                };
            }
            match unit {
                TimeUnit::Second => ts!(TimestampSecondType),
                TimeUnit::Millisecond => ts!(TimestampMillisecondType),
                TimeUnit::Microsecond => ts!(TimestampMicrosecondType),
                TimeUnit::Nanosecond => ts!(TimestampNanosecondType),
            }
        }
        DataType::Time32(TimeUnit::Second) => each!(column.as_primitive::<Time32SecondType>(), |v| time_text(v as i64 * 1_000_000_000)),
        DataType::Time32(_) => each!(column.as_primitive::<Time32MillisecondType>(), |v| time_text(v as i64 * 1_000_000)),
        DataType::Time64(TimeUnit::Microsecond) => each!(column.as_primitive::<Time64MicrosecondType>(), |v| time_text(v * 1_000)),
        DataType::Time64(_) => each!(column.as_primitive::<Time64NanosecondType>(), |v| time_text(v)),
        _ => {
            for _ in 0..column.len() {
                out.append_null();
            }
        }
    }
    out.finish()
}

/// float8out: shortest exact digits when extra_float_digits > 0, else 15 + extra_float_digits
/// significant digits; exponent notation outside 1e-4 <= |v| < 1e15.
pub fn float8_text(v: f64, extra_float_digits: i32) -> String {
    float_text(v, 15, extra_float_digits, |v| format!("{v:e}"))
}

/// float4out: as float8out with 6 significant digits as the precision.
pub fn float4_text(v: f32, extra_float_digits: i32) -> String {
    float_text(v as f64, 6, extra_float_digits, |_| format!("{v:e}"))
}

fn float_text(v: f64, digits: i32, extra_float_digits: i32, shortest: impl Fn(f64) -> String) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let scientific = if extra_float_digits > 0 {
        shortest(v)
    } else {
        let precision = (digits + extra_float_digits).max(1) as usize;
        format!("{:.*e}", precision - 1, v)
    };
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits_only: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits_only = digits_only.trim_end_matches('0');
    let digits_only = if digits_only.is_empty() { "0" } else { digits_only };
    let sign = if negative { "-" } else { "" };
    let limit = if extra_float_digits > 0 { digits } else { (digits + extra_float_digits).max(1) };
    if exponent < -4 || exponent >= limit {
        let (first, rest) = digits_only.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{exp_sign}{:02}", exponent.abs())
    } else if exponent < 0 {
        format!("{sign}0.{}{}", "0".repeat((-exponent - 1) as usize), digits_only)
    } else {
        let int_len = exponent as usize + 1;
        if digits_only.len() <= int_len {
            format!("{sign}{}{}", digits_only, "0".repeat(int_len - digits_only.len()))
        } else {
            format!("{sign}{}.{}", &digits_only[..int_len], &digits_only[int_len..])
        }
    }
}

/// `.5` / `.123456`: fractional seconds at microsecond precision, trailing zeros dropped.
fn fraction(nanos: u32) -> String {
    let micros = (nanos / 1_000) % 1_000_000;
    if micros == 0 {
        return String::new();
    }
    let text = format!(".{micros:06}");
    text.trim_end_matches('0').to_string()
}

fn timestamp_text(nanos: i64, with_zone: bool, tz: Option<&Tz>) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    let Some(utc) = DateTime::from_timestamp(secs, sub) else {
        return nanos.to_string();
    };
    if !with_zone {
        let naive: NaiveDateTime = utc.naive_utc();
        return format!("{}{}", naive.format("%Y-%m-%d %H:%M:%S"), fraction(sub));
    }
    let (local, offset_secs) = match tz {
        Some(tz) => {
            let local = tz.from_utc_datetime(&utc.naive_utc());
            (local.naive_local(), local.offset().fix().local_minus_utc())
        }
        None => (utc.naive_utc(), 0),
    };
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.abs();
    let (h, m, s) = (abs / 3600, (abs % 3600) / 60, abs % 60);
    let offset = match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
    };
    format!("{}{}{}", local.format("%Y-%m-%d %H:%M:%S"), fraction(sub), offset)
}

fn time_text(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000) as u32;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    match NaiveTime::from_num_seconds_from_midnight_opt(secs, 0) {
        Some(t) => format!("{}{}", t.format("%H:%M:%S"), fraction(sub)),
        None => "24:00:00".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are what PostgreSQL 15 prints for the same values.
    #[test]
    fn floats_like_postgres() {
        let cases: &[(f64, &str)] = &[
            (3993.0, "3993"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-2.25, "-2.25"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (1e20, "1e+20"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (0.0, "0"),
            (213890.0, "213890"),
        ];
        for (v, expected) in cases {
            assert_eq!(float8_text(*v, 1), *expected, "{v}");
        }
        assert_eq!(float4_text(1.5, 1), "1.5");
        assert_eq!(float4_text(1e6, 1), "1e+06");
        assert_eq!(float4_text(100000.0, 1), "100000");
        assert_eq!(float4_text(0.1, 1), "0.1");
        // extra_float_digits = 0: 15 significant digits
        assert_eq!(float8_text(1.0 / 3.0, 0), "0.333333333333333");
        assert_eq!(float8_text(0.1 + 0.2, 0), "0.3");
        assert_eq!(float8_text(0.1 + 0.2, 1), "0.30000000000000004");
    }

    #[test]
    fn timestamps_like_postgres() {
        let nanos = 1_704_164_645_000_000_000i64; // 2024-01-02 03:04:05 UTC
        assert_eq!(timestamp_text(nanos, false, None), "2024-01-02 03:04:05");
        assert_eq!(timestamp_text(nanos + 250_000_000, false, None), "2024-01-02 03:04:05.25");
        let utc: Tz = "UTC".parse().unwrap();
        assert_eq!(timestamp_text(nanos, true, Some(&utc)), "2024-01-02 03:04:05+00");
        let lisbon_summer = 1_719_792_000_000_000_000i64; // 2024-07-01 00:00:00 UTC
        let lisbon: Tz = "Europe/Lisbon".parse().unwrap();
        assert_eq!(timestamp_text(lisbon_summer, true, Some(&lisbon)), "2024-07-01 01:00:00+01");
        let india: Tz = "+05:30".parse().unwrap();
        assert_eq!(timestamp_text(lisbon_summer, true, Some(&india)), "2024-07-01 05:30:00+05:30");
        assert_eq!(timestamp_text(-1_000_000_000, false, None), "1969-12-31 23:59:59");
        assert_eq!(time_text(45_296_500_000_000), "12:34:56.5");
        assert_eq!(time_text(0), "00:00:00");
    }
}
