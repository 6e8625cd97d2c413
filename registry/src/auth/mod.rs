//! Who is calling: API keys in `Authorization: Bearer <key>`, and what they may reach.

mod authenticator;
mod plaintext;
mod principal;
mod throttle;

pub use authenticator::{AuthSettings, AuthStats, Authenticator, budget_of};
pub use plaintext::{KEY_MARKER, PREFIX_LEN, Plaintext};
pub use principal::Principal;
