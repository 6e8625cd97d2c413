//! The words seeded data is made of: the product catalogue, each product's actions, people,
//! services, user agents. One vocabulary for demo and bulk data alike.

/// One kind of audit event: the dotted action and the CRUD letter Retraced would record.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    /// `product.noun.verb`, or `noun.verb` for the registry's own (portal) events.
    pub name: &'static str,
    /// `c`, `r`, `u` or `d`.
    pub crud: &'static str,
    /// Relative frequency within its product.
    pub weight: u32,
}

const fn a(name: &'static str, crud: &'static str, weight: u32) -> Action {
    Action { name, crud, weight }
}

/// The product catalogue, most used first.
pub const PRODUCTS: [&str; 4] = ["crm", "billing", "analytics", "llm-gateway"];

/// The actions of a product (`None`: the portal, i.e. the registry itself).
pub fn actions(product: Option<&str>) -> &'static [Action] {
    match product {
        Some("crm") => CRM,
        Some("billing") => BILLING,
        Some("analytics") => ANALYTICS,
        Some("llm-gateway") => LLM_GATEWAY,
        _ => PORTAL,
    }
}

const CRM: &[Action] = &[
    a("crm.contact.created", "c", 30),
    a("crm.contact.updated", "u", 40),
    a("crm.contact.deleted", "d", 4),
    a("crm.deal.created", "c", 12),
    a("crm.deal.stage_changed", "u", 18),
    a("crm.deal.won", "u", 4),
    a("crm.lead.imported", "c", 6),
    a("crm.report.exported", "r", 2),
];

const BILLING: &[Action] = &[
    a("billing.invoice.created", "c", 20),
    a("billing.invoice.paid", "u", 16),
    a("billing.invoice.voided", "u", 2),
    a("billing.subscription.updated", "u", 5),
    a("billing.payment_method.added", "c", 3),
    a("billing.refund.issued", "c", 1),
];

const ANALYTICS: &[Action] = &[
    a("analytics.query.run", "r", 30),
    a("analytics.dashboard.created", "c", 4),
    a("analytics.dashboard.shared", "u", 3),
    a("analytics.report.exported", "r", 6),
];

const LLM_GATEWAY: &[Action] = &[
    a("llm-gateway.completion.created", "c", 40),
    a("llm-gateway.model.enabled", "u", 2),
    a("llm-gateway.key.rotated", "u", 1),
    a("llm-gateway.request.blocked", "r", 3),
    a("llm-gateway.budget.exceeded", "u", 1),
];

const PORTAL: &[Action] = &[
    a("user.login", "r", 40),
    a("user.invited", "c", 6),
    a("user.role_changed", "u", 3),
    a("tenant.updated", "u", 3),
    a("tenant.status_changed", "u", 1),
    a("project.created", "c", 2),
    a("api_key.issued", "c", 2),
    a("api_key.revoked", "u", 1),
    a("entitlement.set", "u", 2),
    a("idp.configured", "u", 1),
];

/// People who act in a tenant: (given name, family name).
pub const PEOPLE: [(&str, &str); 16] = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Katherine", "Johnson"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
    ("Donald", "Knuth"),
    ("Margaret", "Hamilton"),
    ("Linus", "Torvalds"),
    ("Radia", "Perlman"),
    ("Ken", "Thompson"),
    ("Frances", "Allen"),
    ("Dennis", "Ritchie"),
    ("Shafi", "Goldwasser"),
    ("Leslie", "Lamport"),
    ("Hedy", "Lamarr"),
];

/// Service accounts that act on a tenant's behalf.
pub const SERVICES: [&str; 5] = [
    "svc-crm-sync",
    "svc-billing-runner",
    "svc-etl",
    "svc-llm-proxy",
    "svc-scim",
];

/// Browsers and API clients seen in requests.
pub const USER_AGENTS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "retraced-js/0.7.23",
    "retraced-go/1.4.0",
    "python-requests/2.32.3",
    "curl/8.11.0",
];

/// Currencies for money amounts.
pub const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];

/// Models the LLM gateway routes to.
pub const MODELS: [&str; 4] = [
    "gpt-4o-mini",
    "claude-3-5-haiku",
    "llama-3.1-70b",
    "mistral-large",
];
