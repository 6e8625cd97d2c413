//! The GraphQL schema, independent of the web server: `build_schema(state)` gives a schema that
//! tests execute in process and the HTTP layer serves.

pub mod audit;
pub mod context;
pub mod manage;
pub mod tenants;
pub mod viewer;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::state::AppState;

/// Every query.
#[derive(MergedObject, Default, Debug)]
pub struct Query(
    viewer::ViewerQuery,
    tenants::TenantQuery,
    manage::entitlements::EntitlementQuery,
    audit::AuditQuery,
);

/// Every mutation.
#[derive(MergedObject, Default, Debug)]
pub struct Mutation(
    manage::tenants::TenantMutation,
    manage::projects::ProjectMutation,
    manage::entitlements::EntitlementMutation,
    manage::idp::IdpMutation,
    manage::keys::KeyMutation,
    audit::AuditMutation,
);

/// The registry's schema.
pub type RegistrySchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// The schema, with the shared state and the DataLoaders in its data.
pub fn build_schema(state: AppState) -> RegistrySchema {
    let (projects, products, idps, keys) = tenants::loaders(&state.db);
    builder()
        .data(state)
        .data(projects)
        .data(products)
        .data(idps)
        .data(keys)
        .finish()
}

/// The schema's SDL (`api schema`, and the checked-in `api/schema.graphql`).
pub fn sdl() -> String {
    builder().finish().sdl()
}
