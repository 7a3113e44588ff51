//! Decoding binary-format values into PostgreSQL's text output, so that results fetched in
//! binary (extended protocol) can be compared with the same results fetched as text.
//! Written from the PostgreSQL binary formats (src/backend/utils/adt/*.c send functions).

use postgres_protocol::types as pg;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Kind, Type};

/// The raw bytes of a value, whatever its type.
pub struct Raw<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Every column of a row as PostgreSQL text (None for NULL).
pub fn row_text(row: &Row) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_().clone();
            let raw: Option<Raw> = row.get(i);
            raw.map(|raw| to_text(&ty, raw.0).unwrap_or_else(|e| format!("<undecodable {ty}: {e}>")))
        })
        .collect()
}

pub fn to_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    Ok(match *ty {
        Type::BOOL => if pg::bool_from_sql(raw)? { "t" } else { "f" }.to_string(),
        Type::INT2 => pg::int2_from_sql(raw)?.to_string(),
        Type::INT4 => pg::int4_from_sql(raw)?.to_string(),
        Type::INT8 => pg::int8_from_sql(raw)?.to_string(),
        Type::OID => pg::oid_from_sql(raw)?.to_string(),
        Type::FLOAT4 => float_text(pg::float4_from_sql(raw)? as f64, true),
        Type::FLOAT8 => float_text(pg::float8_from_sql(raw)?, false),
        Type::NUMERIC => numeric_text(raw)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON | Type::CHAR => {
            pg::text_from_sql(raw)?.to_string()
        }
        Type::BYTEA => {
            let bytes = pg::bytea_from_sql(raw);
            let mut out = String::from("\\x");
            for b in bytes {
                out.push_str(&format!("{b:02x}"));
            }
            out
        }
        Type::DATE => {
            // Days since 2000-01-01 on the wire; PostgreSQL's text, years BC included.
            let days = pg::date_from_sql(raw)?;
            ember_planner::pg_output::date_text(days + 10_957)
        }
        Type::TIME => {
            // Up to 24:00:00 inclusive, which NaiveTime would wrap to 00:00:00.
            let micros = pg::time_from_sql(raw)?;
            ember_planner::pg_output::time_text(micros * 1000)
        }
        Type::TIMESTAMP => {
            let micros = pg::timestamp_from_sql(raw)?;
            let ts = epoch_date().and_hms_opt(0, 0, 0).ok_or("epoch")? + chrono::Duration::microseconds(micros);
            time_text(ts.format("%Y-%m-%d %H:%M:%S").to_string(), micros.rem_euclid(1_000_000))
        }
        Type::TIMESTAMPTZ => {
            // The test sessions run with TimeZone = UTC.
            let micros = pg::timestamp_from_sql(raw)?;
            let ts = epoch_date().and_hms_opt(0, 0, 0).ok_or("epoch")? + chrono::Duration::microseconds(micros);
            format!("{}+00", time_text(ts.format("%Y-%m-%d %H:%M:%S").to_string(), micros.rem_euclid(1_000_000)))
        }
        Type::INTERVAL => interval_text(raw)?,
        Type::UUID => {
            let bytes = pg::uuid_from_sql(raw)?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
        }
        Type::JSONB => {
            let (version, text) = raw.split_first().ok_or("empty jsonb")?;
            if *version != 1 {
                return Err("jsonb version".into());
            }
            std::str::from_utf8(text)?.to_string()
        }
        _ => match ty.kind() {
            Kind::Array(element) => array_text(element, raw)?,
            _ => return Err(format!("no text rendering for type {ty}").into()),
        },
    })
}

fn epoch_date() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// `12:00:00` plus `.5` style fractional seconds, trailing zeros removed (as PostgreSQL does).
fn time_text(mut whole: String, micros: i64) -> String {
    if micros != 0 {
        let frac = format!("{:06}", micros);
        whole.push('.');
        whole.push_str(frac.trim_end_matches('0'));
    }
    whole
}

/// PostgreSQL's shortest-exact float output (extra_float_digits >= 1).
fn float_text(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let shortest = if single { format!("{:e}", v as f32) } else { format!("{v:e}") };
    // Rust gives `d.ddde<exp>`; PostgreSQL uses plain notation for -4 <= exp < 15 (17 for float8's precision).
    let (mantissa, exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let limit = if single { 6 } else { 15 };
    if exp < -4 || exp >= limit {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else if single {
        (v as f32).to_string()
    } else {
        v.to_string()
    }
}

fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(i..i + 2).ok_or("short numeric")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i32;
    let sign = word(4)? as u16;
    let dscale = word(6)? as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<i16> = (0..ndigits).map(|i| word(8 + 2 * i)).collect::<Result<_, _>>()?;
    let mut int_part = String::new();
    for pos in 0..=weight.max(0) {
        let d = if pos <= weight { digits.get(pos as usize).copied().unwrap_or(0) } else { 0 };
        if int_part.is_empty() { int_part = d.to_string() } else { int_part.push_str(&format!("{d:04}")) }
    }
    if weight < 0 {
        int_part = "0".into();
    }
    let mut frac = String::new();
    let mut idx = weight + 1;
    while frac.len() < dscale {
        let d = if idx >= 0 { digits.get(idx as usize).copied().unwrap_or(0) } else { 0 };
        frac.push_str(&format!("{d:04}"));
        idx += 1;
    }
    frac.truncate(dscale);
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    out.push_str(&int_part);
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

fn interval_text(raw: &[u8]) -> Result<String, BoxError> {
    if raw.len() != 16 {
        return Err("interval length".into());
    }
    let micros = i64::from_be_bytes(raw[0..8].try_into()?);
    let days = i32::from_be_bytes(raw[8..12].try_into()?);
    let months = i32::from_be_bytes(raw[12..16].try_into()?);
    // PostgreSQL's text of the decoded value: the server's own formatter.
    Ok(ember_planner::pg_output::interval_text(months, days, micros.saturating_mul(1_000)))
}

fn array_text(element: &Type, raw: &[u8]) -> Result<String, BoxError> {
    let array = pg::array_from_sql(raw)?;
    let mut values = array.values();
    let mut items = Vec::new();
    use postgres_protocol::types::ArrayValues;
    fn next<'a>(values: &mut ArrayValues<'a>) -> Result<Option<Option<&'a [u8]>>, BoxError> {
        use fallible_iterator::FallibleIterator;
        Ok(values.next()?)
    }
    while let Some(value) = next(&mut values)? {
        items.push(match value {
            None => "NULL".to_string(),
            Some(bytes) => quote_array_item(&to_text(element, bytes)?),
        });
    }
    Ok(format!("{{{}}}", items.join(",")))
}

/// Array items are double-quoted when empty or containing special characters.
fn quote_array_item(text: &str) -> String {
    let needs = text.is_empty()
        || text.eq_ignore_ascii_case("null")
        || text.chars().any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\' | ' ' | '\t' | '\n'));
    if needs {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text.to_string()
    }
}

#[test]
fn numeric_decoding() {
    // 12345.678 = digits [1, 2345, 6780], weight 1, dscale 3
    let mut raw = Vec::new();
    for w in [3i16, 1, 0, 3, 1, 2345, 6780] {
        raw.extend_from_slice(&w.to_be_bytes());
    }
    assert_eq!(numeric_text(&raw).unwrap(), "12345.678");
    assert_eq!(float_text(0.1, false), "0.1");
    assert_eq!(float_text(1e20, false), "1e+20");
    assert_eq!(float_text(1.5, true), "1.5");
}
