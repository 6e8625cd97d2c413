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
