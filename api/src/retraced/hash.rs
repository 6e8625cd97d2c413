//! The hash Retraced's clients verify for every published event: lowercase hex SHA-256 of a
//! canonical string of the event and the id the server gave it (see
//! `shared/reference/retraced-wire.md`). The Node client throws when it differs.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// What the hash covers.
#[derive(Debug, Default, Clone)]
pub struct Hashed<'a> {
    /// The id returned to the client.
    pub id: &'a str,
    /// The action.
    pub action: &'a str,
    /// `target.id`.
    pub target_id: Option<&'a str>,
    /// `actor.id`.
    pub actor_id: Option<&'a str>,
    /// `group.id`.
    pub group_id: Option<&'a str>,
    /// `source_ip` as sent.
    pub source_ip: Option<&'a str>,
    /// `is_failure`.
    pub is_failure: bool,
    /// `is_anonymous`.
    pub is_anonymous: bool,
    /// `fields` (absent and empty differ).
    pub fields: Option<&'a BTreeMap<String, String>>,
    /// `external_id`.
    pub external_id: Option<&'a str>,
    /// `metadata` (absent and empty differ).
    pub metadata: Option<&'a BTreeMap<String, String>>,
}

/// `%` then `:` escaped.
fn e1(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A")
}

/// `=` then `;` escaped.
fn e2(s: &str) -> String {
    s.replace('=', "%3D").replace(';', "%3B")
}

/// `k=v;` for each entry, keys in JavaScript's default sort order (UTF-16 code units).
fn pairs(map: &BTreeMap<String, String>) -> String {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    keys.into_iter()
        .map(|k| format!("{}={};", e2(&e1(k)), e2(&e1(&map[k]))))
        .collect()
}

/// The canonical string.
pub fn canonical(event: &Hashed<'_>) -> String {
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut s = [
        e1(event.id),
        e1(event.action),
        e1(event.target_id.unwrap_or_default()),
        e1(event.actor_id.unwrap_or_default()),
        e1(event.group_id.unwrap_or_default()),
        e1(event.source_ip.unwrap_or_default()),
        flag(event.is_failure).to_owned(),
        flag(event.is_anonymous).to_owned(),
    ]
    .join(":");
    s.push(':');
    match event.fields {
        None => s.push(':'),
        Some(fields) => s.push_str(&pairs(fields)),
    }
    if let Some(external_id) = event.external_id {
        s.push(':');
        s.push_str(&e1(external_id));
    }
    if let Some(metadata) = event.metadata {
        s.push(':');
        s.push_str(&pairs(metadata));
    }
    s
}

/// The hash of `event`.
pub fn hash(event: &Hashed<'_>) -> String {
    Sha256::digest(canonical(event).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
