//! Seeding: the demo platform (idempotent, resettable), its keys, and bulk data ([`bulk`]).

mod bulk;

use chrono::{TimeZone, Utc};
use entity::prelude::*;
use entity::sea_orm_active_enums::TenantKind;
use entity::tenants;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use seed::demo::{DemoOptions, demo_history, reset_demo, seed_demo};
use seed::history::TenantProfile;
use tests::TestDb;

const TABLES: [&str; 6] = [
    "tenants",
    "tenant_projects",
    "tenant_products",
    "tenant_idp_config",
    "api_keys",
    "audit_log",
];

fn options(events_per_tenant: usize) -> DemoOptions {
    DemoOptions {
        seed: 7,
        events_per_tenant,
        now: Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap(),
    }
}

async fn text(db: &DatabaseConnection, sql: &str) -> String {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row")
        .try_get_by_index::<Option<String>>(0)
        .expect("text")
        .unwrap_or_default()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row")
        .try_get_by_index(0)
        .expect("count")
}

async fn row_counts(db: &DatabaseConnection) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push((
            table.to_owned(),
            count(db, &format!("SELECT count(*) FROM {table}")).await,
        ));
    }
    counts
}

/// Every row of the customer tenants and what hangs off them, as text, in a stable order.
async fn customer_data(db: &DatabaseConnection) -> String {
    let customers = "(SELECT id FROM tenants WHERE kind = 'customer')";
    let mut dump = String::new();
    for (table, key) in [
        ("tenants", "id"),
        ("tenant_projects", "tenant_id"),
        ("tenant_products", "tenant_id"),
        ("tenant_idp_config", "tenant_id"),
        ("api_keys", "tenant_id"),
        ("audit_log", "tenant_id"),
    ] {
        dump += &text(
            db,
            &format!("SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM {table} t WHERE {key} IN {customers}"),
        )
        .await;
    }
    dump
}

#[tokio::test]
async fn seeding_the_demo_twice_changes_nothing_the_second_time() {
    let db = TestDb::migrated().await;
    let first = seed_demo(&db.db, &options(100)).await.expect("first run");
    assert_eq!(first.created.len(), 6);
    let after_first = row_counts(&db.db).await;
    assert!(
        after_first.iter().all(|(_, n)| *n > 0),
        "every table is seeded: {after_first:?}"
    );

    let second = seed_demo(&db.db, &options(100)).await.expect("second run");
    assert!(second.created.is_empty() && second.keys.is_empty() && second.events == 0);
    assert_eq!(second.unchanged.len(), 6);
    assert_eq!(row_counts(&db.db).await, after_first);
}

#[tokio::test]
async fn demo_platform_covers_every_status_and_the_promised_variety() {
    let db = TestDb::migrated().await;
    seed_demo(&db.db, &options(300)).await.expect("seed");
    let q = |sql: &'static str| count(&db.db, sql);
    assert_eq!(
        q("SELECT count(*) FROM tenants WHERE kind = 'demo' AND status = 'demo'").await,
        2
    );
    for status in ["trial", "active", "frozen", "archived"] {
        let sql =
            format!("SELECT count(*) FROM tenants WHERE kind = 'customer' AND status = '{status}'");
        assert!(count(&db.db, &sql).await >= 1, "a customer in {status}");
    }
    assert_eq!(
        q("SELECT count(*) FROM tenants WHERE status = 'trial' AND trial_ends_at IS NULL").await,
        0
    );
    assert!(q("SELECT count(*) FROM tenants WHERE status = 'active' AND plan <> 'starter' AND contract_start IS NOT NULL AND contract_end IS NOT NULL AND erp_customer_id IS NOT NULL AND stripe_cust_id IS NOT NULL AND sales_owner IS NOT NULL").await >= 1);
    assert_eq!(
        q("SELECT count(*) FROM tenant_projects WHERE status = 'archived'").await,
        1
    );
    assert!(q("SELECT count(*) FROM tenant_products WHERE NOT enabled").await >= 1);
    assert!(q("SELECT count(*) FROM tenant_products WHERE expires_at < now()").await >= 1);
    assert!(q("SELECT count(*) FROM tenant_products WHERE config ? 'litellm_url'").await >= 1);
    assert!(q("SELECT count(*) FROM tenant_products WHERE config ? 'max_seats' AND config ? 'modules_enabled'").await >= 1);
    assert_eq!(q("SELECT count(*) FROM tenant_idp_config WHERE type = 'oidc' AND metadata ? 'discovery_url' AND metadata ? 'client_id'").await, 1);
    assert_eq!(q("SELECT count(*) FROM tenant_idp_config WHERE type = 'saml' AND metadata ? 'entity_id' AND (metadata ? 'metadata_url' OR metadata ? 'certificate')").await, 1);
    assert_eq!(
        q("SELECT count(*) FROM tenant_idp_config WHERE verified").await,
        1
    );
    assert_eq!(
        q("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL").await,
        1
    );
    assert_eq!(q("SELECT count(*) FROM tenants t WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.tenant_id = t.id)").await, 0);

    // The history: products and portal events, all actor kinds, both IP families, 90 days.
    assert!(q("SELECT count(*) FROM audit_log WHERE product IS NULL").await > 0);
    assert!(q("SELECT count(DISTINCT product) FROM audit_log").await >= 4);
    assert_eq!(
        q("SELECT count(DISTINCT actor_type) FROM audit_log").await,
        3
    );
    assert!(q("SELECT count(*) FROM audit_log WHERE family(source_ip) = 4").await > 0);
    assert!(q("SELECT count(*) FROM audit_log WHERE family(source_ip) = 6").await > 0);
    assert_eq!(
        q("SELECT count(*) FROM audit_log WHERE action NOT LIKE '%.%'").await,
        0
    );
    assert_eq!(q("SELECT count(*) FROM audit_log WHERE product IS NOT NULL AND action NOT LIKE product || '.%'").await, 0);
    assert_eq!(q("SELECT count(*) FROM audit_log WHERE created_at > '2026-11-20 12:00:00+00' OR created_at < '2026-08-22 12:00:00+00'").await, 0);
    assert!(q("SELECT count(*) FROM audit_log WHERE action = 'tenant.status_changed'").await > 0);
}

#[tokio::test]
async fn reset_recreates_demo_tenants_and_leaves_customers_untouched() {
    let db = TestDb::migrated().await;
    seed_demo(&db.db, &options(150)).await.expect("seed");
    let customers_before = customer_data(&db.db).await;
    let demo_before: Vec<tenants::Model> = Tenants::find()
        .filter(tenants::Column::Kind.eq(TenantKind::Demo))
        .all(&db.db)
        .await
        .expect("demo tenants");
    assert_eq!(demo_before.len(), 2);

    let report = reset_demo(&db.db, &options(150)).await.expect("reset");
    assert_eq!(
        report.purged_events, 300,
        "the old demo tenants' events are purged"
    );
    assert_eq!(report.created, ["demo-acme", "demo-globex"]);

    assert_eq!(
        customer_data(&db.db).await,
        customers_before,
        "customer data is untouched"
    );
    let demo_after: Vec<tenants::Model> = Tenants::find()
        .filter(tenants::Column::Kind.eq(TenantKind::Demo))
        .all(&db.db)
        .await
        .expect("demo tenants");
    assert_eq!(demo_after.len(), 2);
    assert!(
        demo_after
            .iter()
            .all(|t| demo_before.iter().all(|old| old.id != t.id)),
        "new rows"
    );
    assert_eq!(
        count(
            &db.db,
            "SELECT count(*) FROM audit_log WHERE tenant_id IS NULL"
        )
        .await,
        0,
        "no orphaned demo events"
    );
    assert_eq!(count(&db.db, "SELECT count(*) FROM audit_log a JOIN tenants t ON t.id = a.tenant_id WHERE t.kind = 'demo'").await, 300);
}

#[tokio::test]
async fn seeded_keys_verify_and_no_plaintext_is_stored() {
    let db = TestDb::migrated().await;
    let report = seed_demo(&db.db, &options(20)).await.expect("seed");
    assert!(report.keys.len() >= 6);
    let mut dump = String::new();
    for table in TABLES {
        dump += &text(
            &db.db,
            &format!("SELECT string_agg(t::text, E'\\n') FROM {table} t"),
        )
        .await;
    }
    for (tenant, key) in &report.keys {
        let plaintext = key.plaintext.expose();
        let stored = ApiKeys::find_by_id(key.record.id)
            .one(&db.db)
            .await
            .expect("find")
            .expect("row");
        assert!(
            stored.hash.starts_with("$argon2id$"),
            "{tenant}: {}",
            stored.hash
        );
        assert!(
            key.plaintext.verify(&stored.hash),
            "{tenant}/{}: key verifies",
            stored.name
        );
        assert!(!registry::auth::Plaintext::new(format!("{plaintext}x")).verify(&stored.hash));
        assert_eq!(stored.prefix, &plaintext[..8]);
        assert!(
            !dump.contains(plaintext) && !dump.contains(&plaintext[8..]),
            "{tenant}: plaintext stored"
        );
        assert!(
            !format!("{key:?}").contains(plaintext),
            "Debug must not print the key"
        );
    }
}

#[test]
fn demo_history_is_deterministic_for_a_seed() {
    let profile = TenantProfile {
        id: uuid::Uuid::from_u128(7),
        slug: "acme".into(),
        projects: vec![uuid::Uuid::from_u128(8)],
        products: vec!["crm", "billing"],
    };
    let a = demo_history(&profile, &options(500));
    assert_eq!(a, demo_history(&profile, &options(500)));
    assert_ne!(
        a,
        demo_history(
            &profile,
            &DemoOptions {
                seed: 8,
                ..options(500)
            }
        )
    );
    assert!(
        a.windows(2).all(|w| w[0].created_at <= w[1].created_at),
        "oldest first"
    );
}
