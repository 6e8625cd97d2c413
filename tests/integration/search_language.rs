//! Properties of the search-language parser: no input makes it panic, and what it prints
//! parses back to the same query.

use api::audit::search::SearchQuery;
use proptest::prelude::*;

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
