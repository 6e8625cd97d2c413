//! Where a registry error becomes a GraphQL error, for every schema the server builds.
//!
//! Resolvers return [`registry::ApiError`] with `?`: async-graphql turns it into an error with
//! its message (the error's `Display`) and keeps the error itself as the source. This
//! extension then gives every such error its `extensions.code` (and `field`, when the error
//! names one) and logs the detail of an `INTERNAL` one, which never reaches the client.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Response, ServerError};
use registry::ApiError;

/// The extension (see the module's documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct CodedErrors;

impl ExtensionFactory for CodedErrors {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CodedErrors)
    }
}

#[async_trait::async_trait]
impl Extension for CodedErrors {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        for error in &mut response.errors {
            code(error);
        }
        response
    }
}

/// Sets `error`'s code (and field) from the registry error behind it, if there is one.
pub fn code(error: &mut ServerError) {
    let Some(source) = error.source::<ApiError>() else {
        return;
    };
    source.log_internal("in a GraphQL resolver");
    let (code, field) = (source.code(), source.field().map(str::to_owned));
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code.as_str());
    if let Some(field) = field {
        extensions.set("field", field);
    }
}
