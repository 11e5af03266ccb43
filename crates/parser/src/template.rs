//! Values with variables: `$name`, `${name}` and regex captures `$1`..`$9`, split into
//! literal and variable parts once, the way `ngx_http_script_compile()` reads them.
//! Which names exist is the compiler's business; this module only splits.

use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::satisfy;
use nom::combinator::map;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// A piece of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// Text copied as is.
    Literal(&'a str),
    /// `$name` or `${name}`.
    Var(&'a str),
    /// `$1`..`$9`: a regex capture.
    Capture(u8),
}

/// Why a value does not split, in nginx's words (the caller adds the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `invalid variable name in "..."`: a `$` not followed by a name.
    InvalidName,
    /// `the closing bracket in "..." variable is missing`.
    MissingBracket,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn capture(i: &str) -> IResult<&str, Part<'_>> {
    map(satisfy(|c| ('1'..='9').contains(&c)), |c| {
        Part::Capture(c as u8 - b'0')
    })
    .parse(i)
}

fn braced(i: &str) -> IResult<&str, Part<'_>> {
    map(
        delimited(tag("{"), take_while(is_name_char), tag("}")),
        Part::Var,
    )
    .parse(i)
}

fn bare(i: &str) -> IResult<&str, Part<'_>> {
    map(take_while1(is_name_char), Part::Var).parse(i)
}

fn variable(i: &str) -> IResult<&str, Part<'_>> {
    preceded(tag("$"), nom::branch::alt((capture, braced, bare))).parse(i)
}

/// Splits `s` into parts. Adjacent literal text is one part.
pub fn split(s: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let lit_len = rest.find('$').unwrap_or(rest.len());
        if lit_len > 0 {
            parts.push(Part::Literal(&rest[..lit_len]));
            rest = &rest[lit_len..];
            continue;
        }
        match variable(rest) {
            Ok((tail, Part::Var(""))) => {
                let _ = tail;
                return Err(TemplateError::InvalidName);
            }
            Ok((tail, part)) => {
                parts.push(part);
                rest = tail;
            }
            Err(_) => {
                let after = &rest[1..];
                if let Some(inner) = after.strip_prefix('{') {
                    // `${` whose name is not closed by `}`; `${}` and `$` alone are bad names.
                    let name_len = inner
                        .find(|c: char| !is_name_char(c))
                        .unwrap_or(inner.len());
                    if inner.len() > name_len || name_len > 0 {
                        return Err(TemplateError::MissingBracket);
                    }
                }
                return Err(TemplateError::InvalidName);
            }
        }
    }
    Ok(parts)
}

/// Whether `s` contains a `$`, i.e. would be compiled as a template by nginx.
pub fn has_variables(s: &str) -> bool {
    s.contains('$')
}

/// Variable names used in `s`, ignoring errors.
pub fn var_names(s: &str) -> impl Iterator<Item = &str> {
    split(s)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            Part::Var(n) => Some(n),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Part::*;

    #[test]
    fn splits() {
        assert_eq!(
            split("a$b c").expect("should split"),
            vec![Literal("a"), Var("b"), Literal(" c")]
        );
        assert_eq!(
            split("${scheme}_x").expect("should split"),
            vec![Var("scheme"), Literal("_x")]
        );
        assert_eq!(
            split("/$1/$2x").expect("should split"),
            vec![
                Literal("/"),
                Capture(1),
                Literal("/"),
                Capture(2),
                Literal("x")
            ]
        );
        assert_eq!(
            split("$").expect_err("should not split"),
            TemplateError::InvalidName
        );
        assert_eq!(
            split("a$/").expect_err("should not split"),
            TemplateError::InvalidName
        );
        assert_eq!(
            split("${a-b}").expect_err("should not split"),
            TemplateError::MissingBracket
        );
        assert_eq!(
            split("${ab").expect_err("should not split"),
            TemplateError::MissingBracket
        );
        assert_eq!(
            split("${}").expect_err("should not split"),
            TemplateError::InvalidName
        );
    }
}
