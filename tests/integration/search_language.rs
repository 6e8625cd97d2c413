//! Properties of the search-language parser: no input makes it panic, and what it prints
//! parses back to the same query; which terms also look their values up in an index.

use api::audit::external_id::json_number;
use api::audit::free_text::TextMatch;
use api::audit::search::SearchQuery;
use proptest::prelude::*;
use sea_orm::sea_query::{Expr, PostgresQueryBuilder, Query, Value};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics(input in any::<String>()) {
        let _ = SearchQuery::parse(&input);
    }

    #[test]
    fn printed_queries_parse_back_to_the_same_query(
        input in proptest::string::string_regex(
            r#"(((-)?(action|crud|actor\.id|actor\.name|target\.type|description|external_id|location|foo|x):("[a-z .,:-]{0,8}"|[a-z0-9.*_-]{0,8})(,[a-z0-9.*]{1,6}){0,2}|-?[a-z0-9.:]{1,10}|"[a-z :,-]{0,10}"|received:2026-0[1-9]-1[0-9]T0[0-9]:00:00Z,2026-1[0-2]-0[1-9]T00:00:00Z) ){0,6}"#
        ).unwrap()
    ) {
        if let Ok(query) = SearchQuery::parse(&input) {
            let printed = query.to_string();
            prop_assert_eq!(SearchQuery::parse(&printed), Ok(query), "printed as {:?}", printed);
        }
    }
}

#[test]
fn the_printer_round_trips_the_documented_examples() {
    for text in [
        "action:crm.* crud:c,u actor.id:u1 received:2026-01-01T00:00:00Z,2026-02-01T00:00:00Z \"free text\" -target.type:invoice",
        "action:\"user.*\" crud:c,r",
        "-invoice actor.name:\"Ada Lovelace\",Grace",
    ] {
        let query = SearchQuery::parse(text).unwrap();
        assert_eq!(
            SearchQuery::parse(&query.to_string()).unwrap(),
            query,
            "{text}"
        );
    }
}

#[test]
fn terms_the_trigram_index_can_serve_are_told_apart() {
    let indexed = |text: &str| SearchQuery::parse(text).unwrap().has_indexed_text();
    for text in [
        "invoice",
        "\"INV-2026\"",
        "target.name:INV-2026-001",
        "actor.name:\"Ada Lovelace\"",
        "description:\"paid in full\"",
        "-invoice contact",
    ] {
        assert!(indexed(text), "{text}");
    }
    for text in [
        "ab",
        "-invoice",
        "-target.name:INV-2026-001",
        "target.name:ab",
        "target.name:INV-2026-001,ab",
        "actor.id:u1234",
        "target.id:contact_1",
        "action:crm.*",
        "crud:c",
    ] {
        assert!(!indexed(text), "{text}");
    }
}

#[test]
fn external_id_terms_look_their_values_up_by_containment_when_they_can() {
    // The containments a query's condition asks for, as the statement binds them.
    let lookups = |text: &str| -> Vec<String> {
        let condition = SearchQuery::parse(text)
            .unwrap()
            .condition(TextMatch::Indexed);
        let (_, values) = Query::select()
            .expr(Expr::val(1))
            .cond_where(condition)
            .build(PostgresQueryBuilder);
        values
            .iter()
            .filter_map(|v| match v {
                Value::String(Some(s)) if s.starts_with("{\"external_id\"") => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    let containing = |ids: &[&str]| -> Vec<String> {
        ids.iter()
            .map(|id| format!("{{\"external_id\": {id}}}"))
            .collect()
    };
    assert_eq!(lookups("external_id:ext-1"), containing(&["\"ext-1\""]));
    assert_eq!(lookups("external_id:5"), containing(&["\"5\"", "5"]));
    assert_eq!(
        lookups("external_id:true,-0.50"),
        containing(&["\"true\"", "true", "\"-0.50\"", "-0.50"])
    );
    assert_eq!(
        lookups("external_id:back\\slash"),
        containing(&["\"back\\\\slash\""])
    );
    assert_eq!(lookups("external_id:1e2"), containing(&["\"1e2\""]));
    // Not for a negated term, nor when a value could be an array's or object's text.
    for text in [
        "-external_id:ext-1",
        "external_id:[1",
        "external_id:ext-1,{}",
        "actor.id:ext-1",
        "ext-1",
    ] {
        assert_eq!(lookups(text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn json_numbers_are_told_apart_as_postgresql_writes_them() {
    for text in [
        "0",
        "-0",
        "5",
        "5.50",
        "-12.5",
        "123456789012345678901234567890",
    ] {
        assert!(json_number(text), "{text}");
    }
    let too_long = format!("1.{}", "0".repeat(16_384));
    for text in [
        "", "-", "05", "5.", ".5", "1e2", "+1", "1.2.3", "NaN", "0x1", "٣", &too_long,
    ] {
        assert!(!json_number(text), "{text}");
    }
}

#[test]
fn a_query_is_capped_in_length_terms_and_values_per_key() {
    use api::audit::search::{MAX_KEY_VALUES, MAX_QUERY_CHARS, MAX_TERMS};
    let words = |n: usize| {
        (0..n)
            .map(|i| format!("-w{i}x"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(SearchQuery::parse(&words(MAX_TERMS)).is_ok());
    let many = SearchQuery::parse(&words(MAX_TERMS + 1)).unwrap_err();
    assert!(many.0.contains("at most 32"), "{many}");
    // The attack's query: two thousand negated words.
    assert!(SearchQuery::parse(&words(2_000)).is_err());

    let long = format!("\"{}\"", "a".repeat(MAX_QUERY_CHARS));
    let error = SearchQuery::parse(&long).unwrap_err();
    assert!(error.0.contains("characters"), "{error}");
    assert!(
        SearchQuery::parse(&"é".repeat(MAX_QUERY_CHARS)).is_ok(),
        "counted in characters"
    );

    let values = |n: usize| {
        (0..n)
            .map(|i| format!("a{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert!(SearchQuery::parse(&format!("action:{}", values(MAX_KEY_VALUES))).is_ok());
    let error = SearchQuery::parse(&format!("action:{}", values(MAX_KEY_VALUES + 1))).unwrap_err();
    assert!(error.0.contains("action"), "{error}");
    // A key repeated counts its values together.
    let half = MAX_KEY_VALUES / 2 + 1;
    let repeated = format!("actor.id:{} actor.id:{}", values(half), values(half));
    assert!(SearchQuery::parse(&repeated).is_err());
}
