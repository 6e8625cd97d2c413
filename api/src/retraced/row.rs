//! The `audit_log` row a published event becomes (the mapping the [`super::publish`] module
//! documents): Retraced's own fields in columns, everything else in `metadata`.

use std::collections::BTreeMap;

use entity::audit_log;
use ipnetwork::IpNetwork;
use sea_orm::ActiveValue::Set;
use serde_json::{Value, json};
use uuid::Uuid;

use super::event::PublishedEvent;

/// The row of `event`, published for `project` into `tenant_id`, with its id and hash.
pub fn audit_row(
    id: i64,
    tenant_id: Uuid,
    project: &str,
    event: &PublishedEvent,
    digest: &str,
    user_agent: Option<String>,
) -> audit_log::ActiveModel {
    let mut metadata = serde_json::Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            metadata.insert(key.to_owned(), v);
        }
    };
    let text = |s: &Option<String>| s.as_ref().map(|s| Value::String(s.clone()));
    let map = |m: &Option<BTreeMap<String, String>>| m.as_ref().map(|m| json!(m));
    put("crud", Some(json!(event.crud)));
    put("description", text(&event.description));
    put("external_id", text(&event.external_id));
    put("is_failure", Some(json!(event.is_failure)));
    put("is_anonymous", Some(json!(event.is_anonymous)));
    put("component", text(&event.component));
    put("version", text(&event.version));
    put("created", text(&event.created));
    put("display_title", text(&event.display_title));
    put("fields", map(&event.fields));
    put("metadata", map(&event.metadata));
    put(
        "group",
        event
            .group
            .as_ref()
            .map(|g| json!({ "id": g.id, "name": g.name })),
    );
    put(
        "actor",
        event
            .actor
            .as_ref()
            .map(|a| json!({ "href": a.href, "fields": a.fields })),
    );
    put(
        "target",
        event
            .target
            .as_ref()
            .map(|t| json!({ "href": t.href, "fields": t.fields })),
    );
    put("hash", Some(json!(digest)));
    audit_log::ActiveModel {
        id: Set(id),
        tenant_id: Set(Some(tenant_id)),
        project_id: Set(None),
        actor_id: Set(event.actor.as_ref().map(|a| a.id.clone())),
        actor_name: Set(event.actor.as_ref().and_then(|a| a.name.clone())),
        actor_type: Set(Some(
            if event.is_anonymous { "system" } else { "user" }.to_owned(),
        )),
        action: Set(event.action.clone()),
        target_id: Set(event.target.as_ref().map(|t| t.id.clone())),
        target_type: Set(event.target.as_ref().and_then(|t| t.kind.clone())),
        target_name: Set(event.target.as_ref().and_then(|t| t.name.clone())),
        product: Set(Some(project.to_owned())),
        metadata: Set(Value::Object(metadata)),
        source_ip: Set(event
            .source_ip
            .as_deref()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(IpNetwork::from)),
        user_agent: Set(user_agent),
        ..Default::default()
    }
}
