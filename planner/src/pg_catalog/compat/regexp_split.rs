//! Rule (catalog queries): `regexp_split_to_table(s, p)` becomes
//! `unnest(string_to_array(regexp_replace(s, p, chr(31), 'g'), chr(31)))`. DataFusion has
//! no `regexp_split_to_table`; pgcli's casing query splits function sources (`prosrc`) into
//! words with it. Text holding the unit separator itself would split there too, which is
//! why the rule stays inside catalog queries.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::Query;

use super::Site;
use super::ast::{Template, replace_calls};

static SPLIT: LazyLock<Option<Template>> =
    LazyLock::new(|| Template::expr("unnest(string_to_array(regexp_replace($1, $2, chr(31), 'g'), chr(31)))"));

pub fn apply(query: &mut Query, _: &Site<'_>) {
    if let Some(template) = SPLIT.as_ref() {
        replace_calls(query, "regexp_split_to_table", 2, template);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn regexp_split_to_table_as_unnest() {
        let out = rewritten("SELECT regexp_split_to_table(prosrc, '\\W+') AS word FROM pg_catalog.pg_proc");
        assert!(out.contains("unnest(string_to_array(regexp_replace(prosrc, '\\W+', chr(31), 'g'), chr(31))) AS word"), "{out}");
        let user = "SELECT regexp_split_to_table(body, ',') FROM t";
        assert_eq!(rewritten(user), user);
    }
}
