//! `TestApp`: the real server on a random port, over a database of its own, with typed helpers.

use std::net::SocketAddr;

use api::startup::{Application, Settings};
use api::state::AppState;
use chrono::{DateTime, Utc};
use entity::audit_log;
use entity::scope::Scope;
use ipnetwork::IpNetwork;
use registry::keys::{Issuer, NewKey, issue};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestDb;

/// The `User-Agent` the test client sends.
pub const USER_AGENT: &str = "tenant-registry-tests/1";

/// A running server and its database.
#[derive(Debug)]
pub struct TestApp {
    /// The server's own database.
    pub db: TestDb,
    /// Where it listens.
    pub address: SocketAddr,
    /// Its shared state (authenticator, pool).
    pub state: AppState,
    client: reqwest::Client,
}

impl TestApp {
    /// The settings tests start from: every default (127.0.0.1 and a free port, production's
    /// outbound rules: no private address, a test allows its own listeners), playground on,
    /// no pre-filled key, no lifecycle clock.
    pub fn settings() -> Settings {
        let mut settings = Settings::default();
        settings.http.playground = true;
        // The lifecycle's clock moves tenants by the time; tests that move a tenant's times
        // run its passes themselves (or turn it on).
        settings.lifecycle.every = None;
        settings
    }

    /// Starts the server with `settings` (built from [`TestApp::settings`]) on a fresh,
    /// migrated database.
    pub async fn spawn(settings: Settings) -> TestApp {
        // The server's log goes to the test's captured output: shown when a test fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn,api=info".into()),
            )
            .with_test_writer()
            .try_init();
        let db = TestDb::migrated().await;
        let pool = crate::server::connect(db.url())
            .await
            .expect("pool for the server");
        let app = Application::build(pool, settings)
            .await
            .expect("bind the server");
        let (address, state) = (app.address(), app.state().clone());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .build()
            .expect("HTTP client");
        TestApp {
            db,
            address,
            state,
            client,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A request builder on this server's HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// The body of `GET path` (no key: `/metrics`, `/.well-known/audit-log-key`), as text.
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("a text body")
    }

    /// POSTs a GraphQL operation with `key`; the whole JSON response.
    pub async fn gql(&self, key: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(self.url("/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("JSON response")
    }

    /// Like [`TestApp::gql`], but fails the test on any error; the `data`.
    pub async fn gql_ok(&self, key: &str, query: &str, variables: Value) -> Value {
        let response = self.gql(key, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Issues a key for `tenant_id`; its plaintext.
    pub async fn issue_key(
        &self,
        tenant_id: Uuid,
        name: &str,
        scopes: &[Scope],
        product: Option<&str>,
    ) -> String {
        issue(
            &self.db.db,
            Issuer::Operator("tests"),
            NewKey {
                product: product.map(str::to_owned),
                ..NewKey::new(tenant_id, name, scopes)
            },
        )
        .await
        .expect("issue a key")
        .plaintext
        .expose()
        .to_owned()
    }

    /// A tenant `ops` and a key of it named `ops` holding `scopes` and `platform`; its plaintext.
    pub async fn platform_key(&self, scopes: &[Scope]) -> String {
        let ops = crate::fixtures::insert_tenant(&self.db.db, "ops")
            .await
            .expect("the ops tenant");
        let mut scopes = scopes.to_vec();
        scopes.push(Scope::Platform);
        self.issue_key(ops.id, "ops", &scopes, None).await
    }
}

/// The first error's `extensions.code` (panics if the response has no error).
pub fn error_code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {response:#}"))
        .to_owned()
}

/// An audit event to insert, every column settable; defaults are a bare `test.event`.
#[derive(Debug, Clone)]
pub struct Ev {
    /// `tenant_id`.
    pub tenant: Option<Uuid>,
    /// `project_id`.
    pub project: Option<Uuid>,
    /// `product`.
    pub product: Option<&'static str>,
    /// `action`.
    pub action: &'static str,
    /// `actor_id`.
    pub actor_id: Option<&'static str>,
    /// `actor_type`.
    pub actor_type: Option<&'static str>,
    /// `target_type`.
    pub target_type: Option<&'static str>,
    /// `target_id`.
    pub target_id: Option<&'static str>,
    /// `metadata`.
    pub metadata: Value,
    /// `source_ip`.
    pub ip: Option<&'static str>,
    /// `created_at`.
    pub at: DateTime<Utc>,
}

impl Ev {
    /// A `test.event` of `tenant` at `at`.
    pub fn new(tenant: Uuid, at: DateTime<Utc>) -> Ev {
        Ev {
            tenant: Some(tenant),
            project: None,
            product: None,
            action: "test.event",
            actor_id: None,
            actor_type: None,
            target_type: None,
            target_id: None,
            metadata: json!({}),
            ip: None,
            at,
        }
    }

    /// Inserts it; the row id.
    pub async fn insert(self, db: &TestDb) -> i64 {
        audit_log::ActiveModel {
            tenant_id: Set(self.tenant),
            project_id: Set(self.project),
            product: Set(self.product.map(str::to_owned)),
            action: Set(self.action.to_owned()),
            actor_id: Set(self.actor_id.map(str::to_owned)),
            actor_type: Set(self.actor_type.map(str::to_owned)),
            target_type: Set(self.target_type.map(str::to_owned)),
            target_id: Set(self.target_id.map(str::to_owned)),
            metadata: Set(self.metadata),
            source_ip: Set(self.ip.map(|ip| ip.parse::<IpNetwork>().expect("an IP"))),
            created_at: Set(self.at.fixed_offset()),
            ..Default::default()
        }
        .insert(&db.db)
        .await
        .expect("insert an audit event")
        .id
    }
}

/// The ids of `auditEvents(...).edges`, in order.
pub fn edge_ids(connection: &Value) -> Vec<i64> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {connection:#}"))
        .iter()
        .map(|e| {
            e["node"]["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("an id")
        })
        .collect()
}
