//! PostgreSQL's `to_char(date | timestamp | timestamptz, format)`.
//!
//! DataFusion's `to_char` reads chrono's `%Y-%m-%d` patterns, so PostgreSQL's
//! `to_char(d, 'YYYY-MM-DD')` answered the format itself, `YYYY-MM-DD`. This is
//! PostgreSQL's template language (`formatting.c`): `YYYY MM DD HH24 MI SS MS US`,
//! `Month Mon Day Dy` in three capitalizations, `DDD D ID W WW IW IYYY Q CC J RM`,
//! `FF1`..`FF6`, `AM/PM`, `AD/BC`, `TZ`/`OF`, the `FM` prefix (no padding) and the `TH` suffix
//! (ordinals), `"quoted text"` and `\` escapes. Patterns match case-insensitively; the
//! case of a name decides the case of the text (`MONTH`, `Month`, `month`).
//! `timestamptz` is shown in UTC (Ember's sessions run in UTC); a `time` as that time of
//! day.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::data_error::PgDataError;

pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ToChar { signature: Signature::any(2, Volatility::Stable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    signature: Signature,
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Time32(_) | DataType::Time64(_) | DataType::Null) => {
                Ok(DataType::Utf8)
            }
            Some(other) => {
                Err(PgDataError::new("0A000", format!("to_char of {other} is not supported (dates, times and timestamps are)")).into())
            }
            None => Err(DataFusionError::Plan("to_char takes a value and a format".into())),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [value, format] = args.args.as_slice() else { return Err(DataFusionError::Plan("to_char takes two arguments".into())) };
        let (value, format) = (value.to_array(rows)?, cast(&format.to_array(rows)?, &DataType::Utf8)?);
        let zone = match value.data_type() {
            DataType::Timestamp(_, Some(tz)) => Some(Tz::from_str(tz).map_err(|e| DataFusionError::Execution(e.to_string()))?),
            _ => None,
        };
        // A time of day is formatted as that time on 1970-01-01.
        let value = match value.data_type() {
            DataType::Time32(_) | DataType::Time64(_) => {
                let micros = cast(&cast(&value, &DataType::Time64(TimeUnit::Microsecond))?, &DataType::Int64)?;
                // `24:00:00` would read as the next day's `00:00`; PostgreSQL prints hour 24.
                if micros.as_primitive::<datafusion::arrow::datatypes::Int64Type>().iter().flatten().any(|us| us >= 86_400_000_000) {
                    return Err(crate::data_error::PgDataError::new("0A000", "to_char of time 24:00:00 is not supported").into());
                }
                cast(&micros, &DataType::Timestamp(TimeUnit::Microsecond, None))?
            }
            _ => value,
        };
        let micros = cast(&value, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let format = format.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(rows, rows * 16);
        let mut parsed: Option<(String, Vec<Token>)> = None;
        for i in 0..micros.len() {
            if micros.is_null(i) || format.is_null(i) {
                out.append_null();
                continue;
            }
            let Some(utc) = DateTime::from_timestamp_micros(micros.value(i)) else {
                return Err(PgDataError::out_of_range("timestamp out of range").into());
            };
            let (local, offset) = match &zone {
                Some(tz) => {
                    let t = utc.with_timezone(tz);
                    (t.naive_local(), Some(chrono::Offset::fix(t.offset()).local_minus_utc()))
                }
                None => (utc.naive_utc(), None),
            };
            // The template is read once per batch (again only where it changes).
            let template = format.value(i);
            if parsed.as_ref().is_none_or(|(text, _)| text != template) {
                parsed = Some((template.to_string(), parse(template)));
            }
            let tokens = parsed.as_ref().map(|(_, tokens)| tokens.as_slice()).unwrap_or_default();
            out.append_value(render(tokens, &local, offset));
        }
        let out: ArrayRef = Arc::new(out.finish());
        Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
    }
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const ROMAN: [&str; 12] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];

/// The template patterns, longest first where one is a prefix of another.
const PATTERNS: &[&str] = &[
    "FF1", "FF2", "FF3", "FF4", "FF5", "FF6", "A.D.", "A.M.", "B.C.", "P.M.", "Y,YYY", "HH24", "HH12", "IDDD", "IYYY", "MONTH", "SSSSS", "SSSS", "DAY", "DDD", "IYY", "MON",
    "YYYY", "YYY", "AD", "AM", "BC", "CC", "DD", "DY", "HH", "ID", "IW", "IY", "MI", "MM", "MS", "OF", "PM", "RM", "SS", "TZ", "US",
    "WW", "YY", "D", "I", "J", "Q", "W", "Y",
];

/// How a name is capitalized in the template: `MONTH`, `Month` or `month`.
#[derive(Clone, Copy)]
enum Case {
    Upper,
    Title,
    Lower,
}

fn case_of(written: &str) -> Case {
    let mut letters = written.chars().filter(|c| c.is_alphabetic());
    match (letters.next(), letters.next()) {
        (Some(a), _) if a.is_lowercase() => Case::Lower,
        (Some(_), Some(b)) if b.is_lowercase() => Case::Title,
        _ => Case::Upper,
    }
}

fn cased(name: &str, case: Case) -> String {
    match case {
        Case::Upper => name.to_uppercase(),
        Case::Title => name.to_string(),
        Case::Lower => name.to_lowercase(),
    }
}

fn ordinal_suffix(n: i64, upper: bool) -> &'static str {
    let s = match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    if upper {
        match s {
            "st" => "ST",
            "nd" => "ND",
            "rd" => "RD",
            _ => "TH",
        }
    } else {
        s
    }
}

fn julian_day(date: NaiveDate) -> i64 {
    // 2000-01-01 is Julian day 2451545.
    date.signed_duration_since(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()).num_days() + 2_451_545
}

/// A template, read once: literal text and the patterns to fill in.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Text(String),
    Field { pattern: &'static str, written: String, fill: bool, ordinal: Option<bool> },
}

/// Read a PostgreSQL template.
pub fn parse(template: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while let Some(c) = template[i..].chars().next() {
        if c == '"' {
            let mut quoted = template[i + 1..].chars();
            i += 1;
            while let Some(q) = quoted.next() {
                i += q.len_utf8();
                match q {
                    '"' => break,
                    '\\' => {
                        if let Some(escaped) = quoted.next() {
                            i += escaped.len_utf8();
                            text.push(escaped);
                        }
                    }
                    other => text.push(other),
                }
            }
            continue;
        }
        if c == '\\' && let Some(escaped) = template[i + 1..].chars().next() {
            text.push(escaped);
            i += 1 + escaped.len_utf8();
            continue;
        }
        let rest = &template[i..];
        let fill = rest.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("FM"));
        let body = if fill { &rest[2..] } else { rest };
        let Some(pattern) = PATTERNS.iter().find(|p| body.get(..p.len()).is_some_and(|b| b.eq_ignore_ascii_case(p))) else {
            text.push(c);
            i += c.len_utf8();
            continue;
        };
        let after = &body[pattern.len()..];
        let ordinal = after.get(..2).filter(|a| a.eq_ignore_ascii_case("TH")).map(|a| a.starts_with('T'));
        if !text.is_empty() {
            tokens.push(Token::Text(std::mem::take(&mut text)));
        }
        tokens.push(Token::Field { pattern, written: body[..pattern.len()].to_string(), fill, ordinal });
        i += pattern.len() + if fill { 2 } else { 0 } + if ordinal.is_some() { 2 } else { 0 };
    }
    if !text.is_empty() {
        tokens.push(Token::Text(text));
    }
    tokens
}

/// Format one value with a read template.
pub fn render(tokens: &[Token], t: &NaiveDateTime, offset_seconds: Option<i32>) -> String {
    let mut out = String::new();
    for token in tokens {
        match token {
            Token::Text(text) => out.push_str(text),
            Token::Field { pattern, written, fill, ordinal } => out.push_str(&field(t, offset_seconds, pattern, written, *fill, *ordinal)),
        }
    }
    out
}

/// Format one value with a PostgreSQL template.
pub fn to_char(t: &NaiveDateTime, offset_seconds: Option<i32>, template: &str) -> String {
    render(&parse(template), t, offset_seconds)
}

/// One template pattern's text.
fn field(t: &NaiveDateTime, offset_seconds: Option<i32>, pattern: &str, written: &str, fill: bool, ordinal: Option<bool>) -> String {
    let number = |n: i64, width: usize| -> String {
        let text = if fill { n.to_string() } else { format!("{n:0width$}") };
        match ordinal {
            Some(upper) => format!("{text}{}", ordinal_suffix(n, upper)),
            None => text,
        }
    };
    let name = |n: &str, pad: usize| -> String {
        let text = cased(n, case_of(written));
        if fill { text } else { format!("{text:<pad$}") }
    };
    let year = t.year() as i64;
    let display_year = if year <= 0 { 1 - year } else { year };
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h as i64,
    };
    let iso = t.iso_week();
    let pm = t.hour() >= 12;
    let upper_meridiem = !written.starts_with(|c: char| c.is_lowercase());
    match pattern {
        "HH24" => number(t.hour() as i64, 2),
        "HH12" | "HH" => number(hour12, 2),
        "MI" => number(t.minute() as i64, 2),
        "SS" => number(t.second() as i64, 2),
        "MS" => number((t.nanosecond() / 1_000_000) as i64, 3),
        "US" => number((t.nanosecond() / 1_000) as i64, 6),
        "FF1" | "FF2" | "FF3" | "FF4" | "FF5" | "FF6" => {
            let digits = pattern.as_bytes()[2] - b'0';
            number((t.nanosecond() / 10u32.pow(9 - digits as u32)) as i64, digits as usize)
        }
        "SSSS" | "SSSSS" => number(t.num_seconds_from_midnight() as i64, 0),
        "Y,YYY" => format!("{},{:03}", display_year / 1000, display_year % 1000),
        "YYYY" => number(display_year, 4),
        "YYY" => number(display_year % 1000, 3),
        "YY" => number(display_year % 100, 2),
        "Y" => number(display_year % 10, 1),
        "IYYY" => number(iso.year() as i64, 4),
        "IYY" => number(iso.year() as i64 % 1000, 3),
        "IY" => number(iso.year() as i64 % 100, 2),
        "I" => number(iso.year() as i64 % 10, 1),
        "MONTH" => name(MONTHS[t.month0() as usize], 9),
        "MON" => cased(&MONTHS[t.month0() as usize][..3], case_of(written)),
        "MM" => number(t.month() as i64, 2),
        "DAY" => name(DAYS[t.weekday().num_days_from_sunday() as usize], 9),
        "DY" => cased(&DAYS[t.weekday().num_days_from_sunday() as usize][..3], case_of(written)),
        "DDD" => number(t.ordinal() as i64, 3),
        "IDDD" => number(((iso.week() as i64 - 1) * 7) + t.weekday().number_from_monday() as i64, 3),
        "DD" => number(t.day() as i64, 2),
        "D" => number(t.weekday().number_from_sunday() as i64, 1),
        "ID" => number(t.weekday().number_from_monday() as i64, 1),
        "W" => number((t.day() as i64 - 1) / 7 + 1, 1),
        "WW" => number((t.ordinal() as i64 - 1) / 7 + 1, 2),
        "IW" => number(iso.week() as i64, 2),
        "CC" => number(if year > 0 { (year + 99) / 100 } else { -((display_year + 99) / 100) }, 2),
        "J" => number(julian_day(t.date()), 0),
        "Q" => number((t.month0() / 3 + 1) as i64, 1),
        "RM" => {
            let text = cased(ROMAN[t.month0() as usize], case_of(written));
            if fill { text } else { format!("{text:<4}") }
        }
        "AM" | "PM" => cased(if pm { "PM" } else { "AM" }, if upper_meridiem { Case::Upper } else { Case::Lower }),
        "A.M." | "P.M." => cased(if pm { "P.M." } else { "A.M." }, if upper_meridiem { Case::Upper } else { Case::Lower }),
        "AD" | "BC" => cased(if year <= 0 { "BC" } else { "AD" }, if upper_meridiem { Case::Upper } else { Case::Lower }),
        "A.D." | "B.C." => cased(if year <= 0 { "B.C." } else { "A.D." }, if upper_meridiem { Case::Upper } else { Case::Lower }),
        "TZ" => match offset_seconds {
            Some(_) => cased("UTC", if upper_meridiem { Case::Upper } else { Case::Lower }),
            None => String::new(),
        },
        "OF" => match offset_seconds {
            Some(s) => {
                let (sign, s) = if s < 0 { ('-', -s) } else { ('+', s) };
                if s % 3600 == 0 { format!("{sign}{:02}", s / 3600) } else { format!("{sign}{:02}:{:02}", s / 3600, s % 3600 / 60) }
            }
            None => String::new(),
        },
        _ => written.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_micro_opt(h, mi, s, 123_456).unwrap()
    }

    #[test]
    fn templates_as_postgres_formats_them() {
        let t = at(2024, 2, 29, 15, 4, 5);
        assert_eq!(to_char(&t, None, "YYYY-MM-DD HH24:MI:SS.MS"), "2024-02-29 15:04:05.123");
        assert_eq!(to_char(&t, None, "DD/MM/YYYY MM/DD/YY"), "29/02/2024 02/29/24");
        assert_eq!(to_char(&t, None, "[Month] [FMMonth] Mon MON mon"), "[February ] [February] Feb FEB feb");
        assert_eq!(to_char(&t, None, "[Day] Dy DY dy"), "[Thursday ] Thu THU thu");
        assert_eq!(to_char(&t, None, "FMDay, FMDD FMMonth YYYY"), "Thursday, 29 February 2024");
        assert_eq!(to_char(&at(2024, 3, 5, 0, 0, 0), None, "DD FMDD DDTH FMDDth"), "05 5 05TH 5th");
        assert_eq!(to_char(&t, None, "DDD WW IW Q D ID"), "060 09 09 1 5 4");
        assert_eq!(to_char(&at(2021, 1, 3, 0, 0, 0), None, "IYYY-IW YYYY-WW"), "2020-53 2021-01");
        assert_eq!(to_char(&t, None, "J"), "2460370");
        assert_eq!(to_char(&t, None, "CC Y YY YYY Y,YYY"), "21 4 24 024 2,024");
        assert_eq!(to_char(&t, None, "[RM rm]"), "[II   ii  ]");
        assert_eq!(to_char(&t, None, "\"Quarter\" Q \"of\" YYYY"), "Quarter 1 of 2024");
        assert_eq!(to_char(&t, None, "HH12:MI AM hh pm"), "03:04 PM 03 pm");
        assert_eq!(to_char(&t, Some(0), "YYYY-MM-DD TZ OF"), "2024-02-29 UTC +00");
        assert_eq!(to_char(&t, None, "US FF1 FF3 FF6 SSSS"), "123456 1 123 123456 54245");
    }
}
