//! The cross-product audit log: filtering, the search language, keyset paging, recording.

pub mod cursor;
pub mod filter;
pub mod search;
pub mod store;
