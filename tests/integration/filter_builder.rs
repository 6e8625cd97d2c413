//! Properties of the filter builder: for any filter (arbitrary strings in every text field) and
//! any kind of key, building the condition never panics, refusals are caller errors, and every
//! condition it builds is SQL that PostgreSQL runs, or refuses as a caller error (never
//! INTERNAL).

use std::collections::BTreeSet;

use api::audit::filter::{AuditEventFilter, PortalEvents};
use api::auth::Principal;
use api::error::ApiError;
use async_graphql::Json;
use entity::scope::Scope;
use proptest::prelude::*;
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

/// The columns a filter's condition names, as PostgreSQL would read them.
fn columns_named(filter: &AuditEventFilter, principal: &Principal) -> BTreeSet<String> {
    let condition = filter.condition(principal).expect("a valid filter");
    let sql = Query::select()
        .expr(Expr::cust("1"))
        .from(entity::audit_log::Entity)
        .cond_where(condition)
        .to_string(PostgresQueryBuilder);
    let where_clause = sql.split_once(" WHERE ").map_or("", |(_, w)| w);
    where_clause
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn only_filters_that_name_at_most_one_tenant_and_nothing_else_keep_a_generic_plan() {
    use api::reads::PlanCache::{Generic, Session};
    let tenant = principal(0);
    let product_key = principal(1);
    let platform = principal(2);
    let none = AuditEventFilter::default();
    let now = chrono::Utc::now();
    let one = |f: fn(&mut AuditEventFilter)| {
        let mut filter = AuditEventFilter::default();
        f(&mut filter);
        filter
    };

    // Nothing but the key's own reach, or one tenant named by a platform key.
    assert_eq!(none.plan_cache(&tenant), Generic);
    assert_eq!(none.plan_cache(&platform), Generic);
    let include = one(|f| f.portal = Some(PortalEvents::Include));
    assert_eq!(include.plan_cache(&tenant), Generic);
    let a_tenant = one(|f| f.tenant_ids = Some(vec![Uuid::nil()]));
    assert_eq!(a_tenant.plan_cache(&platform), Generic);
    assert_eq!(a_tenant.plan_cache(&tenant), Generic);
    for (filter, principal) in [(&none, &tenant), (&none, &platform), (&a_tenant, &platform)] {
        let named = columns_named(filter, principal);
        assert!(
            named.iter().all(|c| c == "tenant_id"),
            "a generic plan's condition names only tenant_id: {named:?}"
        );
    }

    // A product key's reach is a second column; so is every filter field.
    assert_eq!(none.plan_cache(&product_key), Session);
    let mut narrowed = vec![
        one(|f| f.tenant_ids = Some(vec![Uuid::nil(), Uuid::max()])),
        one(|f| f.project_ids = Some(vec![Uuid::nil()])),
        one(|f| f.products = Some(vec!["crm".into()])),
        one(|f| f.portal = Some(PortalEvents::Exclude)),
        one(|f| f.portal = Some(PortalEvents::Only)),
        one(|f| f.actor_ids = Some(vec!["a".into()])),
        one(|f| f.actor_types = Some(vec!["user".into()])),
        one(|f| f.actions = Some(vec!["crm.x".into()])),
        one(|f| f.action_prefix = Some("crm.".into())),
        one(|f| f.target_types = Some(vec!["deal".into()])),
        one(|f| f.target_ids = Some(vec!["d1".into()])),
        one(|f| f.metadata = Some(Json(serde_json::json!({ "k": "v" })))),
        one(|f| f.source_ip = Some("10.0.0.0/8".into())),
        one(|f| f.query = Some("action:crm.x".into())),
    ];
    narrowed.extend([
        AuditEventFilter {
            since: Some(now),
            ..AuditEventFilter::default()
        },
        AuditEventFilter {
            until: Some(now),
            ..AuditEventFilter::default()
        },
    ]);
    for filter in &narrowed {
        for principal in [&tenant, &platform] {
            assert_eq!(filter.plan_cache(principal), Session, "{filter:?}");
        }
    }
}
