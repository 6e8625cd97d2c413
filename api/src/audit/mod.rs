//! The cross-product audit log: filtering, the search language, keyset paging, recording, and
//! the registry's own trail of its changes.

pub mod cursor;
pub mod external_id;
pub mod filter;
pub mod free_text;
pub mod lengths;
pub mod merge;
pub mod metadata_terms;
pub mod portal;
pub mod row;
pub mod search;
mod search_lex;
pub mod store;
