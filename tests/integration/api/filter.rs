//! Every `AuditEventFilter` field, with data that tells right from wrong.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::{Ev, TestApp, edge_ids, error_code};
use tests::fixtures::{insert_project, insert_tenant};

const QUERY: &str =
    "query($f: AuditEventFilter) { auditEvents(filter: $f, first: 500) { edges { node { id } } } }";

struct World {
    app: TestApp,
    key: String,
    t0: DateTime<Utc>,
    ids: std::collections::HashMap<&'static str, i64>,
}

impl World {
    /// The named events a filter returns, sorted by name.
    async fn names(&self, filter: Value) -> Vec<&'static str> {
        let data = self
            .app
            .gql_ok(&self.key, QUERY, json!({ "f": filter }))
            .await;
        let ids = edge_ids(&data["auditEvents"]);
        let mut names: Vec<&'static str> = self
            .ids
            .iter()
            .filter(|(_, id)| ids.contains(id))
            .map(|(n, _)| *n)
            .collect();
        names.sort();
        assert_eq!(names.len(), ids.len(), "only named events exist");
        names
    }

    async fn error(&self, filter: Value) -> Value {
        self.app.gql(&self.key, QUERY, json!({ "f": filter })).await
    }
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let a = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let b = insert_tenant(&app.db.db, "globex").await.expect("tenant");
    let p1 = insert_project(&app.db.db, a.id, "web")
        .await
        .expect("project");
    let p2 = insert_project(&app.db.db, a.id, "app")
        .await
        .expect("project");
    let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let h = Duration::hours(1);
    let mut ids = std::collections::HashMap::new();
    let events: Vec<(&'static str, Ev)> = vec![
        (
            "a_crm_contact",
            Ev {
                project: Some(p1.id),
                product: Some("crm"),
                action: "crm.contact.created",
                actor_id: Some("u1"),
                actor_type: Some("user"),
                target_type: Some("contact"),
                target_id: Some("c1"),
                metadata: json!({"currency": "EUR", "n": 1, "crud": "c"}),
                ip: Some("10.0.0.5"),
                ..Ev::new(a.id, t0)
            },
        ),
        (
            "a_billing_paid",
            Ev {
                project: Some(p2.id),
                product: Some("billing"),
                action: "billing.invoice.paid",
                actor_id: Some("svc"),
                actor_type: Some("service"),
                target_type: Some("invoice"),
                target_id: Some("i1"),
                metadata: json!({"currency": "USD", "crud": "u"}),
                ip: Some("10.1.0.5"),
                ..Ev::new(a.id, t0 + h)
            },
        ),
        (
            "a_portal",
            Ev {
                action: "tenant.updated",
                actor_id: Some("system"),
                actor_type: Some("system"),
                target_type: Some("tenant"),
                target_id: Some("acme"),
                ip: Some("2001:db8::1"),
                metadata: json!({"crud": "u"}),
                ..Ev::new(a.id, t0 + h * 2)
            },
        ),
        (
            "a_percent",
            Ev {
                product: Some("crm"),
                action: "crm%deal.won",
                ..Ev::new(a.id, t0 + h * 3)
            },
        ),
        (
            "a_underscore",
            Ev {
                product: Some("crm"),
                action: "crm_legacy.sync",
                ..Ev::new(a.id, t0 + h * 4)
            },
        ),
        (
            "a_lookalike",
            Ev {
                product: Some("crm"),
                action: "crmXdeal.won",
                ..Ev::new(a.id, t0 + h * 5)
            },
        ),
        (
            "b_crm_contact",
            Ev {
                product: Some("crm"),
                action: "crm.contact.created",
                actor_id: Some("u9"),
                actor_type: Some("user"),
                metadata: json!({"currency": "EUR", "crud": "c"}),
                ..Ev::new(b.id, t0)
            },
        ),
        (
            "orphan",
            Ev {
                tenant: None,
                action: "tenant.deleted",
                ..Ev::new(a.id, t0 + h * 6)
            },
        ),
    ];
    for (name, ev) in events {
        ids.insert(name, ev.insert(&app.db).await);
    }
    let ops = insert_tenant(&app.db.db, "ops").await.expect("tenant");
    let key = app
        .issue_key(
            ops.id,
            "ops",
            &[Scope::AuditRead, Scope::TenantsRead, Scope::Platform],
            None,
        )
        .await;
    World { app, key, t0, ids }
}

#[tokio::test]
async fn each_filter_field_selects_exactly_its_events() {
    let w = world().await;
    let (a, b) = {
        let data = w
            .app
            .gql_ok(
                &w.key,
                "{ tenants { edges { node { id slug } } } }",
                json!({}),
            )
            .await;
        let id = |slug: &str| {
            data["tenants"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["node"]["slug"] == slug)
                .unwrap()["node"]["id"]
                .clone()
        };
        (id("acme"), id("globex"))
    };
    let all = [
        "a_billing_paid",
        "a_crm_contact",
        "a_lookalike",
        "a_percent",
        "a_portal",
        "a_underscore",
        "b_crm_contact",
        "orphan",
    ];
    assert_eq!(
        w.names(json!({})).await,
        all,
        "a platform key sees everything, orphans included"
    );
    assert_eq!(w.names(json!({"tenantIds": [b]})).await, ["b_crm_contact"]);
    assert_eq!(w.names(json!({"tenantIds": [a.clone(), b]})).await.len(), 7);

    let p1 = w
        .app
        .gql_ok(
            &w.key,
            "{ tenant(slug: \"acme\") { projects { id slug } } }",
            json!({}),
        )
        .await;
    let web = p1["tenant"]["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "web")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        w.names(json!({"projectIds": [web]})).await,
        ["a_crm_contact"]
    );

    assert_eq!(
        w.names(json!({"actorIds": ["u1"]})).await,
        ["a_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"actorTypes": ["service"]})).await,
        ["a_billing_paid"]
    );
    assert_eq!(
        w.names(json!({"actions": ["billing.invoice.paid", "tenant.updated"]}))
            .await,
        ["a_billing_paid", "a_portal"]
    );
    assert_eq!(
        w.names(json!({"targetTypes": ["invoice"]})).await,
        ["a_billing_paid"]
    );
    assert_eq!(
        w.names(json!({"targetIds": ["c1"]})).await,
        ["a_crm_contact"]
    );
}

#[tokio::test]
async fn products_and_portal_modes_combine_as_documented() {
    let w = world().await;
    let crm = [
        "a_crm_contact",
        "a_lookalike",
        "a_percent",
        "a_underscore",
        "b_crm_contact",
    ];
    assert_eq!(
        w.names(json!({"products": ["crm"]})).await,
        crm,
        "products alone exclude portal events"
    );
    let mut with_portal: Vec<&str> = crm.to_vec();
    with_portal.extend(["a_portal", "orphan"]);
    with_portal.sort();
    assert_eq!(
        w.names(json!({"products": ["crm"], "portal": "INCLUDE"}))
            .await,
        with_portal
    );
    assert_eq!(
        w.names(json!({"products": ["crm"], "portal": "EXCLUDE"}))
            .await,
        crm
    );
    assert_eq!(
        w.names(json!({"portal": "ONLY"})).await,
        ["a_portal", "orphan"]
    );
    assert_eq!(w.names(json!({"portal": "EXCLUDE"})).await.len(), 6);
    assert_eq!(w.names(json!({"portal": "INCLUDE"})).await.len(), 8);
    let bad = w
        .error(json!({"products": ["crm"], "portal": "ONLY"}))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "filter.portal");
}

#[tokio::test]
async fn action_prefix_matches_percent_and_underscore_literally() {
    let w = world().await;
    assert_eq!(
        w.names(json!({"actionPrefix": "crm."})).await,
        ["a_crm_contact", "b_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"actionPrefix": "crm%"})).await,
        ["a_percent"]
    );
    assert_eq!(
        w.names(json!({"actionPrefix": "crm_"})).await,
        ["a_underscore"]
    );
    assert_eq!(
        w.names(json!({"actionPrefix": "billing.invoice."})).await,
        ["a_billing_paid"]
    );
}

#[tokio::test]
async fn since_is_inclusive_and_until_exclusive() {
    let w = world().await;
    let at = |hours: i64| (w.t0 + Duration::hours(hours)).to_rfc3339();
    assert_eq!(
        w.names(json!({"since": at(1), "until": at(2)})).await,
        ["a_billing_paid"]
    );
    assert_eq!(
        w.names(json!({"until": at(1)})).await,
        ["a_crm_contact", "b_crm_contact"]
    );
    assert_eq!(w.names(json!({"since": at(6)})).await, ["orphan"]);
    let bad = w.error(json!({"since": at(2), "until": at(1)})).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}

#[tokio::test]
async fn metadata_is_matched_by_containment() {
    let w = world().await;
    assert_eq!(
        w.names(json!({"metadata": {"currency": "EUR"}})).await,
        ["a_crm_contact", "b_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"metadata": {"currency": "EUR", "n": 1}}))
            .await,
        ["a_crm_contact"]
    );
    assert!(w.names(json!({"metadata": {"n": 2}})).await.is_empty());
    assert_eq!(
        error_code(&w.error(json!({"metadata": [1, 2]})).await),
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn source_ip_takes_an_address_or_a_cidr_block() {
    let w = world().await;
    assert_eq!(
        w.names(json!({"sourceIp": "10.0.0.5"})).await,
        ["a_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"sourceIp": "10.0.0.0/16"})).await,
        ["a_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"sourceIp": "10.0.0.0/8"})).await,
        ["a_billing_paid", "a_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"sourceIp": "2001:db8::/32"})).await,
        ["a_portal"]
    );
    let bad = w.error(json!({"sourceIp": "10.0.0.300"})).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "filter.sourceIp");
}

#[tokio::test]
async fn query_speaks_the_retraced_search_language() {
    let w = world().await;
    let at = |hours: i64| {
        (w.t0 + Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    assert_eq!(
        w.names(json!({"query": "action:crm.*"})).await,
        ["a_crm_contact", "b_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"query": "action:crm.* actor.id:u1"})).await,
        ["a_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"query": "crud:u"})).await,
        ["a_billing_paid", "a_portal"]
    );
    assert_eq!(
        w.names(json!({"query": "crud:c,u target.type:invoice"}))
            .await,
        ["a_billing_paid"]
    );
    assert_eq!(
        w.names(json!({"query": format!("received:{},{}", at(0), at(1))}))
            .await,
        ["a_crm_contact", "b_crm_contact"]
    );
    assert_eq!(w.names(json!({"query": "-action:crm.* -action:crm%deal.won -action:crm_legacy.sync -action:crmXdeal.won"})).await, ["a_billing_paid", "a_portal", "orphan"]);
    assert_eq!(
        w.names(json!({"query": "invoice"})).await,
        ["a_billing_paid"],
        "free text"
    );
    assert_eq!(w.names(json!({"query": "action:crm.*", "tenantIds": [w.app.gql_ok(&w.key, "{ tenant(slug: \"globex\") { id } }", json!({})).await["tenant"]["id"]]})).await, ["b_crm_contact"], "ANDed with the rest");
    for bad in [
        "received:2026-01-01T00:00:00Z",
        "crud:x",
        "action:\"unterminated",
    ] {
        let response = w.error(json!({"query": bad})).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{bad}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"], "filter.query",
            "{bad}"
        );
    }
    let response = w
        .error(json!({"query": "received:2026-01-01T00:00:00Z"}))
        .await;
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("The received field requires a range of two datetimes.")
    );
}

#[tokio::test]
async fn malformed_inputs_are_bad_user_input_naming_the_field() {
    let w = world().await;
    let q = async |first: i64, after: Option<&str>, filter: Value| {
        w.app
            .gql(&w.key, "query($f: AuditEventFilter, $n: Int!, $a: String) { auditEvents(filter: $f, first: $n, after: $a) { edges { cursor } } }", json!({"f": filter, "n": first, "a": after}))
            .await
    };
    let r = q(501, None, json!({})).await;
    assert_eq!(
        (
            error_code(&r),
            r["errors"][0]["extensions"]["field"].clone()
        ),
        ("BAD_USER_INPUT".into(), json!("first"))
    );
    let r = q(0, None, json!({})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let r = q(5, Some("not-a-cursor"), json!({})).await;
    assert_eq!(
        (
            error_code(&r),
            r["errors"][0]["extensions"]["field"].clone()
        ),
        ("BAD_USER_INPUT".into(), json!("after"))
    );
    let r = q(5, None, json!({"tenantIds": []})).await;
    assert_eq!(
        (
            error_code(&r),
            r["errors"][0]["extensions"]["field"].clone()
        ),
        ("BAD_USER_INPUT".into(), json!("filter.tenantIds"))
    );
    let r = q(5, None, json!({"tenantIds": ["not-a-uuid"]})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("tenantIds"),
        "{r}"
    );
    let r = q(5, None, json!({"since": "yesterday"})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("since"),
        "{r}"
    );
}
