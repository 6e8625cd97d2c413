//! Every `AuditEventFilter` field, with data that tells right from wrong: a small world of
//! named events ([`world`]), the fields that select by value ([`fields`]), and those that
//! match text, documents, addresses and the search language, and malformed input
//! ([`matching`]).

mod fields;
mod matching;

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::{Ev, TestApp, edge_ids};
use tests::fixtures::{insert_project, insert_tenant};

const QUERY: &str =
    "query($f: AuditEventFilter) { auditEvents(filter: $f, first: 500) { edges { node { id } } } }";

struct World {
    app: TestApp,
    key: String,
    t0: DateTime<Utc>,
    ids: std::collections::HashMap<&'static str, i64>,
}

impl World {
    /// The named events a filter returns, sorted by name.
    async fn names(&self, filter: Value) -> Vec<&'static str> {
        let data = self
            .app
            .gql_ok(&self.key, QUERY, json!({ "f": filter }))
            .await;
        let ids = edge_ids(&data["auditEvents"]);
        let mut names: Vec<&'static str> = self
            .ids
            .iter()
            .filter(|(_, id)| ids.contains(id))
            .map(|(n, _)| *n)
            .collect();
        names.sort();
        assert_eq!(names.len(), ids.len(), "only named events exist");
        names
    }

    async fn error(&self, filter: Value) -> Value {
        self.app.gql(&self.key, QUERY, json!({ "f": filter })).await
    }
}

async fn world() -> World {
    let app = TestApp::spawn(TestApp::settings()).await;
    let a = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let b = insert_tenant(&app.db.db, "globex").await.expect("tenant");
    let p1 = insert_project(&app.db.db, a.id, "web")
        .await
        .expect("project");
    let p2 = insert_project(&app.db.db, a.id, "app")
        .await
        .expect("project");
    let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let h = Duration::hours(1);
    let mut ids = std::collections::HashMap::new();
    let events: Vec<(&'static str, Ev)> = vec![
        (
            "a_crm_contact",
            Ev {
                project: Some(p1.id),
                product: Some("crm"),
                action: "crm.contact.created",
                actor_id: Some("u1"),
                actor_type: Some("user"),
                target_type: Some("contact"),
                target_id: Some("c1"),
                metadata: json!({"currency": "EUR", "n": 1, "crud": "c"}),
                ip: Some("10.0.0.5"),
                ..Ev::new(a.id, t0)
            },
        ),
        (
            "a_billing_paid",
            Ev {
                project: Some(p2.id),
                product: Some("billing"),
                action: "billing.invoice.paid",
                actor_id: Some("svc"),
                actor_type: Some("service"),
                target_type: Some("invoice"),
                target_id: Some("i1"),
                metadata: json!({"currency": "USD", "crud": "u"}),
                ip: Some("10.1.0.5"),
                ..Ev::new(a.id, t0 + h)
            },
        ),
        (
            "a_portal",
            Ev {
                action: "tenant.updated",
                actor_id: Some("system"),
                actor_type: Some("system"),
                target_type: Some("tenant"),
                target_id: Some("acme"),
                ip: Some("2001:db8::1"),
                metadata: json!({"crud": "u"}),
                ..Ev::new(a.id, t0 + h * 2)
            },
        ),
        (
            "a_percent",
            Ev {
                product: Some("crm"),
                action: "crm%deal.won",
                ..Ev::new(a.id, t0 + h * 3)
            },
        ),
        (
            "a_underscore",
            Ev {
                product: Some("crm"),
                action: "crm_legacy.sync",
                ..Ev::new(a.id, t0 + h * 4)
            },
        ),
        (
            "a_lookalike",
            Ev {
                product: Some("crm"),
                action: "crmXdeal.won",
                ..Ev::new(a.id, t0 + h * 5)
            },
        ),
        (
            "b_crm_contact",
            Ev {
                product: Some("crm"),
                action: "crm.contact.created",
                actor_id: Some("u9"),
                actor_type: Some("user"),
                metadata: json!({"currency": "EUR", "crud": "c"}),
                ..Ev::new(b.id, t0)
            },
        ),
        (
            "orphan",
            Ev {
                tenant: None,
                action: "tenant.deleted",
                ..Ev::new(a.id, t0 + h * 6)
            },
        ),
    ];
    for (name, ev) in events {
        ids.insert(name, ev.insert(&app.db).await);
    }
    let key = app
        .platform_key(&[Scope::AuditRead, Scope::TenantsRead])
        .await;
    World { app, key, t0, ids }
}
