//! Reading the data of `COPY ... FROM STDIN` in PostgreSQL's text and CSV formats, as it
//! arrives in CopyData messages of any size (a row may span two messages, a CSV field
//! several lines). Values come out as text (`None` for NULL); the caller casts them to the
//! column types with PostgreSQL's input rules.

use crate::copy::{CopyFormat, CopyOptions};
use crate::data_error::PgDataError;

/// One row of text values.
pub type Row = Vec<Option<String>>;

/// Incremental reader of one COPY's data.
#[derive(Debug)]
pub struct CopyReader {
    options: CopyOptions,
    columns: Vec<String>,
    /// Bytes of a row not yet complete.
    pending: Vec<u8>,
    /// Lines read so far (for error messages, as PostgreSQL counts them).
    line: u64,
    header_pending: bool,
    /// The end-of-data marker `\.` was seen: the rest is ignored.
    ended: bool,
    /// The line each row read since the last [`CopyReader::take_lines`] ended on.
    row_lines: Vec<u64>,
}

impl CopyReader {
    /// A reader for rows of `columns` (their names, for messages).
    pub fn new(options: CopyOptions, columns: Vec<String>) -> Self {
        let header_pending = options.header;
        Self { options, columns, pending: Vec::new(), line: 0, header_pending, ended: false, row_lines: Vec::new() }
    }

    /// Take `data`; complete rows are appended to `rows`.
    pub fn feed(&mut self, data: &[u8], rows: &mut Vec<Row>) -> Result<(), PgDataError> {
        if self.ended {
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        self.drain(rows, false)
    }

    /// The data is complete: a last row without its newline is read too.
    pub fn finish(&mut self, rows: &mut Vec<Row>) -> Result<(), PgDataError> {
        if self.ended || self.pending.is_empty() {
            return Ok(());
        }
        self.pending.push(b'\n');
        self.drain(rows, true)
    }

    fn drain(&mut self, rows: &mut Vec<Row>, last: bool) -> Result<(), PgDataError> {
        let mut start = 0;
        while !self.ended {
            let Some((record, end)) = (match self.options.format {
                CopyFormat::Csv => self.csv_record(start)?,
                _ => self.text_record(start)?,
            }) else {
                if last && start < self.pending.len() {
                    return Err(self.error("unterminated CSV quoted field"));
                }
                break;
            };
            start = end;
            let Some(fields) = record else {
                self.ended = true;
                break;
            };
            if std::mem::take(&mut self.header_pending) {
                continue;
            }
            rows.push(self.check_width(fields)?);
            self.row_lines.push(self.line);
        }
        self.pending.drain(..start.min(self.pending.len()));
        Ok(())
    }

    /// The line numbers of the rows read since the last call, in order (for messages
    /// about a value of a row, as PostgreSQL names its line).
    pub fn take_lines(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.row_lines)
    }

    fn check_width(&self, fields: Row) -> Result<Row, PgDataError> {
        use std::cmp::Ordering;
        match fields.len().cmp(&self.columns.len()) {
            Ordering::Equal => Ok(fields),
            Ordering::Greater => Err(self.error("extra data after last expected column")),
            Ordering::Less => Err(self.error(&format!("missing data for column \"{}\"", self.columns[fields.len()]))),
        }
    }

    fn error(&self, message: &str) -> PgDataError {
        PgDataError::new("22P04", format!("{message} (COPY line {})", self.line))
    }

    /// One text-format line from `start`: its fields and where the next line starts, or
    /// `None` if the line is not complete yet.
    /// (A record of `None` is the end-of-data marker `\.`.)
    fn text_record(&mut self, start: usize) -> Result<Option<(Option<Row>, usize)>, PgDataError> {
        let Some(newline) = self.pending[start..].iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let end = start + newline + 1;
        let mut line = &self.pending[start..start + newline];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.line += 1;
        if line == b"\\." {
            return Ok(Some((None, end)));
        }
        let delimiter = self.options.delimiter as u8;
        let null = self.options.null.as_bytes();
        let mut fields = Vec::new();
        let mut field_start = 0;
        let mut i = 0;
        while i <= line.len() {
            if i == line.len() || line[i] == delimiter {
                let raw = &line[field_start..i];
                fields.push(if raw == null { None } else { Some(self.unescape(raw)?) });
                field_start = i + 1;
            } else if line[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        Ok(Some((Some(fields), end)))
    }

    /// A text-format value with its backslash escapes resolved.
    fn unescape(&self, raw: &[u8]) -> Result<String, PgDataError> {
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            i += 1;
            if b != b'\\' || i == raw.len() {
                out.push(b);
                continue;
            }
            let c = raw[i];
            i += 1;
            match c {
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(0x0b),
                b'0'..=b'7' => {
                    let mut value = u32::from(c - b'0');
                    for _ in 0..2 {
                        match raw.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                value = value * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push((value & 0xff) as u8);
                }
                b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                    let mut value = 0u32;
                    for _ in 0..2 {
                        match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                            Some(d) => {
                                value = value * 16 + d;
                                i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(value as u8);
                }
                other => out.push(other),
            }
        }
        self.text(out)
    }

    fn text(&self, bytes: Vec<u8>) -> Result<String, PgDataError> {
        String::from_utf8(bytes).map_err(|_| PgDataError::new("22021", format!("invalid byte sequence for encoding \"UTF8\" (COPY line {})", self.line)))
    }

    /// One CSV record from `start` (quoted fields may hold newlines), or `None` if it is
    /// not complete yet.
    fn csv_record(&mut self, start: usize) -> Result<Option<(Option<Row>, usize)>, PgDataError> {
        let data = &self.pending;
        let (delimiter, quote) = (self.options.delimiter as u8, self.options.quote as u8);
        let mut fields: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut in_quotes = false;
        let mut lines = 0;
        let mut i = start;
        while i < data.len() {
            let b = data[i];
            i += 1;
            if in_quotes {
                if b == quote {
                    if data.get(i) == Some(&quote) {
                        field.push(quote);
                        i += 1;
                    } else if i == data.len() {
                        return Ok(None); // a doubled quote may follow in the next message
                    } else {
                        in_quotes = false;
                    }
                } else {
                    if b == b'\n' {
                        lines += 1;
                    }
                    field.push(b);
                }
            } else if b == quote {
                in_quotes = true;
                quoted = true;
            } else if b == delimiter {
                fields.push((std::mem::take(&mut field), std::mem::take(&mut quoted)));
            } else if b == b'\n' {
                if field.last() == Some(&b'\r') && !quoted {
                    field.pop();
                }
                fields.push((std::mem::take(&mut field), quoted));
                self.line += lines + 1;
                let null = self.options.null.as_bytes();
                if fields.len() == 1 && !fields[0].1 && fields[0].0 == b"\\." {
                    return Ok(Some((None, i)));
                }
                let row = fields
                    .into_iter()
                    .map(|(bytes, was_quoted)| if !was_quoted && bytes == null { Ok(None) } else { self.text(bytes).map(Some) })
                    .collect::<Result<Row, _>>()?;
                return Ok(Some((Some(row), i)));
            } else {
                field.push(b);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(format: CopyFormat, header: bool) -> CopyOptions {
        let csv = format == CopyFormat::Csv;
        CopyOptions { format, header, delimiter: if csv { ',' } else { '\t' }, null: if csv { String::new() } else { "\\N".to_string() }, quote: '"' }
    }

    fn read(format: CopyFormat, header: bool, chunks: &[&str]) -> Result<Vec<Row>, PgDataError> {
        let mut reader = CopyReader::new(options(format, header), vec!["a".into(), "b".into()]);
        let mut rows = Vec::new();
        for chunk in chunks {
            reader.feed(chunk.as_bytes(), &mut rows)?;
        }
        reader.finish(&mut rows)?;
        Ok(rows)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn text_format_escapes_nulls_and_rows_split_across_messages() {
        let rows = read(CopyFormat::Text, false, &["1\tone\n2\t\\N\n3\ttab\\there\\\\ \\", "n\\101\n4\tlast"]).unwrap();
        assert_eq!(rows, vec![vec![s("1"), s("one")], vec![s("2"), None], vec![s("3"), s("tab\there\\ \nA")], vec![s("4"), s("last")]]);
        assert_eq!(read(CopyFormat::Text, false, &["1\tx\n\\.\nignored\n"]).unwrap().len(), 1);
        let err = read(CopyFormat::Text, false, &["1\tx\n2\n"]).unwrap_err();
        assert_eq!((err.sqlstate(), err.to_string().as_str()), ("22P04", "missing data for column \"b\" (COPY line 2)"));
        assert!(read(CopyFormat::Text, false, &["1\t2\t3\n"]).unwrap_err().to_string().starts_with("extra data"));
    }

    #[test]
    fn csv_quotes_newlines_header_and_nulls() {
        let rows = read(CopyFormat::Csv, true, &["a,b\r\n1,\"x, \"\"y\"\"\n", "z\"\n2,\n3,\"\"\n"]).unwrap();
        assert_eq!(rows, vec![vec![s("1"), s("x, \"y\"\nz")], vec![s("2"), None], vec![s("3"), s("")]]);
        // Unquoted, `\.` ends the data; quoted, it is a value.
        let mut one = CopyReader::new(options(CopyFormat::Csv, false), vec!["a".into()]);
        let mut rows = Vec::new();
        one.feed(b"\"\\.\"\n\\.\nignored\n", &mut rows).unwrap();
        assert_eq!(rows, vec![vec![s("\\.")]]);
        let err = read(CopyFormat::Csv, false, &["1,\"open\n"]).unwrap_err();
        assert!(err.to_string().starts_with("unterminated CSV quoted field"), "{err}");
    }
}
