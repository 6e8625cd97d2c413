//! Properties of the filter builder: for any filter (arbitrary strings in every text field) and
//! any kind of key, building the condition never panics, refusals are caller errors, and every
//! condition it builds is SQL that PostgreSQL runs, or refuses as a caller error (never
//! INTERNAL).

use std::collections::BTreeSet;

use api::audit::filter::{AuditEventFilter, PortalEvents};
use async_graphql::Json;
use entity::scope::Scope;
use proptest::prelude::*;
use registry::ApiError;
use registry::auth::Principal;
use sea_orm::sea_query::{Expr, PostgresQueryBuilder, Query};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tests::TestDb;
use uuid::Uuid;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z%_\\\\'\".*:,\\- ]{0,12}",
        Just("\u{0}".to_owned()),
        Just("x".repeat(10_000)),
    ]
}

fn list() -> impl Strategy<Value = Option<Vec<String>>> {
    proptest::option::of(prop_oneof![
        9 => proptest::collection::vec(text(), 1..3),
        1 => Just(Vec::new()),
    ])
}

fn filter() -> impl Strategy<Value = AuditEventFilter> {
    (
        (list(), list(), list(), list(), list(), list()),
        (
            proptest::option::of(text()),
            proptest::option::of(prop_oneof![
                3 => Just("10.0.0.0/8".to_owned()),
                3 => Just("2001:db8::1".to_owned()),
                1 => text(),
            ]),
            proptest::option::of(prop_oneof![
                3 => "(-?(action|crud|actor\\.id|foo):[a-z%_.*']{0,6} ?){0,3}",
                1 => text(),
            ]),
            proptest::option::of(prop_oneof![
                Just(PortalEvents::Include),
                Just(PortalEvents::Exclude),
                Just(PortalEvents::Only)
            ]),
            proptest::option::of((text(), text())),
            proptest::option::of((10i64..400, 0i64..12)),
        ),
    )
        .prop_map(
            |(
                (products, actor_ids, actor_types, actions, target_types, target_ids),
                (action_prefix, source_ip, query, portal, metadata, window),
            )| AuditEventFilter {
                products,
                actor_ids,
                actor_types,
                actions,
                target_types,
                target_ids,
                action_prefix,
                source_ip,
                query,
                portal,
                metadata: metadata.map(|(k, v)| Json(serde_json::json!({ k: v }))),
                since: window.map(|(a, _)| chrono::Utc::now() - chrono::Duration::days(a)),
                until: window.map(|(_, b)| chrono::Utc::now() - chrono::Duration::days(b)),
                ..AuditEventFilter::default()
            },
        )
}

fn principal(kind: u8) -> Principal {
    let mut scopes = BTreeSet::from([Scope::AuditRead]);
    if kind == 2 {
        scopes.insert(Scope::Platform);
    }
    Principal {
        key_id: Uuid::nil(),
        key_name: "p".into(),
        tenant_id: Uuid::nil(),
        tenant_slug: "t".into(),
        scopes,
        product: (kind == 1).then(|| "crm".to_owned()),
        expires_at: None,
    }
}

fn caller_error(e: &ApiError) -> bool {
    matches!(e, ApiError::BadUserInput { .. } | ApiError::Forbidden(_))
}

#[test]
fn any_filter_builds_a_condition_postgres_runs_or_a_caller_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDb::migrated());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    let (ran, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&(filter(), 0u8..3), |(filter, kind)| {
            let condition = match filter.condition(&principal(kind)) {
                Ok(condition) => condition,
                Err(e) => {
                    prop_assert!(caller_error(&e), "{e:?}");
                    refused.set(refused.get() + 1);
                    return Ok(());
                }
            };
            let (sql, values) = Query::select()
                .expr(Expr::cust("count(*)"))
                .from(entity::audit_log::Entity)
                .cond_where(condition)
                .build(PostgresQueryBuilder);
            let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
            if let Err(e) = runtime.block_on(db.db.query_one_raw(statement)) {
                let e = ApiError::from(e);
                prop_assert!(caller_error(&e), "the database refused it: {e:?}");
            }
            ran.set(ran.get() + 1);
            Ok(())
        })
        .unwrap();
    // Both outcomes were exercised.
    let (ran, refused) = (ran.get(), refused.get());
    eprintln!("{ran} conditions ran on PostgreSQL, {refused} refused as caller errors");
    assert!(ran > 50 && refused > 10, "ran {ran}, refused {refused}");
}
