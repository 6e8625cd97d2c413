//! The plans of a tenant's scarcest product, and of list filters (`api::audit::merge`): read
//! a descent per value, not by walking the tenant's events or every tenant's; and of the
//! lookup that deleting a project makes.

use api::audit::filter::AuditEventFilter;
use api::reads::PlanCache;
use bench::shapes::{self, Caller, Subjects};
use bench::sql::{explain_prepared, plan_waste};
use sea_orm::{DbBackend, Statement};
use tests::TestDb;
use uuid::Uuid;

use super::{MAX_DISCARDED, in_order_through, page_plan, rarest};

/// Checks them on the seeded data of `no_search_shape_scans_or_discards_audit_log_rows`.
pub(super) async fn check(db: &TestDb, subjects: &Subjects) {
    let principal = shapes::principal(Caller::Tenant(subjects.large.id), subjects.large.id);
    // The product the large tenant has the fewest events of (none, often), alone: read from
    // `audit_log_tenant_product_idx`, not by walking the tenant's or the product's events.
    let scarce_product = subjects.large.scarce_products.0[0].clone();
    let waste = page_plan(
        db,
        &principal,
        AuditEventFilter {
            products: Some(vec![scarce_product.clone()]),
            ..AuditEventFilter::default()
        },
    )
    .await;
    assert!(
        in_order_through(&waste, "audit_log_tenant_product_idx"),
        "products [{scarce_product}]: {waste:?}"
    );
    // Lists (`api::audit::merge`): products the large tenant has none of, two tenants with or
    // without one of them, and its rarest kind of target with one it has none of, are read a
    // descent per value and merged, not by walking the tenant's events (2.8 s on the benchmark
    // data) or every tenant's. Its rarest kind of target alone: one descent
    // (`audit_log_tenant_target_type_idx`, the eighth migration).
    let rare_type = rarest(db, subjects, "target_type", "ASC").await;
    let project = rarest(db, subjects, "project_id::text", "ASC").await;
    let nowhere = Uuid::from_u128(7);
    let platform = shapes::principal(Caller::Platform, subjects.large.id);
    let two = Some(vec![subjects.large.id, subjects.mid.id]);
    let list = |values: &[&str]| Some(values.iter().map(|v| v.to_string()).collect());
    for (who, merged, filter, index) in [
        (
            &principal,
            true,
            AuditEventFilter {
                products: list(&[&scarce_product, "nowhere"]),
                ..AuditEventFilter::default()
            },
            "tenant_product_idx",
        ),
        (
            &platform,
            true,
            AuditEventFilter {
                tenant_ids: two.clone(),
                products: list(&[&scarce_product]),
                ..AuditEventFilter::default()
            },
            "audit_log_tenant_product_idx",
        ),
        (
            &platform,
            true,
            AuditEventFilter {
                tenant_ids: two,
                ..AuditEventFilter::default()
            },
            "audit_log_tenant_page_idx",
        ),
        (
            &principal,
            true,
            AuditEventFilter {
                target_types: list(&[&rare_type, "nothing"]),
                ..AuditEventFilter::default()
            },
            "audit_log_tenant_target_type_idx",
        ),
        (
            &principal,
            false,
            AuditEventFilter {
                target_types: list(&[&rare_type]),
                ..AuditEventFilter::default()
            },
            "audit_log_tenant_target_type_idx",
        ),
        (
            &principal,
            true,
            AuditEventFilter {
                project_ids: Some(vec![project.parse().unwrap(), nowhere]),
                ..AuditEventFilter::default()
            },
            "audit_log_project_page_idx",
        ),
    ] {
        let waste = page_plan(db, who, filter.clone()).await;
        assert!(
            waste.nodes.iter().any(|n| n == "Merge Append") == merged
                && waste.nodes.iter().any(|n| n.contains(index))
                && waste.seq_scans == 0
                && waste.rows_discarded + waste.rows_sorted <= MAX_DISCARDED,
            "{filter:?}: {waste:?}"
        );
    }

    // Deleting a project sets its events' project to NULL (the foreign key's action): the
    // events are found through the index, not by reading the whole log (1.4 s a project on
    // the benchmark data before the ninth migration).
    let set_null = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE ONLY audit_log SET project_id = NULL WHERE $1 = project_id",
        [project.parse::<Uuid>().unwrap().into()],
    );
    let plan = explain_prepared(&db.db, &set_null, "JSON", PlanCache::Generic)
        .await
        .unwrap();
    let waste = plan_waste(&plan).unwrap();
    assert!(
        waste
            .nodes
            .iter()
            .any(|n| n.contains("audit_log_project_page_idx"))
            && waste.seq_scans == 0,
        "a project's events, as its deletion finds them: {waste:?}"
    );
}
