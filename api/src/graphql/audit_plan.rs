//! The plan of an `auditEvents` page: which fields each edge shows under which response keys
//! ([`Slot`]s, read once per request from the selection, aliases, fragments and `__typename`
//! included), and so which [`Columns`] the page's statement selects. [`super::audit_page`]
//! writes the edges by walking the plan over the rows.

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::{Name, SelectionField, ServerError, ServerResult};
use entity::audit_log::Column;

use crate::audit::row::Columns;

/// What one selected field writes.
#[derive(Debug)]
pub(super) enum Pick {
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
    RecordedBy(Vec<Slot>),
    RecordedByKeyId,
    RecordedByName,
    Seal(Vec<Slot>),
    SealLeafIndex,
    SealLeafHash,
    SealInclusionProof,
    SealCheckpoint(Vec<Slot>),
    CheckpointSize,
    CheckpointPreviousSize,
    CheckpointRootHash,
    CheckpointSignedAt,
    CheckpointSignature,
    CheckpointNote,
}

/// A selected field: its response key and what it writes.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) key: Name,
    pub(super) pick: Pick,
}

/// The types of the page, by their schema names.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Edge,
    Event,
    Actor,
    Target,
    RecordedBy,
    Seal,
    Checkpoint,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Edge => "AuditEventEdge",
            Kind::Event => "AuditEvent",
            Kind::Actor => "Actor",
            Kind::Target => "Target",
            Kind::RecordedBy => "RecordedBy",
            Kind::Seal => "AuditSeal",
            Kind::Checkpoint => "AuditCheckpoint",
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
        | (Pick::Target(mine), Pick::Target(more))
        | (Pick::RecordedBy(mine), Pick::RecordedBy(more))
        | (Pick::Seal(mine), Pick::Seal(more))
        | (Pick::SealCheckpoint(mine), Pick::SealCheckpoint(more)) => {
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
            let pick = pick_of(kind, name, |inner| plan(&child, inner))?;
            Ok(Slot {
                key: Name::new(child.alias().unwrap_or(name)),
                pick,
            })
        })
        .collect()
}

/// What the field `name` of an object of type `kind` writes; `children` plans the selection
/// of an object field, as a `kind` of its own.
fn pick_of(
    kind: Kind,
    name: &str,
    children: impl FnOnce(Kind) -> ServerResult<Vec<Slot>>,
) -> ServerResult<Pick> {
    Ok(match (kind, name) {
        (_, "__typename") => Pick::Typename(kind.name()),
        (Kind::Edge, "cursor") => Pick::Cursor,
        (Kind::Edge, "node") => Pick::Node(children(Kind::Event)?),
        (Kind::Event, "id") => Pick::Id,
        (Kind::Event, "tenantId") => Pick::TenantId,
        (Kind::Event, "projectId") => Pick::ProjectId,
        (Kind::Event, "product") => Pick::Product,
        (Kind::Event, "actor") => Pick::Actor(children(Kind::Actor)?),
        (Kind::Event, "action") => Pick::Action,
        (Kind::Event, "target") => Pick::Target(children(Kind::Target)?),
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
        (Kind::Event, "recordedBy") => Pick::RecordedBy(children(Kind::RecordedBy)?),
        (Kind::RecordedBy, "keyId") => Pick::RecordedByKeyId,
        (Kind::RecordedBy, "name") => Pick::RecordedByName,
        (Kind::Event, "seal") => Pick::Seal(children(Kind::Seal)?),
        (Kind::Seal, "leafIndex") => Pick::SealLeafIndex,
        (Kind::Seal, "leafHash") => Pick::SealLeafHash,
        (Kind::Seal, "inclusionProof") => Pick::SealInclusionProof,
        (Kind::Seal, "checkpoint") => Pick::SealCheckpoint(children(Kind::Checkpoint)?),
        (Kind::Checkpoint, "size") => Pick::CheckpointSize,
        (Kind::Checkpoint, "previousSize") => Pick::CheckpointPreviousSize,
        (Kind::Checkpoint, "rootHash") => Pick::CheckpointRootHash,
        (Kind::Checkpoint, "signedAt") => Pick::CheckpointSignedAt,
        (Kind::Checkpoint, "signature") => Pick::CheckpointSignature,
        (Kind::Checkpoint, "note") => Pick::CheckpointNote,
        _ => {
            // Validation admits only the schema's fields; a field added to the types but not
            // here is a bug, reported as one.
            return Err(ServerError::new(
                format!("internal: {}.{name} has no fast path", kind.name()),
                None,
            ));
        }
    })
}

/// The columns the server selects for the `auditEvents` page of `query`, a GraphQL document of
/// plain fields (no fragments), such as the benchmark and the plan test send: so that they can
/// run the statement the server runs for it.
pub fn page_columns(query: &str) -> Result<Columns, String> {
    let document = parse_query(query).map_err(|e| e.to_string())?;
    let (_, operation) = document
        .operations
        .iter()
        .next()
        .ok_or("the document has no operation")?;
    let fields = |set: &SelectionSet| -> Result<Vec<Field>, String> {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => Ok(field.node.clone()),
                _ => Err("fragments are not read here".to_owned()),
            })
            .collect()
    };
    let connection = fields(&operation.node.selection_set.node)?
        .into_iter()
        .find(|f| f.name.node == "auditEvents")
        .ok_or("the operation selects no auditEvents")?;
    let mut columns = Columns::KEYS;
    for edges in fields(&connection.selection_set.node)? {
        if edges.name.node == "edges" {
            let slots = text_plan(&edges.selection_set.node, Kind::Edge).map_err(|e| e.message)?;
            columns = columns.union(columns_of(&slots));
        }
    }
    Ok(columns)
}

/// [`plan`] for a selection read from a document's text (plain fields only).
fn text_plan(set: &SelectionSet, kind: Kind) -> ServerResult<Vec<Slot>> {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let pick = pick_of(kind, field.name.node.as_str(), |inner| {
                    text_plan(&field.selection_set.node, inner)
                })?;
                Ok(Slot {
                    key: field.response_key().node.clone(),
                    pick,
                })
            }
            _ => Err(ServerError::new("fragments are not read here", None)),
        })
        .collect()
}

/// The columns the slots read (besides [`Columns::KEYS`], which every page selects).
fn columns_of(slots: &[Slot]) -> Columns {
    slots.iter().fold(Columns::KEYS, |columns, slot| {
        let column = match &slot.pick {
            Pick::Node(slots) | Pick::Actor(slots) | Pick::Target(slots) => {
                return columns.union(columns_of(slots));
            }
            // Whether the object is there at all is the key's id: always read.
            Pick::RecordedBy(slots) => {
                return columns.union(columns_of(slots)).with(Column::RecordedBy);
            }
            // A seal is read by the event's id, apart from the page's statement.
            Pick::Typename(_)
            | Pick::Cursor
            | Pick::Id
            | Pick::CreatedAt
            | Pick::Seal(_)
            | Pick::SealLeafIndex
            | Pick::SealLeafHash
            | Pick::SealInclusionProof
            | Pick::SealCheckpoint(_)
            | Pick::CheckpointSize
            | Pick::CheckpointPreviousSize
            | Pick::CheckpointRootHash
            | Pick::CheckpointSignedAt
            | Pick::CheckpointSignature
            | Pick::CheckpointNote => return columns,
            Pick::TenantId => Column::TenantId,
            Pick::ProjectId => Column::ProjectId,
            Pick::Product => Column::Product,
            Pick::Action => Column::Action,
            Pick::Metadata => Column::Metadata,
            Pick::SourceIp => Column::SourceIp,
            Pick::UserAgent => Column::UserAgent,
            Pick::ActorId => Column::ActorId,
            Pick::ActorName => Column::ActorName,
            Pick::ActorType => Column::ActorType,
            Pick::TargetId => Column::TargetId,
            Pick::TargetType => Column::TargetType,
            Pick::TargetName => Column::TargetName,
            Pick::RecordedByKeyId => Column::RecordedBy,
            Pick::RecordedByName => Column::RecordedByName,
        };
        columns.with(column)
    })
}

/// The plans of a connection's `edges` fields, one per response key.
///
/// Built from the connection's selection, not from each `edges` field alone: a key selected
/// twice (`edges { node { id } } edges { cursor }`) must give one list with the fields of both,
/// and async-graphql's merging of the two results cannot look inside raw JSON. So every
/// occurrence writes the merged list, and the merge keeps the first.
#[derive(Debug, Default)]
pub struct EdgesPlans(pub(super) Vec<(Name, Vec<Slot>)>);

impl EdgesPlans {
    /// Whether any edge selects its event's `seal` (the page then reads the seals too).
    pub fn wants_seals(&self) -> bool {
        fn any(slots: &[Slot]) -> bool {
            slots.iter().any(|slot| match &slot.pick {
                Pick::Seal(_) => true,
                Pick::Node(inner) => any(inner),
                _ => false,
            })
        }
        self.0.iter().any(|(_, slots)| any(slots))
    }

    /// The plans for the `edges` fields under `connection` (the `auditEvents` field).
    pub fn new(connection: &SelectionField<'_>) -> ServerResult<EdgesPlans> {
        let mut plans: Vec<(Name, Vec<Slot>)> = Vec::new();
        for field in connection.selection_set().filter(|f| f.name() == "edges") {
            let key = Name::new(field.alias().unwrap_or("edges"));
            let slots = plan(&field, Kind::Edge)?;
            match plans.iter_mut().find(|(k, _)| *k == key) {
                Some((_, mine)) => slots.into_iter().for_each(|slot| add(mine, slot)),
                None => plans.push((key, slots)),
            }
        }
        Ok(EdgesPlans(plans))
    }

    /// The columns a page must select for these plans: the [`Columns::KEYS`] and what the
    /// selected fields show (`metadata` only when asked for, and so on).
    pub fn columns(&self) -> Columns {
        self.0.iter().fold(Columns::KEYS, |columns, (_, slots)| {
            columns.union(columns_of(slots))
        })
    }
}
