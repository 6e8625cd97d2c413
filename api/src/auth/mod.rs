//! Who is calling: API keys in `Authorization: Bearer <key>`, and what they may reach.

mod authenticator;
mod principal;
mod throttle;

pub use authenticator::{AuthSettings, AuthStats, Authenticator};
pub use principal::Principal;
