//! `COPY ... TO STDOUT` / `COPY ... FROM STDIN`: the PostgreSQL copy protocol statements.
//!
//! DataFusion's own `COPY source TO 'file'` writes files on the server and stays
//! DataFusion's. The STDOUT/STDIN forms are PostgreSQL's (psql's `\copy`, ADBC's binary
//! result path); they are parsed here into a query plus the output format.

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Expr, Ident, ObjectName, Query, SelectItem, SetExpr,
    Statement, TableFactor, TableWithJoins,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::{PlannerError, Result};

/// The copy data format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// `COPY ... TO STDOUT`: the rows of `query`, written as `options` say.
#[derive(Debug, Clone)]
pub struct CopyOut {
    /// A `SELECT` over the table (or the query given), planned like any query.
    pub query: Box<DfStatement>,
    pub options: CopyOptions,
}

/// How copy data is written.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub format: CopyFormat,
    pub header: bool,
    pub delimiter: char,
    pub null: String,
    pub quote: char,
}

/// What a `COPY` statement asks for, when it is one of the copy-protocol forms.
#[derive(Debug, Clone)]
pub enum CopyCommand {
    Out(CopyOut),
    In(CopyIn),
}

/// `COPY table [(columns)] FROM STDIN`: where the rows go and how they are written.
#[derive(Debug, Clone)]
pub struct CopyIn {
    /// The table as written (`"s"."t"`), to resolve like any relation name.
    pub table: String,
    /// The columns the data has, in order; empty for all of the table's.
    pub columns: Vec<String>,
    pub options: CopyOptions,
}

/// A copy-protocol `COPY` parsed by sqlparser ([`crate::parser`] picks those out); `None`
/// when it is something else.
pub fn from_statement(statement: Statement) -> Option<Result<CopyCommand>> {
    let Statement::Copy { source, to, target, options, legacy_options, .. } = statement else {
        return None;
    };
    match (to, target) {
        (true, CopyTarget::Stdout) => Some(copy_out(source, &options, &legacy_options).map(CopyCommand::Out)),
        (false, CopyTarget::Stdin) => Some(match source {
            CopySource::Table { table_name, columns } => copy_options(&options, &legacy_options).map(|options| {
                let columns = columns.iter().map(|c| if c.quote_style.is_some() { c.value.clone() } else { c.value.to_lowercase() }).collect();
                CopyCommand::In(CopyIn { table: table_name.to_string(), columns, options })
            }),
            CopySource::Query(_) => Err(PlannerError::Unsupported { feature: "COPY (query) FROM STDIN".to_string() }),
        }),
        _ => None,
    }
}

/// `SELECT columns | * FROM table`, built from the parsed names.
fn table_query(table: ObjectName, columns: Vec<Ident>) -> Result<Box<Query>> {
    let unsupported = || PlannerError::Unsupported { feature: "COPY of this table".to_string() };
    let mut query = match Parser::parse_sql(&PostgreSqlDialect {}, "SELECT * FROM t").map_err(datafusion::error::DataFusionError::from)?.pop() {
        Some(Statement::Query(query)) => query,
        _ => return Err(unsupported()),
    };
    let SetExpr::Select(select) = query.body.as_mut() else { return Err(unsupported()) };
    if !columns.is_empty() {
        select.projection = columns.into_iter().map(|c| SelectItem::UnnamedExpr(Expr::Identifier(c))).collect();
    }
    let Some(TableWithJoins { relation: TableFactor::Table { name, .. }, .. }) = select.from.first_mut() else { return Err(unsupported()) };
    *name = table;
    Ok(query)
}

fn copy_out(source: CopySource, options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyOut> {
    let query = match source {
        CopySource::Query(query) => query,
        CopySource::Table { table_name, columns } => table_query(table_name, columns)?,
    };
    let options = copy_options(options, legacy)?;
    Ok(CopyOut { query: Box::new(DfStatement::Statement(Box::new(Statement::Query(query)))), options })
}

/// The format options of a `COPY`, in the current or the legacy syntax.
fn copy_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyOptions> {
    let mut out = CopyOptions {
        format: CopyFormat::Text,
        header: false,
        delimiter: '\t',
        null: "\\N".to_string(),
        quote: '"',
    };
    let mut delimiter = None;
    let mut null = None;
    for option in options {
        match option {
            CopyOption::Format(name) => {
                out.format = match name.value.to_ascii_lowercase().as_str() {
                    "text" => CopyFormat::Text,
                    "csv" => CopyFormat::Csv,
                    "binary" => CopyFormat::Binary,
                    other => return Err(PlannerError::Unsupported { feature: format!("COPY format \"{other}\"") }),
                }
            }
            CopyOption::Header(h) => out.header = *h,
            CopyOption::Delimiter(c) => delimiter = Some(*c),
            CopyOption::Null(s) => null = Some(s.clone()),
            CopyOption::Quote(c) => out.quote = *c,
            CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
            other => return Err(PlannerError::Unsupported { feature: format!("COPY option {other}") }),
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Binary => out.format = CopyFormat::Binary,
            CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
            CopyLegacyOption::Null(s) => null = Some(s.clone()),
            CopyLegacyOption::Csv(csv) => {
                out.format = CopyFormat::Csv;
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => out.header = true,
                        CopyLegacyCsvOption::Quote(c) => out.quote = *c,
                        other => return Err(PlannerError::Unsupported { feature: format!("COPY option {other}") }),
                    }
                }
            }
            other => return Err(PlannerError::Unsupported { feature: format!("COPY option {other}") }),
        }
    }
    if out.format == CopyFormat::Csv {
        out.delimiter = ',';
        out.null = String::new();
    }
    if let Some(d) = delimiter {
        out.delimiter = d;
    }
    if let Some(n) = null {
        out.null = n;
    }
    if out.header && out.format != CopyFormat::Csv {
        return Err(PlannerError::Unsupported { feature: "COPY HEADER outside CSV format".to_string() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_copy(sql: &str) -> Option<Result<CopyCommand>> {
        match crate::parser::parse(sql, Default::default()).unwrap().pop()? {
            crate::parser::Parsed::CopyProtocol(statement) => from_statement(*statement),
            _ => None,
        }
    }

    fn out(sql: &str) -> CopyOptions {
        out_query(sql).options
    }

    fn out_query(sql: &str) -> CopyOut {
        match parse_copy(sql).unwrap().unwrap() {
            CopyCommand::Out(out) => out,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn copy_to_stdout_forms() {
        let text = out("COPY t TO STDOUT");
        assert_eq!((text.format, text.delimiter, text.null.as_str()), (CopyFormat::Text, '\t', "\\N"));
        assert_eq!(out_query("COPY t TO STDOUT").query.to_string(), "SELECT * FROM t");
        let csv = out("COPY (SELECT a FROM t) TO STDOUT WITH (FORMAT csv, HEADER)");
        assert_eq!((csv.format, csv.header, csv.delimiter, csv.null.as_str()), (CopyFormat::Csv, true, ',', ""));
        assert_eq!(out_query("copy t (a, b) to stdout with csv header").query.to_string(), "SELECT a, b FROM t");
        assert_eq!(out("COPY (SELECT 1) TO STDOUT (FORMAT binary)").format, CopyFormat::Binary);
        assert_eq!(out("COPY t TO STDOUT WITH (DELIMITER '|', NULL 'x')").delimiter, '|');
    }

    #[test]
    fn copy_from_stdin_and_datafusion_copy() {
        match parse_copy("COPY s.\"T\" (A, \"B\") FROM STDIN WITH (FORMAT csv, HEADER)") {
            Some(Ok(CopyCommand::In(copy))) => {
                assert_eq!((copy.table.as_str(), copy.columns.as_slice()), ("s.\"T\"", &["a".to_string(), "B".to_string()][..]));
                assert_eq!((copy.options.format, copy.options.header, copy.options.delimiter), (CopyFormat::Csv, true, ','));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_copy("COPY t FROM STDIN"), Some(Ok(CopyCommand::In(_)))));
        assert!(parse_copy("COPY t TO 'out.parquet'").is_none());
        assert!(parse_copy("SELECT 1").is_none());
        assert!(matches!(parse_copy("COPY t TO STDOUT (FORMAT xml)"), Some(Err(_))));
    }
}
