//! Raw JSON in a response (`api::graphql::raw_json`): serde splices it (so the token is
//! async-graphql's own), and the endpoint's writer produces exactly serde's bytes.

use api::graphql::raw_json::{raw, write_response};
use async_graphql::{Name, Response, ServerError, Value};
use serde_json::json;

fn sample(edges: Value) -> Response {
    let data = async_graphql::to_value(json!({
        "text": "quote \" backslash \\ newline \n tab \t nul \u{0} é 😀 </script>",
        "numbers": [0, -1, 1.5, 9_007_199_254_740_993_u64, 1e300],
        "flags": [true, false, null],
        "nested": { "empty": {}, "list": [] },
    }))
    .expect("a value");
    let Value::Object(mut map) = data else {
        panic!("an object")
    };
    map.insert(Name::new("edges"), edges);
    map.insert(Name::new("kind"), Value::Enum(Name::new("NEWEST_FIRST")));
    let mut response = Response::new(Value::Object(map));
    response
        .errors
        .push(ServerError::new("a field error \"here\"", None));
    response
        .extensions
        .insert("cost".to_owned(), Value::from(12));
    response
}

#[test]
fn serde_splices_raw_json_so_other_writers_render_it_too() {
    let json = r#"[{"node":{"id":"1","metadata":{"a":[1,2]}}},{"node":null}]"#;
    assert_eq!(serde_json::to_string(&raw(json.to_owned())).unwrap(), json);
}

#[test]
fn the_endpoints_writer_matches_serde_byte_for_byte() {
    let plain = async_graphql::to_value(json!([{ "node": { "id": "7", "actor": null } }])).unwrap();
    let response = sample(plain);
    assert_eq!(
        String::from_utf8(write_response(&response).unwrap()).unwrap(),
        serde_json::to_string(&response).unwrap()
    );
    let spliced = sample(raw(r#"[{"node":{"actor":null,"id":"7"}}]"#.to_owned()));
    let written = String::from_utf8(write_response(&spliced).unwrap()).unwrap();
    assert_eq!(written, serde_json::to_string(&spliced).unwrap());
    assert_eq!(written, serde_json::to_string(&response).unwrap());
}

/// The page writer's strings are serde's, byte for byte: every control character, quotes,
/// backslashes, and text beyond ASCII.
#[test]
fn page_strings_are_escaped_as_serde_escapes_them() {
    use api::graphql::json_text::{push_opt_str, push_str};
    let mut every_control: String = (0u8..0x20).map(char::from).collect();
    every_control.push_str("\u{7f} \" \\ / é 😀 </script> \u{2028}");
    for text in [
        "",
        "plain",
        "crm.deal.won",
        every_control.as_str(),
        "\"",
        "\\\\",
        "é\n",
    ] {
        let mut ours = String::new();
        push_str(&mut ours, text);
        assert_eq!(ours, serde_json::to_string(text).unwrap(), "{text:?}");
    }
    let mut none = String::new();
    push_opt_str(&mut none, None);
    assert_eq!(none, "null");
}

/// Ids, UUIDs and instants are written as their scalars write them.
#[test]
fn page_ids_uuids_and_instants_are_the_scalars_forms() {
    use api::graphql::json_text::{push_datetime, push_id, push_uuid};
    use async_graphql::ScalarType;
    use chrono::{DateTime, Utc};

    for n in [0, 7, -7, 42, 1_000_000, i64::MAX, i64::MIN] {
        let mut ours = String::new();
        push_id(&mut ours, n);
        assert_eq!(ours, format!("\"{n}\""));
    }
    for id in [
        uuid::Uuid::nil(),
        uuid::Uuid::max(),
        uuid::Uuid::from_u128(0xabcdef << 64 | 9),
    ] {
        let mut ours = String::new();
        push_uuid(&mut ours, id);
        assert_eq!(ours, serde_json::to_string(&id.to_value()).unwrap());
    }
    let micros = [
        0,
        1,
        1_000,
        1_000_000,
        1_790_000_000_000_000,
        1_790_000_000_123_000,
        1_790_000_000_123_456,
        1_790_000_000_000_001,
        -1,
        -62_135_596_800_000_000, // 0001-01-01
        253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        253_402_300_800_000_000, // 10000-01-01: chrono's own writer
    ];
    let nanos = [1_790_000_000_000_000_001_i64, 1_790_000_000_100_000_000];
    let instants = micros
        .iter()
        .map(|&m| DateTime::<Utc>::from_timestamp_micros(m).unwrap())
        .chain(
            nanos
                .iter()
                .map(|&n| DateTime::<Utc>::from_timestamp_nanos(n)),
        );
    for at in instants {
        let mut ours = String::new();
        push_datetime(&mut ours, at);
        assert_eq!(
            ours,
            serde_json::to_string(&at.to_value()).unwrap(),
            "{at:?}"
        );
    }
}
