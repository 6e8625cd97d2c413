//! The GraphQL contract is checked in: an unintended change fails here.

#[test]
fn checked_in_sdl_matches_the_schema() {
    let checked_in = include_str!("../../../api/schema.graphql");
    let current = api::graphql::sdl();
    assert!(
        checked_in == current,
        "api/schema.graphql differs from the schema the code builds. If the change is intended, \
         update it with `cargo run -q -p api -- schema > api/schema.graphql` and review the diff."
    );
}
