//! The `edges` of an `auditEvents` page, written straight into the response tree.
//!
//! A page is 50 events of up to 15 fields. Resolved the generic way, every field of every
//! event is a future and a lookup by name, which was a fifth of the server's CPU on a page.
//! Here the selection (aliases, fragments and `__typename` included) is read once into a
//! [`Slot`] plan, and each event is written by walking the plan over its row, reading only the
//! columns the plan needs. The values are the ones the generic resolvers of
//! [`super::audit::AuditEvent`], [`super::audit::Actor`] and [`super::audit::Target`] produce;
//! the tests in `tests/integration/api/fast_path.rs` compare the two paths field by field, for
//! every field the schema declares.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Mutex;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ScalarType, SelectionField, ServerError,
    ServerResult, Value,
};

use sea_orm::DbErr;

use super::audit::format_ip;
use crate::audit::row::PageRow;
use crate::error::ApiError;

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

/// What one selected field writes.
#[derive(Debug)]
enum Pick {
    Typename(&'static str),
    Cursor,
    Node(Vec<Slot>),
    Id,
    TenantId,
    ProjectId,
    Product,
    Actor(Vec<Slot>),
    Action,
    Target(Vec<Slot>),
    Metadata,
    SourceIp,
    UserAgent,
    CreatedAt,
    ActorId,
    ActorName,
    ActorType,
    TargetId,
    TargetType,
    TargetName,
}

/// A selected field: its response key and what it writes.
#[derive(Debug)]
struct Slot {
    key: Name,
    pick: Pick,
}

/// The types of the page, by their schema names.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Edge,
    Event,
    Actor,
    Target,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Edge => "AuditEventEdge",
            Kind::Event => "AuditEvent",
            Kind::Actor => "Actor",
            Kind::Target => "Target",
        }
    }
}

/// The plan for the fields selected under `field`, an object of type `kind`: one slot per
/// response key, in the order the keys first appear. A key selected twice (`node { id }
/// node { action }`) is one slot with the fields of both, as GraphQL's field merging requires
/// (validation has made sure the two are the same field).
fn plan(field: &SelectionField<'_>, kind: Kind) -> ServerResult<Vec<Slot>> {
    let mut slots = Vec::new();
    for slot in selected(field, kind)? {
        add(&mut slots, slot);
    }
    Ok(slots)
}

/// Adds `slot`, or merges it into the slot already there for its key: the fields of both
/// for an object, the first for a leaf (the two are the same field).
fn add(slots: &mut Vec<Slot>, slot: Slot) {
    let Some(existing) = slots.iter_mut().find(|s| s.key == slot.key) else {
        slots.push(slot);
        return;
    };
    match (&mut existing.pick, slot.pick) {
        (Pick::Node(mine), Pick::Node(more))
        | (Pick::Actor(mine), Pick::Actor(more))
        | (Pick::Target(mine), Pick::Target(more)) => {
            for slot in more {
                add(mine, slot);
            }
        }
        _ => {}
    }
}

/// The slots of `field`'s selection as written, repeats included.
fn selected(field: &SelectionField<'_>, kind: Kind) -> ServerResult<Vec<Slot>> {
    field
        .selection_set()
        .map(|child| {
            let name = child.name();
            let pick = match (kind, name) {
                (_, "__typename") => Pick::Typename(kind.name()),
                (Kind::Edge, "cursor") => Pick::Cursor,
                (Kind::Edge, "node") => Pick::Node(plan(&child, Kind::Event)?),
                (Kind::Event, "id") => Pick::Id,
                (Kind::Event, "tenantId") => Pick::TenantId,
                (Kind::Event, "projectId") => Pick::ProjectId,
                (Kind::Event, "product") => Pick::Product,
                (Kind::Event, "actor") => Pick::Actor(plan(&child, Kind::Actor)?),
                (Kind::Event, "action") => Pick::Action,
                (Kind::Event, "target") => Pick::Target(plan(&child, Kind::Target)?),
                (Kind::Event, "metadata") => Pick::Metadata,
                (Kind::Event, "sourceIp") => Pick::SourceIp,
                (Kind::Event, "userAgent") => Pick::UserAgent,
                (Kind::Event, "createdAt") => Pick::CreatedAt,
                (Kind::Actor, "id") => Pick::ActorId,
                (Kind::Actor, "name") => Pick::ActorName,
                (Kind::Actor, "type") => Pick::ActorType,
                (Kind::Target, "id") => Pick::TargetId,
                (Kind::Target, "type") => Pick::TargetType,
                (Kind::Target, "name") => Pick::TargetName,
                _ => {
                    // Validation admits only the schema's fields; a field added to the types
                    // but not here is a bug, reported as one.
                    return Err(ServerError::new(
                        format!("internal: {}.{name} has no fast path", kind.name()),
                        None,
                    ));
                }
            };
            Ok(Slot {
                key: Name::new(child.alias().unwrap_or(name)),
                pick,
            })
        })
        .collect()
}

/// The `edges` list for the selection `field` (the `edges` field itself), one per row.
pub fn edges(field: &SelectionField<'_>, rows: &[PageRow]) -> async_graphql::Result<Value> {
    let slots = plan(field, Kind::Edge)?;
    let edges = rows
        .iter()
        .map(|row| write(&slots, row))
        .collect::<Result<Vec<_>, DbErr>>()
        .map_err(ApiError::from)?;
    Ok(Value::List(edges))
}

fn write(slots: &[Slot], row: &PageRow) -> Result<Value, DbErr> {
    Ok(Value::Object(
        slots
            .iter()
            .map(|slot| Ok((slot.key.clone(), value(&slot.pick, row)?)))
            .collect::<Result<IndexMap<_, _>, DbErr>>()?,
    ))
}

fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |text| Value::String(text.to_owned()))
}

fn value(pick: &Pick, row: &PageRow) -> Result<Value, DbErr> {
    Ok(match pick {
        Pick::Typename(name) => Value::String((*name).to_owned()),
        Pick::Cursor => Value::String(row.cursor().encode()),
        Pick::Node(slots) | Pick::Actor(slots) | Pick::Target(slots) => write(slots, row)?,
        Pick::Id => Value::String(row.id().to_string()),
        Pick::TenantId => row
            .tenant_id()?
            .as_ref()
            .map_or(Value::Null, ScalarType::to_value),
        Pick::ProjectId => row
            .project_id()?
            .as_ref()
            .map_or(Value::Null, ScalarType::to_value),
        Pick::Product => text(row.product()?),
        Pick::Action => Value::String(row.action()?.to_owned()),
        Pick::Metadata => async_graphql::to_value(row.metadata()?).unwrap_or_default(),
        Pick::SourceIp => row
            .source_ip()?
            .as_ref()
            .map_or(Value::Null, |ip| Value::String(format_ip(ip))),
        Pick::UserAgent => text(row.user_agent()?),
        Pick::CreatedAt => ScalarType::to_value(&row.created_at()),
        Pick::ActorId => text(row.actor_id()?),
        Pick::ActorName => text(row.actor_name()?),
        Pick::ActorType => text(row.actor_type()?),
        Pick::TargetId => text(row.target_id()?),
        Pick::TargetType => text(row.target_type()?),
        Pick::TargetName => text(row.target_name()?),
    })
}
