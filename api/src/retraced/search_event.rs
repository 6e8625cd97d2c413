//! An event as Retraced's `search` schema shows it: actor, target, group, display, fields and
//! metadata read out of an `audit_log` row (what [`super::publish`] stored), and its `CRUD`
//! letter.

use async_graphql::{Enum, Object, SimpleObject};
use chrono::SecondsFormat;
use entity::audit_log;
use serde_json::{Value, json};

use crate::audit::row::format_ip;

/// CRUD letters.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "CRUD", rename_items = "lowercase")]
pub enum Crud {
    /// Create.
    C,
    /// Read.
    R,
    /// Update.
    U,
    /// Delete.
    D,
}

/// A key and its value.
#[derive(SimpleObject, Debug, Clone)]
pub struct Field {
    key: Option<String>,
    value: Option<String>,
}

/// The customer organisation.
#[derive(SimpleObject, Debug, Clone)]
pub struct Group {
    id: Option<String>,
    name: Option<String>,
}

/// Who did it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Actor {
    id: Option<String>,
    name: Option<String>,
    href: Option<String>,
    fields: Option<Vec<Field>>,
}

/// What it was done to.
#[derive(SimpleObject, Debug, Clone)]
pub struct Target {
    id: Option<String>,
    name: Option<String>,
    href: Option<String>,
    #[graphql(name = "type")]
    kind: Option<String>,
    fields: Option<Vec<Field>>,
}

/// How to show it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Display {
    markdown: Option<String>,
}

/// A Retraced event.
#[derive(Debug, Clone)]
pub struct Event(audit_log::Model, Option<String>);

impl Event {
    /// The event of `row`, whose tenant has `slug` (none once the tenant is deleted).
    pub(super) fn new(row: audit_log::Model, slug: Option<String>) -> Event {
        Event(row, slug)
    }
}

fn fields_of(value: Option<&Value>) -> Option<Vec<Field>> {
    value.and_then(Value::as_object).map(|map| {
        map.iter()
            .map(|(k, v)| Field {
                key: Some(k.clone()),
                value: Some(
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                ),
            })
            .collect()
    })
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Event {
    fn meta(&self, key: &str) -> Option<&Value> {
        self.0.metadata.get(key)
    }

    fn meta_text(&self, key: &str) -> Option<String> {
        self.meta(key).and_then(Value::as_str).map(str::to_owned)
    }

    fn received_at(&self) -> String {
        iso(self.0.created_at.to_utc())
    }
}

#[Object(rename_fields = "snake_case")]
impl Event {
    async fn id(&self) -> async_graphql::ID {
        async_graphql::ID(self.0.id.to_string())
    }
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn description(&self) -> Option<String> {
        self.meta_text("description")
    }
    /// The event's tenant. The group a publisher named is shown as it named it (its id or
    /// slug, and the name it gave) when it names the event's tenant; otherwise the tenant's id.
    /// An event's metadata never decides whose it is.
    async fn group(&self) -> Group {
        let tenant = self.0.tenant_id.map(|t| t.to_string());
        let sent = self.meta("group").filter(|g| {
            let id = g.get("id").and_then(Value::as_str);
            id.is_some() && (id == tenant.as_deref() || id == self.1.as_deref())
        });
        match sent {
            Some(sent) => Group {
                id: sent.get("id").and_then(Value::as_str).map(str::to_owned),
                name: sent.get("name").and_then(Value::as_str).map(str::to_owned),
            },
            None => Group {
                id: tenant,
                name: None,
            },
        }
    }
    async fn actor(&self) -> Actor {
        let sent = self.meta("actor");
        Actor {
            id: self.0.actor_id.clone(),
            name: self.0.actor_name.clone(),
            href: sent
                .and_then(|a| a.get("href"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            fields: fields_of(sent.and_then(|a| a.get("fields"))),
        }
    }
    async fn target(&self) -> Target {
        let sent = self.meta("target");
        Target {
            id: self.0.target_id.clone(),
            name: self.0.target_name.clone(),
            href: sent
                .and_then(|t| t.get("href"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            kind: self.0.target_type.clone(),
            fields: fields_of(sent.and_then(|t| t.get("fields"))),
        }
    }
    async fn crud(&self) -> Option<Crud> {
        match self.meta_text("crud").as_deref() {
            Some("c") => Some(Crud::C),
            Some("r") => Some(Crud::R),
            Some("u") => Some(Crud::U),
            Some("d") => Some(Crud::D),
            _ => None,
        }
    }
    async fn display(&self) -> Display {
        let actor = self
            .0
            .actor_name
            .as_deref()
            .map(|n| format!("**{n}**"))
            .unwrap_or_else(|| "**An unknown actor**".to_owned());
        let item = self
            .0
            .target_name
            .as_deref()
            .map(|n| format!(" on the item **{n}**"))
            .unwrap_or_default();
        Display {
            markdown: Some(format!(
                "{actor} performed the action **{}**{item}.",
                self.0.action
            )),
        }
    }
    async fn received(&self) -> String {
        self.received_at()
    }
    async fn created(&self) -> Option<String> {
        self.meta_text("created")
    }
    async fn canonical_time(&self) -> String {
        self.meta_text("created")
            .unwrap_or_else(|| self.received_at())
    }
    async fn is_failure(&self) -> bool {
        self.meta("is_failure")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    async fn is_anonymous(&self) -> bool {
        self.meta("is_anonymous")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    async fn source_ip(&self) -> Option<String> {
        self.0.source_ip.as_ref().map(format_ip)
    }
    async fn country(&self) -> Option<String> {
        None
    }
    async fn loc_subdiv1(&self) -> Option<String> {
        None
    }
    async fn loc_subdiv2(&self) -> Option<String> {
        None
    }
    async fn component(&self) -> Option<String> {
        self.meta_text("component")
    }
    async fn version(&self) -> Option<String> {
        self.meta_text("version")
    }
    async fn fields(&self) -> Option<Vec<Field>> {
        fields_of(self.meta("fields"))
    }
    async fn raw(&self) -> String {
        json!({
            "action": self.0.action,
            "crud": self.meta("crud"),
            "actor": { "id": self.0.actor_id, "name": self.0.actor_name },
            "target": { "id": self.0.target_id, "name": self.0.target_name, "type": self.0.target_type },
            "source_ip": self.0.source_ip.as_ref().map(format_ip),
            "created": self.meta("created"),
            "fields": self.meta("fields"),
        })
        .to_string()
    }
    async fn external_id(&self) -> Option<String> {
        self.meta_text("external_id")
    }
    async fn metadata(&self) -> Option<Vec<Field>> {
        fields_of(self.meta("metadata"))
    }
}
