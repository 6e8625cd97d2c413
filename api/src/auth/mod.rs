//! Authentication: API keys and the scopes they carry.

pub mod keys;
pub mod scope;

pub use keys::{IssueKeyError, IssuedKey, NewKey, Plaintext, issue_key};
pub use scope::Scope;
