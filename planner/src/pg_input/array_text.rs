//! PostgreSQL's text form of a one-dimensional array (`{a, "b c", NULL, "q\"uote"}`), for
//! untyped parameters whose type the plan does not fix: drivers send `c.relkind = ANY($2)`
//! with `$2` as text of unknown type (ADBC writes `{"p", "f", "r"}`), and PostgreSQL reads
//! it as an array of the left side's type.

/// The elements of `text`, or `None` when it is not a one-dimensional array literal.
/// Unquoted elements are trimmed and `NULL` (any case) is SQL NULL; quoted elements keep
/// their spaces and take `\` as an escape, as in PostgreSQL's `array_in`.
pub fn parse(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let item = if chars.next_if_eq(&'"').is_some() {
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            Some(value)
        } else {
            let mut value = String::new();
            while let Some(c) = chars.next_if(|c| *c != ',') {
                match c {
                    '{' | '}' | '"' => return None,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
            let value = value.trim_end().to_string();
            if value.is_empty() {
                return None;
            }
            (!value.eq_ignore_ascii_case("null")).then_some(value)
        };
        items.push(item);
        match chars.next() {
            None => return Some(items),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn some(items: &[&str]) -> Option<Vec<Option<String>>> {
        Some(items.iter().map(|s| Some(s.to_string())).collect())
    }

    #[test]
    fn postgres_array_literals() {
        assert_eq!(parse(r#"{"p", "f", "r"}"#), some(&["p", "f", "r"]));
        assert_eq!(parse("{r,v}"), some(&["r", "v"]));
        assert_eq!(parse("{ a b , c }"), some(&["a b", "c"]));
        assert_eq!(parse(r#"{"x, y","q\"uote",back\\slash}"#), some(&["x, y", "q\"uote", "back\\slash"]));
        assert_eq!(parse(r#"{NULL,"NULL",null}"#), Some(vec![None, Some("NULL".to_string()), None]));
        assert_eq!(parse("{}"), Some(vec![]));
        assert_eq!(parse(r#"{" padded "}"#), some(&[" padded "]));
    }

    #[test]
    fn other_text_is_not_an_array() {
        assert_eq!(parse(r#"{"a": 1}"#), None);
        assert_eq!(parse("{{1,2},{3,4}}"), None);
        assert_eq!(parse("{a,,b}"), None);
        assert_eq!(parse(r#"{"open}"#), None);
        assert_eq!(parse("plain"), None);
    }
}
