//! How the read path's statements are planned: per execution, or once per connection.

use sea_orm::sqlx::{self, postgres::PgConnection};

/// How PostgreSQL plans a read's statement: the server's statements are all prepared (sqlx
/// keeps them per connection), and `plan_cache_mode` decides whether each execution is planned
/// for its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlanCache {
    /// The session's own setting: for the server, a custom plan on every execution
    /// (`crate::startup::SESSION_SETTINGS`), since the best plan of a search depends on its
    /// values (a tenant with 15% of the rows or with a few hundred, a rare action or a common
    /// one).
    #[default]
    Session,
    /// `force_generic_plan`: planned once per connection without the values, and that plan kept.
    /// Only for lookups by a unique key (an entitlement by its tenant's slug or id and its
    /// product, a tenant by id or slug, an event by id): PostgreSQL estimates at most one row
    /// for them whatever its statistics say, so the generic plan is the index lookup.
    ///
    /// Not for audit pages, not even unfiltered ones: a generic plan is costed for an average
    /// tenant and an unknown `LIMIT`, and can then sort the tenant's rows instead of walking its
    /// time index. Measured on the benchmark's data: a page selecting only columns another
    /// index covers was planned as that index read whole plus a sort, 317 ms for the largest
    /// tenant instead of 0.05 (docs/performance.md).
    Generic,
}

impl PlanCache {
    /// The statement that puts a session into this mode.
    fn statement(self) -> &'static str {
        match self {
            PlanCache::Session => "RESET plan_cache_mode",
            PlanCache::Generic => "SET plan_cache_mode = force_generic_plan",
        }
    }

    /// The `plan_cache_mode` of a session in this mode, given the session's own.
    pub fn setting(self, session: &'static str) -> &'static str {
        match self {
            PlanCache::Session => session,
            PlanCache::Generic => "force_generic_plan",
        }
    }
}

/// Puts `conn` into mode `plans`; false (and a warning) if that failed, when the connection
/// must not be used.
pub(super) async fn switch(conn: &mut PgConnection, plans: PlanCache) -> bool {
    match sqlx::raw_sql(plans.statement()).execute(conn).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, "setting a read connection's plan_cache_mode failed; closing it");
            false
        }
    }
}
