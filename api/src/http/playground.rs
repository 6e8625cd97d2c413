//! The GraphiQL playground at `/`, served entirely by this server: GraphiQL 4, React 18 and
//! their CSS are fetched from the npm registry at build time (`api/build.rs`) and embedded, so
//! the page works without internet access. In dev mode the `Authorization` header is filled in
//! with the local operator key and the tabs hold example operations.

use chrono::{Duration, Utc};
use entity::prelude::Tenants;
use entity::sea_orm_active_enums::TenantKind;
use entity::tenants;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::HttpSettings;
use crate::state::AppState;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));
}

/// Our own start-up script (the page's configuration is a JSON block it reads).
const START_JS: &str = include_str!("playground.js");

/// Scripts from this server only; GraphiQL sets inline styles; queries go to this server.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const RECENT: &str = "# One audit log for every product.
# Run with ▶ or Ctrl-Enter; more in the other tabs.
query RecentAcrossProducts {
  auditEvents(first: 20) {
    edges {
      node {
        createdAt
        product
        action
        actor { id name }
        target { type id }
        tenantId
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
";

const TENANT_DAY: &str = "# One tenant's last day, across products
# (and the registry's own portal events).
query TenantLastDay($tenant: UUID!, $since: DateTime!) {
  auditEvents(filter: {tenantIds: [$tenant], since: $since}, first: 50) {
    edges { node { createdAt product action actor { id } target { type id } } }
    pageInfo { hasNextPage endCursor }
  }
}
";

const PRODUCT_ACROSS: &str = "# One product across every tenant
# (a platform key sees them all).
query CrmAcrossTenants {
  auditEvents(filter: {products: [\"crm\"]}, first: 20) {
    edges { node { createdAt tenantId action actor { id } } }
  }
}
";

const ACTION_PREFIX: &str = "# Everything about invoices, by action prefix.
query InvoiceEvents {
  auditEvents(filter: {actionPrefix: \"billing.invoice.\"}, first: 20) {
    edges { node { createdAt tenantId action metadata } }
  }
}
";

const SEARCH_LANGUAGE: &str = "# Retraced's search language in `query`:
# field:value, * wildcards, comma lists,
# quoted phrases, -negation, received:FROM,TO.
query SearchLanguage {
  auditEvents(filter: {query: \"action:crm.deal.* crud:u,c -actor.id:system\"}, first: 20) {
    edges { node { createdAt action actor { id name } metadata } }
  }
}
";

const PAGING: &str = "# Paging: run, copy pageInfo.endCursor into
# $after (Variables, below), run again.
query Paging($after: String) {
  auditEvents(first: 5, after: $after) {
    edges { cursor node { createdAt product action } }
    pageInfo { hasNextPage endCursor }
  }
}
";

/// The page's configuration: the endpoint, the headers, the tabs.
async fn config(settings: &HttpSettings, state: &AppState) -> Value {
    let headers = match &settings.playground_key {
        Some(key) => json!({ "Authorization": format!("Bearer {key}") }),
        None => json!({ "Authorization": "Bearer <your API key>" }),
    };
    let headers = serde_json::to_string_pretty(&headers).unwrap_or_default();
    // In dev mode the example tenant is a demo tenant; otherwise the reader fills one in
    // (without a key the page must not reveal any tenant).
    let tenant = if settings.playground_key.is_some() {
        Tenants::find()
            .filter(tenants::Column::Kind.eq(TenantKind::Demo))
            .order_by_asc(tenants::Column::Slug)
            .one(&state.db)
            .await
            .ok()
            .flatten()
            .map(|t| t.id.to_string())
    } else {
        None
    };
    let since = (Utc::now() - Duration::hours(24)).to_rfc3339();
    let day_variables = json!({
        "tenant": tenant.unwrap_or_else(|| "<a tenant id>".into()),
        "since": since,
    });
    let tab = |query: &str, variables: Option<&Value>| {
        json!({
            "query": query,
            "variables": variables.map(|v| serde_json::to_string_pretty(v).unwrap_or_default()),
            "headers": headers,
        })
    };
    json!({
        "endpoint": "/graphql",
        "headers": headers,
        "tabs": [
            tab(RECENT, None),
            tab(TENANT_DAY, Some(&day_variables)),
            tab(PRODUCT_ACROSS, None),
            tab(ACTION_PREFIX, None),
            tab(SEARCH_LANGUAGE, None),
            tab(PAGING, Some(&json!({ "after": null }))),
        ],
    })
}

/// Why this build has no playground assets (npm was missing or failed when it was built).
pub fn assets_missing() -> Option<&'static str> {
    assets::MISSING
}

/// The playground page, or 404 when it is switched off.
#[handler]
pub async fn page(settings: Data<&HttpSettings>, state: Data<&AppState>) -> Response {
    if !settings.playground {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(why) = assets::MISSING {
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>tenant-registry playground</title>\
             <h1>The playground's assets are not in this build</h1>\
             <p>They are fetched from the npm registry when the server is built, and that failed: {}.\
             Install Node.js and npm, then rebuild (<code>cargo build -p api</code>).</p>\
             <p>The API itself works: <code>POST /graphql</code>.</p>",
            html_escape(why)
        );
        return html(body);
    }
    // `<` escaped so that no value can close the script element.
    let config = config(&settings, &state)
        .await
        .to_string()
        .replace('<', "\\u003c");
    html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tenant-registry playground</title>
<link rel="stylesheet" href="/playground/graphiql.min.css">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading the playground…</div>
<script id="playground-config" type="application/json">{config}</script>
<script src="/playground/react.production.min.js"></script>
<script src="/playground/react-dom.production.min.js"></script>
<script src="/playground/graphiql.min.js"></script>
<script src="/playground/start.js"></script>
</body>
</html>
"#
    ))
}

fn html(body: String) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `/playground/{file}`: the embedded assets and the start-up script.
#[handler]
pub async fn asset(Path(file): Path<String>, settings: Data<&HttpSettings>) -> Response {
    if !settings.playground {
        return StatusCode::NOT_FOUND.into_response();
    }
    let found = if file == "start.js" {
        Some(("text/javascript; charset=utf-8", START_JS.as_bytes()))
    } else {
        assets::ASSETS
            .iter()
            .find(|(name, _, _)| *name == file)
            .map(|(_, content_type, bytes)| (*content_type, *bytes))
    };
    match found {
        Some((content_type, bytes)) => Response::builder()
            .content_type(content_type)
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(bytes),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
