//! The plans of every search shape (the benchmark's, built by the server's own code) on a few
//! hundred thousand skewed rows: no sequential scan of `audit_log`, and at most a few hundred
//! rows read and thrown away. Plans of the statements as the server runs them: prepared, after
//! six executions, with the server's `plan_cache_mode` for each (a kept generic plan for the
//! lookups by a unique key, a custom plan per execution for every page). Free text in a small
//! tenant is matched row by row by design (`api::audit::free_text`), and may read the tenant's
//! events up to that module's bound.

use std::sync::Arc;

use api::audit::filter::AuditEventFilter;
use api::audit::free_text::{ROW_BY_ROW_EVENTS, TextMatch};
use api::audit::store::{AuditOrder, find_statement, page_statement};
use api::reads::PlanCache;
use bench::shapes::{self, Caller, Subjects};
use bench::sql::{PlanWaste, explain_prepared, plan_waste};
use chrono::Utc;
use registry::auth::Principal;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use seed::bulk::{BulkOptions, seed_bulk};
use tests::TestDb;

mod lists;

/// Rows a plan may read and throw away.
const MAX_DISCARDED: u64 = 300;

/// Whether a page's plan reads `index`, scans no table, sorts nothing, and throws away at most
/// [`MAX_DISCARDED`] rows.
fn in_order_through(waste: &PlanWaste, index: &str) -> bool {
    waste.seq_scans == 0
        && waste.sorts == 0
        && waste.rows_discarded <= MAX_DISCARDED
        && waste.nodes.iter().any(|n| n.contains(index))
}

/// The large tenant's value of `column` with the fewest (`ASC`) or most (`DESC`) events.
async fn rarest(db: &TestDb, subjects: &Subjects, column: &str, order: &str) -> String {
    bench::subjects::scalar(
        &db.db,
        &format!(
            "SELECT {column} FROM audit_log WHERE tenant_id = $1 AND {column} IS NOT NULL \
             GROUP BY 1 ORDER BY count(*) {order}, 1 LIMIT 1"
        ),
        vec![subjects.large.id.into()],
    )
    .await
    .unwrap()
    .unwrap()
}

/// The plan of `who`'s first page of `filter`, as the server reads it.
async fn page_plan(db: &TestDb, who: &Principal, filter: AuditEventFilter) -> PlanWaste {
    let columns = api::graphql::page_columns("{ auditEvents { edges { node { id } } } }").unwrap();
    let (text, order) = (TextMatch::Indexed, AuditOrder::NewestFirst);
    let condition = filter.condition_with(who, text).unwrap();
    let conditions = filter
        .page_conditions(who, text, order, None, &condition)
        .unwrap();
    let page = page_statement(conditions, order, 50, None, columns);
    let plan = explain_prepared(&db.db, &page, "JSON", PlanCache::Session)
        .await
        .unwrap();
    plan_waste(&plan).unwrap()
}

#[tokio::test]
async fn no_search_shape_scans_or_discards_audit_log_rows() {
    let db = TestDb::migrated().await;
    let options = BulkOptions {
        tenants: 40,
        events: 300_000,
        seed: 8,
        batch_rows: 50_000,
        connections: 2,
        keep_indexes: false,
        now: Utc::now(),
    };
    seed_bulk(&db.db, &options, Arc::new(|_| {})).await.unwrap();
    db.db
        .execute_unprepared("VACUUM ANALYZE audit_log")
        .await
        .unwrap();
    let subjects = shapes::subjects(&db.db).await.unwrap();
    assert!(subjects.large.deep_cursor.is_some(), "S5 has its page 200");
    let mut failures = Vec::new();
    let all = shapes::read_shapes(&subjects);
    assert!(all.len() >= 18, "every shape, large and mid: {}", all.len());
    let mut generic = Vec::new();
    let mut text_index_used = Vec::new();
    for shape in all {
        let statement = shape.statement(subjects.large.id).unwrap();
        let plans = shape.plan_cache();
        if plans == PlanCache::Generic {
            generic.push(shape.name());
        }
        let plan = explain_prepared(&db.db, &statement, "JSON", plans)
            .await
            .unwrap();
        let waste = plan_waste(&plan).unwrap();
        eprintln!(
            "{:<10} {plans:?} discarded {:>5}  {}",
            shape.name(),
            waste.rows_discarded,
            waste.nodes.join(" > ")
        );
        // Only free text (S11) cannot come from an index in time order; every other page
        // stops after its rows, or sorts no more than a few hundred (a rare value's few
        // events, all read and sorted, as S8 mid is planned). Metadata containment (S8) reads
        // its terms in time order (`audit_metadata_term`, the seventh migration).
        let sorted = waste.rows_sorted > MAX_DISCARDED && shape.id != "S11";
        if shape.id == "S8"
            && !waste
                .nodes
                .iter()
                .any(|n| n.contains("audit_metadata_term_pkey"))
        {
            failures.push(format!(
                "{}: no metadata terms: {:?}",
                shape.name(),
                waste.nodes
            ));
        }
        // Free text in a small tenant is matched row by row, by design (`free_text`): its
        // events are read until a page is full, at most ROW_BY_ROW_EVENTS of them.
        let row_by_row = shape.id == "S11"
            && shape
                .tenant_events
                .is_some_and(|n| TextMatch::for_tenant_events(n) == TextMatch::RowByRow);
        let allowed = if row_by_row {
            ROW_BY_ROW_EVENTS as u64
        } else {
            MAX_DISCARDED
        };
        if shape.id == "S11" {
            text_index_used.push((
                shape.name(),
                row_by_row,
                waste.nodes.iter().any(|n| n.contains("audit_log_text_idx")),
            ));
        }
        if waste.seq_scans > 0 || waste.rows_discarded > allowed || sorted {
            failures.push(format!("{} ({}): {waste:?}", shape.name(), shape.label));
        }
    }
    // The large tenant's free text through the trigram index, the median one's row by row.
    assert_eq!(
        text_index_used,
        [
            ("S11 large".to_owned(), false, true),
            ("S11 mid".to_owned(), true, false)
        ],
        "(shape, matched row by row, the trigram index in the plan)"
    );
    assert_eq!(
        generic,
        ["S9 large", "S9 mid"],
        "the shapes the server plans generically: the entitlement only"
    );

    // `auditEvent(id)`, also planned generically: the primary key, within the key's reach.
    for caller in [Caller::Platform, Caller::Tenant(subjects.mid.id)] {
        let principal = shapes::principal(caller, subjects.large.id);
        let reach = AuditEventFilter::default().condition(&principal).unwrap();
        let find = find_statement(1, reach);
        let plan = explain_prepared(&db.db, &find, "JSON", PlanCache::Generic)
            .await
            .unwrap();
        let waste = plan_waste(&plan).unwrap();
        assert!(
            waste.nodes.iter().any(|n| n.contains("audit_log_pkey")),
            "auditEvent by its key ({caller:?}): {:?}",
            waste.nodes
        );
    }

    // A free-text word without three letters or digits in a row cannot be looked up in the
    // trigram index, which would then be read whole: the server matches it row by row. A
    // rare target name is looked up in the index; the commonest actor's name is not.
    let principal = shapes::principal(Caller::Tenant(subjects.large.id), subjects.large.id);
    let by_count = async |column: &str, order: &str| rarest(&db, &subjects, column, order).await;
    let rare_target = by_count("target_name", "ASC").await;
    let common_actor = by_count("actor_name", "DESC").await;
    // The plan of the large tenant's first page for a filter, and for a search.
    let plan_of_filter = async |filter| page_plan(&db, &principal, filter).await;
    let plan_of = async |search: &str| -> PlanWaste {
        plan_of_filter(AuditEventFilter {
            query: Some(search.to_owned()),
            ..AuditEventFilter::default()
        })
        .await
    };
    for (search, indexed) in [
        ("\"ab\"".to_owned(), false),
        ("\"a.b\"".to_owned(), false),
        (format!("\"{}\"", subjects.large.object), true),
        (format!("target.name:\"{rare_target}\""), true),
        (format!("actor.name:\"{common_actor}\""), false),
    ] {
        let nodes = plan_of(&search).await.nodes;
        assert_eq!(
            nodes.iter().any(|n| n.contains("audit_log_text_idx")),
            indexed,
            "{search}: {nodes:?}"
        );
    }

    // Source addresses (`audit_log_source_ip_idx`): the large tenant's rarest address and one
    // it has never seen are read from the index in time order (its commonest may be read from
    // either index). No page sorts, and none reads more than it keeps.
    let rare_ip = by_count("host(source_ip)", "ASC").await;
    let common_ip = by_count("host(source_ip)", "DESC").await;
    for (ip, must_use_index) in [
        (rare_ip.as_str(), true),
        ("198.51.100.77", true),
        (common_ip.as_str(), false),
    ] {
        let waste = plan_of_filter(AuditEventFilter {
            source_ip: Some(ip.to_owned()),
            ..AuditEventFilter::default()
        })
        .await;
        let indexed = waste
            .nodes
            .iter()
            .any(|n| n.contains("audit_log_source_ip_idx"));
        assert!(
            waste.seq_scans == 0
                && waste.sorts == 0
                && waste.rows_discarded <= MAX_DISCARDED
                && (indexed || !must_use_index),
            "sourceIp {ip}: {waste:?}"
        );
    }

    lists::check(&db, &subjects).await;

    // Metadata (`api::audit::metadata_terms`): a value hundreds of the large tenant's events
    // have is read newest first through its terms, not found whole and sorted (as through the
    // GIN index, before the seventh migration); the commonest is read in time order too.
    let by_frequency = async |having: &str, order: &str| -> String {
        bench::subjects::scalar(
            &db.db,
            &format!(
                "SELECT jsonb_build_object(e.key, e.value)::text FROM audit_log a, \
                 jsonb_each(a.metadata) e WHERE a.tenant_id = $1 \
                 AND jsonb_typeof(e.value) IN ('string', 'number', 'boolean') \
                 GROUP BY 1 HAVING count(*) {having} ORDER BY count(*) {order}, 1 LIMIT 1"
            ),
            vec![subjects.large.id.into()],
        )
        .await
        .unwrap()
        .unwrap()
    };
    for metadata in [
        by_frequency("BETWEEN 400 AND 5000", "ASC").await,
        by_frequency("> 0", "DESC").await,
    ] {
        let waste = plan_of_filter(AuditEventFilter {
            metadata: Some(async_graphql::Json(
                serde_json::from_str(&metadata).unwrap(),
            )),
            ..AuditEventFilter::default()
        })
        .await;
        assert!(
            in_order_through(&waste, "audit_metadata_term_pkey"),
            "metadata {metadata}: {waste:?}"
        );
    }
    // Page 5 of the value hundreds have: its terms are read from the cursor on. From the
    // newest, each term newer than the cursor would be probed with the cursor's row comparison
    // in the same index scan, which runs from the cursor to the end of the index (210 s on the
    // benchmark data).
    let metadata: serde_json::Value =
        serde_json::from_str(&by_frequency("BETWEEN 400 AND 5000", "ASC").await).unwrap();
    let row = db
        .db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT created_at, id FROM audit_log WHERE tenant_id = $1 AND metadata @> $2 \
             ORDER BY created_at DESC, id DESC OFFSET 199 LIMIT 1",
            [subjects.large.id.into(), metadata.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let cursor = api::audit::cursor::Cursor {
        created_at: row.try_get_by_index(0).unwrap(),
        id: row.try_get_by_index(1).unwrap(),
    };
    let filter = AuditEventFilter {
        metadata: Some(async_graphql::Json(metadata.clone())),
        ..AuditEventFilter::default()
    };
    let (text, order) = (TextMatch::Indexed, AuditOrder::NewestFirst);
    let condition = filter.condition_with(&principal, text).unwrap();
    let page = page_statement(
        filter
            .page_conditions(&principal, text, order, Some(cursor), &condition)
            .unwrap(),
        order,
        50,
        Some(cursor),
        api::graphql::page_columns("{ auditEvents { edges { node { id } } } }").unwrap(),
    );
    let plan = explain_prepared(&db.db, &page, "JSON", PlanCache::Session)
        .await
        .unwrap();
    let waste = plan_waste(&plan).unwrap();
    // About 2,700 buffers (the planner may read the 660 terms past the cursor and sort them);
    // without the bound, 26,000.
    assert!(waste.buffers < 8_000, "page 5 of {metadata}: {waste:?}");

    // External ids (`api::audit::external_id`): every event of the large tenant gets one, and
    // half of them share one. A unique id is looked up in the metadata index; the shared one
    // is read from the tenant's events in time order, as without the lookup (the equality must
    // not make the planner think it rare).
    db.db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE audit_log SET metadata = metadata || jsonb_build_object('external_id', \
             CASE WHEN id % 2 = 0 THEN 'batch-7' ELSE 'evt-' || id END) WHERE tenant_id = $1",
            [subjects.large.id.into()],
        ))
        .await
        .unwrap();
    db.db
        .execute_unprepared("VACUUM ANALYZE audit_log")
        .await
        .unwrap();
    let unique: String = bench::subjects::scalar(
        &db.db,
        "SELECT 'evt-' || max(id) FROM audit_log WHERE tenant_id = $1 AND id % 2 = 1",
        vec![subjects.large.id.into()],
    )
    .await
    .unwrap()
    .unwrap();
    let by_id = plan_of(&format!("external_id:{unique}")).await;
    assert!(
        by_id
            .nodes
            .iter()
            .any(|n| n.contains("audit_log_tenant_metadata_idx"))
            && by_id.seq_scans == 0
            && by_id.rows_discarded == 0,
        "a unique external id: {by_id:?}"
    );
    let shared = plan_of("external_id:batch-7").await;
    assert!(
        !shared.nodes.iter().any(|n| n.contains("metadata_idx"))
            && shared.sorts == 0
            && shared.rows_discarded <= MAX_DISCARDED,
        "an external id half the events share: {shared:?}"
    );

    assert!(
        failures.is_empty(),
        "wasteful plans:\n{}",
        failures.join("\n")
    );
}
