//! `COPY ... TO STDOUT` over the copy protocol: the result rows, encoded like DataRows
//! (text or binary, one path for every type), re-framed as PostgreSQL's text, CSV or
//! binary copy format.

use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::execution::SendableRecordBatchStream;
use ember_planner::copy::{CopyFormat, CopyOptions};
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::CopyResponse;
use pgwire::messages::copy::CopyData;
use pgwire::messages::data::DataRow;

use super::encode::{TextOptions, data_rows, field_infos};
use crate::statement::Limits;
use crate::error::ServerError;

/// The PGCOPY binary signature, flags and header-extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Build the copy-out response for a result stream.
pub fn copy_response(
    stream: SendableRecordBatchStream,
    options: CopyOptions,
    limits: Limits,
    text: TextOptions,
) -> Result<CopyResponse, ServerError> {
    let format = match options.format {
        CopyFormat::Binary => Format::UnifiedBinary,
        CopyFormat::Text | CopyFormat::Csv => Format::UnifiedText,
    };
    let fields = Arc::new(field_infos(&stream.schema(), &format)?);
    let columns = fields.len();
    // Sent in front of the first row (so the row count in the command tag stays right),
    // or alone when there are no rows.
    let prefix = match options.format {
        CopyFormat::Binary => Some(Bytes::from_static(BINARY_HEADER)),
        CopyFormat::Csv if options.header => {
            let names: Vec<Option<&[u8]>> = fields.iter().map(|f| Some(f.name().as_bytes())).collect();
            let mut line = BytesMut::new();
            write_line(&mut line, &names, &options);
            Some(line.freeze())
        }
        _ => None,
    };
    let prefix = Arc::new(Mutex::new(prefix));
    let take_prefix = {
        let prefix = prefix.clone();
        move || prefix.lock().unwrap_or_else(|p| p.into_inner()).take()
    };
    let take_rest = take_prefix.clone();
    let rows = data_rows(stream, fields, limits, text).map(move |row| {
        let row = row?;
        let mut out = BytesMut::new();
        if let Some(prefix) = take_prefix() {
            out.extend_from_slice(&prefix);
        }
        frame_row(&mut out, &row, &options);
        Ok(CopyData::new(out.freeze()))
    });
    let rest = stream::once(async move { Ok(CopyData::new(take_rest().unwrap_or_default())) });
    let code = if options_binary(&format) { 1 } else { 0 };
    Ok(CopyResponse::new(code, columns, rows.chain(rest)))
}

fn options_binary(format: &Format) -> bool {
    matches!(format, Format::UnifiedBinary)
}

/// One DataRow as one line (text, CSV) or one tuple (binary) of copy data.
fn frame_row(out: &mut BytesMut, row: &DataRow, options: &CopyOptions) {
    if options.format == CopyFormat::Binary {
        // A binary DataRow's fields are already length-prefixed PostgreSQL binary values.
        out.put_i16(row.field_count);
        out.extend_from_slice(&row.data);
        return;
    }
    write_line(out, &fields(&row.data), options);
}

/// Split a DataRow body into its values (`None` for NULL).
fn fields(data: &[u8]) -> Vec<Option<&[u8]>> {
    let mut values = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        if len < 0 {
            values.push(None);
        } else {
            let len = (len as usize).min(rest.len());
            values.push(Some(&rest[..len]));
            rest = &rest[len..];
        }
    }
    values
}

/// Write one text or CSV line (with its newline).
fn write_line(out: &mut BytesMut, values: &[Option<&[u8]>], options: &CopyOptions) {
    let mut delimiter = [0u8; 4];
    let delimiter = options.delimiter.encode_utf8(&mut delimiter).as_bytes();
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(delimiter);
        }
        match (value, options.format) {
            (None, _) => out.extend_from_slice(options.null.as_bytes()),
            (Some(v), CopyFormat::Csv) => write_csv_value(out, v, delimiter, options),
            (Some(v), _) => write_text_value(out, v, delimiter),
        }
    }
    out.put_u8(b'\n');
}

/// Text format: backslash escapes for backslash, newline, carriage return, tab and the delimiter.
fn write_text_value(out: &mut BytesMut, value: &[u8], delimiter: &[u8]) {
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ if delimiter.len() == 1 && b == delimiter[0] => {
                out.put_u8(b'\\');
                out.put_u8(b);
            }
            _ => out.put_u8(b),
        }
    }
}

/// CSV: quoted when it holds the delimiter, the quote, a line break, or reads like NULL
/// (an empty string is `""`, NULL is empty).
fn write_csv_value(out: &mut BytesMut, value: &[u8], delimiter: &[u8], options: &CopyOptions) {
    let mut quote = [0u8; 4];
    let quote = options.quote.encode_utf8(&mut quote).as_bytes();
    let contains = |needle: &[u8]| !needle.is_empty() && value.windows(needle.len()).any(|w| w == needle);
    let needs_quotes = value.is_empty() && options.null.is_empty()
        || value == options.null.as_bytes()
        || contains(delimiter)
        || contains(quote)
        || value.contains(&b'\n')
        || value.contains(&b'\r');
    if !needs_quotes {
        out.extend_from_slice(value);
        return;
    }
    out.extend_from_slice(quote);
    let mut rest = value;
    while !rest.is_empty() {
        if rest.starts_with(quote) {
            out.extend_from_slice(quote);
            out.extend_from_slice(quote);
            rest = &rest[quote.len()..];
        } else {
            out.put_u8(rest[0]);
            rest = &rest[1..];
        }
    }
    out.extend_from_slice(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(format: CopyFormat) -> CopyOptions {
        let csv = format == CopyFormat::Csv;
        CopyOptions {
            format,
            header: false,
            delimiter: if csv { ',' } else { '\t' },
            null: if csv { String::new() } else { "\\N".to_string() },
            quote: '"',
        }
    }

    fn line(values: &[Option<&str>], format: CopyFormat) -> String {
        let values: Vec<Option<&[u8]>> = values.iter().map(|v| v.map(str::as_bytes)).collect();
        let mut out = BytesMut::new();
        write_line(&mut out, &values, &options(format));
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn text_format_escapes_and_nulls() {
        assert_eq!(line(&[Some("a\tb"), None, Some("x\\y\nz")], CopyFormat::Text), "a\\tb\t\\N\tx\\\\y\\nz\n");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(line(&[Some("plain"), Some("a,b"), Some("say \"hi\""), Some(""), None], CopyFormat::Csv), "plain,\"a,b\",\"say \"\"hi\"\"\",\"\",\n");
    }

    #[test]
    fn data_row_fields_split() {
        let mut data = BytesMut::new();
        data.put_i32(2);
        data.extend_from_slice(b"ab");
        data.put_i32(-1);
        data.put_i32(0);
        assert_eq!(fields(&data), vec![Some(&b"ab"[..]), None, Some(&b""[..])]);
    }
}
