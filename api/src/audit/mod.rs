//! Reading the cross-product audit log: filters, the search language, keyset paging, and
//! pages read column by column. Writing it is the registry's (`registry::audit`).

pub mod cursor;
pub mod export;
pub mod external_id;
pub mod filter;
pub mod free_text;
pub mod merge;
pub mod metadata_terms;
pub mod row;
pub mod search;
mod search_lex;
pub mod store;

/// Most values one list of a filter may hold, and one key of a search query (each value is a
/// branch or an `IN` member of the statement; a longer list is a different question, better
/// asked in several).
pub const MAX_LIST_VALUES: usize = 100;
