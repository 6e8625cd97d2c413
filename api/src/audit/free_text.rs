//! Free-text words of the search language: what they are looked for in, and how.
//!
//! Two ways of matching a word return the same rows at different costs:
//!
//! - **Indexed**: `<free text> ILIKE '%word%'`, which the trigram index `audit_log_text_idx`
//!   serves. Its cost does not depend on the tenant but on how common the word's trigrams are
//!   in the whole log: 0.1 ms for a word nobody has, 20–550 ms for ids such as
//!   `contact_02929`, made of trigrams millions of rows share (benchmark data, 10 M rows).
//! - **Row by row**: `strpos(lower(<free text>), lower(word)) > 0`, which no index serves: the
//!   tenant's events are read newest first until a page is full, about 2.5–4.5 µs an event.
//!
//! PostgreSQL prices the trigram index from its average posting list and takes it for every
//! tenant, so the median tenant (2,667 events) paid 24 ms alone and 177 ms under load for a
//! word it reads row by row in 7 ms. The server therefore matches row by row in a tenant with
//! at most [`ROW_BY_ROW_EVENTS`] events (at most about 30–45 ms for a word it does not have),
//! and leaves the choice to the planner otherwise. A tenant's size is counted up to that bound
//! and remembered for [`SIZE_TTL`] ([`TenantSizes`]): the choice only affects speed, never
//! which rows match, so a size a few minutes old is good enough.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// What a free-text word is looked for in: action, actor id and name, target id and name, and
/// `metadata.description`, each `NULL` as `''`, joined by U+001F (refused in a word, so no word
/// matches across two fields). Written exactly as the expression `audit_log_text_idx` indexes
/// (migration `m20261122_124000_audit_lookup_indexes`), so that the planner can use the index;
/// the plan test checks it does.
pub const FREE_TEXT: &str = "(COALESCE(action, '') || chr(31) || COALESCE(actor_id, '') || \
     chr(31) || COALESCE(actor_name, '') || chr(31) || COALESCE(target_id, '') || chr(31) || \
     COALESCE(target_name, '') || chr(31) || COALESCE(metadata ->> 'description', ''))";

/// The most events a tenant may have for its free-text searches to be matched row by row.
pub const ROW_BY_ROW_EVENTS: i64 = 10_000;

/// How long a counted tenant size is used.
pub const SIZE_TTL: Duration = Duration::from_secs(300);

/// Tenant sizes remembered at most (all forgotten when full).
const MAX_SIZES: usize = 10_000;

/// How free-text words are matched (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextMatch {
    /// `ILIKE` on the indexed expression; the planner may use the trigram index.
    #[default]
    Indexed,
    /// `strpos`, which no index serves: for small tenants.
    RowByRow,
}

impl TextMatch {
    /// The way for a search within one tenant holding `events` events.
    pub fn for_tenant_events(events: i64) -> TextMatch {
        if events <= ROW_BY_ROW_EVENTS {
            TextMatch::RowByRow
        } else {
            TextMatch::Indexed
        }
    }
}

/// Whether the trigram index can serve a search for `text`: `pg_trgm` takes trigrams from runs
/// of letters and digits, and with none of three or more (`ab`, `a.b`, `--`) the index would
/// be read whole (36 s on the benchmark data), so such words are always matched row by row.
fn has_trigram(text: &str) -> bool {
    let mut run = 0;
    text.chars().any(|c| {
        run = if c.is_alphanumeric() { run + 1 } else { 0 };
        run >= 3
    })
}

/// `word` somewhere in the free text, case-insensitively.
pub(super) fn text_expr(word: &str, how: TextMatch) -> SimpleExpr {
    if how == TextMatch::Indexed && has_trigram(word) {
        // The word with `%`, `_` and `\` escaped (`\` is ILIKE's escape character).
        Expr::cust_with_values(
            format!("{FREE_TEXT} ILIKE $1"),
            [format!("%{}%", escape_like(word))],
        )
    } else {
        Expr::cust_with_values(
            format!("strpos(lower({FREE_TEXT}), lower($1)) > 0"),
            [word.to_owned()],
        )
    }
}

/// Whether the trigram index can serve a search for every one of `values`.
pub(super) fn can_look_up(values: &[String]) -> bool {
    values.iter().all(|v| has_trigram(v))
}

/// For a keyed term on a field of the free text (`actor.name:`, `target.name:`,
/// `description:`): the free text holding one of `values`, which each equal field implies, so
/// that the planner may find a rare value through the trigram index rather than by reading
/// the tenant's events or the whole table (`target.name:INV-2026-00049` on the large tenant of
/// the benchmark data: a parallel scan of all 10 M rows, 819 ms; through the index 189 ms).
/// `None` when matching row by row, or when a value has no trigram to look up.
pub(super) fn text_lookup(values: &[String], how: TextMatch) -> Option<SimpleExpr> {
    if how == TextMatch::RowByRow || !can_look_up(values) {
        return None;
    }
    values
        .iter()
        .map(|v| text_expr(v, TextMatch::Indexed))
        .reduce(|a, b| a.or(b))
}

/// Tenants' event counts (up to [`ROW_BY_ROW_EVENTS`] + 1), remembered for [`SIZE_TTL`].
#[derive(Debug, Default)]
pub struct TenantSizes {
    known: Mutex<HashMap<Uuid, (Instant, TextMatch)>>,
}

impl TenantSizes {
    /// How to match free text within `tenant`: counted (one index-only scan of at most
    /// [`ROW_BY_ROW_EVENTS`] + 1 entries) or remembered.
    pub async fn text_match(
        &self,
        db: &impl ConnectionTrait,
        tenant: Uuid,
    ) -> Result<TextMatch, DbErr> {
        if let Some(&(at, how)) = self.lock().get(&tenant)
            && at.elapsed() < SIZE_TTL
        {
            return Ok(how);
        }
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE tenant_id = $1 LIMIT $2) s",
                [tenant.into(), (ROW_BY_ROW_EVENTS + 1).into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("count(*) returned no row".into()))?;
        let how = TextMatch::for_tenant_events(row.try_get_by_index(0)?);
        let mut known = self.lock();
        if known.len() >= MAX_SIZES {
            known.clear();
        }
        known.insert(tenant, (Instant::now(), how));
        Ok(how)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (Instant, TextMatch)>> {
        // A panic while holding the lock cannot leave the map inconsistent (one insert).
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `text` for a `LIKE` pattern, with `%`, `_` and backslashes matched literally.
pub(super) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
