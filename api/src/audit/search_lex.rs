//! The search language's tokens: a query split into tokens at whitespace outside quotes, a
//! token into key and value, a value into its comma-separated alternatives, and quoting for
//! printing a query back ([`super::search`]).

use std::fmt;

/// Why a query does not parse. The message is Retraced's where Retraced has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError(pub String);

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Splits on whitespace outside double quotes; quotes stay in the tokens.
pub(super) fn tokenize(input: &str) -> Result<Vec<String>, SearchError> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in input.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(SearchError("unterminated quote in the query".to_owned()));
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    Ok(tokens)
}

/// `key:value` where the key is outside quotes and made of `[a-z_.]`.
pub(super) fn split_key(token: &str) -> Option<(&str, &str)> {
    let (key, value) = token.split_once(':')?;
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
    valid.then_some((key, value))
}

/// `a,"b c",d` into its values, unquoted; commas inside quotes belong to the value.
pub(super) fn split_values(value: &str) -> Result<Vec<String>, SearchError> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => values.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    values.push(current);
    Ok(values.into_iter().filter(|v| !v.is_empty()).collect())
}

pub(super) fn unquote(text: &str) -> String {
    text.chars().filter(|c| *c != '"').collect()
}

/// `value` as a query writes it: quoted when it is empty or holds whitespace, `,`, `:` or `-`.
pub(super) fn quote(value: &str) -> String {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == ':' || c == '-')
    {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}
