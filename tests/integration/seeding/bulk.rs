//! `seed bulk`: exactly the requested events over the requested tenants, Zipf-skewed.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{ConnectionTrait, Statement};
use seed::bulk::{BulkOptions, Progress, seed_bulk, zipf_counts};
use tests::TestDb;

use super::count;

#[tokio::test]
async fn bulk_writes_exactly_the_requested_events_over_the_requested_tenants() {
    let db = TestDb::migrated().await;
    let options = BulkOptions {
        tenants: 50,
        events: 20_000,
        seed: 3,
        batch_rows: 3_000,
        connections: 2,
        keep_indexes: false,
        now: Utc::now(),
    };
    let catalog_before = tests::catalog::snapshot(&db.db).await.expect("catalog");
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = seen.clone();
    let report = seed_bulk(
        &db.db,
        &options,
        Arc::new(move |p: Progress<'_>| {
            if let Progress::Rows(n) = p {
                progress.store(n, std::sync::atomic::Ordering::Relaxed);
            }
        }),
    )
    .await
    .expect("bulk");
    assert_eq!(
        (report.events_written, report.tenants_created),
        (20_000, 50)
    );
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        20_000,
        "progress reached the end"
    );
    assert_eq!(
        count(&db.db, "SELECT count(*) FROM audit_log").await,
        20_000
    );
    assert_eq!(
        count(&db.db, "SELECT count(DISTINCT tenant_id) FROM audit_log").await,
        50
    );

    // Skewed exactly as promised: tenant k holds its Zipf share.
    let per_tenant: Vec<i64> = db
        .db
        .query_all_raw(Statement::from_string(
            db.db.get_database_backend(),
            "SELECT count(*) FROM audit_log a JOIN tenants t ON t.id = a.tenant_id GROUP BY t.slug ORDER BY t.slug",
        ))
        .await
        .expect("per tenant")
        .iter()
        .map(|r| r.try_get_by_index(0).expect("count"))
        .collect();
    let expected: Vec<i64> = zipf_counts(50, 20_000)
        .into_iter()
        .map(|c| c as i64)
        .collect();
    assert_eq!(per_tenant, expected);
    let portal = count(
        &db.db,
        "SELECT count(*) FROM audit_log WHERE product IS NULL",
    )
    .await;
    assert!(
        (1_000..3_500).contains(&portal),
        "about a tenth are portal events: {portal}"
    );
    assert_eq!(
        count(
            &db.db,
            "SELECT count(*) FROM audit_log WHERE created_at < now() - interval '366 days'"
        )
        .await,
        0
    );

    // A second run reuses the tenants and adds events.
    let again = seed_bulk(
        &db.db,
        &BulkOptions {
            events: 1_000,
            ..options
        },
        Arc::new(|_| {}),
    )
    .await
    .expect("again");
    assert_eq!((again.tenants_created, again.events_written), (0, 1_000));
    assert!(
        report.deferred_indexes,
        "an empty table is loaded first and indexed after"
    );
    assert!(
        !again.deferred_indexes,
        "a table with rows keeps its indexes during the load"
    );
    let diff = tests::catalog::snapshot(&db.db)
        .await
        .expect("catalog")
        .diff(&catalog_before);
    assert!(
        diff.is_empty(),
        "the load must leave every index as it was:\n{diff}"
    );
    assert_eq!(count(&db.db, "SELECT count(*) FROM tenants").await, 50);

    // Every event's metadata terms: the first load's sorted pass, the second's trigger (on
    // again after the first load).
    let terms = count(&db.db, "SELECT count(*) FROM audit_metadata_term").await;
    let expected = count(
        &db.db,
        "SELECT count(*) FROM (SELECT DISTINCT a.tenant_id, t, a.created_at \
         FROM audit_log a, audit_metadata_terms(a.metadata) t WHERE a.tenant_id IS NOT NULL) s",
    )
    .await;
    assert!(terms > 20_000 && terms == expected, "{terms} of {expected}");
    assert_eq!(
        count(
            &db.db,
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_log_metadata_terms_insert' \
             AND tgenabled = 'O'"
        )
        .await,
        1
    );
}

#[test]
fn zipf_counts_add_up_exactly_and_fall_with_rank() {
    for (n, total) in [(1, 10), (50, 20_000), (1000, 10_000_000), (7, 3)] {
        let counts = zipf_counts(n, total);
        assert_eq!(counts.iter().sum::<u64>(), total);
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "{n}/{total}: {counts:?}"
        );
    }
    let big = zipf_counts(1000, 10_000_000);
    let top = big[0] as f64 / 1e7;
    assert!((0.12..0.15).contains(&top), "largest tenant share {top}");
    assert!(
        (1_000..5_000).contains(&big[500]),
        "median tenant {}",
        big[500]
    );
}
