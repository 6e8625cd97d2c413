//! JSON already written, carried through a response tree, and the response writer that splices
//! it in without reading it again.
//!
//! A value that is an object with the single member [`RAW_VALUE_TOKEN`] holding a string stands
//! for that string's JSON. This is async-graphql's own convention (its `raw_value` feature, on
//! here), so any serde serialisation of a response renders it correctly, after checking the
//! JSON; [`write_response`], which the HTTP endpoint uses, writes it as it is, since only this
//! server makes such values ([`super::audit_page`] writes a page's edges this way).

use async_graphql::Value;
use async_graphql::indexmap::IndexMap;

/// The member name that marks raw JSON (`async_graphql_value::RAW_VALUE_TOKEN`, which is serde
/// JSON's own token; `tests/integration/api/documents.rs` checks that serde splices it).
pub const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A value standing for `json`, which must be one valid JSON value.
pub fn raw(json: String) -> Value {
    let mut map = IndexMap::with_capacity(1);
    map.insert(
        async_graphql::Name::new(RAW_VALUE_TOKEN),
        Value::String(json),
    );
    Value::Object(map)
}

/// `response` as JSON: the bytes serde would write, with raw values spliced in unread.
pub fn write_response(response: &async_graphql::Response) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"data\":");
    write_value(&mut out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.push(b'}');
    Ok(out)
}

/// Writes `value` as serde would, raw values spliced in as they are.
pub fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(json)) = map.get(RAW_VALUE_TOKEN)
            {
                out.extend_from_slice(json.as_bytes());
                return Ok(());
            }
            out.push(b'{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key)?;
                out.push(b':');
                write_value(out, value)?;
            }
            out.push(b'}');
        }
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        leaf => serde_json::to_writer(&mut *out, leaf)?,
    }
    Ok(())
}

/// Writes `text` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, text)
}
