//! `tenant` / `tenants`: filters, paging, children (never a key hash), and `last_used_at`.

use chrono::Utc;
use entity::prelude::ApiKeys;
use entity::scope::Scope;
use entity::sea_orm_active_enums::{IdpKind, TenantKind, TenantStatus};
use sea_orm::EntityTrait;
use serde_json::json;
use tests::app::{TestApp, error_code};
use tests::fixtures::{
    insert_idp, insert_product, insert_project, insert_tenant, insert_tenant_in,
};

const LIST: &str = "query($f: TenantFilter, $n: Int!, $a: String) {
  tenants(filter: $f, first: $n, after: $a) { edges { cursor node { slug } } pageInfo { hasNextPage endCursor } }
}";

fn slugs(data: &serde_json::Value) -> Vec<String> {
    data["tenants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slug"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tenants_filter_by_status_kind_and_search_and_page_by_slug() {
    let app = TestApp::spawn(TestApp::settings()).await;
    insert_tenant_in(
        &app.db.db,
        "demo-acme",
        TenantStatus::Demo,
        TenantKind::Demo,
    )
    .await
    .unwrap();
    insert_tenant_in(
        &app.db.db,
        "initech",
        TenantStatus::Trial,
        TenantKind::Customer,
    )
    .await
    .unwrap();
    insert_tenant_in(
        &app.db.db,
        "umbrella",
        TenantStatus::Active,
        TenantKind::Customer,
    )
    .await
    .unwrap();
    let ops = insert_tenant_in(
        &app.db.db,
        "ops",
        TenantStatus::Active,
        TenantKind::Customer,
    )
    .await
    .unwrap();
    let key = app
        .issue_key(ops.id, "ops", &[Scope::TenantsRead, Scope::Platform], None)
        .await;

    let all = app.gql_ok(&key, LIST, json!({"n": 50})).await;
    assert_eq!(slugs(&all), ["demo-acme", "initech", "ops", "umbrella"]);
    let active = app
        .gql_ok(
            &key,
            LIST,
            json!({"n": 50, "f": {"statuses": ["ACTIVE", "TRIAL"]}}),
        )
        .await;
    assert_eq!(slugs(&active), ["initech", "ops", "umbrella"]);
    let demo = app
        .gql_ok(&key, LIST, json!({"n": 50, "f": {"kinds": ["DEMO"]}}))
        .await;
    assert_eq!(slugs(&demo), ["demo-acme"]);
    let search = app
        .gql_ok(&key, LIST, json!({"n": 50, "f": {"search": "BRELL"}}))
        .await;
    assert_eq!(
        slugs(&search),
        ["umbrella"],
        "case-insensitive, on slug or name"
    );
    let literal = app
        .gql_ok(&key, LIST, json!({"n": 50, "f": {"search": "%"}}))
        .await;
    assert!(
        slugs(&literal).is_empty(),
        "% is a character, not a wildcard"
    );

    let first = app.gql_ok(&key, LIST, json!({"n": 3})).await;
    assert_eq!(slugs(&first), ["demo-acme", "initech", "ops"]);
    assert_eq!(first["tenants"]["pageInfo"]["hasNextPage"], true);
    let rest = app
        .gql_ok(
            &key,
            LIST,
            json!({"n": 3, "a": first["tenants"]["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(slugs(&rest), ["umbrella"]);
    assert_eq!(rest["tenants"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(
        error_code(&app.gql(&key, LIST, json!({"n": 3, "a": "garbage"})).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(&app.gql(&key, "{ tenant { slug } }", json!({})).await),
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn a_tenant_shows_its_children_but_never_a_key_hash() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let globex = insert_tenant(&app.db.db, "globex").await.unwrap();
    for tenant in [&acme, &globex] {
        insert_project(&app.db.db, tenant.id, "web").await.unwrap();
        insert_product(&app.db.db, tenant.id, "crm").await.unwrap();
        insert_idp(&app.db.db, tenant.id, IdpKind::Oidc)
            .await
            .unwrap();
    }
    insert_project(&app.db.db, acme.id, "app").await.unwrap();
    let key = app
        .issue_key(
            acme.id,
            "admin",
            &[Scope::TenantsRead, Scope::Platform],
            None,
        )
        .await;

    let data = app
        .gql_ok(
            &key,
            "{ tenants { edges { node { slug status kind projects { slug status } products { product enabled config } idpConfigs { type verified } apiKeys { name prefix scopes } } } } }",
            json!({}),
        )
        .await;
    let edges = data["tenants"]["edges"].as_array().unwrap();
    let acme_node = &edges.iter().find(|e| e["node"]["slug"] == "acme").unwrap()["node"];
    assert_eq!(acme_node["status"], "TRIAL");
    assert_eq!(
        acme_node["projects"],
        json!([{"slug": "web", "status": "ACTIVE"}, {"slug": "app", "status": "ACTIVE"}])
    );
    assert_eq!(
        acme_node["products"],
        json!([{"product": "crm", "enabled": true, "config": {}}])
    );
    assert_eq!(
        acme_node["idpConfigs"],
        json!([{"type": "OIDC", "verified": false}])
    );
    assert_eq!(acme_node["apiKeys"][0]["name"], "admin");
    assert_eq!(acme_node["apiKeys"][0]["prefix"], &key[..8]);
    let globex_node = &edges
        .iter()
        .find(|e| e["node"]["slug"] == "globex")
        .unwrap()["node"];
    assert_eq!(globex_node["projects"].as_array().unwrap().len(), 1);
    assert_eq!(globex_node["apiKeys"], json!([]));
    let hash_field = app
        .gql(
            &key,
            "{ tenants { edges { node { apiKeys { hash } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&hash_field),
        "BAD_USER_INPUT",
        "there is no hash field to ask for"
    );
}

#[tokio::test]
async fn last_used_at_is_recorded_without_a_write_per_request() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(acme.id, "busy", &[Scope::AuditRead], None)
        .await;
    let before = Utc::now();
    app.gql_ok(&key, "{ viewer { name } }", json!({})).await;

    // The write happens in the background: wait for it (bounded), then keep requesting.
    let mut first_use = None;
    for _ in 0..100 {
        first_use = ApiKeys::find()
            .one(&app.db.db)
            .await
            .unwrap()
            .and_then(|k| k.last_used_at);
        if first_use.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let first_use = first_use.expect("last_used_at is set after use");
    assert!(first_use.to_utc() >= before - chrono::Duration::seconds(1));
    for _ in 0..5 {
        app.gql_ok(&key, "{ viewer { name } }", json!({})).await;
    }
    let later = ApiKeys::find()
        .one(&app.db.db)
        .await
        .unwrap()
        .and_then(|k| k.last_used_at);
    assert_eq!(
        later,
        Some(first_use),
        "no write for each request within the minute"
    );
    let stats = app.state.auth.stats();
    let (hits, misses) = (stats.cache_hits, stats.cache_misses);
    assert_eq!((hits, misses), (5, 1), "one argon2 check, then the cache");
}
