//! Audit events that look like a real platform's: the products a tenant uses (and the portal),
//! people with their usual address and browser, service accounts, the scheduler; targets and
//! metadata that fit the action. The same seed gives the same events.

use chrono::{DateTime, Duration, Timelike, Utc};
use ipnetwork::IpNetwork;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::vocabulary::{self, Action, CURRENCIES, MODELS, PEOPLE, SERVICES, USER_AGENTS};

/// Share of a tenant's events that are the registry's own (portal) events.
const PORTAL_SHARE: f64 = 0.10;
/// How many of [`PEOPLE`] act in one tenant.
const PEOPLE_PER_TENANT: usize = 8;

/// What the generator needs to know of a tenant.
#[derive(Debug, Clone)]
pub struct TenantProfile {
    /// The tenant's id.
    pub id: Uuid,
    /// The tenant's slug (names its people's e-mail domain).
    pub slug: String,
    /// Its projects' ids (events of products land in one of them now and then).
    pub projects: Vec<Uuid>,
    /// The products it uses, most used first.
    pub products: Vec<&'static str>,
}

impl Event {
    /// The event as the registry's writer takes it.
    pub fn to_audit(&self) -> registry::audit::Event {
        registry::audit::Event {
            tenant_id: Some(self.tenant_id),
            project_id: self.project_id,
            product: self.product.map(str::to_owned),
            actor: registry::audit::Actor {
                id: Some(self.actor_id.clone()),
                name: Some(self.actor_name.clone()),
                kind: Some(self.actor_type.to_owned()),
            },
            action: self.action.to_owned(),
            target: registry::audit::Target {
                id: Some(self.target_id.clone()),
                kind: Some(self.target_type.clone()),
                name: Some(self.target_name.clone()),
            },
            metadata: self.metadata.clone(),
            source_ip: self.source_ip,
            user_agent: self.user_agent.map(str::to_owned),
            created_at: Some(self.created_at.fixed_offset()),
            id: None,
            recorded_by: None,
        }
    }
}

/// One event, every column of `audit_log` but `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Always the tenant's id.
    pub tenant_id: Uuid,
    /// A project of the tenant, or none.
    pub project_id: Option<Uuid>,
    /// E-mail of a person, a service account name, or `system`.
    pub actor_id: String,
    /// The actor's display name.
    pub actor_name: String,
    /// `user`, `service` or `system`.
    pub actor_type: &'static str,
    /// The dotted action.
    pub action: &'static str,
    /// The changed object's id.
    pub target_id: String,
    /// The changed object's kind (`contact`, `invoice`, ...).
    pub target_type: String,
    /// The changed object's display name.
    pub target_name: String,
    /// The emitting product; `None` for portal events.
    pub product: Option<&'static str>,
    /// Details of the change.
    pub metadata: Value,
    /// Where the request came from (none for the scheduler).
    pub source_ip: Option<IpNetwork>,
    /// The client (none for the scheduler).
    pub user_agent: Option<&'static str>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

/// A deterministic stream of events.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
}

/// A stable 64-bit hash (FNV-1a): seeds must not depend on the Rust version's hasher.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Generator {
    /// A generator for `seed`; `stream` separates independent streams (e.g. one per tenant).
    pub fn new(seed: u64, stream: &str) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed ^ stable_hash(stream)),
        }
    }

    /// The random source, for callers that draw their own numbers from the same stream.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// A moment in the `days` before `now`, mostly in working hours.
    pub fn recent_time(&mut self, now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
        let at = now - Duration::seconds(self.rng.random_range(0..days * 86_400));
        if (7..19).contains(&at.hour()) || !self.rng.random_bool(0.7) {
            return at;
        }
        // Into office hours the same day, unless that leaves the window (today's office hours
        // may still be ahead of `now`).
        let moved = at.with_hour(self.rng.random_range(8..18)).unwrap_or(at);
        if moved <= now && moved >= now - Duration::days(days) {
            moved
        } else {
            at
        }
    }

    /// One event of `tenant` at `at`.
    pub fn event(&mut self, tenant: &TenantProfile, at: DateTime<Utc>) -> Event {
        let product = if tenant.products.is_empty() || self.rng.random_bool(PORTAL_SHARE) {
            None
        } else {
            Some(tenant.products[self.zipf(tenant.products.len())])
        };
        let action = self.action(product);
        let noun = action.name.rsplit('.').nth(1).unwrap_or("object");
        let (actor_type, actor_id, actor_name, person) = self.actor(tenant, product, action);
        let (source_ip, user_agent) = match (actor_type, person) {
            ("user", Some(p)) => (
                Some(self.person_ip(tenant, p)),
                Some(person_agent(tenant, p)),
            ),
            ("service", _) => (
                Some(ip(&format!(
                    "198.51.100.{}",
                    10 + self.rng.random_range(0..20)
                ))),
                Some(USER_AGENTS[4 + self.rng.random_range(0..3)]),
            ),
            _ => (None, None),
        };
        let project_id = match (product, tenant.projects.is_empty()) {
            (Some(_), false) if self.rng.random_bool(0.7) => {
                Some(tenant.projects[self.rng.random_range(0..tenant.projects.len())])
            }
            _ => None,
        };
        let (target_id, target_name) = self.target(tenant, noun);
        Event {
            tenant_id: tenant.id,
            project_id,
            actor_id,
            actor_name,
            actor_type,
            action: action.name,
            target_id,
            target_type: noun.to_owned(),
            target_name,
            product,
            metadata: self.metadata(action, noun),
            source_ip,
            user_agent,
            created_at: at,
        }
    }

    /// An index in `0..n`, small ones much more likely (Zipf with exponent 1).
    pub fn zipf(&mut self, n: usize) -> usize {
        let total: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        let mut x = self.rng.random_range(0.0..total);
        for k in 1..=n {
            x -= 1.0 / k as f64;
            if x < 0.0 {
                return k - 1;
            }
        }
        n - 1
    }

    fn action(&mut self, product: Option<&str>) -> Action {
        let actions = vocabulary::actions(product);
        let total: u32 = actions.iter().map(|a| a.weight).sum();
        let mut x = self.rng.random_range(0..total);
        for action in actions {
            if x < action.weight {
                return *action;
            }
            x -= action.weight;
        }
        actions[0]
    }

    fn actor(
        &mut self,
        tenant: &TenantProfile,
        product: Option<&str>,
        action: Action,
    ) -> (&'static str, String, String, Option<usize>) {
        let roll: f64 = self.rng.random();
        let scheduled = matches!(
            action.name,
            "tenant.status_changed" | "billing.invoice.created"
        );
        if (scheduled && roll < 0.5) || (product.is_some() && roll < 0.04) {
            return (
                "system",
                "system".into(),
                "tenant-registry scheduler".into(),
                None,
            );
        }
        if product.is_some() && roll < 0.25 && action.name != "user.login" {
            let service = SERVICES[self.rng.random_range(0..SERVICES.len())];
            return ("service", service.into(), service.into(), None);
        }
        let person = self.zipf(PEOPLE_PER_TENANT);
        let (given, family) = person_name(tenant, person);
        let email = format!("{}.{}@{}.example", given, family, tenant.slug).to_lowercase();
        ("user", email, format!("{given} {family}"), Some(person))
    }

    /// A person's usual address (IPv6 for about a third of people), sometimes another one.
    fn person_ip(&mut self, tenant: &TenantProfile, person: usize) -> IpNetwork {
        let h = stable_hash(&format!("{}/{person}", tenant.slug));
        if self.rng.random_bool(0.1) {
            return ip(&format!("192.0.2.{}", self.rng.random_range(1..255)));
        }
        if h.is_multiple_of(3) {
            ip(&format!(
                "2001:db8:{:x}:{:x}::{:x}",
                (h >> 8) & 0xffff,
                (h >> 24) & 0xffff,
                (h >> 40) & 0xfff
            ))
        } else {
            ip(&format!("203.0.113.{}", 1 + (h >> 8) % 254))
        }
    }

    fn target(&mut self, tenant: &TenantProfile, noun: &str) -> (String, String) {
        let n: u32 = self.rng.random_range(1..100_000);
        let id = format!("{noun}_{n:05}");
        let name = match noun {
            "contact" | "user" => {
                let (given, family) = PEOPLE[self.rng.random_range(0..PEOPLE.len())];
                format!("{given} {family}")
            }
            "deal" => format!("{} renewal {}", tenant.slug, n % 1000),
            "invoice" => format!("INV-2026-{n:05}"),
            "tenant" => tenant.slug.clone(),
            "dashboard" | "report" => [
                "Pipeline by stage",
                "Monthly revenue",
                "Churn cohort",
                "Usage by team",
            ][self.rng.random_range(0..4)]
            .to_owned(),
            "completion" | "request" => format!("req_{n:05}"),
            "model" => MODELS[self.rng.random_range(0..MODELS.len())].to_owned(),
            other => format!("{other} {n}"),
        };
        (id, name)
    }

    fn metadata(&mut self, action: Action, noun: &str) -> Value {
        let rng = &mut self.rng;
        let mut meta = json!({ "crud": action.crud });
        let extra = match noun {
            "invoice" | "refund" => json!({
                "amount_cents": rng.random_range(1_000..2_500_000),
                "currency": CURRENCIES[rng.random_range(0..CURRENCIES.len())],
            }),
            "deal" => json!({
                "stage": (["qualified", "proposal", "negotiation", "closed"][rng.random_range(0..4)]),
                "value_cents": rng.random_range(100_000..50_000_000),
            }),
            "contact" => {
                json!({ "fields": (["email", "phone", "company", "title"][..rng.random_range(1..5)]) })
            }
            "completion" => json!({
                "model": MODELS[rng.random_range(0..MODELS.len())],
                "prompt_tokens": rng.random_range(10..4_000),
                "completion_tokens": rng.random_range(1..1_500),
            }),
            "query" => {
                json!({ "rows": rng.random_range(0..100_000), "duration_ms": rng.random_range(3..9_000) })
            }
            "user" if action.name == "user.login" => json!({
                "method": if rng.random_bool(0.6) { "sso" } else { "password" },
                "mfa": rng.random_bool(0.8),
            }),
            "tenant" if action.name == "tenant.status_changed" => json!({
                "before": { "status": "trial" },
                "after": { "status": "active" },
                "reason": "contract signed",
            }),
            _ => json!({}),
        };
        if let (Some(meta), Value::Object(extra)) = (meta.as_object_mut(), extra) {
            meta.extend(extra);
        }
        meta
    }
}

/// The `person`-th of the tenant's people (each tenant has its own eight).
fn person_name(tenant: &TenantProfile, person: usize) -> (&'static str, &'static str) {
    let offset = (stable_hash(&tenant.slug) % PEOPLE.len() as u64) as usize;
    PEOPLE[(offset + person * 3) % PEOPLE.len()]
}

/// A person's usual browser.
fn person_agent(tenant: &TenantProfile, person: usize) -> &'static str {
    USER_AGENTS[(stable_hash(&format!("{}#{person}", tenant.slug)) % 4) as usize]
}

fn ip(text: &str) -> IpNetwork {
    // Every address above is built from literals and in-range numbers.
    text.parse()
        .unwrap_or_else(|_| IpNetwork::from(std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST)))
}
