//! The schema migrations: they apply, roll back completely, and build exactly the reference DDL.

use migration::{Migrator, MigratorTrait};
use tests::TestDb;
use tests::catalog::{self, Catalog};

const REFERENCE_DDL: &str = include_str!("../reference/tenant_registry.sql");

const TABLES: [&str; 12] = [
    "api_keys",
    "audit_checkpoint",
    "audit_log",
    "audit_metadata_term",
    "audit_seal_gap",
    "audit_seal_leaf",
    "audit_seal_node",
    "tenant_deletions",
    "tenant_idp_config",
    "tenant_products",
    "tenant_projects",
    "tenants",
];

const ENUMS: [&str; 4] = [
    "idp_kind: oidc, saml",
    "tenant_kind: customer, demo",
    "tenant_project_status: active, archived",
    "tenant_status: demo, trial, active, frozen, archived",
];

async fn reference_catalog() -> Catalog {
    let reference = TestDb::empty().await;
    reference.exec(REFERENCE_DDL).await;
    catalog::snapshot(&reference.db)
        .await
        .expect("snapshot of the reference schema")
}

fn table_names(catalog: &Catalog) -> Vec<String> {
    catalog
        .section("relations")
        .iter()
        .filter(|r| r.ends_with("(relkind r)"))
        .map(|r| r.trim_end_matches(" (relkind r)").to_owned())
        .collect()
}

#[tokio::test]
async fn up_down_up_round_trips_to_an_empty_schema_and_back() {
    let db = TestDb::empty().await;

    Migrator::up(&db.db, None).await.expect("up");
    let first = catalog::snapshot(&db.db).await.expect("snapshot after up");
    assert_eq!(table_names(&first), TABLES);
    assert_eq!(first.section("enums").iter().collect::<Vec<_>>(), ENUMS);

    Migrator::down(&db.db, None).await.expect("down");
    let after_down = catalog::snapshot(&db.db)
        .await
        .expect("snapshot after down");
    assert!(
        after_down.is_empty(),
        "after a full down the public schema must hold only the migrations table, found:\n{}",
        after_down.diff(&Catalog {
            sections: Default::default()
        })
    );

    Migrator::up(&db.db, None).await.expect("up again");
    let again = catalog::snapshot(&db.db)
        .await
        .expect("snapshot after second up");
    let diff = again.diff(&first);
    assert!(diff.is_empty(), "second up differs from the first:\n{diff}");
}

#[tokio::test]
async fn first_migration_builds_exactly_the_reference_catalog() {
    let expected = reference_catalog().await;
    let db = TestDb::empty().await;
    Migrator::up(&db.db, Some(1))
        .await
        .expect("first migration");
    let actual = catalog::snapshot(&db.db)
        .await
        .expect("snapshot after the first migration");

    // The snapshot sees every object the reference makes (counted by hand from the DDL).
    for (section, count) in [
        ("columns", 61),
        ("constraints", 20),
        ("indexes", 25),
        ("triggers", 4),
        ("enums", 4),
        ("functions", 1),
        ("sequences", 1),
    ] {
        let n = expected.section(section).len();
        assert_eq!(n, count, "reference {section}");
    }
    let diff = actual.diff(&expected);
    assert!(
        diff.is_empty(),
        "the first migration differs from the reference DDL:\n{diff}"
    );
}

#[tokio::test]
async fn catalog_comparison_catches_one_changed_predicate_or_constraint_name() {
    let expected = reference_catalog().await;
    let db = TestDb::empty().await;
    Migrator::up(&db.db, Some(1))
        .await
        .expect("first migration");

    db.exec(
        "DROP INDEX tenants_trial_ends_idx;
         CREATE INDEX tenants_trial_ends_idx ON tenants (trial_ends_at) WHERE trial_ends_at IS NULL;",
    )
    .await;
    let diff = catalog::snapshot(&db.db)
        .await
        .expect("snapshot")
        .diff(&expected);
    assert_eq!(diff.lines.len(), 2, "one index changed:\n{diff}");
    assert!(
        diff.lines
            .iter()
            .all(|l| l.contains("tenants_trial_ends_idx")),
        "{diff}"
    );

    db.exec(
        "DROP INDEX tenants_trial_ends_idx;
         CREATE INDEX tenants_trial_ends_idx ON tenants (trial_ends_at) WHERE trial_ends_at IS NOT NULL;
         ALTER TABLE api_keys RENAME CONSTRAINT api_keys_tenant_id_name_key TO api_keys_name_key;",
    )
    .await;
    let diff = catalog::snapshot(&db.db)
        .await
        .expect("snapshot")
        .diff(&expected);
    assert!(
        diff.lines
            .iter()
            .any(|l| l.starts_with("- constraints") && l.contains("api_keys_tenant_id_name_key"))
            && diff
                .lines
                .iter()
                .any(|l| l.starts_with("+ constraints") && l.contains("api_keys_name_key")),
        "a renamed constraint must show:\n{diff}"
    );
}

#[test]
fn committed_reference_ddl_is_the_shared_one() {
    // The suite reads its own copy so that it runs anywhere; next to the shared reference (as in
    // CI) the copy must not have drifted from it.
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/tenant_registry.sql"
    );
    match std::fs::read_to_string(shared) {
        Ok(text) => assert_eq!(text, REFERENCE_DDL, "tests/reference differs from {shared}"),
        Err(_) => assert!(REFERENCE_DDL.contains("CREATE TABLE audit_log")),
    }
}

#[tokio::test]
async fn an_index_left_invalid_by_an_interrupted_concurrent_build_is_built_again() {
    use sea_orm::{ConnectionTrait, Statement};
    // (migrations before the one that builds it, index, a word of its definition)
    for (before, name, definition) in [
        (2, "audit_log_text_idx", "gin_trgm_ops"),
        (3, "audit_log_tenant_namespace_idx", "split_part"),
        (4, "audit_log_source_ip_idx", "source_ip IS NOT NULL"),
        (5, "audit_log_tenant_product_idx", "product IS NOT NULL"),
        (
            7,
            "audit_log_tenant_target_type_idx",
            "target_type IS NOT NULL",
        ),
        (8, "audit_log_project_page_idx", "project_id IS NOT NULL"),
    ] {
        let db = TestDb::empty().await;
        Migrator::up(&db.db, Some(before))
            .await
            .expect("the earlier ones");
        // A concurrent build that fails (a unique index over duplicates) leaves the name taken
        // by an invalid index, as an interrupted build of the migration's index would.
        db.exec("INSERT INTO audit_log (action) VALUES ('a.b'), ('a.b')")
            .await;
        db.db
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX CONCURRENTLY {name} ON audit_log (action)"
            ))
            .await
            .expect_err("duplicates");
        let state = async || -> Vec<(String, bool)> {
            let rows = db
                .db
                .query_all_raw(Statement::from_string(
                    db.db.get_database_backend(),
                    format!(
                        "SELECT pg_get_indexdef(indexrelid), indisvalid FROM pg_index \
                         WHERE indexrelid = to_regclass('{name}')"
                    ),
                ))
                .await
                .unwrap();
            rows.iter()
                .map(|r| {
                    (
                        r.try_get_by_index(0).unwrap(),
                        r.try_get_by_index(1).unwrap(),
                    )
                })
                .collect()
        };
        let invalid = state().await;
        assert_eq!(invalid.len(), 1);
        assert!(!invalid[0].1, "invalid: {invalid:?}");

        Migrator::up(&db.db, None).await.expect("the rest");
        let after = state().await;
        assert_eq!(after.len(), 1);
        assert!(after[0].1, "valid: {after:?}");
        assert!(after[0].0.contains(definition), "{after:?}");
    }
}

#[tokio::test]
async fn the_seventh_migration_adds_the_metadata_terms_of_the_events_before_it() {
    let db = TestDb::empty().await;
    Migrator::up(&db.db, Some(6)).await.expect("the first six");
    // Inserted as the schema was then (the entity describes the schema as it is now).
    let (acme, globex) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    db.exec(&format!(
        "INSERT INTO tenants (id, slug, name) VALUES ('{acme}', 'acme', 'Acme'), \
         ('{globex}', 'globex', 'Globex')"
    ))
    .await;
    // Two events of one instant (one row per term), nested values and a non-object (no
    // terms), a number written with trailing zeros, an event without a tenant (no terms).
    db.exec(&format!(
        r#"INSERT INTO audit_log (tenant_id, action, metadata, created_at) VALUES
           ('{acme}', 'a.b', '{{"reason": "x", "fields": ["email", "phone", ["y"]], "deep": {{"k": 1}}}}', '2026-01-01Z'),
           ('{acme}', 'a.b', '{{"reason": "x"}}', '2026-01-01Z'),
           ('{acme}', 'a.b', '[1, 2]', '2026-01-04Z'),
           ('{globex}', 'a.b', '{{"n": 1.50}}', '2026-01-02Z'),
           (NULL, 'a.b', '{{"reason": "x"}}', '2026-01-03Z')"#
    ))
    .await;
    Migrator::up(&db.db, None).await.expect("the seventh");

    let count =
        async |sql: &str, values: Vec<sea_orm::Value>| -> i64 { db.value(sql, values).await };
    assert_eq!(
        count("SELECT count(*) FROM audit_metadata_term", vec![]).await,
        4
    );
    for (tenant, key, value, at) in [
        (acme, "reason", r#""x""#, "2026-01-01Z"),
        (acme, "fields", r#""email""#, "2026-01-01Z"),
        (acme, "fields", r#""phone""#, "2026-01-01Z"),
        (globex, "n", "1.5", "2026-01-02Z"),
    ] {
        let found = count(
            "SELECT count(*) FROM audit_metadata_term WHERE tenant_id = $1 \
             AND term = audit_metadata_term($2, $3::jsonb) AND created_at = $4::timestamptz",
            vec![tenant.into(), key.into(), value.into(), at.into()],
        )
        .await;
        assert_eq!(found, 1, "{key}: {value} at {at}");
    }
}
