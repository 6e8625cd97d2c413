//! `AuditEventFilter`: what a caller asks for, and the reach of its key, as one SQL condition.

use async_graphql::{Enum, InputObject, Json};
use chrono::{DateTime, Utc};
use entity::audit_log::Column;
use ipnetwork::IpNetwork;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use serde_json::Value;
use uuid::Uuid;

use super::MAX_LIST_VALUES;
use super::cursor::Cursor;
use super::free_text::TextMatch;
use super::metadata_terms;
use super::search::{SearchQuery, action_prefix};
use super::store::AuditOrder;
use registry::ApiError;
use registry::auth::Principal;

/// Which portal events (emitted by the registry itself, `product` NULL) to include.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalEvents {
    /// Portal events in addition to whatever `products` selects.
    Include,
    /// No portal events.
    Exclude,
    /// Nothing but portal events (not together with `products`).
    Only,
}

/// Every field optional; all given fields must hold; lists match any of their values.
#[derive(InputObject, Debug, Clone, Default)]
pub struct AuditEventFilter {
    /// Events of these tenants.
    pub tenant_ids: Option<Vec<Uuid>>,
    /// Events in these projects.
    pub project_ids: Option<Vec<Uuid>>,
    /// Events emitted by these products.
    pub products: Option<Vec<String>>,
    /// Portal events: INCLUDE when `products` is absent, EXCLUDE when it is given, by default.
    pub portal: Option<PortalEvents>,
    /// Events by these actors.
    pub actor_ids: Option<Vec<String>>,
    /// Events by these kinds of actor (`user`, `service`, `system`).
    pub actor_types: Option<Vec<String>>,
    /// Events with exactly these actions.
    pub actions: Option<Vec<String>>,
    /// Events whose action starts with this (`crm.` for everything the CRM did).
    pub action_prefix: Option<String>,
    /// Events on these kinds of target.
    pub target_types: Option<Vec<String>>,
    /// Events on these targets.
    pub target_ids: Option<Vec<String>>,
    /// Events at or after this moment.
    pub since: Option<DateTime<Utc>>,
    /// Events before this moment.
    pub until: Option<DateTime<Utc>>,
    /// Events whose metadata contains this JSON object (`@>`).
    pub metadata: Option<Json<Value>>,
    /// Events from this address, or from within this CIDR block.
    pub source_ip: Option<String>,
    /// A query in the Retraced search language, ANDed with the rest: `key:value` terms
    /// (`action:crm.*`, `actor.id:u1`, `target.id:inv-7`, `crud:c,u`, `received:FROM,TO`),
    /// free-text words and "quoted phrases" (found, ignoring case, in the action, the actor's
    /// and target's id and name, and the description), and `-` before a term to exclude it.
    pub query: Option<String>,
}

/// The lists a page is split by: each is left out of the common condition, and every branch
/// has one of its values instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SplitLists {
    /// `filter.projectIds`.
    pub projects: bool,
    /// `filter.tenantIds`.
    pub tenants: bool,
    /// `filter.products`, and the portal's events with them.
    pub products: bool,
    /// `filter.actions`.
    pub actions: bool,
    /// `filter.targetTypes`.
    pub target_types: bool,
}

/// `list`, refused when empty (say nothing rather than an empty list) or longer than
/// [`MAX_LIST_VALUES`].
fn non_empty<'a, T>(field: &str, list: &'a Option<Vec<T>>) -> Result<Option<&'a Vec<T>>, ApiError> {
    match list {
        Some(list) if list.is_empty() => Err(ApiError::bad_input(
            field,
            format!("{field} must not be an empty list; leave it out to match everything"),
        )),
        Some(list) if list.len() > MAX_LIST_VALUES => Err(ApiError::bad_input(
            field,
            format!(
                "{field} has {} values; a list holds at most {MAX_LIST_VALUES}",
                list.len()
            ),
        )),
        other => Ok(other.as_ref()),
    }
}

impl AuditEventFilter {
    /// The condition selecting what this filter asks for and `principal` may see, free-text
    /// words matched through the trigram index where it serves them ([`TextMatch::Indexed`]).
    /// Errors name the `filter.*` field at fault.
    pub fn condition(&self, principal: &Principal) -> Result<Condition, ApiError> {
        self.condition_with(principal, TextMatch::Indexed)
    }

    /// The tenant whose size decides how this filter's free-text words are matched: the one
    /// tenant the search is confined to (a tenant key's own, or the only one of
    /// `filter.tenantIds`), if its query has a word the trigram index could serve. `None`:
    /// match them [`TextMatch::Indexed`].
    pub fn text_tenant(&self, principal: &Principal) -> Option<Uuid> {
        let query = SearchQuery::parse(self.query.as_deref()?).ok()?;
        if !query.has_indexed_text() {
            return None;
        }
        match self.tenant_ids.as_deref() {
            _ if !principal.is_platform() => Some(principal.tenant_id),
            Some([only]) => Some(*only),
            _ => None,
        }
    }

    /// [`Self::condition`], free-text words matched as `text` says (the rows are the same).
    pub fn condition_with(
        &self,
        principal: &Principal,
        text: TextMatch,
    ) -> Result<Condition, ApiError> {
        self.build(principal, text, None, SplitLists::default())
    }

    /// Whether a page's condition differs from [`Self::condition_with`] after `after`: only
    /// for a metadata filter on a page after a cursor, whose terms are looked up only on the
    /// page's side of the cursor ([`metadata_terms::containment`] says why), so that every
    /// other page reuses the condition it has.
    pub(super) fn page_condition_differs(&self, after: Option<Cursor>) -> bool {
        after.is_some() && self.metadata.is_some()
    }

    /// The condition; the lists in `split` are left out (each branch of the page has one of
    /// their values instead).
    pub(super) fn build(
        &self,
        principal: &Principal,
        text: TextMatch,
        page: Option<(AuditOrder, DateTime<Utc>)>,
        split: SplitLists,
    ) -> Result<Condition, ApiError> {
        let mut all = Condition::all();

        // Reach: a tenant key sees its tenant; rows of deleted tenants only platform keys see.
        if let Some(ids) = non_empty("filter.tenantIds", &self.tenant_ids)? {
            if let Some(other) = ids.iter().find(|id| !principal.reaches(**id)) {
                return Err(ApiError::Forbidden(format!(
                    "filter.tenantIds: this API key cannot read tenant {other}"
                )));
            }
            if !split.tenants {
                all = all.add(Expr::col(Column::TenantId).is_in(ids.iter().copied()));
            }
        }
        if !principal.is_platform() {
            all = all.add(Expr::col(Column::TenantId).eq(principal.tenant_id));
        }

        if let Some(ids) = non_empty("filter.projectIds", &self.project_ids)?
            && !split.projects
        {
            all = all.add(Expr::col(Column::ProjectId).is_in(ids.iter().copied()));
        }
        let products = self.product_condition(principal)?;
        if !split.products {
            all = all.add(products);
        }
        for (field, list, column) in [
            ("filter.actorIds", &self.actor_ids, Column::ActorId),
            ("filter.actorTypes", &self.actor_types, Column::ActorType),
            ("filter.actions", &self.actions, Column::Action),
            ("filter.targetTypes", &self.target_types, Column::TargetType),
            ("filter.targetIds", &self.target_ids, Column::TargetId),
        ] {
            if let Some(values) = non_empty(field, list)?
                && !(split.actions && matches!(column, Column::Action))
                && !(split.target_types && matches!(column, Column::TargetType))
            {
                all = all.add(Expr::col(column).is_in(values.iter().cloned()));
            }
        }
        if let Some(prefix) = &self.action_prefix {
            all = all.add(action_prefix(prefix));
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since >= until
        {
            return Err(ApiError::bad_input(
                "filter.until",
                "filter.until must be later than filter.since",
            ));
        }
        if let Some(since) = self.since {
            all = all.add(Expr::col(Column::CreatedAt).gte(since));
        }
        if let Some(until) = self.until {
            all = all.add(Expr::col(Column::CreatedAt).lt(until));
        }
        if let Some(Json(metadata)) = &self.metadata {
            if !metadata.is_object() {
                return Err(ApiError::bad_input(
                    "filter.metadata",
                    "filter.metadata must be a JSON object, e.g. {\"currency\": \"EUR\"}",
                ));
            }
            let within_tenants = !principal.is_platform() || self.tenant_ids.is_some();
            let mut bounds = Vec::new();
            bounds.extend(self.since.map(|at| (">=", at)));
            bounds.extend(self.until.map(|at| ("<", at)));
            bounds.extend(page.map(|(order, at)| match order {
                AuditOrder::NewestFirst => ("<=", at),
                AuditOrder::OldestFirst => (">=", at),
            }));
            all = all.add(metadata_terms::containment(
                metadata,
                within_tenants,
                &bounds,
            ));
        }
        if let Some(ip) = &self.source_ip {
            let network: IpNetwork = ip.trim().parse().map_err(|_| {
                ApiError::bad_input(
                    "filter.sourceIp",
                    format!("filter.sourceIp: {ip:?} is not an IP address or CIDR block"),
                )
            })?;
            // A single address is matched by equality, which `audit_log_source_ip_idx` returns
            // in time order; `<<=` of a host finds the same events (only an equal address is
            // within it), but as a range the planner cannot tell from a block.
            let host = network.prefix() == if network.is_ipv4() { 32 } else { 128 };
            let operator = if host { "=" } else { "<<=" };
            all = all.add(Expr::cust_with_values(
                format!("source_ip {operator} $1::inet"),
                [network.to_string()],
            ));
        }
        if let Some(query) = &self.query {
            let parsed = SearchQuery::parse(query)
                .map_err(|e| ApiError::bad_input("filter.query", format!("filter.query: {e}")))?;
            all = all.add(parsed.condition(text));
        }
        Ok(all)
    }

    /// Which portal events the filter selects: `filter.portal`, or its default.
    pub fn portal_events(&self) -> PortalEvents {
        self.portal.unwrap_or(if self.products.is_some() {
            PortalEvents::Exclude
        } else {
            PortalEvents::Include
        })
    }

    fn product_condition(&self, principal: &Principal) -> Result<Condition, ApiError> {
        let products = non_empty("filter.products", &self.products)?;
        // A product key sees its product's events and nothing else.
        if let Some(own) = &principal.product {
            if let Some(other) = products.into_iter().flatten().find(|p| *p != own) {
                return Err(ApiError::Forbidden(format!(
                    "filter.products: this API key reads only {own} events, not {other}"
                )));
            }
            if self.portal == Some(PortalEvents::Only) {
                return Err(ApiError::Forbidden(format!(
                    "filter.portal: this API key reads only {own} events"
                )));
            }
            return Ok(Condition::all().add(Expr::col(Column::Product).eq(own.clone())));
        }
        let portal = self.portal_events();
        let product_in =
            |list: &Vec<String>| Expr::col(Column::Product).is_in(list.iter().cloned());
        Ok(match (products, portal) {
            (Some(_), PortalEvents::Only) => {
                return Err(ApiError::bad_input(
                    "filter.portal",
                    "filter.portal: ONLY selects nothing but portal events; leave out filter.products",
                ));
            }
            (Some(list), PortalEvents::Exclude) => Condition::all().add(product_in(list)),
            (Some(list), PortalEvents::Include) => Condition::any()
                .add(product_in(list))
                .add(Expr::col(Column::Product).is_null()),
            (None, PortalEvents::Include) => Condition::all(),
            (None, PortalEvents::Exclude) => {
                Condition::all().add(Expr::col(Column::Product).is_not_null())
            }
            (None, PortalEvents::Only) => {
                Condition::all().add(Expr::col(Column::Product).is_null())
            }
        })
    }
}

/// The `filter` argument: exactly `AuditEventFilter` in the schema, but a value that does not
/// parse is reported with the field at fault (`filter.tenantIds: ...`), which async-graphql's
/// own message for a nested input leaves out.
#[derive(Debug, Clone, Default)]
pub struct FilterArg(pub AuditEventFilter);

impl async_graphql::InputType for FilterArg {
    type RawValueType = AuditEventFilter;

    fn type_name() -> std::borrow::Cow<'static, str> {
        AuditEventFilter::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        AuditEventFilter::create_type_info(registry)
    }

    fn parse(value: Option<async_graphql::Value>) -> async_graphql::InputValueResult<Self> {
        AuditEventFilter::parse(value.clone())
            .map(FilterArg)
            .map_err(|e| {
                async_graphql::InputValueError::custom(
                    explain(value.as_ref())
                        .unwrap_or_else(|| e.into_server_error(Default::default()).message),
                )
            })
    }

    fn to_value(&self) -> async_graphql::Value {
        self.0.to_value()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }
}

/// Which typed field of a filter value fails to parse, and why.
fn explain(value: Option<&async_graphql::Value>) -> Option<String> {
    use async_graphql::InputType;
    let async_graphql::Value::Object(fields) = value? else {
        return None;
    };
    fields.iter().find_map(|(name, v)| {
        let v = Some(v.clone());
        let failure = match name.as_str() {
            "tenantIds" | "projectIds" => Option::<Vec<Uuid>>::parse(v)
                .err()
                .map(|e| e.into_server_error(Default::default()).message),
            "since" | "until" => Option::<DateTime<Utc>>::parse(v)
                .err()
                .map(|e| e.into_server_error(Default::default()).message),
            "portal" => Option::<PortalEvents>::parse(v)
                .err()
                .map(|e| e.into_server_error(Default::default()).message),
            _ => None,
        }?;
        Some(format!("filter.{name}: {failure}"))
    })
}
