//! PostgreSQL's text form of `real` and `double precision` (`float4out`, `float8out`):
//! the shortest digits that read back exactly (or 15 / 6 significant digits plus
//! `extra_float_digits` when that is 0 or less), in exponent notation outside
//! `1e-4 <= |v| < 1e15` (`1e+20`, `1.5e-07`), `-0`, `NaN`, `Infinity`. Used by the wire
//! layer for result columns and by [`crate::casts`] for a float cast to text.

/// float8out: shortest exact digits when extra_float_digits > 0, else 15 + extra_float_digits
/// significant digits; exponent notation outside 1e-4 <= |v| < 1e15.
pub fn float8_text(v: f64, extra_float_digits: i32) -> String {
    float_text(v, 15, extra_float_digits, |v| format!("{v:e}"))
}

/// float4out: as float8out with 6 significant digits as the precision.
pub fn float4_text(v: f32, extra_float_digits: i32) -> String {
    float_text(v as f64, 6, extra_float_digits, |_| format!("{v:e}"))
}

fn float_text(v: f64, digits: i32, extra_float_digits: i32, shortest: impl Fn(f64) -> String) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let scientific = if extra_float_digits > 0 {
        shortest(v)
    } else {
        let precision = (digits + extra_float_digits).max(1) as usize;
        format!("{:.*e}", precision - 1, v)
    };
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits_only: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits_only = digits_only.trim_end_matches('0');
    let digits_only = if digits_only.is_empty() { "0" } else { digits_only };
    let sign = if negative { "-" } else { "" };
    let limit = if extra_float_digits > 0 { digits } else { (digits + extra_float_digits).max(1) };
    if exponent < -4 || exponent >= limit {
        let (first, rest) = digits_only.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{exp_sign}{:02}", exponent.abs())
    } else if exponent < 0 {
        format!("{sign}0.{}{}", "0".repeat((-exponent - 1) as usize), digits_only)
    } else {
        let int_len = exponent as usize + 1;
        if digits_only.len() <= int_len {
            format!("{sign}{}{}", digits_only, "0".repeat(int_len - digits_only.len()))
        } else {
            format!("{sign}{}.{}", &digits_only[..int_len], &digits_only[int_len..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are what PostgreSQL 15 prints for the same values.
    #[test]
    fn floats_like_postgres() {
        let cases: &[(f64, &str)] = &[
            (3993.0, "3993"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-2.25, "-2.25"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (1e20, "1e+20"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (0.0, "0"),
            (213890.0, "213890"),
        ];
        for (v, expected) in cases {
            assert_eq!(float8_text(*v, 1), *expected, "{v}");
        }
        assert_eq!(float4_text(1.5, 1), "1.5");
        assert_eq!(float4_text(1e6, 1), "1e+06");
        assert_eq!(float4_text(100000.0, 1), "100000");
        assert_eq!(float4_text(0.1, 1), "0.1");
        // extra_float_digits = 0: 15 significant digits
        assert_eq!(float8_text(1.0 / 3.0, 0), "0.333333333333333");
        assert_eq!(float8_text(0.1 + 0.2, 0), "0.3");
        assert_eq!(float8_text(0.1 + 0.2, 1), "0.30000000000000004");
    }

    #[test]
    fn negative_zero_and_large_exponents() {
        assert_eq!(float8_text(-0.0, 1), "-0");
        assert_eq!(float8_text(1e100, 1), "1e+100");
    }
}
