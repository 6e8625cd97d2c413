//! The longest text each field of an audit event may hold, in characters, for every way in
//! (`recordAuditEvent`, Retraced's publish, the product in Retraced's path).
//!
//! Several of these columns are keys of btree indexes, whose entries PostgreSQL caps at about
//! 2,700 bytes: a 20,000-character `actor.id` failed its insert with an internal error, and
//! Retraced's clients retry a 5xx for ever. Every limit here keeps an index entry under that
//! cap even in 4-byte characters (512 × 4 = 2,048 bytes), and each is far above what the
//! field holds in practice (docs/api.md lists them).

use crate::error::ApiError;

/// `product` (and Retraced's `{project}` in the path).
pub const PRODUCT: usize = 100;
/// `action`.
pub const ACTION: usize = 200;
/// The ids of the actor, the target and the group (`actor.id`, `target.id`, `group.id`).
pub const ID: usize = 512;
/// Display names (`actor.name`, `target.name`, `group.name`).
pub const NAME: usize = 512;
/// Kinds (`actor.type`, `target.type`).
pub const KIND: usize = 100;
/// `userAgent`.
pub const USER_AGENT: usize = 1_024;
/// Links (`actor.href`, `target.href`).
pub const HREF: usize = 2_048;
/// Free text (`description`).
pub const DESCRIPTION: usize = 8_192;
/// Short labels of a Retraced event (`component`, `version`, `external_id`, `displayTitle`,
/// `created`, `source_ip`) and the keys of its `fields` and `metadata` maps.
pub const LABEL: usize = 512;
/// The values of a Retraced event's `fields` and `metadata` maps.
pub const MAP_VALUE: usize = 8_192;

/// `Some(message)` when `value` is longer than `max` characters.
pub fn too_long(field: &str, value: &str, max: usize) -> Option<String> {
    // Bytes bound characters from above: most values are decided without counting.
    if value.len() <= max {
        return None;
    }
    let chars = value.chars().count();
    (chars > max).then(|| format!("{field} has {chars} characters; at most {max} are allowed"))
}

/// `BAD_USER_INPUT` about `field` when `value` is longer than `max` characters.
pub fn check(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value.and_then(|v| too_long(field, v, max)) {
        Some(message) => Err(ApiError::bad_input(field, message)),
        None => Ok(()),
    }
}

/// `text` cut to at most `max` characters (for values the server takes from the request, such
/// as its `User-Agent`, which the caller did not ask to store as given).
pub fn cut(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Deepest nesting of a JSON value stored (event metadata, entitlement config, identity
/// provider metadata). Reading a stored value back stops at 128 levels (serde_json), so a
/// deeper one, written through a variable inside an inline object, was stored and then made
/// every page showing it fail.
pub const JSON_DEPTH: usize = 64;

/// `BAD_USER_INPUT` about `field` when `value` nests arrays and objects deeper than
/// [`JSON_DEPTH`]. Walks the value without recursion.
pub fn check_json_depth(field: &str, value: &serde_json::Value) -> Result<(), ApiError> {
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth > JSON_DEPTH {
            return Err(ApiError::bad_input(
                field,
                format!("{field} nests arrays and objects more than {JSON_DEPTH} levels deep"),
            ));
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}
