//! The SQL dialect Ember parses: PostgreSQL's, as sqlparser has it, with one change.
//!
//! sqlparser 0.62 parses a function argument in the PostgreSQL dialect twice when it is
//! not a named argument: once speculatively as the name of an `expr => value` argument,
//! then again as the value. Every level of nested calls doubles the work, so
//! `abs(abs(... abs(-1) ...))` 30 deep takes hours and ties up a server thread
//! (apache/datafusion-sqlparser-rs#2392, fixed after 0.62). PostgreSQL's named arguments
//! are `name => value` and `name := value` with an identifier as the name, which the
//! other path parses in one pass: [`EmberDialect`] takes that path and delegates
//! everything else to [`PostgreSqlDialect`] (it also reports itself as that dialect, so
//! the parser's dialect checks stay true). Drop the wrapper once the parser is fixed.

use std::any::TypeId;

use datafusion::sql::sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

/// PostgreSQL's dialect without expression-named function arguments (see the module).
#[derive(Debug, Default)]
pub struct EmberDialect(PostgreSqlDialect);

impl Dialect for EmberDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        false
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.0.identifier_quote_style(identifier)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.0.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }

    fn supports_unicode_string_literal(&self) -> bool {
        self.0.supports_unicode_string_literal()
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        self.0.is_reserved_for_identifier(kw)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.0.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.0.get_next_precedence(parser)
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        self.0.supports_filter_during_aggregation()
    }

    fn supports_group_by_expr(&self) -> bool {
        self.0.supports_group_by_expr()
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        self.0.prec_value(prec)
    }

    fn allow_extract_custom(&self) -> bool {
        self.0.allow_extract_custom()
    }

    fn allow_extract_single_quotes(&self) -> bool {
        self.0.allow_extract_single_quotes()
    }

    fn supports_create_index_with_clause(&self) -> bool {
        self.0.supports_create_index_with_clause()
    }

    fn supports_explain_with_utility_options(&self) -> bool {
        self.0.supports_explain_with_utility_options()
    }

    fn supports_listen_notify(&self) -> bool {
        self.0.supports_listen_notify()
    }

    fn supports_factorial_operator(&self) -> bool {
        self.0.supports_factorial_operator()
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        self.0.supports_bitwise_shift_operators()
    }

    fn supports_comment_on(&self) -> bool {
        self.0.supports_comment_on()
    }

    fn supports_load_extension(&self) -> bool {
        self.0.supports_load_extension()
    }

    fn supports_named_fn_args_with_colon_operator(&self) -> bool {
        self.0.supports_named_fn_args_with_colon_operator()
    }

    fn supports_empty_projections(&self) -> bool {
        self.0.supports_empty_projections()
    }

    fn supports_nested_comments(&self) -> bool {
        self.0.supports_nested_comments()
    }

    fn supports_string_escape_constant(&self) -> bool {
        self.0.supports_string_escape_constant()
    }

    fn supports_numeric_literal_underscores(&self) -> bool {
        self.0.supports_numeric_literal_underscores()
    }

    fn supports_array_typedef_with_brackets(&self) -> bool {
        self.0.supports_array_typedef_with_brackets()
    }

    fn supports_geometric_types(&self) -> bool {
        self.0.supports_geometric_types()
    }

    fn supports_set_names(&self) -> bool {
        self.0.supports_set_names()
    }

    fn supports_alter_column_type_using(&self) -> bool {
        self.0.supports_alter_column_type_using()
    }

    fn supports_notnull_operator(&self) -> bool {
        self.0.supports_notnull_operator()
    }

    fn supports_interval_options(&self) -> bool {
        self.0.supports_interval_options()
    }

    fn supports_insert_table_alias(&self) -> bool {
        self.0.supports_insert_table_alias()
    }

    fn supports_create_table_like_parenthesized(&self) -> bool {
        self.0.supports_create_table_like_parenthesized()
    }

    fn supports_select_wildcard_with_alias(&self) -> bool {
        self.0.supports_select_wildcard_with_alias()
    }

    fn supports_comma_separated_trim(&self) -> bool {
        self.0.supports_comma_separated_trim()
    }

    fn supports_xml_expressions(&self) -> bool {
        self.0.supports_xml_expressions()
    }

    fn supports_comment_optimizer_hint(&self) -> bool {
        self.0.supports_comment_optimizer_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(dialect: &dyn Dialect, sql: &str) -> String {
        format!("{:?}", Parser::parse_sql(dialect, sql).unwrap())
    }

    #[test]
    fn parses_as_postgresql_does() {
        for sql in [
            "SELECT a::int, 'x' ~ 'y', b ->> 'k', c @> d, 3 !, 1 << 2, x NOTNULL FROM t",
            "SELECT count(*) FILTER (WHERE x), json_object('a', 1) FROM t GROUP BY ROLLUP (a)",
            "SELECT U&'\\0041', E'a\\nb', \"Quoted\"\"Name\", $1, $tag$body$tag$ FROM s.t AS a(b)",
            "SELECT extract('epoch' FROM now()), trim(both 'x' FROM y), 1_000 /* a /* nested */ comment */",
            "CREATE TABLE t (a int[], b point, c circle)",
            "EXPLAIN (ANALYZE, VERBOSE) SELECT abs(abs(-1)) WHERE NOT x OR y AND z",
        ] {
            assert_eq!(parse(&EmberDialect::default(), sql), parse(&PostgreSqlDialect {}, sql), "{sql}");
        }
    }

    #[test]
    fn named_arguments_are_named_by_an_identifier() {
        let parsed = parse(&EmberDialect::default(), "SELECT make_interval(days => 1, hours => 2)");
        assert_eq!(parsed.matches("Named { name: Ident { value: ").count(), 2, "{parsed}");
    }

    #[test]
    fn nested_calls_parse_in_linear_time() {
        let sql = format!("SELECT {}-1{}", "abs(".repeat(200), ")".repeat(200));
        let dialect = EmberDialect::default();
        let mut parser = Parser::new(&dialect).with_recursion_limit(10_000).try_with_sql(&sql).unwrap();
        // Parsed twice per level, 200 levels would not finish in the age of the universe.
        parser.parse_statement().unwrap();
    }
}
