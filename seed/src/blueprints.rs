//! The demo platform: two shared demo tenants and a customer in each other lifecycle state,
//! with projects, entitlements, identity providers and API keys.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::scope::Scope;
use entity::sea_orm_active_enums::{IdpKind, TenantKind, TenantStatus};
use serde_json::{Value, json};

/// One tenant to create, with everything that belongs to it.
#[derive(Debug, Clone)]
pub struct TenantBlueprint {
    /// Unique slug: how a re-run recognises the tenant.
    pub slug: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Customer or demo.
    pub kind: TenantKind,
    /// Lifecycle state.
    pub status: TenantStatus,
    /// Plan name.
    pub plan: &'static str,
    /// ERPNext customer id, Stripe customer id, sales owner.
    pub erp_customer_id: Option<&'static str>,
    /// Stripe customer id.
    pub stripe_cust_id: Option<&'static str>,
    /// Sales owner's e-mail.
    pub sales_owner: Option<&'static str>,
    /// Days from now to the end of the trial.
    pub trial_days_left: Option<i64>,
    /// Contract start and end.
    pub contract: Option<(NaiveDate, NaiveDate)>,
    /// Projects: (slug, name, archived).
    pub projects: Vec<(&'static str, &'static str, bool)>,
    /// Entitlements.
    pub products: Vec<ProductBlueprint>,
    /// Identity provider: (kind, metadata, verified).
    pub idp: Option<(IdpKind, Value, bool)>,
    /// API keys.
    pub keys: Vec<KeyBlueprint>,
}

/// An entitlement.
#[derive(Debug, Clone)]
pub struct ProductBlueprint {
    /// Product name from the catalogue.
    pub product: &'static str,
    /// Whether it is switched on.
    pub enabled: bool,
    /// Product-specific settings.
    pub config: Value,
    /// Days from now to expiry (negative: already expired).
    pub expires_in_days: Option<i64>,
}

/// An API key.
#[derive(Debug, Clone)]
pub struct KeyBlueprint {
    /// Label, unique within the tenant.
    pub name: &'static str,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Product restriction.
    pub product: Option<&'static str>,
    /// Revoked right after issue.
    pub revoked: bool,
}

fn product(product: &'static str, config: Value) -> ProductBlueprint {
    ProductBlueprint {
        product,
        enabled: true,
        config,
        expires_in_days: None,
    }
}

fn key(name: &'static str, scopes: &[Scope], product: Option<&'static str>) -> KeyBlueprint {
    KeyBlueprint {
        name,
        scopes: scopes.to_vec(),
        product,
        revoked: false,
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn crm(seats: u32) -> Value {
    json!({ "max_seats": seats, "modules_enabled": ["contacts", "deals", "leads"] })
}

fn llm(tenant: &str) -> Value {
    json!({ "litellm_url": format!("https://llm.{tenant}.example/v1"), "monthly_budget_usd": 500 })
}

/// The demo platform.
pub fn demo_platform() -> Vec<TenantBlueprint> {
    use Scope::*;
    let blank = TenantBlueprint {
        slug: "",
        name: "",
        kind: TenantKind::Customer,
        status: TenantStatus::Active,
        plan: "starter",
        erp_customer_id: None,
        stripe_cust_id: None,
        sales_owner: None,
        trial_days_left: None,
        contract: None,
        projects: vec![],
        products: vec![],
        idp: None,
        keys: vec![],
    };
    vec![
        TenantBlueprint {
            slug: "demo-acme",
            name: "Acme Corp (demo)",
            kind: TenantKind::Demo,
            status: TenantStatus::Demo,
            plan: "enterprise",
            projects: vec![
                ("web-shop", "Web shop", false),
                ("mobile-app", "Mobile app", false),
                ("legacy-portal", "Legacy portal", true),
            ],
            products: vec![
                product("crm", crm(50)),
                product("billing", json!({ "currency": "EUR", "dunning": true })),
                product("analytics", json!({ "retention_days": 365 })),
                product("llm-gateway", llm("demo-acme")),
            ],
            idp: Some((
                IdpKind::Saml,
                json!({
                    "entity_id": "https://idp.demo-acme.example/saml/metadata",
                    "metadata_url": "https://idp.demo-acme.example/saml/metadata.xml",
                    "sso_url": "https://idp.demo-acme.example/saml/sso",
                }),
                false,
            )),
            keys: vec![
                key("crm-backend", &[AuditWrite], Some("crm")),
                key("admin-console", &[TenantsRead, AuditRead], None),
                KeyBlueprint {
                    revoked: true,
                    ..key("old-integration", &[AuditRead, AuditWrite], None)
                },
            ],
            ..blank.clone()
        },
        TenantBlueprint {
            slug: "demo-globex",
            name: "Globex (demo)",
            kind: TenantKind::Demo,
            status: TenantStatus::Demo,
            plan: "growth",
            projects: vec![("hq", "Headquarters", false)],
            products: vec![
                product("crm", crm(10)),
                product("analytics", json!({ "retention_days": 90 })),
            ],
            keys: vec![key("analytics-ingest", &[AuditWrite], Some("analytics"))],
            ..blank.clone()
        },
        TenantBlueprint {
            slug: "initech",
            name: "Initech",
            status: TenantStatus::Trial,
            trial_days_left: Some(12),
            products: vec![
                ProductBlueprint {
                    expires_in_days: Some(12),
                    ..product("crm", crm(5))
                },
                ProductBlueprint {
                    expires_in_days: Some(-3),
                    ..product("billing", json!({ "currency": "USD" }))
                },
            ],
            keys: vec![key("trial-sandbox", &[AuditRead, AuditWrite], None)],
            ..blank.clone()
        },
        TenantBlueprint {
            slug: "umbrella",
            name: "Umbrella Corporation",
            status: TenantStatus::Active,
            plan: "enterprise",
            erp_customer_id: Some("CUST-10042"),
            stripe_cust_id: Some("cus_R4nd0mUmbr3lla"),
            sales_owner: Some("sam.sales@platform.example"),
            contract: Some((date(2026, 1, 1), date(2027, 12, 31))),
            projects: vec![
                ("research", "Research", false),
                ("production", "Production", false),
            ],
            products: vec![
                product("crm", crm(250)),
                product("billing", json!({ "currency": "EUR", "dunning": true })),
                product("llm-gateway", llm("umbrella")),
                ProductBlueprint {
                    enabled: false,
                    ..product("analytics", json!({ "retention_days": 30 }))
                },
            ],
            idp: Some((
                IdpKind::Oidc,
                json!({
                    "discovery_url": "https://login.umbrella.example/.well-known/openid-configuration",
                    "client_id": "tenant-registry",
                }),
                true,
            )),
            keys: vec![
                key("crm-backend", &[AuditWrite], Some("crm")),
                key("siem-export", &[AuditRead], None),
                key(
                    "provisioning",
                    &[TenantsRead, TenantsWrite, KeysWrite],
                    None,
                ),
            ],
            ..blank.clone()
        },
        TenantBlueprint {
            slug: "hooli",
            name: "Hooli",
            status: TenantStatus::Frozen,
            plan: "growth",
            erp_customer_id: Some("CUST-10077"),
            stripe_cust_id: Some("cus_H00l1Fr0z3n"),
            contract: Some((date(2025, 3, 1), date(2026, 2, 28))),
            products: vec![product("crm", crm(40))],
            keys: vec![key("crm-backend", &[AuditWrite], Some("crm"))],
            ..blank.clone()
        },
        TenantBlueprint {
            slug: "vandelay",
            name: "Vandelay Industries",
            status: TenantStatus::Archived,
            erp_customer_id: Some("CUST-09913"),
            contract: Some((date(2024, 1, 1), date(2024, 12, 31))),
            products: vec![product("billing", json!({ "currency": "USD" }))],
            keys: vec![key("export", &[AuditRead], None)],
            ..blank
        },
    ]
}

impl TenantBlueprint {
    /// The trial end, relative to `now`.
    pub fn trial_ends_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.trial_days_left.map(|d| now + Duration::days(d))
    }
}
