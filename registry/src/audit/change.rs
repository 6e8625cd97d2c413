//! The registry's own audit trail: every successful mutation writes exactly one row (product
//! NULL) in the mutation's own transaction, so the log can neither miss a change nor record one
//! that was rolled back.

use ipnetwork::IpNetwork;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Actor, Event, RequestMeta, Rules, Target, append};
use crate::auth::Principal;
use crate::error::ApiError;

/// One change to record.
#[derive(Debug)]
pub struct Change {
    /// `tenant.created`, `project.renamed`, ...
    pub action: &'static str,
    /// `c`, `u` or `d`.
    pub crud: &'static str,
    /// The tenant the change belongs to (none once that tenant is deleted).
    pub tenant_id: Option<Uuid>,
    /// The changed row: its kind, id and display name.
    pub target: (&'static str, String, String),
    /// The changed fields before (JSON object; `{}` for a creation).
    pub before: Value,
    /// The changed fields after (`{}` for a deletion).
    pub after: Value,
    /// Why, when the caller said.
    pub reason: Option<String>,
}

/// A row whose changes the registry records: which tenant it belongs to, and how it is named
/// as an audit target.
pub trait Audited {
    /// The tenant the row belongs to.
    fn tenant(&self) -> Uuid;
    /// (target type, target id, target name).
    fn target(&self) -> (&'static str, String, String);
}

impl Audited for entity::tenants::Model {
    fn tenant(&self) -> Uuid {
        self.id
    }
    fn target(&self) -> (&'static str, String, String) {
        ("tenant", self.id.to_string(), self.slug.clone())
    }
}

impl Audited for entity::tenant_projects::Model {
    fn tenant(&self) -> Uuid {
        self.tenant_id
    }
    fn target(&self) -> (&'static str, String, String) {
        ("project", self.id.to_string(), self.slug.clone())
    }
}

impl Audited for entity::tenant_products::Model {
    fn tenant(&self) -> Uuid {
        self.tenant_id
    }
    fn target(&self) -> (&'static str, String, String) {
        (
            "entitlement",
            format!("{}/{}", self.tenant_id, self.product),
            self.product.clone(),
        )
    }
}

impl Audited for entity::tenant_idp_config::Model {
    fn tenant(&self) -> Uuid {
        self.tenant_id
    }
    fn target(&self) -> (&'static str, String, String) {
        let kind = match self.r#type {
            entity::sea_orm_active_enums::IdpKind::Oidc => "oidc",
            entity::sea_orm_active_enums::IdpKind::Saml => "saml",
        };
        ("idp_config", self.id.to_string(), kind.to_owned())
    }
}

impl Audited for entity::api_keys::Model {
    fn tenant(&self) -> Uuid {
        self.tenant_id
    }
    fn target(&self) -> (&'static str, String, String) {
        ("api_key", self.id.to_string(), self.name.clone())
    }
}

impl Change {
    /// The change `action` (`crud`) of `row`, from `before` to `after`.
    pub fn of(
        action: &'static str,
        crud: &'static str,
        row: &impl Audited,
        before: Value,
        after: Value,
    ) -> Change {
        Change {
            action,
            crud,
            tenant_id: Some(row.tenant()),
            target: row.target(),
            before,
            after,
            reason: None,
        }
    }
}

/// Writes the audit row of `change`, made by `caller`, on `db` (the mutation's transaction).
pub async fn record(
    db: &impl ConnectionTrait,
    caller: &Principal,
    meta: &RequestMeta,
    change: Change,
) -> Result<(), ApiError> {
    record_as(db, caller.key_id, &caller.key_name, meta, change).await
}

/// Writes the audit row of `change`, made by the API key `key_id` named `key_name` (a change
/// the server finishes later on a caller's behalf: see [`crate::deletions`]).
pub async fn record_as(
    db: &impl ConnectionTrait,
    key_id: Uuid,
    key_name: &str,
    meta: &RequestMeta,
    change: Change,
) -> Result<(), ApiError> {
    let actor = Actor {
        id: Some(key_id.to_string()),
        name: Some(key_name.to_owned()),
        kind: Some("service".into()),
    };
    record_by(db, actor, meta, change).await
}

/// Writes the audit row of `change` made by the registry itself (`name` says which part:
/// `lifecycle`, ...), with actor `system`.
pub async fn record_system(
    db: &impl ConnectionTrait,
    name: &str,
    change: Change,
) -> Result<(), ApiError> {
    let actor = Actor {
        id: Some("system".to_owned()),
        name: Some(name.to_owned()),
        kind: Some("system".into()),
    };
    record_by(db, actor, &RequestMeta::default(), change).await
}

async fn record_by(
    db: &impl ConnectionTrait,
    actor: Actor,
    meta: &RequestMeta,
    change: Change,
) -> Result<(), ApiError> {
    let mut metadata =
        json!({ "crud": change.crud, "before": change.before, "after": change.after });
    if let (Some(reason), Some(object)) = (change.reason, metadata.as_object_mut()) {
        object.insert("reason".into(), Value::String(reason));
    }
    let (target_type, target_id, target_name) = change.target;
    let event = Event {
        tenant_id: change.tenant_id,
        actor,
        action: change.action.into(),
        target: Target {
            id: Some(target_id),
            kind: Some(target_type.into()),
            name: Some(target_name),
        },
        metadata,
        source_ip: meta.ip.map(IpNetwork::from),
        user_agent: meta
            .user_agent
            .as_deref()
            .map(|ua| super::lengths::cut(ua, super::lengths::USER_AGENT).to_owned()),
        ..Event::default()
    };
    append(db, event, Rules::REGISTRY).await?;
    Ok(())
}

/// The fields that differ between two serialised rows: (before, after), `updated_at` left out.
pub fn diff(before: &Value, after: &Value) -> (Value, Value) {
    let (mut old, mut new) = (Map::new(), Map::new());
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (key, value) in a {
            if key != "updated_at" && b.get(key) != Some(value) {
                old.insert(key.clone(), b.get(key).cloned().unwrap_or(Value::Null));
                new.insert(key.clone(), value.clone());
            }
        }
    }
    (Value::Object(old), Value::Object(new))
}

/// A row as JSON (entities never serialise secrets: the key hash is skipped).
pub fn snapshot<T: serde::Serialize>(row: &T) -> Value {
    serde_json::to_value(row).unwrap_or(Value::Null)
}
