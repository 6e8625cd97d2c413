//! Dev mode (`DATABASE_URL` unset): a persistent local cluster under `target/pg/dev`, all
//! migrations, the demo tenants on first start, and a fresh local operator key each start.
//!
//! The operator key belongs to the `platform` tenant and holds every scope. Its plaintext is
//! never stored: each start revokes the previous one's record and issues a new key, printed
//! once and filled into the playground.

use chrono::Utc;
use entity::prelude::{ApiKeys, Tenants};
use entity::scope::Scope;
use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
use entity::{api_keys, tenants};
use localpg::{Cluster, ClusterRoot, Lifetime};
use registry::auth::Plaintext;
use registry::keys::{Issuer, NewKey};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use seed::demo::{DemoOptions, DemoReport, seed_demo};

/// The dev cluster's name under `target/pg`.
pub const CLUSTER: &str = "dev";
/// The slug of the operators' tenant.
pub const PLATFORM_TENANT: &str = "platform";
/// The name of the dev operator key.
pub const OPERATOR_KEY: &str = "local-operator";

/// What dev mode set up.
#[derive(Debug)]
pub struct DevEnvironment {
    /// The cluster (stopped when this process exits, if this process started it).
    pub cluster: Cluster,
    /// The pool.
    pub db: DatabaseConnection,
    /// The operator key, to print once and fill into the playground.
    pub operator_key: Plaintext,
    /// The demo platform, when this start created it.
    pub demo: Option<DemoReport>,
}

/// Starts (or attaches to) the dev cluster and prepares it.
pub async fn prepare(
    pool_size: u32,
    statement_timeout: std::time::Duration,
) -> anyhow::Result<DevEnvironment> {
    let cluster = Cluster::persistent(
        &ClusterRoot::workspace_default(),
        CLUSTER,
        Lifetime::StopWithProcess,
    )?;
    crate::startup::migrate(&cluster.url("postgres")).await?;
    let db =
        crate::startup::connect(&cluster.url("postgres"), pool_size, statement_timeout).await?;
    let has_demo = Tenants::find()
        .filter(tenants::Column::Kind.eq(TenantKind::Demo))
        .one(&db)
        .await?
        .is_some();
    let demo = if has_demo {
        None
    } else {
        let options = DemoOptions {
            seed: 42,
            events_per_tenant: 2000,
            now: Utc::now(),
        };
        Some(seed_demo(&db, &options).await?)
    };
    let operator_key = rotate_operator_key(&db).await?;
    Ok(DevEnvironment {
        cluster,
        db,
        operator_key,
        demo,
    })
}

/// Ensures the `platform` tenant and issues a new operator key in place of the old one.
pub async fn rotate_operator_key(db: &DatabaseConnection) -> anyhow::Result<Plaintext> {
    let platform = match Tenants::find()
        .filter(tenants::Column::Slug.eq(PLATFORM_TENANT))
        .one(db)
        .await?
    {
        Some(tenant) => tenant,
        None => {
            tenants::ActiveModel {
                slug: Set(PLATFORM_TENANT.to_owned()),
                name: Set("Platform operators".to_owned()),
                kind: Set(TenantKind::Customer),
                status: Set(TenantStatus::Active),
                plan: Set("internal".to_owned()),
                ..Default::default()
            }
            .insert(db)
            .await?
        }
    };
    ApiKeys::delete_many()
        .filter(api_keys::Column::TenantId.eq(platform.id))
        .filter(api_keys::Column::Name.eq(OPERATOR_KEY))
        .exec(db)
        .await?;
    let issued = registry::keys::issue(
        db,
        Issuer::Operator("api dev mode"),
        NewKey::new(platform.id, OPERATOR_KEY, &Scope::ALL),
    )
    .await?;
    Ok(issued.plaintext)
}
