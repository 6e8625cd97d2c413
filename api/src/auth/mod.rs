//! Who is calling: API keys in `Authorization: Bearer <key>`, and what they may reach.

mod authenticator;
mod principal;

pub use authenticator::Authenticator;
pub use principal::Principal;
