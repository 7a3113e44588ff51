//! PostgreSQL-compatibility rewrites applied to parsed statements before planning.
//! Each rule is a small named function with its own test.

use std::collections::HashMap;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr, Ident, LimitClause, Query, SelectItem, SetExpr, Statement as SqlStatement, TableFactor,
};

/// Apply every rewrite rule to a statement. Fails where PostgreSQL refuses what a rule
/// reads (a named window combined in a way PostgreSQL does not allow).
pub fn apply(statement: &mut DfStatement) -> crate::Result<()> {
    if let DfStatement::Statement(inner) = statement {
        postgres_interval_literals(inner.as_mut());
        match inner.as_mut() {
            SqlStatement::Query(query) => {
                fetch_first_as_limit(query);
                postgres_column_names(query);
                name_inner_columns(query);
            }
            SqlStatement::CreateView(view) => {
                fetch_first_as_limit(&mut view.query);
                postgres_column_names(&mut view.query);
                name_inner_columns(&mut view.query);
            }
            _ => {}
        }
        // Last: the rules above read literals as written (column names, `FETCH` counts).
        // Only where values are computed: `SET x = 1024` hands DataFusion a constant.
        if matches!(
            inner.as_ref(),
            SqlStatement::Query(_)
                | SqlStatement::CreateView(_)
                | SqlStatement::Insert(_)
                | SqlStatement::Explain { .. }
                | SqlStatement::Prepare { .. }
                | SqlStatement::Execute { .. }
        ) {
            crate::named_windows::inherit_named_windows(inner.as_mut()).map_err(|e| crate::PlannerError::DataFusion(e.into()))?;
            crate::char_casts::bounded_character_casts(inner.as_mut());
            crate::array_compare::array_comparisons(inner.as_mut());
            crate::select_list_series::select_list_series(inner.as_mut());
            crate::at_time_zone::at_time_zone_calls(inner.as_mut());
            crate::join_using::merged_using_columns(inner.as_mut());
            crate::array_unnest::unnest_all_elements(inner.as_mut());
            crate::similar_to::similar_to_as_regex(inner.as_mut());
            crate::arith::unary_minus::minus_binds_tighter_than_power(inner.as_mut());
            crate::arith::literals::int4_literals(inner.as_mut());
        }
    }
    Ok(())
}

/// Rule, applied only when planning failed: parameters whose type neither the client nor a
/// direct cast gave (`$1 || $2`) become `CAST($n AS TEXT)` — PostgreSQL resolves an unknown
/// parameter it cannot otherwise type as `text`. Returns whether anything changed.
pub fn untyped_parameters_as_text(statement: &mut DfStatement) -> bool {
    use datafusion::sql::sqlparser::ast::{CastKind, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut};
    use std::collections::HashSet;
    use std::ops::ControlFlow;

    let DfStatement::Statement(inner) = statement else { return false };
    struct Cast(HashSet<String>);
    impl Visitor for Cast {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Cast { expr, .. } = expr
                && let Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) = expr.as_ref()
            {
                self.0.insert(p.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut cast = Cast(HashSet::new());
    let _ = Visit::visit(inner.as_ref(), &mut cast);
    struct Wrap<'a>(&'a HashSet<String>, bool);
    impl VisitorMut for Wrap<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) = expr
                && !self.0.contains(p.as_str())
            {
                *expr = Expr::Cast { kind: CastKind::Cast, expr: Box::new(expr.clone()), data_type: SqlType::Text, array: false, format: None };
                self.1 = true;
            }
            ControlFlow::Continue(())
        }
    }
    let mut wrap = Wrap(&cast.0, false);
    let _ = VisitMut::visit(inner.as_mut(), &mut wrap);
    wrap.1
}

/// Rule: output columns are named as PostgreSQL names them (`count`, `upper`, `int4`,
/// `?column?`) instead of DataFusion's expression text (`count(*)`, `Int64(1)`), which is
/// what clients show as headers. Names that would repeat within one select list are left
/// to DataFusion, which requires unique names.
pub fn postgres_column_names(query: &mut Query) {
    let SetExpr::Select(select) = first_select(query.body.as_mut()) else {
        return;
    };
    let names: Vec<Option<String>> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) if !is_column_ref(expr) => Some(figure_name(expr).unwrap_or_else(|| "?column?".to_string())),
            _ => None,
        })
        .collect();
    // DataFusion needs unique names within a projection, PostgreSQL does not: a name
    // already used gets an internal suffix after NAME_SUFFIX, which the wire layer strips.
    let mut taken: HashMap<String, usize> = HashMap::new();
    for item in &select.projection {
        let name = match item {
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(id.value.to_lowercase()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(ids)) => ids.last().map(|i| i.value.to_lowercase()),
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
            _ => None,
        };
        if let Some(name) = name {
            *taken.entry(name).or_default() += 1;
        }
    }
    for (position, (item, name)) in select.projection.iter_mut().zip(names).enumerate() {
        let Some(name) = name else { continue };
        let seen = taken.entry(name.clone()).or_default();
        let alias = if *seen == 0 { name } else { format!("{name}{NAME_SUFFIX}{position}") };
        *seen += 1;
        if let SelectItem::UnnamedExpr(expr) = item {
            let expr = std::mem::replace(expr, Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()));
            *item = SelectItem::ExprWithAlias { expr, alias: Ident::with_quote('"', alias) };
        }
    }
}

/// Rule: [`postgres_column_names`] also names the columns of `WITH` queries and of
/// subqueries in `FROM`, so an outer query can refer to them as PostgreSQL names them
/// (`WITH w AS (SELECT count(1) ...) SELECT count FROM w`, pgcli's casing query).
pub fn name_inner_columns(query: &mut Query) {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            postgres_column_names(&mut cte.query);
            name_inner_columns(&mut cte.query);
        }
    }
    if let SetExpr::Select(select) = first_select(query.body.as_mut()) {
        for from in &mut select.from {
            name_derived(&mut from.relation);
            for join in &mut from.joins {
                name_derived(&mut join.relation);
            }
        }
    }
}

/// Rule: `INTERVAL '...'` literals are read as PostgreSQL reads them (`'1 day 02:03:04'`,
/// `'P1DT2H'`, `'1-2'`). DataFusion plans the literal itself with Arrow's parser, which
/// lacks the time-field and ISO forms, so the text is replaced by its PostgreSQL value in
/// a form Arrow reads exactly (`N months N days N nanoseconds`); text PostgreSQL rejects
/// becomes a cast, which [`crate::pg_input`] answers with PostgreSQL's error (22007).
/// Intervals with a unit (`INTERVAL '1' DAY`) are left to DataFusion.
pub fn postgres_interval_literals(statement: &mut SqlStatement) {
    use datafusion::sql::sqlparser::ast::{CastKind, Value, ValueWithSpan, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Interval(interval) = expr
                && interval.leading_field.is_none()
                && interval.last_field.is_none()
                && let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), .. }) = interval.value.as_mut()
            {
                match crate::pg_input::parse_interval(text).ok().and_then(|i| i.month_day_nano()) {
                    Some((months, days, nanos)) => *text = format!("{months} months {days} days {nanos} nanoseconds"),
                    None => {
                        let value = std::mem::replace(interval.value.as_mut(), Expr::value(Value::Null));
                        *expr = Expr::Cast {
                            kind: CastKind::Cast,
                            expr: Box::new(value),
                            data_type: SqlType::Interval { fields: None, precision: None },
                            array: false,
                            format: None,
                        };
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Visitor);
}

fn name_derived(relation: &mut TableFactor) {
    match relation {
        TableFactor::Derived { subquery, .. } => {
            postgres_column_names(subquery);
            name_inner_columns(subquery);
        }
        TableFactor::NestedJoin { table_with_joins, .. } => {
            name_derived(&mut table_with_joins.relation);
            for join in &mut table_with_joins.joins {
                name_derived(&mut join.relation);
            }
        }
        _ => {}
    }
}

/// Marks the internal part of a column name made unique for DataFusion; clients see only
/// what precedes it.
pub const NAME_SUFFIX: char = '\u{1f}';

/// The name a client sees for an output column.
pub fn client_column_name(name: &str) -> &str {
    name.split(NAME_SUFFIX).next().unwrap_or(name)
}

/// Rule: `FETCH FIRST n ROWS ONLY` (SQL standard, PostgreSQL) is `LIMIT n`; DataFusion
/// only plans `LIMIT`. `WITH TIES` and `PERCENT` are left for DataFusion to refuse.
pub fn fetch_first_as_limit(query: &mut Query) {
    let Some(fetch) = &query.fetch else { return };
    if fetch.with_ties || fetch.percent {
        return;
    }
    let quantity = fetch.quantity.clone().unwrap_or_else(|| Expr::value(datafusion::sql::sqlparser::ast::Value::Number("1".to_string(), false)));
    match &mut query.limit_clause {
        None => {
            query.limit_clause = Some(LimitClause::LimitOffset { limit: Some(quantity), offset: None, limit_by: vec![] });
        }
        Some(LimitClause::LimitOffset { limit: limit @ None, .. }) => *limit = Some(quantity),
        Some(_) => return,
    }
    query.fetch = None;
}

/// The select that names a query's columns: the leftmost branch of set operations.
fn first_select(body: &mut SetExpr) -> &mut SetExpr {
    match body {
        SetExpr::SetOperation { left, .. } => first_select(left),
        SetExpr::Query(q) => first_select(q.body.as_mut()),
        other => other,
    }
}

fn is_column_ref(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

/// PostgreSQL's FigureColname, for the expression kinds clients meet most.
pub fn figure_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(id) => Some(id.value.to_lowercase()),
        Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.to_lowercase()),
        Expr::Function(f) => f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase()),
        Expr::Cast { expr, data_type, .. } => figure_name(expr).or_else(|| type_name(data_type)),
        Expr::Nested(inner) => figure_name(inner),
        Expr::Case { .. } => Some("case".to_string()),
        Expr::Array(_) => Some("array".to_string()),
        Expr::Exists { .. } => Some("exists".to_string()),
        Expr::Extract { .. } => Some("extract".to_string()),
        Expr::AtTimeZone { .. } => Some("timezone".to_string()),
        Expr::Substring { .. } => Some("substring".to_string()),
        Expr::Trim { .. } => Some("btrim".to_string()),
        Expr::Position { .. } => Some("position".to_string()),
        Expr::Overlay { .. } => Some("overlay".to_string()),
        Expr::Ceil { .. } => Some("ceil".to_string()),
        Expr::Floor { .. } => Some("floor".to_string()),
        Expr::TypedString(ts) => type_name(&ts.data_type),
        Expr::Interval(_) => Some("interval".to_string()),
        Expr::Subquery(query) => match query.body.as_ref() {
            SetExpr::Select(select) => match select.projection.as_slice() {
                [SelectItem::ExprWithAlias { alias, .. }] => Some(alias.value.to_lowercase()),
                [SelectItem::UnnamedExpr(expr)] => figure_name(expr),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// PostgreSQL's internal type names, as used for the column name of a cast constant.
fn type_name(data_type: &SqlType) -> Option<String> {
    let name = match data_type {
        SqlType::Boolean | SqlType::Bool => "bool",
        SqlType::SmallInt(_) | SqlType::Int2(_) => "int2",
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) => "int4",
        SqlType::BigInt(_) | SqlType::Int8(_) => "int8",
        SqlType::Real | SqlType::Float4 => "float4",
        SqlType::Double(_) | SqlType::DoublePrecision | SqlType::Float8 | SqlType::Float(_) => "float8",
        SqlType::Numeric(_) | SqlType::Decimal(_) | SqlType::Dec(_) => "numeric",
        SqlType::Text | SqlType::String(_) => "text",
        SqlType::Varchar(_) | SqlType::CharacterVarying(_) => "varchar",
        SqlType::Char(_) | SqlType::Character(_) => "bpchar",
        SqlType::Bytea => "bytea",
        SqlType::Date => "date",
        SqlType::Time(..) => "time",
        SqlType::Timestamp(_, tz) => match tz {
            datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone | datafusion::sql::sqlparser::ast::TimezoneInfo::Tz => "timestamptz",
            _ => "timestamp",
        },
        SqlType::Interval { .. } => "interval",
        SqlType::Uuid => "uuid",
        SqlType::JSON => "json",
        SqlType::JSONB => "jsonb",
        SqlType::Array(_) => "array",
        _ => return None,
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Command, parse_for_test as parse};

    #[test]
    fn untyped_parameters_become_text_casts() {
        let mut commands = parse("SELECT $1 || $2, $3::INT, $4").unwrap();
        let Command::Plan(mut statement) = commands.remove(0) else { panic!() };
        assert!(untyped_parameters_as_text(&mut statement));
        assert_eq!(statement.to_string(), "SELECT CAST($1 AS TEXT) || CAST($2 AS TEXT), $3::INT, CAST($4 AS TEXT)");
        let mut commands = parse("SELECT $1::INT").unwrap();
        let Command::Plan(mut statement) = commands.remove(0) else { panic!() };
        assert!(!untyped_parameters_as_text(&mut statement));
    }

    fn rewritten(sql: &str) -> String {
        let mut commands = parse(sql).unwrap();
        match commands.remove(0) {
            Command::Plan(mut statement) => {
                apply(&mut statement).unwrap();
                statement.to_string()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn columns_named_like_postgres() {
        assert_eq!(rewritten("SELECT 1"), "SELECT CAST(1 AS INTEGER) AS \"?column?\"");
        assert_eq!(rewritten("SELECT count(*) FROM t"), "SELECT count(*) AS \"count\" FROM t");
        assert_eq!(rewritten("SELECT CAST('1' AS INT)"), "SELECT CAST('1' AS INT) AS \"int4\"");
        assert_eq!(rewritten("SELECT a::TEXT FROM t"), "SELECT a::TEXT AS \"a\" FROM t");
        assert_eq!(rewritten("SELECT a, b AS c FROM t"), "SELECT a, b AS c FROM t");
        assert_eq!(rewritten("SELECT CASE WHEN a THEN 1 END FROM t"), "SELECT CASE WHEN a THEN CAST(1 AS INTEGER) END AS \"case\" FROM t");
    }

    #[test]
    fn inner_queries_named_like_postgres() {
        assert_eq!(
            rewritten("WITH w AS (SELECT a, count(1) FROM t GROUP BY a) SELECT count FROM w"),
            "WITH w AS (SELECT a, count(1) AS \"count\" FROM t GROUP BY a) SELECT count FROM w"
        );
        assert_eq!(
            rewritten("SELECT row_number FROM (SELECT row_number() OVER (ORDER BY a) FROM t) AS s JOIN (SELECT 1) AS u ON true"),
            "SELECT row_number FROM (SELECT row_number() OVER (ORDER BY a) AS \"row_number\" FROM t) AS s JOIN (SELECT CAST(1 AS INTEGER) AS \"?column?\") AS u ON true"
        );
    }

    #[test]
    fn repeated_names_stay_unique_for_datafusion() {
        assert_eq!(rewritten("SELECT count(a), count(b) FROM t"), "SELECT count(a) AS \"count\", count(b) AS \"count\u{1f}1\" FROM t");
        assert_eq!(rewritten("SELECT 1, 2"), "SELECT CAST(1 AS INTEGER) AS \"?column?\", CAST(2 AS INTEGER) AS \"?column?\u{1f}1\"");
        assert_eq!(rewritten("SELECT upper(a), a AS upper FROM t"), "SELECT upper(a) AS \"upper\u{1f}0\", a AS upper FROM t");
        assert_eq!(client_column_name("count\u{1f}1"), "count");
        assert_eq!(rewritten("SELECT (SELECT max(x) FROM t)"), "SELECT (SELECT max(x) FROM t) AS \"max\"");
    }

    #[test]
    fn interval_literals_read_as_postgres() {
        assert_eq!(rewritten("SELECT INTERVAL '1 day 02:03:04' AS i"), "SELECT INTERVAL '0 months 1 days 7384000000000 nanoseconds' AS i");
        assert_eq!(rewritten("SELECT INTERVAL 'P1Y' AS i"), "SELECT INTERVAL '12 months 0 days 0 nanoseconds' AS i");
        assert_eq!(rewritten("SELECT INTERVAL 'bogus' AS i"), "SELECT CAST('bogus' AS INTERVAL) AS i");
        assert_eq!(rewritten("SELECT INTERVAL '1' DAY AS i"), "SELECT INTERVAL '1' DAY AS i");
    }

    #[test]
    fn fetch_first_becomes_limit() {
        assert_eq!(rewritten("SELECT a FROM t FETCH FIRST 2 ROWS ONLY"), "SELECT a FROM t LIMIT 2");
        assert_eq!(rewritten("SELECT a FROM t OFFSET 1 ROWS FETCH NEXT 3 ROWS ONLY"), "SELECT a FROM t LIMIT 3 OFFSET 1 ROWS");
    }

    #[test]
    fn set_operations_name_from_the_first_branch() {
        assert_eq!(rewritten("SELECT 1 UNION SELECT 2"), "SELECT CAST(1 AS INTEGER) AS \"?column?\" UNION SELECT CAST(2 AS INTEGER)");
    }
}
