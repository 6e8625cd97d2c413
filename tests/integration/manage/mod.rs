//! Managing the registry through GraphQL: every mutation, its audit row, its refusals.

mod authority;
mod deletions;
mod entitlements;
mod forbidden;
mod idp;
mod keys;
mod lifecycle;
mod notices;
mod outbound;
mod projects;
mod rotation;
mod tenants;
mod verify;

use entity::audit_log;
use entity::prelude::AuditLog;
use entity::scope::Scope;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use tests::app::TestApp;
use tests::fixtures::insert_tenant;
use uuid::Uuid;

/// A server, an operator tenant with a key holding every scope, and a customer tenant.
pub struct Ops {
    pub app: TestApp,
    pub key: String,
    pub key_id: Uuid,
    pub acme: Uuid,
}

impl Ops {
    pub async fn new() -> Ops {
        Ops::with_app(TestApp::spawn(TestApp::settings()).await).await
    }

    /// Like [`Ops::new`], on `app`.
    pub async fn with_app(app: TestApp) -> Ops {
        let ops = insert_tenant(&app.db.db, "ops").await.unwrap();
        let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
        let key = app.issue_key(ops.id, "operator", &Scope::ALL, None).await;
        let viewer = app
            .gql_ok(&key, "{ viewer { keyId } }", serde_json::json!({}))
            .await;
        let key_id = viewer["viewer"]["keyId"].as_str().unwrap().parse().unwrap();
        Ops {
            app,
            key,
            key_id,
            acme,
        }
    }

    /// A key of `tenant` with these scopes.
    pub async fn key_for(&self, tenant: Uuid, name: &str, scopes: &[Scope]) -> String {
        self.app.issue_key(tenant, name, scopes, None).await
    }

    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.app.gql(&self.key, query, variables).await
    }

    pub async fn gql_ok(&self, query: &str, variables: Value) -> Value {
        self.app.gql_ok(&self.key, query, variables).await
    }

    /// Every audit row with `action`, oldest first.
    pub async fn audit(&self, action: &str) -> Vec<audit_log::Model> {
        AuditLog::find()
            .filter(audit_log::Column::Action.eq(action))
            .order_by_asc(audit_log::Column::Id)
            .all(&self.app.db.db)
            .await
            .unwrap()
    }

    /// The single audit row with `action`, checked for what every registry row has: the
    /// operator key as actor, no product, the request's address and agent, and `crud`.
    pub async fn only_audit(&self, action: &str, crud: &str) -> audit_log::Model {
        let rows = self.audit(action).await;
        assert_eq!(rows.len(), 1, "exactly one {action} row");
        let row = rows.into_iter().next().unwrap();
        assert_eq!(
            row.actor_id.as_deref(),
            Some(self.key_id.to_string().as_str())
        );
        assert_eq!(
            (row.actor_name.as_deref(), row.actor_type.as_deref()),
            (Some("operator"), Some("service"))
        );
        assert_eq!(row.product, None);
        assert_eq!(
            row.source_ip.map(|ip| ip.ip().to_string()).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(row.user_agent.as_deref(), Some(tests::app::USER_AGENT));
        assert_eq!(row.metadata["crud"], crud);
        row
    }

    /// How many audit rows exist.
    pub async fn audit_count(&self) -> usize {
        AuditLog::find().all(&self.app.db.db).await.unwrap().len()
    }
}
