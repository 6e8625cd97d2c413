//! The `audit_log` row a published event becomes (the mapping the [`super::publish`] module
//! documents): Retraced's own fields in columns, everything else in `metadata`.

use std::collections::BTreeMap;

use ipnetwork::IpNetwork;
use registry::audit::{Actor, Event, Target};
use serde_json::{Value, json};

use super::event::PublishedEvent;
use super::hash::{Hashed, hash};

/// The event `event` becomes with the id `id`, published for `project` (its tenant is the
/// writer's to set), and the hash Retraced answers with.
pub fn event_of(
    id: i64,
    project: &str,
    event: &PublishedEvent,
    user_agent: Option<String>,
) -> (Event, String) {
    let id_text = id.to_string();
    let digest = hash(&Hashed {
        id: &id_text,
        action: &event.action,
        target_id: event.target.as_ref().map(|t| t.id.as_str()),
        actor_id: event.actor.as_ref().map(|a| a.id.as_str()),
        group_id: event.group.as_ref().map(|g| g.id.as_str()),
        source_ip: event.source_ip.as_deref(),
        is_failure: event.is_failure,
        is_anonymous: event.is_anonymous,
        fields: event.fields.as_ref(),
        external_id: event.external_id.as_deref(),
        metadata: event.metadata.as_ref(),
    });
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
    put("hash", Some(json!(digest.clone())));
    let row = Event {
        id: Some(id),
        product: Some(project.to_owned()),
        actor: Actor {
            id: event.actor.as_ref().map(|a| a.id.clone()),
            name: event.actor.as_ref().and_then(|a| a.name.clone()),
            kind: Some(if event.is_anonymous { "system" } else { "user" }.to_owned()),
        },
        action: event.action.clone(),
        target: Target {
            id: event.target.as_ref().map(|t| t.id.clone()),
            kind: event.target.as_ref().and_then(|t| t.kind.clone()),
            name: event.target.as_ref().and_then(|t| t.name.clone()),
        },
        metadata: Value::Object(metadata),
        source_ip: event
            .source_ip
            .as_deref()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(IpNetwork::from),
        user_agent,
        ..Event::default()
    };
    (row, digest)
}
