//! The canonical bytes of an audit event, as a leaf of the log's Merkle tree.
//!
//! Version 1 is a version byte `0x01`, then each field in this order, each written the same
//! way whatever it holds, so that no two events share their bytes:
//!
//! | field | written as |
//! | --- | --- |
//! | `id` | 8 bytes, big-endian two's complement |
//! | `created_at` | microseconds since 1970-01-01T00:00:00Z, 8 bytes, big-endian (`infinity`: the largest value, `-infinity` the smallest) |
//! | `tenant_id`, `project_id`, `recorded_by` | absent: `0x00`; present: `0x01` and the 16 bytes of the UUID |
//! | every text | absent: `0x00`; present: `0x01`, its UTF-8 length as 4 bytes big-endian, the bytes |
//!
//! The texts, in order after `project_id`: `product`, `actor_id`, `actor_type`, `actor_name`,
//! `action` (always present), `target_type`, `target_id`, `target_name`, `metadata` (always
//! present: PostgreSQL's text of the `jsonb`, `metadata::text`, whose key order and spacing
//! `jsonb` fixes), `source_ip` (PostgreSQL's text of the `inet`, `source_ip::text`, with its
//! prefix length: `10.0.0.1/32`),
//! `user_agent`; then `recorded_by` and the text `recorded_by_name`.
//!
//! `tenant_id` and `project_id` are the values the event was written with: deleting a tenant
//! or project later sets the row's to NULL, and the sealing tables keep the originals (see
//! docs/evidence.md, "References that the schema clears").

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The version byte of [`Leaf::bytes`].
pub const LEAF_VERSION: u8 = 1;

/// An event's fields as the leaf encodes them (texts as PostgreSQL writes them: see the
/// module's documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// `audit_log.id`.
    pub id: i64,
    /// `created_at`, in microseconds since the Unix epoch.
    pub created_at_micros: i64,
    /// The tenant the event was written with.
    pub tenant_id: Option<Uuid>,
    /// The project the event was written with.
    pub project_id: Option<Uuid>,
    /// `product`.
    pub product: Option<String>,
    /// `actor_id`.
    pub actor_id: Option<String>,
    /// `actor_type`.
    pub actor_type: Option<String>,
    /// `actor_name`.
    pub actor_name: Option<String>,
    /// `action`.
    pub action: String,
    /// `target_type`.
    pub target_type: Option<String>,
    /// `target_id`.
    pub target_id: Option<String>,
    /// `target_name`.
    pub target_name: Option<String>,
    /// `metadata::text`.
    pub metadata: String,
    /// `source_ip::text`.
    pub source_ip: Option<String>,
    /// `user_agent`.
    pub user_agent: Option<String>,
    /// `recorded_by`.
    pub recorded_by: Option<Uuid>,
    /// `recorded_by_name`.
    pub recorded_by_name: Option<String>,
}

/// The SQL that reads an `audit_log` row (alias `a`) as a [`Leaf`]'s fields, in their order
/// (`created_at` as microseconds, `metadata` and `source_ip` as PostgreSQL's text).
pub const LEAF_COLUMNS: &str = "a.id, \
    CASE WHEN isfinite(a.created_at) THEN (extract(epoch FROM a.created_at) * 1000000)::bigint \
    WHEN a.created_at > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END, \
    a.tenant_id, a.project_id, a.product, a.actor_id, a.actor_type, a.actor_name, a.action, \
    a.target_type, a.target_id, a.target_name, a.metadata::text, a.source_ip::text, \
    a.user_agent, a.recorded_by, a.recorded_by_name";

impl Leaf {
    /// The leaf's bytes (version 1).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.metadata.len());
        out.push(LEAF_VERSION);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.created_at_micros.to_be_bytes());
        uuid(&mut out, self.tenant_id);
        uuid(&mut out, self.project_id);
        for text in [
            self.product.as_deref(),
            self.actor_id.as_deref(),
            self.actor_type.as_deref(),
            self.actor_name.as_deref(),
            Some(self.action.as_str()),
            self.target_type.as_deref(),
            self.target_id.as_deref(),
            self.target_name.as_deref(),
            Some(self.metadata.as_str()),
            self.source_ip.as_deref(),
            self.user_agent.as_deref(),
        ] {
            text_field(&mut out, text);
        }
        uuid(&mut out, self.recorded_by);
        text_field(&mut out, self.recorded_by_name.as_deref());
        out
    }

    /// The tree's hash of this leaf: SHA-256(`0x00` ‖ [`Leaf::bytes`]).
    pub fn hash(&self) -> [u8; 32] {
        super::merkle::leaf_hash(&self.bytes())
    }
}

fn uuid(out: &mut Vec<u8>, value: Option<Uuid>) {
    match value {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
    }
}

fn text_field(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            // Texts are bounded far below 4 GiB (registry::audit::lengths); a longer one
            // would be cut by the length, so it is written in full with the largest length.
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// SHA-256 of `bytes` (for manifests and checks that hash plain bytes).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
