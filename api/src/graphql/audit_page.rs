//! The `edges` of an `auditEvents` page, written straight from the rows as JSON.
//!
//! A page is 50 events of up to 15 fields. Resolved the generic way, every field of every
//! event is a future and a lookup by name, which was a fifth of the server's CPU on a page.
//! Here the selection (aliases, fragments and `__typename` included) is read once into a plan
//! ([`super::audit_plan`]), and each event is written by walking the plan over its row, reading
//! only the columns the plan needs, into the page's JSON, which the response carries as raw JSON
//! ([`super::raw_json`]) rather than as a tree of values to be serialised again. The values
//! are the ones the generic resolvers of [`super::audit::AuditEvent`],
//! [`super::audit::Actor`] and [`super::audit::Target`] produce;
//! the tests in `tests/integration/api/fast_path.rs` compare the two paths field by field, for
//! every field the schema declares.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Mutex;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

pub use super::audit_plan::EdgesPlans;
use super::audit_plan::{Pick, Slot};
use super::{json_text, raw_json};
use crate::audit::row::PageRow;
use crate::audit::row::format_ip;
use registry::ApiError;

/// A value the field's resolver already built, typed in the schema as `T` (so the schema and
/// its introspection are exactly `T`'s).
pub struct Prebuilt<T> {
    value: Mutex<Option<Value>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Prebuilt<T> {
    /// Wraps the finished value.
    pub fn new(value: Value) -> Prebuilt<T> {
        Prebuilt {
            value: Mutex::new(Some(value)),
            _type: PhantomData,
        }
    }
}

impl<T: OutputType> OutputType for Prebuilt<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let taken = match self.value.lock() {
            Ok(mut value) => value.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        Ok(taken.unwrap_or(Value::Null))
    }
}

/// The seals of a page's events, by event id (read when the page selects `seal`).
pub type Seals = std::collections::HashMap<i64, registry::evidence::proofs::Seal>;

impl EdgesPlans {
    /// The `edges` list under response key `key`, one per row, as raw JSON ([`raw_json`]): a
    /// page's response is written straight from its rows (and `seals`, when selected).
    pub fn write(
        &self,
        key: &str,
        rows: &[PageRow],
        seals: &Seals,
    ) -> async_graphql::Result<Value> {
        let Some((_, slots)) = self.0.iter().find(|(k, _)| k.as_str() == key) else {
            return Err(ApiError::internal(format!("no plan for the edges under {key}")).into());
        };
        let mut out = String::with_capacity(256 + rows.len() * 64 * slots.len());
        out.push('[');
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_object(&mut out, slots, row, seals)?;
        }
        out.push(']');
        Ok(raw_json::raw(out))
    }
}

fn write_object(
    out: &mut String,
    slots: &[Slot],
    row: &PageRow,
    seals: &Seals,
) -> Result<(), ApiError> {
    out.push('{');
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A response key is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`): nothing to escape.
        out.push('"');
        out.push_str(slot.key.as_str());
        out.push_str("\":");
        write_pick(out, &slot.pick, row, seals)?;
    }
    out.push('}');
    Ok(())
}

fn write_pick(out: &mut String, pick: &Pick, row: &PageRow, seals: &Seals) -> Result<(), ApiError> {
    use json_text::{push_datetime, push_id, push_opt_str, push_str};
    match pick {
        Pick::Node(slots) | Pick::Actor(slots) | Pick::Target(slots) => {
            return write_object(out, slots, row, seals);
        }
        Pick::RecordedBy(slots) => {
            if row.recorded_by()?.is_none() {
                out.push_str("null");
                return Ok(());
            }
            return write_object(out, slots, row, seals);
        }
        Pick::Seal(slots) => match seals.get(&row.id()) {
            Some(seal) => write_seal(out, slots, seal)?,
            None => out.push_str("null"),
        },
        Pick::SealLeafIndex
        | Pick::SealLeafHash
        | Pick::SealInclusionProof
        | Pick::SealCheckpoint(_)
        | Pick::CheckpointSize
        | Pick::CheckpointPreviousSize
        | Pick::CheckpointRootHash
        | Pick::CheckpointSignedAt
        | Pick::CheckpointSignature
        | Pick::CheckpointNote => {
            return Err(ApiError::internal("a seal's field outside a seal"));
        }
        Pick::Typename(name) => push_str(out, name),
        Pick::Cursor => push_str(out, &row.cursor().encode()),
        Pick::Id => push_id(out, row.id()),
        Pick::TenantId => write_uuid(out, row.tenant_id()?),
        Pick::ProjectId => write_uuid(out, row.project_id()?),
        Pick::Product => push_opt_str(out, row.product()?),
        Pick::Action => push_str(out, row.action()?),
        Pick::Metadata => {
            out.push_str(&serde_json::to_string(&row.metadata()?).map_err(ApiError::internal)?)
        }
        Pick::SourceIp => push_opt_str(out, row.source_ip()?.as_ref().map(format_ip).as_deref()),
        Pick::UserAgent => push_opt_str(out, row.user_agent()?),
        Pick::CreatedAt => push_datetime(out, row.created_at()),
        Pick::ActorId => push_opt_str(out, row.actor_id()?),
        Pick::ActorName => push_opt_str(out, row.actor_name()?),
        Pick::ActorType => push_opt_str(out, row.actor_type()?),
        Pick::TargetId => push_opt_str(out, row.target_id()?),
        Pick::TargetType => push_opt_str(out, row.target_type()?),
        Pick::TargetName => push_opt_str(out, row.target_name()?),
        Pick::RecordedByKeyId => write_uuid(out, row.recorded_by()?),
        Pick::RecordedByName => push_opt_str(out, row.recorded_by_name()?),
    }
    Ok(())
}

/// A seal object (`AuditSeal`), as its resolvers in [`super::evidence`] give it.
fn write_seal(
    out: &mut String,
    slots: &[Slot],
    seal: &registry::evidence::proofs::Seal,
) -> Result<(), ApiError> {
    use json_text::{push_datetime, push_str};
    use registry::evidence::merkle::hex;
    out.push('{');
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(slot.key.as_str());
        out.push_str("\":");
        let checkpoint = &seal.checkpoint;
        match &slot.pick {
            Pick::Typename(name) => push_str(out, name),
            Pick::SealLeafIndex => out.push_str(&seal.leaf_index.to_string()),
            Pick::SealLeafHash => push_str(out, &hex(&seal.leaf_hash)),
            Pick::SealInclusionProof => {
                out.push('[');
                for (j, hash) in seal.inclusion.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_str(out, &hex(hash));
                }
                out.push(']');
            }
            Pick::SealCheckpoint(inner) => write_seal(out, inner, seal)?,
            Pick::CheckpointSize => out.push_str(&checkpoint.checkpoint.size.to_string()),
            Pick::CheckpointPreviousSize => {
                out.push_str(&checkpoint.checkpoint.previous.to_string())
            }
            Pick::CheckpointRootHash => push_str(out, &hex(&checkpoint.checkpoint.root)),
            Pick::CheckpointSignedAt => push_datetime(out, checkpoint.checkpoint.signed_at),
            Pick::CheckpointSignature => push_str(out, &hex(&checkpoint.signature)),
            Pick::CheckpointNote => push_str(out, &checkpoint.checkpoint.note()),
            _ => return Err(ApiError::internal("an event's field inside a seal")),
        }
    }
    out.push('}');
    Ok(())
}

/// A UUID as its scalar writes it (hyphenated, lower case), or `null`.
fn write_uuid(out: &mut String, id: Option<uuid::Uuid>) {
    match id {
        Some(id) => json_text::push_uuid(out, id),
        None => out.push_str("null"),
    }
}
