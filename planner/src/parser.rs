//! Ember's statement parser: DataFusion's parser in the PostgreSQL dialect, extended at the
//! start of a statement for the PostgreSQL statements neither DataFusion nor sqlparser
//! parse. Each extension looks at the statement's leading tokens in the parser's own token
//! stream, so a comment, a string literal or an identifier never triggers one:
//!
//! - `ABORT [WORK | TRANSACTION]` is PostgreSQL's `ROLLBACK`;
//! - `COPY ... TO STDOUT` / `COPY ... FROM STDIN` (the copy protocol) are parsed by
//!   sqlparser, while DataFusion keeps its own `COPY ... TO 'file'`;
//! - `ALTER VIEW [IF EXISTS] name RENAME TO new` (sqlparser knows `ALTER VIEW ... AS`);
//! - `CREATE FUNCTION ... WITH (option, ...)`: Ember's function options are taken out of
//!   the statement's tokens and the rest is parsed by sqlparser.

use datafusion::error::DataFusionError;
use datafusion::sql::parser::{DFParser, DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{CreateFunction, Statement as SqlStatement};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::alter::{RelationKind, RenameSpec};
use crate::depth::{self, Nesting};
use crate::dialect::EmberDialect;
use crate::function::FunctionOption;
use crate::{PlannerError, Result};

/// One statement as Ember's parser produced it.
#[derive(Debug)]
pub enum Parsed {
    /// Parsed by DataFusion's parser (which hands most statements to sqlparser).
    Statement(DfStatement),
    /// `ABORT`.
    Abort,
    /// `COPY ... TO STDOUT | FROM STDIN`.
    CopyProtocol(Box<SqlStatement>),
    /// `ALTER VIEW ... RENAME TO ...`.
    RenameView(RenameSpec),
    /// `CREATE FUNCTION` with the options of its `WITH (...)` clause (none if it had none).
    CreateFunction(Box<CreateFunction>, Vec<FunctionOption>),
}

/// Parse `sql`: one or more statements separated by `;`, each checked against `nesting`
/// (54001 when deeper) and with its long chains balanced ([`crate::depth`]).
///
/// The parser builds an operator chain as a tree as deep as the chain is long, and what
/// is dropped before this returns — a statement refused for its depth, a statement
/// before one that does not parse, the parser's partial tree at a syntax error — is
/// dropped recursively, once per level (65 to 128 bytes of stack a level, measured on
/// the debug build for operator, cast and UNION chains). A tree is at most half as deep
/// as its text is long, so a text too long for the stack left is parsed on a stack grown
/// for it, twice over.
pub fn parse(sql: &str, nesting: Nesting) -> Result<Vec<Parsed>> {
    const STACK_PER_BYTE: usize = 128;
    const MARGIN: usize = 1 << 20;
    if sql.len() > nesting.max_text {
        return Err(PlannerError::StatementTooLong { length: sql.len(), limit: nesting.max_text });
    }
    let needed = sql.len().saturating_mul(STACK_PER_BYTE);
    if stacker::remaining_stack().is_some_and(|left| left > needed + MARGIN) {
        parse_and_prepare(sql, nesting)
    } else {
        stacker::grow(needed + MARGIN, || parse_and_prepare(sql, nesting))
    }
}

fn parse_and_prepare(sql: &str, nesting: Nesting) -> Result<Vec<Parsed>> {
    let mut statements = match parse_statements(sql, nesting) {
        Err(PlannerError::DataFusion(DataFusionError::SQL(e, _))) if matches!(*e, ParserError::RecursionLimitExceeded) => {
            return Err(PlannerError::StackDepth { limit: nesting.max_depth });
        }
        other => other?,
    };
    statements.iter_mut().try_for_each(|parsed| match parsed {
        Parsed::Statement(statement) => depth::prepare(statement, nesting),
        _ => Ok(()),
    })?;
    Ok(statements)
}

fn parse_statements(sql: &str, nesting: Nesting) -> Result<Vec<Parsed>> {
    let dialect = EmberDialect::default();
    let mut df = DFParserBuilder::new(sql).with_dialect(&dialect).with_recursion_limit(nesting.max_depth).build()?;
    let mut statements = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while df.parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        if df.parser.peek_token_ref().token == Token::EOF {
            break;
        }
        if expecting_delimiter {
            let found = df.parser.peek_token();
            return Err(syntax(df.parser.expected::<()>("end of statement", found).err()));
        }
        statements.push(statement(&mut df)?);
        expecting_delimiter = true;
    }
    Ok(statements)
}

fn statement(df: &mut DFParser<'_>) -> Result<Parsed> {
    let [first, second, third, fourth] = df.parser.peek_tokens::<4>().map(|t| keyword(&t));
    match (first, second) {
        (Some(Keyword::ABORT), _) => {
            df.parser.next_token();
            let _ = df.parser.parse_one_of_keywords(&[Keyword::WORK, Keyword::TRANSACTION]);
            Ok(Parsed::Abort)
        }
        (Some(Keyword::COPY), _) if copies_through_protocol(&df.parser) => {
            Ok(Parsed::CopyProtocol(Box::new(df.parser.parse_statement().map_err(|e| syntax(Some(e)))?)))
        }
        (Some(Keyword::ALTER), Some(Keyword::VIEW)) => match df.parser.maybe_parse(view_rename).map_err(|e| syntax(Some(e)))? {
            Some(rename) => Ok(Parsed::RenameView(rename?)),
            None => Ok(Parsed::Statement(df.parse_statement()?)),
        },
        (Some(Keyword::CREATE), _) if creates_function([second, third, fourth]) => create_function(&mut df.parser),
        _ => Ok(Parsed::Statement(df.parse_statement()?)),
    }
}

fn keyword(token: &Token) -> Option<Keyword> {
    match token {
        Token::Word(Word { keyword, .. }) if *keyword != Keyword::NoKeyword => Some(*keyword),
        _ => None,
    }
}

fn syntax(error: Option<ParserError>) -> PlannerError {
    let error = error.unwrap_or_else(|| ParserError::ParserError("syntax error".to_string()));
    PlannerError::DataFusion(DataFusionError::SQL(Box::new(error), None))
}

/// Whether the `COPY` statement ahead copies `TO STDOUT` or `FROM STDIN`: the word right
/// after its `TO` or `FROM` (the first one outside parentheses) is `STDOUT` or `STDIN`. A
/// table or column named `stdout` elsewhere in the statement does not count.
fn copies_through_protocol(parser: &Parser<'_>) -> bool {
    let mut depth = 0usize;
    for n in 0.. {
        match &parser.peek_nth_token_ref(n).token {
            Token::EOF => return false,
            Token::SemiColon if depth == 0 => return false,
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w.quote_style.is_none() && matches!(w.keyword, Keyword::TO | Keyword::FROM) => {
                return matches!(
                    &parser.peek_nth_token_ref(n + 1).token,
                    Token::Word(target) if target.quote_style.is_none() && matches!(target.keyword, Keyword::STDOUT | Keyword::STDIN)
                );
            }
            _ => {}
        }
    }
    false
}

/// `ALTER VIEW [IF EXISTS] name RENAME TO new_name`; a parser error (which `maybe_parse`
/// turns into "not this form") for any other `ALTER VIEW`.
fn view_rename(parser: &mut Parser<'_>) -> std::result::Result<Result<RenameSpec>, ParserError> {
    parser.expect_keywords(&[Keyword::ALTER, Keyword::VIEW])?;
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    parser.expect_keywords(&[Keyword::RENAME, Keyword::TO])?;
    let new_name = parser.parse_object_name(false)?;
    Ok(RenameSpec::new(&name, &new_name, if_exists, RelationKind::View))
}

/// `OR REPLACE`, `TEMP` / `TEMPORARY` and then `FUNCTION`, after `CREATE`.
fn creates_function(next: [Option<Keyword>; 3]) -> bool {
    matches!(
        next,
        [Some(Keyword::FUNCTION), ..]
            | [Some(Keyword::TEMP | Keyword::TEMPORARY), Some(Keyword::FUNCTION), _]
            | [Some(Keyword::OR), Some(Keyword::REPLACE), Some(Keyword::FUNCTION)]
            | [Some(Keyword::OR), Some(Keyword::REPLACE), Some(Keyword::TEMP | Keyword::TEMPORARY)]
    )
}

/// The tokens of the `CREATE FUNCTION` ahead, without its `WITH (...)` option lists, go to
/// sqlparser; the options are returned beside the parsed statement.
fn create_function(parser: &mut Parser<'_>) -> Result<Parsed> {
    let mut tokens: Vec<TokenWithSpan> = Vec::new();
    let mut depth = 0usize;
    loop {
        let next = parser.peek_token_no_skip();
        match &next.token {
            Token::EOF => break,
            Token::SemiColon if depth == 0 => break,
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        parser.next_token_no_skip();
        tokens.push(next);
    }
    let plain: Vec<Token> = tokens.iter().map(|t| t.token.clone()).collect();
    let (kept, options) = crate::function::lift_options(&plain)?;
    let kept: Vec<TokenWithSpan> = kept.into_iter().map(|i| tokens[i].clone()).collect();
    let dialect = EmberDialect::default();
    let mut rest = Parser::new(&dialect).with_tokens_with_locations(kept);
    let statement = rest.parse_statement().map_err(|e| syntax(Some(e)))?;
    // The statement must take every token up to the `;`: nothing may trail it.
    if rest.peek_token_ref().token != Token::EOF {
        let found = rest.peek_token();
        return Err(syntax(rest.expected::<()>("end of statement", found).err()));
    }
    match statement {
        SqlStatement::CreateFunction(create) => Ok(Parsed::CreateFunction(Box::new(create), options)),
        other => Ok(Parsed::Statement(DfStatement::Statement(Box::new(other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Result<Vec<Parsed>> {
        super::parse(sql, Nesting::default())
    }

    fn kinds(sql: &str) -> Vec<&'static str> {
        parse(sql)
            .unwrap()
            .iter()
            .map(|p| match p {
                Parsed::Statement(_) => "statement",
                Parsed::Abort => "abort",
                Parsed::CopyProtocol(_) => "copy",
                Parsed::RenameView(_) => "rename view",
                Parsed::CreateFunction(..) => "create function",
            })
            .collect()
    }

    #[test]
    fn abort_is_a_statement_wherever_it_stands() {
        assert_eq!(kinds("ABORT"), ["abort"]);
        assert_eq!(kinds("abort work;"), ["abort"]);
        assert_eq!(kinds("ABORT; SELECT 1"), ["abort", "statement"]);
        assert_eq!(kinds("SELECT 1; ABORT TRANSACTION"), ["statement", "abort"]);
        assert_eq!(kinds("/* abort */ SELECT 'abort' AS abort"), ["statement"]);
        assert!(parse("ABORT now").is_err());
    }

    #[test]
    fn copy_protocol_forms_are_ours_file_copies_datafusions() {
        assert_eq!(kinds("COPY t TO STDOUT"), ["copy"]);
        assert_eq!(kinds("copy (select 1) to stdout with (format csv); select 2"), ["copy", "statement"]);
        assert_eq!(kinds("COPY t FROM STDIN"), ["copy"]);
        assert_eq!(kinds("COPY t TO '/tmp/x.parquet' STORED AS PARQUET"), ["statement"]);
        assert_eq!(kinds("COPY (SELECT 'stdout') TO '/tmp/x.csv'"), ["statement"]);
    }

    #[test]
    fn only_the_target_after_to_or_from_decides() {
        // A table named stdout / stdin, copied to or from a file.
        assert_eq!(kinds("COPY stdout TO '/tmp/x.csv'"), ["statement"]);
        assert_eq!(kinds("COPY stdin TO '/tmp/x.csv'"), ["statement"]);
        assert_eq!(kinds("COPY (SELECT stdout FROM t) TO '/tmp/x.csv'"), ["statement"]);
        // ... or through the protocol.
        assert_eq!(kinds("COPY stdout TO STDOUT"), ["copy"]);
        assert_eq!(kinds("COPY stdin (a, b) FROM stdin"), ["copy"]);
        assert_eq!(kinds("COPY (SELECT a FROM stdin) TO STDOUT"), ["copy"]);
        assert_eq!(kinds("COPY t TO '/tmp/stdout'"), ["statement"]);
    }

    #[test]
    fn alter_view_rename() {
        let parsed = parse("alter view if exists \"S\".v rename to w").unwrap();
        let [Parsed::RenameView(spec)] = parsed.as_slice() else { panic!("{parsed:?}") };
        assert_eq!((spec.new_name.as_str(), spec.kind, spec.if_exists), ("w", RelationKind::View, true));
        assert_eq!(kinds("ALTER VIEW v AS SELECT 1"), ["statement"]);
        assert_eq!(kinds("ALTER TABLE t RENAME TO u"), ["statement"]);
    }

    #[test]
    fn create_function_options_are_lifted_from_its_tokens() {
        let sql = "CREATE OR REPLACE FUNCTION f(x bigint) RETURNS bigint LANGUAGE python WITH (vectorized = 'pandas') AS $$\ndef f(x): return x\n$$; SELECT 1";
        let parsed = parse(sql).unwrap();
        let [Parsed::CreateFunction(create, options), Parsed::Statement(_)] = parsed.as_slice() else { panic!("{parsed:?}") };
        assert_eq!(create.name.to_string(), "f");
        assert_eq!(options.len(), 1);
        assert_eq!((options[0].name.as_str(), options[0].value.as_deref()), ("vectorized", Some("pandas")));
        assert_eq!(kinds("CREATE TEMPORARY FUNCTION g() RETURNS int LANGUAGE python AS 'def g(): return 1'"), ["create function"]);
        assert_eq!(kinds("SELECT 'create function' AS function"), ["statement"]);
    }

    #[test]
    fn syntax_errors_stay_errors() {
        assert!(parse("SELEC 1").is_err());
        assert!(parse("SELECT 1 SELECT 2").is_err());
        assert!(parse("CREATE FUNCTION f( RETURNS").is_err());
    }

    #[test]
    fn create_function_must_end_where_its_statement_ends() {
        let sql = "CREATE FUNCTION f(x bigint) RETURNS bigint LANGUAGE python AS 'def f(x): return x'";
        assert_eq!(kinds(sql), ["create function"]);
        assert_eq!(kinds(&format!("{sql} ;")), ["create function"]);
        assert!(parse(&format!("{sql} trailing junk")).is_err());
        assert!(parse(&format!("{sql} WITH (vectorized = 'pandas') 42; SELECT 1")).is_err());
        assert!(parse("CREATE FUNCTION g() RETURNS int LANGUAGE python AS 'def g(): return 1' AS 'again'").is_err());
    }
}
