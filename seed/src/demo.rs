//! `seed demo`: create the demo platform, idempotently; `seed demo --reset`: recreate its demo
//! tenants (the nightly reset) and leave customers alone.

use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::{TenantKind, TenantProjectStatus};
use entity::{audit_log, tenant_idp_config, tenant_products, tenant_projects, tenants};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};

use registry::keys::{IssuedKey, Issuer, NewKey, issue};

use crate::blueprints::{TenantBlueprint, demo_platform};
use crate::history::{Event, Generator, TenantProfile};
use crate::{SeedError, insert_events};

/// How to seed the demo platform.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of the audit history: the same seed (and `now`) gives the same events.
    pub seed: u64,
    /// Audit events per tenant.
    pub events_per_tenant: usize,
    /// The moment "now" for relative dates (history spans the 90 days before it).
    pub now: DateTime<Utc>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Tenants created, by slug.
    pub created: Vec<String>,
    /// Tenants that already existed and were left as they were.
    pub unchanged: Vec<String>,
    /// Demo tenants deleted by `--reset`.
    pub deleted: Vec<String>,
    /// Audit rows of deleted demo tenants purged by `--reset`.
    pub purged_events: u64,
    /// Audit events written.
    pub events: usize,
    /// Keys issued: (tenant slug, the key). The plaintexts exist only here.
    pub keys: Vec<(String, IssuedKey)>,
}

/// Creates every tenant of the demo platform that does not exist yet (matched by slug).
pub async fn seed_demo(
    db: &DatabaseConnection,
    options: &DemoOptions,
) -> Result<DemoReport, SeedError> {
    let mut report = DemoReport::default();
    for blueprint in demo_platform() {
        let exists = tenants::Entity::find()
            .filter(tenants::Column::Slug.eq(blueprint.slug))
            .one(db)
            .await?
            .is_some();
        if exists {
            report.unchanged.push(blueprint.slug.to_owned());
            continue;
        }
        let txn = db.begin().await?;
        create_tenant(&txn, &blueprint, options, &mut report).await?;
        txn.commit().await?;
    }
    Ok(report)
}

/// Deletes the demo tenants (`kind = demo`) with their audit history, and creates them anew, in
/// one transaction (a savepoint when `db` is a transaction already: the server's nightly reset
/// holds its lock in one): a failure leaves the old demo tenants in place. Customer tenants and their
/// data are not touched.
pub async fn reset_demo(
    db: &impl registry::Db,
    options: &DemoOptions,
) -> Result<DemoReport, SeedError> {
    let mut report = DemoReport::default();
    let txn = db.begin().await?;
    let demo_tenants = tenants::Entity::find()
        .filter(tenants::Column::Kind.eq(TenantKind::Demo))
        .all(&txn)
        .await?;
    let ids: Vec<_> = demo_tenants.iter().map(|t| t.id).collect();
    // The schema would keep these rows with tenant_id NULL; a nightly reset would pile up
    // thousands of orphaned demo events a night, so the reset purges them first, marking
    // their leaves in the sealed log as pruned (the reset's own `demo.reset` row says why).
    registry::evidence::seal::mark_pruned(&txn, &ids, "demo.reset").await?;
    report.purged_events = audit_log::Entity::delete_many()
        .filter(audit_log::Column::TenantId.is_in(ids.clone()))
        .exec(&txn)
        .await?
        .rows_affected;
    tenants::Entity::delete_many()
        .filter(tenants::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    report.deleted = demo_tenants.into_iter().map(|t| t.slug).collect();
    for blueprint in demo_platform()
        .into_iter()
        .filter(|b| b.kind == TenantKind::Demo)
    {
        create_tenant(&txn, &blueprint, options, &mut report).await?;
    }
    txn.commit().await?;
    Ok(report)
}

async fn create_tenant(
    db: &impl registry::Db,
    blueprint: &TenantBlueprint,
    options: &DemoOptions,
    report: &mut DemoReport,
) -> Result<(), SeedError> {
    let now = options.now;
    let tenant = tenants::ActiveModel {
        slug: Set(blueprint.slug.to_owned()),
        name: Set(blueprint.name.to_owned()),
        status: Set(blueprint.status),
        kind: Set(blueprint.kind),
        plan: Set(blueprint.plan.to_owned()),
        erp_customer_id: Set(blueprint.erp_customer_id.map(str::to_owned)),
        stripe_cust_id: Set(blueprint.stripe_cust_id.map(str::to_owned)),
        trial_ends_at: Set(blueprint.trial_ends_at(now).map(|t| t.fixed_offset())),
        contract_start: Set(blueprint.contract.map(|c| c.0)),
        contract_end: Set(blueprint.contract.map(|c| c.1)),
        sales_owner: Set(blueprint.sales_owner.map(str::to_owned)),
        ..Default::default()
    }
    .insert(db)
    .await?;

    let mut projects = Vec::new();
    for (slug, name, archived) in &blueprint.projects {
        let project = tenant_projects::ActiveModel {
            tenant_id: Set(tenant.id),
            slug: Set((*slug).to_owned()),
            name: Set((*name).to_owned()),
            status: Set(if *archived {
                TenantProjectStatus::Archived
            } else {
                TenantProjectStatus::Active
            }),
            ..Default::default()
        }
        .insert(db)
        .await?;
        if !archived {
            projects.push(project.id);
        }
    }
    for p in &blueprint.products {
        tenant_products::ActiveModel {
            tenant_id: Set(tenant.id),
            product: Set(p.product.to_owned()),
            enabled: Set(p.enabled),
            config: Set(p.config.clone()),
            expires_at: Set(p
                .expires_in_days
                .map(|d| (now + Duration::days(d)).fixed_offset())),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    if let Some((kind, metadata, verified)) = &blueprint.idp {
        tenant_idp_config::ActiveModel {
            tenant_id: Set(tenant.id),
            r#type: Set(*kind),
            metadata: Set(metadata.clone()),
            verified: Set(*verified),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    for k in &blueprint.keys {
        let issued = issue(
            db,
            Issuer::Operator("seed"),
            NewKey {
                product: k.product.map(str::to_owned),
                ..NewKey::new(tenant.id, k.name, &k.scopes)
            },
        )
        .await
        .map_err(SeedError::Key)?;
        let issued = if k.revoked {
            let mut record: entity::api_keys::ActiveModel = issued.record.clone().into();
            record.revoked_at = Set(Some((now - Duration::days(7)).fixed_offset()));
            IssuedKey {
                record: record.update(db).await?,
                ..issued
            }
        } else {
            issued
        };
        report.keys.push((blueprint.slug.to_owned(), issued));
    }

    let profile = TenantProfile {
        id: tenant.id,
        slug: tenant.slug.clone(),
        projects,
        products: blueprint
            .products
            .iter()
            .filter(|p| p.enabled)
            .map(|p| p.product)
            .collect(),
    };
    let events = demo_history(&profile, options);
    report.events += events.len();
    insert_events(db, &events).await?;
    report.created.push(tenant.slug);
    Ok(())
}

/// A tenant's demo history: `events_per_tenant` events over the 90 days before `now`,
/// oldest first. Deterministic for the seed, `now` and the tenant's slug and ids.
pub fn demo_history(tenant: &TenantProfile, options: &DemoOptions) -> Vec<Event> {
    let mut generator = Generator::new(options.seed, &tenant.slug);
    let mut events: Vec<Event> = (0..options.events_per_tenant)
        .map(|_| {
            let at = generator.recent_time(options.now, 90);
            generator.event(tenant, at)
        })
        .collect();
    events.sort_by_key(|e| e.created_at);
    events
}
