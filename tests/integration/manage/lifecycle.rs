//! A tenant's lifecycle state bites (registry::lifecycle): what each state allows the tenant's
//! own keys, what products are told by `entitlement`, what entering archived removes, and a
//! trial's end.

use entity::scope::Scope;
use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::app::{TestApp, error_code};
use tests::fixtures::{insert_product, insert_project, insert_tenant, insert_tenant_in};
use uuid::Uuid;

use super::Ops;

fn admin_scopes() -> Vec<Scope> {
    Scope::ALL
        .into_iter()
        .filter(|s| *s != Scope::Platform)
        .collect()
}

async fn publish(app: &TestApp, key: &str, group: Option<&str>) -> (u16, Value) {
    let mut event = json!({"action": "crm.login", "crud": "r", "actor": {"id": "u1"}});
    if let Some(group) = group {
        event["group"] = json!({"id": group});
    }
    let response = app
        .http()
        .post(app.url("/publisher/v1/project/crm/event"))
        .header("Authorization", format!("token={key}"))
        .json(&event)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn search_status(app: &TestApp, key: &str) -> u16 {
    app.http()
        .post(app.url("/publisher/v1/project/crm/graphql"))
        .header("Authorization", format!("token={key}"))
        .json(&json!({"query": "{ search(query: \"\") { totalCount } }"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn each_state_allows_its_own_keys_what_the_table_says() {
    let ops = Ops::new().await;
    let app = &ops.app;
    let future = chrono::Utc::now() + chrono::Duration::days(3);
    for (slug, status, kind, writes) in [
        ("demo-co", TenantStatus::Demo, TenantKind::Demo, true),
        ("trial-co", TenantStatus::Trial, TenantKind::Customer, true),
        (
            "active-co",
            TenantStatus::Active,
            TenantKind::Customer,
            true,
        ),
        (
            "frozen-co",
            TenantStatus::Frozen,
            TenantKind::Customer,
            false,
        ),
    ] {
        let tenant = insert_tenant_in(&app.db.db, slug, status, kind)
            .await
            .unwrap()
            .id;
        app.db
            .db
            .execute_unprepared(&format!(
                "UPDATE tenants SET trial_ends_at = '{}' WHERE id = '{tenant}'",
                future.to_rfc3339()
            ))
            .await
            .unwrap();
        insert_product(&app.db.db, tenant, "crm").await.unwrap();
        let admin = ops.key_for(tenant, "admin", &admin_scopes()).await;
        let crm = app
            .issue_key(
                tenant,
                "crm",
                &[Scope::AuditWrite, Scope::AuditRead],
                Some("crm"),
            )
            .await;
        // Reads.
        let read = app
            .gql(
                &admin,
                "query($t: UUID!) { tenant(id: $t) { name } auditEvents(first: 1) { edges { cursor } } }",
                json!({"t": tenant}),
            )
            .await;
        assert!(read.get("errors").is_none(), "{slug} reads: {read}");
        // A change.
        let write = app
            .gql(
                &admin,
                "mutation($t: UUID!) { createProject(tenantId: $t, slug: \"web\", name: \"W\") { id } }",
                json!({"t": tenant}),
            )
            .await;
        if writes {
            assert!(write.get("errors").is_none(), "{slug} writes: {write}");
        } else {
            assert_eq!(error_code(&write), "TENANT_FROZEN", "{write}");
            let message = write["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains("read") && message.contains("publish"),
                "{message}"
            );
        }
        // Events are still accepted, through GraphQL and Retraced, and searchable.
        let recorded = app
            .gql(
                &admin,
                "mutation { recordAuditEvent(input: {product: \"crm\", action: \"crm.login\"}) { id } }",
                json!({}),
            )
            .await;
        assert!(
            recorded.get("errors").is_none(),
            "{slug} records: {recorded}"
        );
        assert_eq!(publish(app, &crm, None).await.0, 201, "{slug} publishes");
        assert_eq!(search_status(app, &crm).await, 200, "{slug} searches");
        // Products asking.
        let asked = app
            .gql_ok(
                &crm,
                "query($t: UUID!) { entitlement(tenantId: $t, product: \"crm\") { active reason } }",
                json!({"t": tenant}),
            )
            .await;
        let expected = if writes {
            json!({"active": true, "reason": null})
        } else {
            json!({"active": false, "reason": "TENANT_FROZEN"})
        };
        assert_eq!(asked["entitlement"], expected, "{slug}");
        // Operators keep their reach over a frozen tenant.
        let by_operator = ops
            .gql(
                "mutation($t: UUID!) { updateTenant(id: $t, input: {name: \"Renamed\"}) { name } }",
                json!({"t": tenant}),
            )
            .await;
        assert!(by_operator.get("errors").is_none(), "{by_operator}");
    }
}

#[tokio::test]
async fn entering_archived_removes_what_the_schema_says_and_nothing_else_is_accepted() {
    let ops = Ops::new().await;
    let app = &ops.app;
    let db = &app.db.db;
    let tenant = insert_tenant(db, "leaving").await.unwrap().id;
    let web = insert_project(db, tenant, "web").await.unwrap().id;
    let old = insert_project(db, tenant, "old").await.unwrap().id;
    db.execute_unprepared(&format!(
        "UPDATE tenant_projects SET status = 'archived' WHERE id = '{old}'"
    ))
    .await
    .unwrap();
    insert_product(db, tenant, "crm").await.unwrap();
    insert_product(db, tenant, "billing").await.unwrap();
    ops.gql_ok(
        "mutation($t: UUID!) { setIdpConfig(tenantId: $t, type: SAML, metadata: {entity_id: \"urn:x\", certificate: \"-----BEGIN CERTIFICATE-----x-----END CERTIFICATE-----\"}) { id } }",
        json!({"t": tenant}),
    )
    .await;
    let admin = ops.key_for(tenant, "admin", &admin_scopes()).await;
    let crm = app
        .issue_key(tenant, "crm", &[Scope::AuditWrite], Some("crm"))
        .await;
    app.gql_ok(
        &admin,
        "mutation($p: UUID!) { recordAuditEvent(input: {product: \"crm\", action: \"crm.x\", projectId: $p}) { id } }",
        json!({"p": web}),
    )
    .await;

    // Frozen first: no data changes.
    let change = "mutation($t: UUID!, $s: TenantStatus!) { changeTenantStatus(id: $t, status: $s) { status statusSince } }";
    let frozen = ops
        .gql_ok(change, json!({"t": tenant, "s": "FROZEN"}))
        .await;
    let count = |sql: String| async move { app.db.value::<i64>(&sql, vec![]).await };
    let live_keys = format!(
        "SELECT count(*) FROM api_keys WHERE tenant_id = '{tenant}' AND revoked_at IS NULL"
    );
    let products = format!("SELECT count(*) FROM tenant_products WHERE tenant_id = '{tenant}'");
    let idps = format!("SELECT count(*) FROM tenant_idp_config WHERE tenant_id = '{tenant}'");
    let active_projects = format!(
        "SELECT count(*) FROM tenant_projects WHERE tenant_id = '{tenant}' AND status = 'active'"
    );
    assert_eq!(
        (
            count(live_keys.clone()).await,
            count(products.clone()).await,
            count(idps.clone()).await,
            count(active_projects.clone()).await
        ),
        (2, 2, 1, 1)
    );
    let archived = ops
        .gql_ok(change, json!({"t": tenant, "s": "ARCHIVED"}))
        .await;
    assert_eq!(archived["changeTenantStatus"]["status"], "ARCHIVED");
    assert_ne!(
        archived["changeTenantStatus"]["statusSince"], frozen["changeTenantStatus"]["statusSince"],
        "the time it entered its state moves with it"
    );
    assert_eq!(
        (
            count(live_keys).await,
            count(products).await,
            count(idps).await,
            count(active_projects).await
        ),
        (0, 0, 0, 0)
    );
    let projects = format!("SELECT count(*) FROM tenant_projects WHERE tenant_id = '{tenant}'");
    assert_eq!(count(projects).await, 2, "projects are kept, archived");
    let with_project = format!("SELECT count(*) FROM audit_log WHERE project_id = '{web}'");
    assert_eq!(count(with_project).await, 1, "events keep their project");
    let rows = ops.audit("tenant.status_changed").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1].metadata["after"],
        json!({"status": "archived", "keys_revoked": 2, "entitlements_removed": 2,
               "idp_configs_removed": 1, "projects_archived": 1})
    );
    assert_eq!(rows[0].metadata["after"], json!({"status": "frozen"}));

    // Its keys are gone at once; nothing is accepted for it, from operators either; operators
    // still read its log.
    let r = app.gql(&admin, "{ viewer { keyId } }", json!({})).await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");
    assert_eq!(publish(app, &crm, None).await.0, 401);
    let r = ops
        .gql(
            "mutation($t: UUID!) { recordAuditEvent(input: {tenantId: $t, product: \"crm\", action: \"crm.late\"}) { id } }",
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(error_code(&r), "TENANT_ARCHIVED", "{r}");
    let (status, body) = publish(app, &ops.key, Some("leaving")).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("TENANT_ARCHIVED")),
        "{body}"
    );
    let log = ops
        .gql_ok(
            "query($t: UUID!) { auditEvents(filter: {tenantIds: [$t]}) { edges { node { action } } } }",
            json!({"t": tenant}),
        )
        .await;
    assert!(!log["auditEvents"]["edges"].as_array().unwrap().is_empty());
    // An entitlement an operator leaves on an archived tenant is inactive, and says why.
    insert_product(db, tenant, "crm").await.unwrap();
    let asked = ops
        .gql_ok(
            "query($t: UUID!) { entitlement(tenantId: $t, product: \"crm\") { active reason } }",
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(
        asked["entitlement"],
        json!({"active": false, "reason": "TENANT_ARCHIVED"})
    );
}

#[tokio::test]
async fn a_trial_has_an_end_and_is_over_when_it_passes() {
    let ops = Ops::new().await;
    let created = ops
        .gql_ok(
            "mutation { createTenant(input: {slug: \"newco\", name: \"New\"}) { id status trialEndsAt } }",
            json!({}),
        )
        .await;
    let tenant = &created["createTenant"];
    assert_eq!(tenant["status"], "TRIAL");
    let ends: chrono::DateTime<chrono::Utc> =
        tenant["trialEndsAt"].as_str().unwrap().parse().unwrap();
    let in_14_days = chrono::Utc::now() + chrono::Duration::days(14);
    assert!((ends - in_14_days).num_minutes().abs() < 5, "{ends}");
    let given = ops
        .gql_ok(
            "mutation { createTenant(input: {slug: \"givenco\", name: \"G\", trialEndsAt: \"2031-01-01T00:00:00Z\"}) { trialEndsAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        given["createTenant"]["trialEndsAt"],
        "2031-01-01T00:00:00+00:00"
    );
    let r = ops
        .gql(
            "mutation($t: UUID!) { changeTenantStatus(id: $t, status: TRIAL) { id } }",
            json!({"t": ops.acme}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");

    // Past its end, a trial's entitlements are inactive at once, before anything moves it.
    let id: Uuid = tenant["id"].as_str().unwrap().parse().unwrap();
    let db = &ops.app.db.db;
    insert_product(db, id, "crm").await.unwrap();
    insert_product(db, id, "off").await.unwrap();
    insert_product(db, id, "old").await.unwrap();
    db.execute_unprepared(&format!(
        "UPDATE tenant_products SET enabled = false WHERE tenant_id = '{id}' AND product = 'off'; \
         UPDATE tenant_products SET expires_at = now() - interval '1 day' WHERE tenant_id = '{id}' AND product = 'old'"
    ))
    .await
    .unwrap();
    let ask = "query($t: UUID!, $p: String!) { entitlement(tenantId: $t, product: $p) { active reason } }";
    for (product, reason) in [
        ("crm", Value::Null),
        ("off", json!("DISABLED")),
        ("old", json!("EXPIRED")),
    ] {
        let r = ops.gql_ok(ask, json!({"t": id, "p": product})).await;
        assert_eq!(
            r["entitlement"],
            json!({"active": reason.is_null(), "reason": reason}),
            "{product}"
        );
    }
    db.execute_unprepared(&format!(
        "UPDATE tenants SET trial_ends_at = now() - interval '1 minute' WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    let r = ops.gql_ok(ask, json!({"t": id, "p": "crm"})).await;
    assert_eq!(
        r["entitlement"],
        json!({"active": false, "reason": "TRIAL_ENDED"})
    );
    let listed = ops
        .gql_ok(
            "query($t: UUID!) { tenant(id: $t) { products { product active reason } } }",
            json!({"t": id}),
        )
        .await;
    assert!(
        listed["tenant"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["reason"] == "TRIAL_ENDED" && p["active"] == false),
        "{listed}"
    );
}

/// The lifecycle's settings for a pass.
fn every_day() -> registry::lifecycle::LifecycleSettings {
    registry::lifecycle::LifecycleSettings::default()
}

#[tokio::test]
async fn expired_trials_freeze_and_tenants_frozen_past_the_grace_are_archived() {
    let ops = Ops::new().await;
    let app = &ops.app;
    let db = &app.db.db;
    let mut ids = Vec::new();
    for (slug, status, times) in [
        (
            "lapsed",
            "trial",
            "trial_ends_at = now() - interval '1 minute'",
        ),
        (
            "trying",
            "trial",
            "trial_ends_at = now() + interval '1 day'",
        ),
        (
            "long-frozen",
            "frozen",
            "status_since = now() - interval '31 days'",
        ),
        (
            "just-frozen",
            "frozen",
            "status_since = now() - interval '29 days'",
        ),
        (
            "paying",
            "active",
            "trial_ends_at = now() - interval '90 days'",
        ),
    ] {
        let id = insert_tenant(db, slug).await.unwrap().id;
        db.execute_unprepared(&format!(
            "UPDATE tenants SET status = '{status}', {times} WHERE id = '{id}'"
        ))
        .await
        .unwrap();
        ids.push(id);
    }
    let key = ops
        .key_for(ids[2], "frozen-reader", &[Scope::TenantsRead])
        .await;
    let moved = registry::schedule::run_once(db, &every_day(), Some(&app.state.auth))
        .await
        .unwrap();
    assert_eq!((moved.trials_frozen, moved.archived), (1, 1));
    let status = |id: Uuid| async move {
        app.db
            .value::<String>(
                &format!("SELECT status::text FROM tenants WHERE id = '{id}'"),
                vec![],
            )
            .await
    };
    assert_eq!(
        [
            status(ids[0]).await,
            status(ids[1]).await,
            status(ids[2]).await,
            status(ids[3]).await,
            status(ids[4]).await
        ],
        ["frozen", "trial", "archived", "frozen", "active"]
    );
    let expired = ops.audit("tenant.trial_expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (
            expired[0].actor_id.as_deref(),
            expired[0].actor_type.as_deref(),
            expired[0].actor_name.as_deref()
        ),
        (Some("system"), Some("system"), Some("lifecycle"))
    );
    assert_eq!(expired[0].tenant_id, Some(ids[0]));
    let archived = ops.audit("tenant.archived").await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].metadata["after"]["keys_revoked"], 1);
    // Its keys were revoked, and this process forgot them at once.
    let r = app.gql(&key, "{ viewer { keyId } }", json!({})).await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");
    // The grace counts from the new state: the trial frozen now is not archived by a pass
    // now; nothing is due twice.
    let again = registry::schedule::run_once(db, &every_day(), None)
        .await
        .unwrap();
    assert_eq!(again, registry::schedule::Moved::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_passing_at_once_move_each_tenant_once() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let db = &app.db.db;
    for n in 0..20 {
        let id = insert_tenant(db, &format!("lapsed-{n}")).await.unwrap().id;
        db.execute_unprepared(&format!(
            "UPDATE tenants SET trial_ends_at = now() - interval '1 hour' WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    }
    // Two pools, as two server processes have.
    let (first, second) = (
        tests::server::connect(app.db.url()).await.unwrap(),
        tests::server::connect(app.db.url()).await.unwrap(),
    );
    let settings = every_day();
    let (a, b) = tokio::join!(
        registry::schedule::run_once(&first, &settings, None),
        registry::schedule::run_once(&second, &settings, None)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.trials_frozen + b.trials_frozen, 20, "{a:?} {b:?}");
    let rows: i64 = app
        .db
        .value(
            "SELECT count(*) FROM audit_log WHERE action = 'tenant.trial_expired'",
            vec![],
        )
        .await;
    assert_eq!(rows, 20, "one audit row per tenant");
}

#[tokio::test]
async fn the_servers_clock_passes_at_start_and_counts_its_moves() {
    let app = TestApp::spawn({
        let mut settings = TestApp::settings();
        settings.lifecycle.every = Some(std::time::Duration::from_millis(100));
        settings
    })
    .await;
    let id = insert_tenant(&app.db.db, "lapsed").await.unwrap().id;
    app.db
        .db
        .execute_unprepared(&format!(
            "UPDATE tenants SET trial_ends_at = now() - interval '1 minute' WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let status: String = app
            .db
            .value(
                &format!("SELECT status::text FROM tenants WHERE id = '{id}'"),
                vec![],
            )
            .await;
        if status == "frozen" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "not moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let metrics = app.text("/metrics").await;
    assert!(
        metrics.contains("tenant_registry_lifecycle_moves_total{move=\"trial_expired\"} 1"),
        "{metrics}"
    );
}

#[test]
fn the_reset_time_is_the_latest_at_or_before_now() {
    use api::demo_reset::latest_slot;
    use chrono::{NaiveTime, TimeZone, Utc};
    let at = NaiveTime::from_hms_opt(3, 0, 0).unwrap();
    let day = |d, h, m| Utc.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap();
    assert_eq!(latest_slot(day(7, 5, 0), at), day(7, 3, 0));
    assert_eq!(latest_slot(day(7, 3, 0), at), day(7, 3, 0));
    assert_eq!(latest_slot(day(7, 2, 59), at), day(6, 3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_is_reset_once_a_day_whatever_the_number_of_processes() {
    use api::demo_reset::reset_if_due;
    let app = TestApp::spawn(TestApp::settings()).await;
    let db = &app.db.db;
    let options = seed::demo::DemoOptions {
        seed: 3,
        events_per_tenant: 20,
        now: chrono::Utc::now(),
    };
    seed::demo::seed_demo(db, &options).await.unwrap();
    let at = chrono::NaiveTime::from_hms_opt(3, 0, 0).unwrap();
    let now = chrono::Utc::now();
    let demo_ids =
        "SELECT string_agg(id::text, ',' ORDER BY slug) FROM tenants WHERE kind = 'demo'";
    let customers =
        "SELECT string_agg(id::text, ',' ORDER BY slug) FROM tenants WHERE kind = 'customer'";
    let (demo_before, customers_before): (String, String) = (
        app.db.value(demo_ids, vec![]).await,
        app.db.value(customers, vec![]).await,
    );
    // Just seeded: not due until the next reset time has passed.
    assert!(!reset_if_due(db, at, now).await.unwrap());
    // The demo tenants were made two days ago: due. Two processes at once reset it once.
    db.execute_unprepared(
        "UPDATE tenants SET created_at = now() - interval '2 days' WHERE kind = 'demo'",
    )
    .await
    .unwrap();
    let (first, second) = (
        tests::server::connect(app.db.url()).await.unwrap(),
        tests::server::connect(app.db.url()).await.unwrap(),
    );
    let (a, b) = tokio::join!(
        reset_if_due(&first, at, now),
        reset_if_due(&second, at, now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one reset: {a} {b}");
    let resets = "SELECT count(*) FROM audit_log WHERE action = 'demo.reset' AND product IS NULL";
    assert_eq!(app.db.value::<i64>(resets, vec![]).await, 1);
    let demo_after: String = app.db.value(demo_ids, vec![]).await;
    assert_ne!(demo_after, demo_before, "the demo tenants are new");
    assert_eq!(
        app.db.value::<String>(customers, vec![]).await,
        customers_before,
        "customers untouched"
    );
    // Done for today.
    assert!(!reset_if_due(db, at, now).await.unwrap());
    // A day later (the last reset moved back a day), it is due again.
    db.execute_unprepared(
        "UPDATE audit_log SET created_at = created_at - interval '1 day' \
         WHERE action = 'demo.reset' AND product IS NULL",
    )
    .await
    .unwrap();
    assert!(reset_if_due(db, at, now).await.unwrap());
    assert_eq!(app.db.value::<i64>(resets, vec![]).await, 2);
}

#[tokio::test]
async fn an_archived_tenants_key_opens_nothing_and_an_ended_trial_changes_nothing() {
    let ops = Ops::new().await;
    let app = &ops.app;
    let db = &app.db.db;
    // Archived by writing the row (as data restored or seeded may be), its key not revoked.
    let gone = insert_tenant_in(db, "gone", TenantStatus::Archived, TenantKind::Customer)
        .await
        .unwrap()
        .id;
    let key = app
        .issue_key(
            gone,
            "left-over",
            &[Scope::TenantsRead, Scope::AuditWrite],
            Some("crm"),
        )
        .await;
    let response = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({"query": "{ viewer { keyId } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "TENANT_ARCHIVED", "{body}");
    let (status, body) = publish(app, &key, None).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("TENANT_ARCHIVED"))
    );
    // A trial past its end, before the clock has moved it: reads, publishes, changes nothing.
    let lapsed = insert_tenant(db, "lapsed").await.unwrap().id;
    db.execute_unprepared(&format!(
        "UPDATE tenants SET trial_ends_at = now() - interval '1 minute' WHERE id = '{lapsed}'"
    ))
    .await
    .unwrap();
    let admin = ops.key_for(lapsed, "admin", &admin_scopes()).await;
    let read = app
        .gql(
            &admin,
            "query($t: UUID!) { tenant(id: $t) { status } }",
            json!({"t": lapsed}),
        )
        .await;
    assert_eq!(read["data"]["tenant"]["status"], "TRIAL", "{read}");
    let write = app
        .gql(
            &admin,
            "mutation($t: UUID!) { createProject(tenantId: $t, slug: \"web\", name: \"W\") { id } }",
            json!({"t": lapsed}),
        )
        .await;
    assert_eq!(error_code(&write), "TENANT_FROZEN", "{write}");
    let recorded = app
        .gql(
            &admin,
            "mutation { recordAuditEvent(input: {product: \"crm\", action: \"crm.login\"}) { id } }",
            json!({}),
        )
        .await;
    assert!(recorded.get("errors").is_none(), "{recorded}");
}
