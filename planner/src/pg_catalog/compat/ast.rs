//! Small helpers for building and reading sqlparser AST nodes in the rules.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query,
    Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Run a by-value rewrite (`Statement -> Statement`) on a statement in place.
pub fn take_statement(statement: &mut Statement, rewrite: impl FnOnce(Statement) -> Statement) {
    let placeholder = Statement::Commit { chain: false, end: false, modifier: None };
    let owned = std::mem::replace(statement, placeholder);
    *statement = rewrite(owned);
}

/// Run a by-value statement rewrite on one query in place.
pub fn take_query(query: &mut Query, rewrite: impl FnOnce(Statement) -> Statement) {
    static EMPTY: std::sync::LazyLock<Option<QueryTemplate>> = std::sync::LazyLock::new(|| QueryTemplate::parse("SELECT 1"));
    let Some(empty) = EMPTY.as_ref() else { return };
    let owned = std::mem::replace(query, *empty.fill(&[]));
    match rewrite(Statement::Query(Box::new(owned))) {
        Statement::Query(done) => *query = *done,
        // The rules given here rewrite a query into a query.
        other => tracing::warn!("a query rule produced a {other}: left out"),
    }
}

/// The last part of a function's name, lowercased (`pg_catalog.Format` -> `format`).
pub fn function_name(f: &Function) -> Option<String> {
    f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase())
}

/// The name of a built-in function as a call spells it: unqualified or qualified with
/// `pg_catalog`, folded as PostgreSQL folds identifiers (`pg_catalog.Format` -> `format`).
/// `None` for a name in any other schema (`public.to_regclass`: a user's function).
pub fn builtin_function_name(f: &Function) -> Option<String> {
    let parts: Vec<&Ident> = f.name.0.iter().map(|p| p.as_ident()).collect::<Option<_>>()?;
    match parts.as_slice() {
        [name] => Some(super::scope::fold(name)),
        [schema, name] if super::scope::fold(schema) == "pg_catalog" => Some(super::scope::fold(name)),
        _ => None,
    }
}

/// The arguments of a plain call `f(a, b)` (no named arguments, no clauses).
pub fn plain_args(f: &Function) -> Option<Vec<&Expr>> {
    let FunctionArguments::List(list) = &f.args else { return None };
    if !list.clauses.is_empty() || list.duplicate_treatment.is_some() {
        return None;
    }
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// The column a (possibly qualified) column reference names.
pub fn column_name(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Identifier(ident) => Some(ident),
        Expr::CompoundIdentifier(parts) => parts.last(),
        _ => None,
    }
}

/// `name(args...)`.
pub fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// A string literal.
pub fn string(text: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(text.to_string()).into())
}

/// `CAST(NULL AS type)`.
pub fn typed_null(data_type: DataType) -> Expr {
    Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
        expr: Box::new(Expr::Value(Value::Null.into())),
        data_type,
        array: false,
        format: None,
    }
}

/// Whether a data type is spelled `name` (case-insensitive, `pg_catalog.` allowed).
pub fn type_is(data_type: &DataType, names: &[&str]) -> bool {
    let text = data_type.to_string().to_ascii_lowercase();
    names.contains(&text.strip_prefix("pg_catalog.").unwrap_or(&text))
}

/// A piece of SQL parsed once, with `$1`, `$2`, ... standing for expressions filled in
/// per use. The filled-in expressions are moved in as nodes: nothing is printed and
/// parsed again.
#[derive(Debug)]
pub struct Template(Expr);

impl Template {
    /// Parse the template text (a constant of the rule; a typo fails the rule's tests).
    pub fn expr(text: &str) -> Option<Self> {
        Parser::new(&PostgreSqlDialect {}).try_with_sql(text).ok()?.parse_expr().ok().map(Self)
    }

    /// A copy of the template with `$n` replaced by `args[n - 1]`.
    pub fn fill(&self, args: &[&Expr]) -> Expr {
        let mut expr = self.0.clone();
        fill_placeholders(&mut expr, args);
        expr
    }
}

/// A query parsed once, with `$n` placeholders filled per use (see [`Template`]).
#[derive(Debug)]
pub struct QueryTemplate(Box<Query>);

impl QueryTemplate {
    pub fn parse(text: &str) -> Option<Self> {
        match Parser::parse_sql(&PostgreSqlDialect {}, text).ok()?.pop()? {
            Statement::Query(query) => Some(Self(query)),
            _ => None,
        }
    }

    pub fn fill(&self, args: &[&Expr]) -> Box<Query> {
        let mut query = self.0.clone();
        fill_placeholders(query.as_mut(), args);
        query
    }
}

fn fill_placeholders<T: VisitMut>(node: &mut T, args: &[&Expr]) {
    struct Fill<'a>(&'a [&'a Expr]);
    impl VisitorMut for Fill<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) = e
                && let Some(index) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                && let Some(arg) = index.checked_sub(1).and_then(|i| self.0.get(i))
            {
                *e = (*arg).clone();
            }
            ControlFlow::Continue(())
        }
    }
    let _ = node.visit(&mut Fill(args));
}

/// Visit every expression of a node after its children (a rule's usual shape).
/// Replace every call of the function `name` with exactly as many plain arguments as
/// `template` has placeholders by `template` filled with those arguments.
pub fn replace_calls<T: VisitMut>(node: &mut T, name: &str, arity: usize, template: &Template) {
    each_expr(node, |expr| {
        if let Expr::Function(f) = expr
            && function_name(f).as_deref() == Some(name)
            && let Some(args) = plain_args(f)
            && args.len() == arity
        {
            let replacement = template.fill(&args);
            *expr = replacement;
        }
    });
}

pub fn each_expr<T: VisitMut>(node: &mut T, mut f: impl FnMut(&mut Expr)) {
    struct Each<F>(F);
    impl<F: FnMut(&mut Expr)> VisitorMut for Each<F> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            (self.0)(e);
            ControlFlow::Continue(())
        }
    }
    let _ = node.visit(&mut Each(&mut f));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_nodes_in_place_of_placeholders() {
        let template = Template::expr("coalesce($1, $2) + $1").unwrap();
        let a = Expr::Identifier(Ident::new("a"));
        let b = string("x");
        assert_eq!(template.fill(&[&a, &b]).to_string(), "coalesce(a, 'x') + a");
        // A placeholder with no argument is left as it is.
        assert_eq!(template.fill(&[&a]).to_string(), "coalesce(a, $2) + a");
    }

    #[test]
    fn builtin_names_are_unqualified_or_in_pg_catalog() {
        let name = |sql: &str| match Template::expr(sql).unwrap().0 {
            Expr::Function(f) => builtin_function_name(&f),
            other => panic!("{other}"),
        };
        assert_eq!(name("to_regclass('t')").as_deref(), Some("to_regclass"));
        assert_eq!(name("PG_CATALOG.To_RegClass('t')").as_deref(), Some("to_regclass"));
        assert_eq!(name("\"pg_catalog\".obj_description(1)").as_deref(), Some("obj_description"));
        assert_eq!(name("public.to_regclass('t')"), None);
        assert_eq!(name("\"PG_CATALOG\".to_regclass('t')"), None);
        assert_eq!(name("\"TO_REGCLASS\"('t')").as_deref(), Some("TO_REGCLASS"));
        assert_eq!(name("db.pg_catalog.to_regclass('t')"), None);
    }
}
