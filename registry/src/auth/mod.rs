//! Who is calling: API keys in `Authorization: Bearer <key>`, and what they may reach.

mod authenticator;
pub mod listener;
mod plaintext;
pub(crate) mod principal;
mod throttle;

pub use authenticator::{AuthSettings, AuthStats, Authenticator, Found, Identified, budget_of};
pub use plaintext::{KEY_MARKER, PREFIX_LEN, Plaintext};
pub use principal::Principal;
