//! The GraphQL schema, independent of the web server: `build_schema(state)` gives a schema that
//! tests execute in process and the HTTP layer serves.

pub mod audit;
mod audit_page;
mod audit_plan;
pub mod bounds;
pub mod context;
pub mod errors;
pub mod evidence;
mod hooks;
pub mod json_text;
pub mod manage;
pub mod raw_json;
pub mod tenants;

pub mod viewer;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

pub use audit_plan::page_columns;

use crate::state::AppState;

/// Every query.
#[derive(MergedObject, Default, Debug)]
pub struct Query(
    viewer::ViewerQuery,
    tenants::TenantQuery,
    manage::entitlements::EntitlementQuery,
    manage::keys::KeyQuery,
    audit::AuditQuery,
    evidence::EvidenceQuery,
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

/// Bounds on what one operation may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest selection nesting.
    pub depth: usize,
    /// Highest complexity: each field costs 1, a list field `first` × its selection.
    pub complexity: usize,
    /// Deepest recursion while parsing (fragments, nested values).
    pub recursion: usize,
    /// Most directives on one field.
    pub directives: usize,
    /// Whether `__schema` / `__type` are answered.
    pub introspection: bool,
}

impl Limits {
    /// `builder` with these limits, the request bounds of [`bounds`], and no field
    /// suggestions ("did you mean ...", which would map the schema for someone without
    /// introspection): every schema the server serves is built through here.
    pub fn apply<Q, M, S>(self, builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
    where
        Q: async_graphql::ObjectType + 'static,
        M: async_graphql::ObjectType + 'static,
        S: async_graphql::SubscriptionType + 'static,
    {
        self.apply_with(builder, None)
    }

    /// [`Limits::apply`], reusing validation verdicts from `verdicts`.
    fn apply_with<Q, M, S>(
        self,
        builder: SchemaBuilder<Q, M, S>,
        verdicts: Option<crate::validated::ReuseVerdicts>,
    ) -> SchemaBuilder<Q, M, S>
    where
        Q: async_graphql::ObjectType + 'static,
        M: async_graphql::ObjectType + 'static,
        S: async_graphql::SubscriptionType + 'static,
    {
        // async-graphql's depth limit covers introspection too; the request bounds apply
        // `depth` to every other field.
        let engine_depth = if self.introspection {
            self.depth.max(bounds::INTROSPECTION_DEPTH)
        } else {
            self.depth
        };
        let builder = builder
            .extension(hooks::Hooks {
                bounds: bounds::RequestBounds { depth: self.depth },
                verdicts,
            })
            .limit_depth(engine_depth)
            .limit_complexity(self.complexity)
            .limit_recursive_depth(self.recursion)
            .limit_directives(self.directives)
            .disable_suggestions();
        if self.introspection {
            builder
        } else {
            builder.disable_introspection()
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            depth: 12,
            complexity: 20_000,
            recursion: 32,
            directives: 4,
            introspection: true,
        }
    }
}

/// The schema, with the shared state and the DataLoaders in its data, bounded by `limits`.
pub fn build_schema(state: AppState, limits: Limits) -> RegistrySchema {
    let loaders = tenants::loaders(&state.db);
    let verdicts = crate::validated::ReuseVerdicts(state.validated.clone());
    let builder = builder()
        .data(state)
        .data(loaders.projects)
        .data(loaders.products)
        .data(loaders.idps)
        .data(loaders.keys)
        .data(loaders.deletions);
    limits.apply_with(builder, Some(verdicts)).finish()
}

/// The schema's SDL (`api schema`, and the checked-in `api/schema.graphql`).
pub fn sdl() -> String {
    builder().finish().sdl()
}
