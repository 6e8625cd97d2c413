//! The `bulk-*` tenants of a bulk run, with their entitlements and projects: created when
//! missing, and described ([`TenantProfile`]) for the event generator.

use std::collections::HashMap;

use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
use entity::{tenant_products, tenant_projects, tenants};
use rand::Rng;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};

use crate::SeedError;
use crate::bulk::BulkOptions;
use crate::history::{Generator, TenantProfile};
use crate::vocabulary::PRODUCTS;

/// Creates the missing `bulk-*` tenants with their entitlements and projects; returns all of
/// them, in rank order, and how many were new.
pub(crate) async fn ensure_tenants(
    db: &DatabaseConnection,
    options: &BulkOptions,
) -> Result<(Vec<TenantProfile>, u64), SeedError> {
    let mut generator = Generator::new(options.seed, "bulk-tenants");
    let statuses = [
        TenantStatus::Active,
        TenantStatus::Active,
        TenantStatus::Active,
        TenantStatus::Trial,
        TenantStatus::Frozen,
    ];
    let slugs: Vec<String> = (1..=options.tenants)
        .map(|i| format!("bulk-{i:05}"))
        .collect();
    let mut created = 0;
    for chunk in slugs.chunks(1000) {
        let rows = chunk.iter().map(|slug| tenants::ActiveModel {
            slug: Set(slug.clone()),
            name: Set(format!("Bulk tenant {}", &slug[5..])),
            kind: Set(TenantKind::Customer),
            status: Set(statuses[generator.rng().random_range(0..statuses.len())]),
            plan: Set(
                ["starter", "growth", "enterprise"][generator.rng().random_range(0..3)].to_owned(),
            ),
            ..Default::default()
        });
        created += tenants::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(tenants::Column::Slug)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let ids: HashMap<String, uuid::Uuid> = tenants::Entity::find()
        .filter(tenants::Column::Slug.is_in(slugs.clone()))
        .order_by_asc(tenants::Column::Slug)
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.slug, t.id))
        .collect();

    let mut profiles = Vec::with_capacity(slugs.len());
    let mut products = Vec::new();
    let mut projects = Vec::new();
    for (rank, slug) in slugs.into_iter().enumerate() {
        let id = ids[&slug];
        // Each product rarer than the one before: crm 90%, billing 60%, analytics 35%, ...
        // Every tenant uses at least one product, so portal events stay about a tenth.
        let mut owned: Vec<&'static str> = PRODUCTS
            .iter()
            .zip([0.9, 0.6, 0.35, 0.2])
            .filter_map(|(p, share)| generator.rng().random_bool(share).then_some(*p))
            .collect();
        if owned.is_empty() {
            owned.push(PRODUCTS[0]);
        }
        products.extend(owned.iter().map(|p| tenant_products::ActiveModel {
            tenant_id: Set(id),
            product: Set((*p).to_owned()),
            config: Set(serde_json::json!({ "max_seats": 5 + rank % 200 })),
            ..Default::default()
        }));
        if rank % 4 == 0 {
            for project in ["main", "staging"] {
                projects.push(tenant_projects::ActiveModel {
                    tenant_id: Set(id),
                    slug: Set(project.to_owned()),
                    name: Set(project.to_owned()),
                    ..Default::default()
                });
            }
        }
        profiles.push(TenantProfile {
            id,
            slug,
            projects: vec![],
            products: owned,
        });
    }
    for chunk in products.chunks(1000) {
        tenant_products::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    tenant_products::Column::TenantId,
                    tenant_products::Column::Product,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    for chunk in projects.chunks(1000) {
        tenant_projects::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    tenant_projects::Column::TenantId,
                    tenant_projects::Column::Slug,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let all_projects = tenant_projects::Entity::find()
        .filter(tenant_projects::Column::TenantId.is_in(ids.values().copied().collect::<Vec<_>>()))
        .all(db)
        .await?;
    let index: HashMap<uuid::Uuid, usize> = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    for project in all_projects {
        profiles[index[&project.tenant_id]]
            .projects
            .push(project.id);
    }
    Ok((profiles, created))
}
