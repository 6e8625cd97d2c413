//! JSON text appended to a `String`, byte for byte as serde_json and async-graphql's scalars
//! write the same values, for the page writer ([`super::audit_page`]).
//!
//! Writing into a `String` rather than a byte buffer means the finished page needs no UTF-8
//! check (every piece is already text), and these writers skip the formatting machinery that
//! `write!` and `ScalarType::to_value` go through for every id and timestamp of a page.
//! `tests/integration/api/raw_json.rs` compares each writer with serde's or chrono's output.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Appends `text` as a JSON string, escaped exactly as serde_json escapes it: `"` and `\`
/// with a backslash, the control characters with their short forms or `\u00XX` (lower-case
/// hex), everything else as it is.
pub fn push_str(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `byte` is ASCII, so `i` and `i + 1` are character boundaries.
        out.push_str(&text[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Appends `text` as a JSON string, or `null`.
pub fn push_opt_str(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => push_str(out, text),
        None => out.push_str("null"),
    }
}

/// Appends `n` in decimal, as a JSON string (the form of an `ID`).
pub fn push_id(out: &mut String, n: i64) {
    out.push('"');
    push_int(out, n);
    out.push('"');
}

/// Appends `n` in decimal.
fn push_int(out: &mut String, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// Appends `id` as a JSON string, hyphenated and lower case (the `UUID` scalar's form).
pub fn push_uuid(out: &mut String, id: uuid::Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push('"');
    out.push_str(id.hyphenated().encode_lower(&mut text));
    out.push('"');
}

/// Appends `at` as a JSON string in the form async-graphql's `DateTime` scalar gives it
/// (`DateTime::to_rfc3339`: `2026-11-22T09:30:00.123456+00:00`, with 0, 3, 6 or 9 fraction
/// digits, as few as show the value exactly).
pub fn push_datetime(out: &mut String, at: DateTime<Utc>) {
    let (year, nanos) = (at.year(), at.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        // Five-digit or negative years and leap seconds: chrono's own writer.
        return push_str(out, &at.to_rfc3339());
    }
    out.push('"');
    push_digits(out, year as u32, 4);
    out.push('-');
    push_digits(out, at.month(), 2);
    out.push('-');
    push_digits(out, at.day(), 2);
    out.push('T');
    push_digits(out, at.hour(), 2);
    out.push(':');
    push_digits(out, at.minute(), 2);
    out.push(':');
    push_digits(out, at.second(), 2);
    if nanos != 0 {
        out.push('.');
        if nanos % 1_000_000 == 0 {
            push_digits(out, nanos / 1_000_000, 3);
        } else if nanos % 1_000 == 0 {
            push_digits(out, nanos / 1_000, 6);
        } else {
            push_digits(out, nanos, 9);
        }
    }
    out.push_str("+00:00\"");
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}
