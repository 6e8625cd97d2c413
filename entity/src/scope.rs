//! What an API key may do. A key reaches only its own tenant unless it holds `platform`, which
//! extends its other scopes to every tenant.

use std::fmt;
use std::str::FromStr;

/// One permission an API key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read tenants, projects, entitlements, IdP configs and key records.
    TenantsRead,
    /// Change tenants, projects, entitlements and IdP configs.
    TenantsWrite,
    /// Issue, rotate and revoke API keys.
    KeysWrite,
    /// Ask whether a customer's key is good (`verifyApiKey`): a product's own key, for its
    /// product; a platform key, for any.
    KeysVerify,
    /// Search the audit log.
    AuditRead,
    /// Publish audit events.
    AuditWrite,
    /// Reach every tenant with the key's other scopes (operators only).
    Platform,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 7] = [
        Scope::TenantsRead,
        Scope::TenantsWrite,
        Scope::KeysWrite,
        Scope::KeysVerify,
        Scope::AuditRead,
        Scope::AuditWrite,
        Scope::Platform,
    ];

    /// The scope's name as stored in `api_keys.scopes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TenantsRead => "tenants:read",
            Scope::TenantsWrite => "tenants:write",
            Scope::KeysWrite => "keys:write",
            Scope::KeysVerify => "keys:verify",
            Scope::AuditRead => "audit:read",
            Scope::AuditWrite => "audit:write",
            Scope::Platform => "platform",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scope {0:?}; the scopes are tenants:read, tenants:write, keys:write, keys:verify, audit:read, audit:write, platform"
)]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Scope, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}
