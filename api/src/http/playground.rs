//! The GraphiQL playground at `/`.

use async_graphql::http::GraphiQLSource;
use poem::http::StatusCode;
use poem::web::{Data, Html};
use poem::{IntoResponse, Response, handler};

use super::HttpSettings;

/// The playground page, or 404 when it is switched off.
#[handler]
pub async fn page(settings: Data<&HttpSettings>) -> Response {
    if !settings.playground {
        return StatusCode::NOT_FOUND.into_response();
    }
    let bearer = settings
        .playground_key
        .as_ref()
        .map(|key| format!("Bearer {key}"));
    let mut source = GraphiQLSource::build()
        .endpoint("/graphql")
        .title("tenant-registry");
    if let Some(bearer) = &bearer {
        source = source.header("Authorization", bearer);
    }
    Html(source.finish()).into_response()
}
