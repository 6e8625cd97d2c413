//! The one extension every schema carries: async-graphql calls each registered extension's
//! `resolve` hook for every field of every response (a boxed future per extension per field,
//! whatever hooks an extension implements), so the server's three extensions are one: the
//! request bounds ([`super::bounds::RequestBounds`]), error codes ([`super::errors`]) and, on
//! the registry's schema, the reuse of validation verdicts ([`crate::validated`]). Each hook
//! is the one of the extension that owns it; none is owned by two.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use super::bounds::{Bounds, RequestBounds};
use crate::validated::{PerRequest, ReuseVerdicts};

/// The factory (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Hooks {
    /// The request bounds.
    pub bounds: RequestBounds,
    /// The shared table of validation verdicts (`None`: validate every request).
    pub verdicts: Option<ReuseVerdicts>,
}

impl ExtensionFactory for Hooks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequestHooks {
            bounds: self.bounds.for_request(),
            verdicts: self.verdicts.as_ref().map(ReuseVerdicts::for_request),
        })
    }
}

struct PerRequestHooks {
    bounds: Bounds,
    verdicts: Option<PerRequest>,
}

#[async_trait::async_trait]
impl Extension for PerRequestHooks {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        match &self.verdicts {
            Some(verdicts) => verdicts.prepare_request(ctx, request, next).await,
            None => next.run(ctx, request).await,
        }
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        self.bounds.parse_query(ctx, query, variables, next).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        match &self.verdicts {
            Some(verdicts) => verdicts.validation(ctx, next).await,
            None => next.run(ctx).await,
        }
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        for error in &mut response.errors {
            super::errors::code(error);
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        self.bounds.resolve(ctx, info, next).await
    }
}
