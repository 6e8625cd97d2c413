//! The registry's GraphQL types besides `Tenant`: its enums (mirrors of the database's), the
//! `Date` scalar, and what hangs off a tenant: projects, entitlements, identity providers and
//! API key records, and a deletion under way.

use async_graphql::{Enum, Json, Object, Scalar, ScalarType, Value};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    api_keys, sea_orm_active_enums as db_enums, tenant_deletions, tenant_idp_config,
    tenant_projects,
};
use uuid::Uuid;

macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident from $db:ty { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }
        impl From<$db> for $name {
            fn from(v: $db) -> Self { match v { $(<$db>::$variant => $name::$variant),+ } }
        }
        impl From<$name> for $db {
            fn from(v: $name) -> Self { match v { $($name::$variant => <$db>::$variant),+ } }
        }
    };
}

mirror_enum!(
    /// Where a tenant is in its lifecycle.
    TenantStatus from db_enums::TenantStatus {
        /// Shared demo tenant, reset nightly, never billed.
        Demo,
        /// In its evaluation window.
        Trial,
        /// Paying.
        Active,
        /// Read-only after cancellation or non-payment.
        Frozen,
        /// Export window closed; only the audit log is kept.
        Archived,
    }
);
mirror_enum!(
    /// Customer or shared demo.
    TenantKind from db_enums::TenantKind {
        /// A paying or trialling customer.
        Customer,
        /// A shared demo tenant.
        Demo,
    }
);
mirror_enum!(
    /// An identity provider's protocol.
    IdpKind from db_enums::IdpKind {
        /// OpenID Connect.
        Oidc,
        /// SAML 2.0.
        Saml,
    }
);
mirror_enum!(
    /// Whether a project is in use.
    ProjectStatus from db_enums::TenantProjectStatus {
        /// In use.
        Active,
        /// Kept for its history.
        Archived,
    }
);

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> async_graphql::InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    async_graphql::InputValueError::custom(format!(
                        "{s:?} is not a date (YYYY-MM-DD)"
                    ))
                }),
            _ => Err(async_graphql::InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A project inside a tenant.
#[derive(Debug, Clone)]
pub struct Project(pub tenant_projects::Model);

#[Object]
impl Project {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn tenant_id(&self) -> Uuid {
        self.0.tenant_id
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn status(&self) -> ProjectStatus {
        self.0.status.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
}

/// Why an entitlement is not active.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveReason {
    /// The entitlement is switched off.
    Disabled,
    /// The entitlement's `expiresAt` has passed.
    Expired,
    /// The tenant is a trial whose `trialEndsAt` has passed.
    TrialEnded,
    /// The tenant is frozen.
    TenantFrozen,
    /// The tenant is archived.
    TenantArchived,
}

impl From<registry::entitlements::Inactive> for InactiveReason {
    fn from(reason: registry::entitlements::Inactive) -> InactiveReason {
        use registry::entitlements::Inactive;
        match reason {
            Inactive::Disabled => InactiveReason::Disabled,
            Inactive::Expired => InactiveReason::Expired,
            Inactive::TrialEnded => InactiveReason::TrialEnded,
            Inactive::TenantFrozen => InactiveReason::TenantFrozen,
            Inactive::TenantArchived => InactiveReason::TenantArchived,
        }
    }
}

/// A tenant's entitlement to a product.
#[derive(Debug, Clone)]
pub struct Entitlement(pub registry::entitlements::Entitlement);

#[Object]
impl Entitlement {
    /// Whether the product may be used now: the tenant in DEMO, TRIAL (before its end) or
    /// ACTIVE, and the entitlement enabled and unexpired.
    async fn active(&self) -> bool {
        self.0.is_active(Utc::now())
    }
    /// Why it is not active; null when it is.
    async fn reason(&self) -> Option<InactiveReason> {
        self.0.inactive(Utc::now()).map(Into::into)
    }
    async fn tenant_id(&self) -> Uuid {
        self.0.row.tenant_id
    }
    async fn product(&self) -> &str {
        &self.0.row.product
    }
    async fn enabled(&self) -> bool {
        self.0.row.enabled
    }
    /// Product-specific settings.
    async fn config(&self) -> Json<serde_json::Value> {
        Json(self.0.row.config.clone())
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.row.expires_at.map(|t| t.to_utc())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.row.created_at.to_utc()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.row.updated_at.to_utc()
    }
}

/// A tenant's identity provider for SSO.
#[derive(Debug, Clone)]
pub struct IdpConfig(pub tenant_idp_config::Model);

#[Object]
impl IdpConfig {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn tenant_id(&self) -> Uuid {
        self.0.tenant_id
    }
    #[graphql(name = "type")]
    async fn kind(&self) -> IdpKind {
        self.0.r#type.into()
    }
    /// Discovery URL and client id (OIDC); entity id and certificate or metadata URL (SAML).
    async fn metadata(&self) -> Json<serde_json::Value> {
        Json(self.0.metadata.clone())
    }
    async fn verified(&self) -> bool {
        self.0.verified
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
}

/// An API key's record. The key itself is shown once, when issued; the hash never.
#[derive(Debug, Clone)]
pub struct ApiKey(pub api_keys::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn tenant_id(&self) -> Uuid {
        self.0.tenant_id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The key's first 8 characters.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn scopes(&self) -> &[String] {
        &self.0.scopes
    }
    /// The product the key is confined to (none: every product).
    async fn product(&self) -> Option<&str> {
        self.0.product.as_deref()
    }
    async fn created_by(&self) -> Option<&str> {
        self.0.created_by.as_deref()
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at.map(|t| t.to_utc())
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at.map(|t| t.to_utc())
    }
    /// When the key stops working (none: never). A rotated key's old half has one.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at.map(|t| t.to_utc())
    }
    /// The key a rotation issued in this one's place (none: not rotated).
    async fn replaced_by(&self) -> Option<Uuid> {
        self.0.replaced_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
}

/// A tenant's deletion under way: its audit events are being cleared of it in the background,
/// and the tenant goes when none is left.
#[derive(Debug, Clone)]
pub struct TenantDeletion(pub tenant_deletions::Model);

#[Object]
impl TenantDeletion {
    /// When `deleteTenant` accepted it.
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at.to_utc()
    }
    /// The name of the API key that asked.
    async fn requested_by(&self) -> &str {
        &self.0.requested_by_key_name
    }
    /// Why, when the caller said.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// Audit events cleared of the tenant so far.
    async fn events_detached(&self) -> i64 {
        self.0.events_detached
    }
}
