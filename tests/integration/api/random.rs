//! Random filters against random data: `auditEvents` must return exactly what a plain,
//! independently written SQL query returns. The seed is printed on failure (`TEST_SEED=n`).

use chrono::{Duration, TimeZone, Utc};
use entity::scope::Scope;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Map, Value, json};
use tests::app::{Ev, TestApp, edge_ids};
use tests::fixtures::insert_tenant;

const PRODUCTS: [&str; 3] = ["crm", "billing", "analytics"];
const ACTIONS: [&str; 6] = [
    "crm.contact.created",
    "crm.deal.won",
    "billing.invoice.paid",
    "billing.refund.issued",
    "user.login",
    "tenant.updated",
];
const ACTOR_TYPES: [&str; 3] = ["user", "service", "system"];
const COLORS: [&str; 3] = ["red", "green", "blue"];
const IPS: [&str; 5] = [
    "10.0.0.1",
    "10.0.1.1",
    "10.1.0.1",
    "192.0.2.9",
    "2001:db8::5",
];
const CIDRS: [&str; 4] = ["10.0.0.0/24", "10.0.0.0/16", "10.0.0.0/8", "2001:db8::/32"];

const PAGED: &str = "query($f: AuditEventFilter, $a: String, $o: AuditOrder!) { \
    auditEvents(filter: $f, first: 9, after: $a, order: $o) { \
    edges { node { id } } pageInfo { hasNextPage endCursor } } }";

fn list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn random_filters_return_what_plain_sql_returns() {
    let seed: u64 = std::env::var("TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::spawn(TestApp::settings()).await;
    let mut tenants = Vec::new();
    for slug in ["acme", "globex", "initech"] {
        tenants.push(insert_tenant(&app.db.db, slug).await.expect("tenant").id);
    }
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for _ in 0..300 {
        let product = if rng.random_bool(0.2) {
            None
        } else {
            Some(*PRODUCTS.choose(&mut rng).unwrap())
        };
        Ev {
            tenant: if rng.random_bool(0.05) { None } else { Some(*tenants.choose(&mut rng).unwrap()) },
            product,
            action: ACTIONS.choose(&mut rng).unwrap(),
            actor_type: Some(ACTOR_TYPES.choose(&mut rng).unwrap()),
            metadata: json!({ "color": COLORS.choose(&mut rng).unwrap(), "n": rng.random_range(0..3) }),
            ip: if rng.random_bool(0.2) { None } else { Some(IPS.choose(&mut rng).unwrap()) },
            ..Ev::new(tenants[0], t0 + Duration::minutes(rng.random_range(0..600)))
        }
        .insert(&app.db)
        .await;
    }
    let platform = app.platform_key(&[Scope::AuditRead]).await;
    let acme_key = app
        .issue_key(tenants[0], "acme", &[Scope::AuditRead], None)
        .await;

    for round in 0..60 {
        let mut filter = Map::new();
        let mut sql = vec!["TRUE".to_owned()];
        let tenant_key = rng.random_bool(0.3);
        if tenant_key {
            sql.push(format!("tenant_id = '{}'", tenants[0]));
        }
        if !tenant_key && rng.random_bool(0.3) {
            let picked: Vec<String> = {
                let n = rng.random_range(1..=2);
                tenants.choose_multiple(&mut rng, n)
            }
            .map(|t| t.to_string())
            .collect();
            sql.push(format!("tenant_id IN ({})", list(&picked)));
            filter.insert("tenantIds".into(), json!(picked));
        }
        let products: Option<Vec<String>> = rng.random_bool(0.5).then(|| {
            {
                let n = rng.random_range(1..=2);
                PRODUCTS.choose_multiple(&mut rng, n)
            }
            .map(|p| p.to_string())
            .collect()
        });
        let portal = *[None, Some("INCLUDE"), Some("EXCLUDE"), Some("ONLY")]
            .choose(&mut rng)
            .unwrap();
        let portal = if products.is_some() && portal == Some("ONLY") {
            None
        } else {
            portal
        };
        match (&products, portal) {
            (Some(p), None | Some("EXCLUDE")) => sql.push(format!("product IN ({})", list(p))),
            (Some(p), Some(_)) => {
                sql.push(format!("(product IN ({}) OR product IS NULL)", list(p)))
            }
            (None, Some("EXCLUDE")) => sql.push("product IS NOT NULL".into()),
            (None, Some("ONLY")) => sql.push("product IS NULL".into()),
            (None, _) => {}
        }
        if let Some(p) = &products {
            filter.insert("products".into(), json!(p));
        }
        if let Some(mode) = portal {
            filter.insert("portal".into(), json!(mode));
        }
        if rng.random_bool(0.3) {
            let types: Vec<String> = {
                let n = rng.random_range(1..=2);
                ACTOR_TYPES.choose_multiple(&mut rng, n)
            }
            .map(|t| t.to_string())
            .collect();
            sql.push(format!("actor_type IN ({})", list(&types)));
            filter.insert("actorTypes".into(), json!(types));
        }
        if rng.random_bool(0.3) {
            let actions: Vec<String> = {
                let n = rng.random_range(1..=3);
                ACTIONS.choose_multiple(&mut rng, n)
            }
            .map(|a| a.to_string())
            .collect();
            sql.push(format!("action IN ({})", list(&actions)));
            filter.insert("actions".into(), json!(actions));
        }
        if rng.random_bool(0.3) {
            let prefix = *["crm.", "billing.", "user", "b", "tenant.updated"]
                .choose(&mut rng)
                .unwrap();
            sql.push(format!("starts_with(action, '{prefix}')"));
            filter.insert("actionPrefix".into(), json!(prefix));
        }
        if rng.random_bool(0.4) {
            let since = t0 + Duration::minutes(rng.random_range(0..400));
            let until = since + Duration::minutes(rng.random_range(1..300));
            sql.push(format!(
                "created_at >= '{}' AND created_at < '{}'",
                since.to_rfc3339(),
                until.to_rfc3339()
            ));
            filter.insert("since".into(), json!(since.to_rfc3339()));
            filter.insert("until".into(), json!(until.to_rfc3339()));
        }
        if rng.random_bool(0.3) {
            let color = *COLORS.choose(&mut rng).unwrap();
            sql.push(format!("metadata ->> 'color' = '{color}'"));
            filter.insert("metadata".into(), json!({ "color": color }));
        }
        if rng.random_bool(0.3) {
            let cidr = *CIDRS.choose(&mut rng).unwrap();
            sql.push(format!("source_ip <<= inet '{cidr}'"));
            filter.insert("sourceIp".into(), json!(cidr));
        }
        let query = format!(
            "SELECT id FROM audit_log WHERE {} ORDER BY created_at DESC, id DESC",
            sql.join(" AND ")
        );
        let expected: Vec<i64> = app
            .db
            .db
            .query_all_raw(Statement::from_string(
                app.db.db.get_database_backend(),
                query.clone(),
            ))
            .await
            .expect("plain SQL")
            .iter()
            .map(|r| r.try_get_by_index(0).expect("id"))
            .collect();
        let key = if tenant_key { &acme_key } else { &platform };
        let data = app
            .gql_ok(key, "query($f: AuditEventFilter) { auditEvents(filter: $f, first: 500) { totalCount edges { node { id } } } }", json!({"f": Value::Object(filter.clone())}))
            .await;
        assert_eq!(
            edge_ids(&data["auditEvents"]),
            expected,
            "seed {seed}, round {round}: filter {filter:?} disagrees with\n{query}"
        );
        assert_eq!(
            data["auditEvents"]["totalCount"],
            expected.len(),
            "seed {seed}, round {round}"
        );
        // Every fourth filter is also paged by cursor, 9 at a time, in either order: the
        // cursor's bound in every branch of a merged page (`api::audit::merge`) and in the
        // metadata terms must keep each row exactly once.
        if round % 4 == 0 {
            let oldest = rng.random_bool(0.5);
            let mut expected = expected;
            if oldest {
                expected.reverse();
            }
            let order = if oldest {
                "OLDEST_FIRST"
            } else {
                "NEWEST_FIRST"
            };
            let (mut seen, mut after) = (Vec::new(), Value::Null);
            for _ in 0..expected.len() / 9 + 1 {
                let data = app
                    .gql_ok(
                        key,
                        PAGED,
                        json!({"f": Value::Object(filter.clone()), "a": after, "o": order}),
                    )
                    .await;
                let page = &data["auditEvents"];
                seen.extend(edge_ids(page));
                after = page["pageInfo"]["endCursor"].clone();
                if page["pageInfo"]["hasNextPage"] == false {
                    break;
                }
            }
            assert_eq!(
                seen, expected,
                "seed {seed}, round {round}, {order}: {filter:?}"
            );
        }
    }
}
