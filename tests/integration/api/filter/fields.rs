//! Filters that select by value: tenants, projects, products and portal events, actors,
//! actions, targets, time windows.

use chrono::Duration;
use serde_json::json;
use tests::app::error_code;

use super::world;

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
    // A prefix with a dot is also matched on the actions' first segment (the namespace index's
    // equality): in the middle of a segment, and with wildcards before the dot.
    assert_eq!(
        w.names(json!({"actionPrefix": "crm.con"})).await,
        ["a_crm_contact", "b_crm_contact"]
    );
    assert_eq!(
        w.names(json!({"actionPrefix": "crm%deal.w"})).await,
        ["a_percent"]
    );
    assert_eq!(
        w.names(json!({"actionPrefix": "crm_legacy."})).await,
        ["a_underscore"]
    );
    assert!(w.names(json!({"actionPrefix": "crm_.s"})).await.is_empty());
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
