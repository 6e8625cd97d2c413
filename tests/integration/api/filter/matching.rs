//! Filters that match: action prefixes, metadata containment, source addresses, the search
//! language; and malformed input, refused naming the field.

use chrono::Duration;
use serde_json::{Value, json};
use tests::app::error_code;

use super::world;

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
    // A single address, however written, is matched by equality (the same events as `<<=`).
    for host in ["10.0.0.5/32", " 10.0.0.5 "] {
        assert_eq!(w.names(json!({"sourceIp": host})).await, ["a_crm_contact"]);
    }
    assert_eq!(
        w.names(json!({"sourceIp": "2001:db8::1"})).await,
        ["a_portal"]
    );
    assert!(w.names(json!({"sourceIp": "10.0.0.6"})).await.is_empty());
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
    // Free text is matched literally and without regard to case, in any of its fields; a
    // word too short for the trigram index (matched row by row) means the same.
    for (word, expected) in [
        ("crm_", vec!["a_underscore"]),
        ("CRM%", vec!["a_percent"]),
        ("\"crm%deal\"", vec!["a_percent"]),
        ("SVC", vec!["a_billing_paid"]),
        ("vo", vec!["a_billing_paid"]),
        ("U9", vec!["b_crm_contact"]),
        ("%", vec!["a_percent"]),
    ] {
        assert_eq!(w.names(json!({ "query": word })).await, expected, "{word}");
    }
    let refused = w.error(json!({"query": "\"a\u{1f}b\""})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "filter.query");
    // A negated term keeps the events it does not match, those without the field included.
    let all_but = |name: &str| {
        let mut all: Vec<&str> = w.ids.keys().copied().filter(|n| *n != name).collect();
        all.sort();
        all
    };
    assert_eq!(
        w.names(json!({"query": "-invoice"})).await,
        all_but("a_billing_paid")
    );
    assert_eq!(
        w.names(json!({"query": "-actor.id:u1"})).await,
        all_but("a_crm_contact")
    );
    assert_eq!(
        w.names(json!({"query": "-crud:c -target.type:invoice"}))
            .await,
        [
            "a_lookalike",
            "a_percent",
            "a_portal",
            "a_underscore",
            "orphan"
        ]
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
