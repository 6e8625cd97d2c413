//! What one request may ask of the database at once, for both schemas (`/graphql` and Retraced's
//! search).
//!
//! Aliases let one small document ask for the same expensive field many times, and
//! async-graphql resolves a query's root fields concurrently: 200 aliases of
//! `auditEvents(first: 1) { totalCount }` took every pooled connection and a bystander's
//! request failed waiting for one. Three bounds stop that:
//!
//! - a field that reaches the database costs [`DATABASE_FIELD`] in the complexity count, not 1
//!   (annotated on each such field; a page costs two, for its rows and its count: see
//!   [`crate::graphql::tenants::page_complexity`]); the schema's complexity limit bounds them;
//! - an operation has at most [`MAX_ROOT_FIELDS`] root fields, fragments included;
//! - a request resolves at most [`ROOT_FIELDS_AT_ONCE`] root fields at a time: the rest wait
//!   their turn inside the request, so it holds a few connections, never the pool;
//! - a document selects at most [`MAX_EXPANDED_FIELDS`] fields with its fragments expanded
//!   ([`check_expansion`], called by the HTTP layer before the schema parses anything more).

use std::collections::{HashMap, HashSet};

use async_graphql::extensions::{
    Extension, ExtensionContext, NextParseQuery, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Value, Variables};
use tokio::sync::Semaphore;

/// The complexity of a field that runs a statement of its own: a database round trip is worth
/// about a hundred fields resolved in memory.
pub const DATABASE_FIELD: usize = 100;

/// Most root fields (aliases and fragments counted) one operation may have.
pub const MAX_ROOT_FIELDS: usize = 20;

/// Root fields of one request resolved at the same time. One: a root field's own subtree may
/// run a few statements together (a tenants page loads five kinds of children at once), and
/// two roots at once took all ten pooled connections.
pub const ROOT_FIELDS_AT_ONCE: usize = 1;

/// Most fields a document selects once every fragment spread is expanded, all operations
/// together. async-graphql's validation walks every spread without remembering a fragment, so
/// fragments spreading the next one twice over, 23 deep (944 bytes), took 50 s of CPU before it
/// answered; this count remembers each fragment's size and runs before that validation.
pub const MAX_EXPANDED_FIELDS: usize = 10_000;

/// Refuses `document` if it selects more than [`MAX_EXPANDED_FIELDS`] fields with its
/// fragments expanded (all operations together). Called by the HTTP layer on the parsed
/// document before the schema sees it: async-graphql's own parse-time checks already walk
/// every fragment spread, so an extension's parse hook runs too late.
pub fn check_expansion(document: &ExecutableDocument) -> Result<(), String> {
    // One memo for all operations: a fragment shared by thousands of them is counted once.
    let field = |_: &str, inner: usize| 1usize.saturating_add(inner);
    let (mut known, mut expanded) = (HashMap::new(), 0usize);
    for (_, operation) in document.operations.iter() {
        let set = &operation.node.selection_set.node;
        let size = fold(
            document,
            set,
            &field,
            usize::saturating_add,
            &mut known,
            &mut Vec::new(),
        );
        expanded = expanded.saturating_add(size);
        if expanded > MAX_EXPANDED_FIELDS {
            return Err(format!(
                "the document selects more than {MAX_EXPANDED_FIELDS} fields once its fragments \
                 are expanded"
            ));
        }
    }
    Ok(())
}

/// The complexity of a field reaching the database, with `child` for its selection.
pub fn database_field(child: usize) -> usize {
    DATABASE_FIELD.saturating_add(child)
}

/// Deepest introspection query answered (where introspection is on): GraphiQL's, with its
/// `ofType` chains, nests 13 fields; the schema bounds what it can return.
pub const INTROSPECTION_DEPTH: usize = 20;

/// The bounds enforcing [`MAX_ROOT_FIELDS`], [`ROOT_FIELDS_AT_ONCE`], and the depth limit
/// on every field but introspection's (`__schema`, `__type`), which async-graphql's own limit
/// would apply to GraphiQL's schema query too: the playground then had no schema.
#[derive(Debug, Clone, Copy)]
pub struct RequestBounds {
    /// Deepest selection nesting outside introspection.
    pub depth: usize,
}

impl RequestBounds {
    /// The bounds' state for one request.
    pub(crate) fn for_request(self) -> Bounds {
        Bounds {
            depth: self.depth,
            root_fields: Semaphore::new(ROOT_FIELDS_AT_ONCE),
        }
    }
}

/// [`RequestBounds`] for one request.
pub(crate) struct Bounds {
    depth: usize,
    root_fields: Semaphore,
}

/// A request error with the code `BAD_USER_INPUT`.
fn refusal(message: String, pos: async_graphql::Pos) -> ServerError {
    let mut error = ServerError::new(message, Some(pos));
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", registry::Code::BadUserInput.as_str());
    error.extensions = Some(extensions);
    error
}

#[async_trait::async_trait]
impl Extension for Bounds {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            let set = &operation.node.selection_set.node;
            let count = root_fields(&document, set);
            if count > MAX_ROOT_FIELDS {
                return Err(refusal(
                    format!(
                        "an operation may have at most {MAX_ROOT_FIELDS} root fields (aliases \
                         and fragments included); this one has {count}: split it into several \
                         requests"
                    ),
                    operation.pos,
                ));
            }
            if depth(&document, set) > self.depth {
                // async-graphql's own wording, which its limit used for every field.
                return Err(refusal(
                    "Query is nested too deep.".to_owned(),
                    operation.pos,
                ));
            }
        }
        Ok(document)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() || info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        // Never closed, so `acquire` cannot fail; were it to, the field runs unbounded.
        let _turn = self.root_fields.acquire().await.ok();
        next.run(ctx, info).await
    }
}

/// How deep `set` nests fields (a leaf is 1), through fragments, not counting introspection's
/// `__schema` and `__type` (bounded by [`INTROSPECTION_DEPTH`] instead).
fn depth(document: &ExecutableDocument, set: &SelectionSet) -> usize {
    let field = |name: &str, inner: usize| match name {
        "__schema" | "__type" => 0,
        _ => 1 + inner,
    };
    fold(
        document,
        set,
        &field,
        usize::max,
        &mut HashMap::new(),
        &mut Vec::new(),
    )
}

/// Folds the fields of `set` into one number: `field(name, inner)` for each field (`inner` its
/// own selection's number), `combine` across siblings, through inline fragments and spreads.
/// Each fragment's number is computed once (`known`), so fragments spreading others twice
/// over cost no more than once; `open` holds the fragments being expanded, so a cycle (the
/// validator's to report) counts 0.
fn fold<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    field: &impl Fn(&str, usize) -> usize,
    combine: fn(usize, usize) -> usize,
    known: &mut HashMap<&'a str, usize>,
    open: &mut Vec<&'a str>,
) -> usize {
    let mut total = 0;
    for item in &set.items {
        let this = match &item.node {
            Selection::Field(f) => {
                let inner = fold(
                    document,
                    &f.node.selection_set.node,
                    field,
                    combine,
                    known,
                    open,
                );
                field(f.node.name.node.as_str(), inner)
            }
            Selection::InlineFragment(inline) => fold(
                document,
                &inline.node.selection_set.node,
                field,
                combine,
                known,
                open,
            ),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match (
                    known.get(name),
                    document.fragments.get(&spread.node.fragment_name.node),
                ) {
                    (Some(value), _) => *value,
                    (None, Some(fragment)) if !open.contains(&name) => {
                        open.push(name);
                        let selection = &fragment.node.selection_set.node;
                        let value = fold(document, selection, field, combine, known, open);
                        open.pop();
                        known.insert(name, value);
                        value
                    }
                    _ => 0,
                }
            }
        };
        total = combine(total, this);
    }
    total
}

/// The fields `set` selects at its own level, through fragment spreads and inline fragments
/// (each fragment expanded once: a cycle is the validator's to report).
fn root_fields(document: &ExecutableDocument, set: &SelectionSet) -> usize {
    fn count<'a>(
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        seen: &mut HashSet<&'a str>,
    ) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => {
                    count(document, &inline.node.selection_set.node, seen)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match document.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) if seen.insert(name) => {
                            count(document, &fragment.node.selection_set.node, seen)
                        }
                        _ => 0,
                    }
                }
            })
            .sum()
    }
    count(document, set, &mut HashSet::new())
}
