//! PostgreSQL's bytea input (`byteain`): the hex format (`\xdeadbeef`, whitespace allowed
//! between digit pairs) and the escape format (`abc\000`, `\\` for a backslash).

use super::PgDataError;

/// Decode bytea text. Errors carry PostgreSQL's SQLSTATEs: 22023 for bad hex data, 22P02
/// for a bad escape.
pub fn parse_bytea(text: &str) -> Result<Vec<u8>, PgDataError> {
    let bytes = text.as_bytes();
    if let Some(hex) = text.strip_prefix("\\x").or_else(|| text.strip_prefix("\\X")) {
        return parse_hex(hex);
    }
    let syntax = || PgDataError::new("22P02", "invalid input syntax for type bytea".to_string());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = bytes.get(i + 1..i + 4).ok_or_else(syntax)?;
            if !(b'0'..=b'3').contains(&octal[0]) || !octal[1..].iter().all(|d| (b'0'..=b'7').contains(d)) {
                return Err(syntax());
            }
            out.push(octal.iter().fold(0u8, |acc, d| (acc << 3) | (d - b'0')));
            i += 4;
        }
    }
    Ok(out)
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, PgDataError> {
    let digit = |c: char| -> Result<u8, PgDataError> {
        c.to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or_else(|| PgDataError::new("22023", format!("invalid hexadecimal digit: \"{c}\"")))
    };
    let mut out = Vec::with_capacity(hex.len() / 2);
    let mut chars = hex.chars().filter(|c| !c.is_ascii_whitespace());
    while let Some(high) = chars.next() {
        let high = digit(high)?;
        let low = chars
            .next()
            .ok_or_else(|| PgDataError::new("22023", "invalid hexadecimal data: odd number of digits".to_string()))?;
        out.push(high << 4 | digit(low)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values and SQLSTATEs checked against PostgreSQL 15.
    #[test]
    fn hex_and_escape_formats() {
        assert_eq!(parse_bytea("\\xdeadbeef").unwrap(), vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(parse_bytea("\\xDE AD").unwrap(), vec![0xde, 0xad]);
        assert_eq!(parse_bytea("\\x").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_bytea("abc\\000d").unwrap(), b"abc\0d".to_vec());
        assert_eq!(parse_bytea("a\\\\b").unwrap(), b"a\\b".to_vec());
        assert_eq!(parse_bytea("\\377").unwrap(), vec![0xff]);
        assert_eq!(parse_bytea("plain").unwrap(), b"plain".to_vec());
        for (text, state) in [("\\xabc", "22023"), ("\\xzz", "22023"), ("a\\9", "22P02"), ("a\\0", "22P02"), ("ab\\", "22P02"), ("\\400", "22P02")] {
            assert_eq!(parse_bytea(text).unwrap_err().sqlstate(), state, "{text}");
        }
    }
}
