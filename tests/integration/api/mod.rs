//! The GraphQL API through the real server: filters, paging, isolation, HTTP behaviour, SDL.

mod abuse;
mod bounds;
mod documents;
mod external_id;
mod fast_path;
mod faults;
mod filter;
mod free_text;
mod hostile;
mod http;
mod isolation;
mod lengths;
mod limits;
mod lists;
mod metadata_terms;
mod metrics;
mod nesting;
mod paging;
mod random;
mod raw_json;
mod reads;
mod schema;
mod tenants;
mod validated;
