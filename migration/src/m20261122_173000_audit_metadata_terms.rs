//! `audit_metadata_term (tenant_id, term, created_at)`: the metadata of a tenant's events as
//! terms in time order, so that a tenant's newest events containing a metadata value are read
//! newest first and stop at a page (plans in docs/performance.md, "Metadata by term").
//!
//! The GIN index of the second migration finds every event of a tenant whose metadata contains
//! a value, in no particular order: to show the newest 50, PostgreSQL fetches them all and sorts.
//! For the large benchmark tenant's `{"reason": "contract signed"}` that is 2,253 events from
//! 2,247 pages, 12 ms alone and about 50 ms under load. A btree over the terms returns them in
//! time order, so a page reads 51.
//!
//! - A term is one top-level key and one value: a scalar, or a scalar inside an array (what
//!   `{"fields": ["email"]}` asks for). Its number is `audit_metadata_term(key, value)`, a
//!   64-bit hash of `[key, value]` as JSON with numbers in their shortest form (`1.0` and `1`
//!   are equal to `@>`, so they must be one term). Values inside nested objects and arrays of
//!   arrays are not terms; such filters use the GIN index as before.
//! - One row per tenant, term and `created_at` (several events of one instant share it). The
//!   row says: some event of this tenant at this instant has this term. The server looks a term
//!   up with `EXISTS (… m.created_at = audit_log.created_at)` and still checks `metadata @>` on
//!   the event, so a hash collision or a shared instant costs a row read, never a wrong answer.
//!   Being unique on all three columns lets the planner join the term's rows in their order
//!   (a semi-join on a unique inner side becomes a plain join), and keeps the table small.
//! - Kept by statement-level triggers on `audit_log`: after an insert (one `INSERT … SELECT`
//!   per statement, so a 50-event publish pays once) and after an update (a changed metadata
//!   value adds its terms; a term left behind by the old value only costs a row read). Events
//!   without a tenant have no terms. Deleting a tenant deletes its terms.
//! - Existing events are added tenant by tenant, in batches of about [`BATCH`] events, with
//!   progress on standard error, after the triggers exist: `CREATE TRIGGER` waits for
//!   transactions writing `audit_log` to end, so every event is either committed before a batch
//!   reads it or inserted under the trigger. Each step can run again (`IF NOT EXISTS`,
//!   `OR REPLACE`, `ON CONFLICT DO NOTHING`), so the migration runs outside a transaction and
//!   products keep publishing meanwhile; an interrupted run is simply run again. 10 M events
//!   took 4 min 40 s on the benchmark machine. Then `VACUUM ANALYZE` of the table.
//! - The functions are not `STRICT`: PostgreSQL does not inline a strict SQL function into
//!   the statement that calls it, and a call per event was six times slower.
//!
//! The functions must never change once terms are stored: a new hash would miss every stored
//! term. A later change means a new function and a new table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Events added per statement while filling the table (whole tenants: a larger tenant makes a
/// larger batch).
const BATCH: i64 = 200_000;

#[derive(DeriveIden)]
enum AuditMetadataTerm {
    Table,
    TenantId,
    Term,
    CreatedAt,
}

/// The term of one top-level key and one scalar value.
const TERM_FUNCTION: &str = "\
CREATE OR REPLACE FUNCTION audit_metadata_term(key text, value jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtextextended(jsonb_build_array(key, CASE WHEN jsonb_typeof(value) = 'number'
    THEN to_jsonb(trim_scale(value::numeric)) ELSE value END)::text, 0)
$$";

/// Every term of an event's metadata (none unless it is an object). The hash is
/// `audit_metadata_term`'s, written out: PostgreSQL inlines this function into the statement
/// that calls it, but not the other one inside it, and a call per term doubled the time the
/// triggers take (`tests/integration/api/metadata_terms.rs` checks that the two agree).
const TERMS_FUNCTION: &str = "\
CREATE OR REPLACE FUNCTION audit_metadata_terms(metadata jsonb) RETURNS SETOF bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtextextended(jsonb_build_array(e.key, CASE WHEN jsonb_typeof(v.value) = 'number'
    THEN to_jsonb(trim_scale(v.value::numeric)) ELSE v.value END)::text, 0)
  FROM jsonb_each(CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata END) e
  CROSS JOIN LATERAL (
    SELECT e.value WHERE jsonb_typeof(e.value) NOT IN ('object', 'array')
    UNION ALL
    SELECT a FROM jsonb_array_elements(
      CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value END) a
    WHERE jsonb_typeof(a) NOT IN ('object', 'array')
  ) v(value)
$$";

/// The terms of the rows a statement inserted or updated, in the primary key's order: two
/// statements writing some of the same terms (one tenant's events of one instant) then wait
/// for each other at most once. In the events' order each could wait on a term the other
/// wrote first, and one would fail with a deadlock.
const ADD_FUNCTION: &str = "\
CREATE OR REPLACE FUNCTION audit_metadata_terms_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_metadata_term (tenant_id, term, created_at)
  SELECT r.tenant_id, t.term, r.created_at
  FROM audit_rows r CROSS JOIN LATERAL audit_metadata_terms(r.metadata) t(term)
  WHERE r.tenant_id IS NOT NULL
  ORDER BY 1, 2, 3
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$";

const FORGET_FUNCTION: &str = "\
CREATE OR REPLACE FUNCTION audit_metadata_terms_forget_tenant() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM audit_metadata_term WHERE tenant_id = OLD.id;
  RETURN NULL;
END
$$";

const TRIGGERS: [&str; 3] = [
    "CREATE OR REPLACE TRIGGER audit_log_metadata_terms_insert AFTER INSERT ON audit_log \
     REFERENCING NEW TABLE AS audit_rows FOR EACH STATEMENT \
     EXECUTE FUNCTION audit_metadata_terms_add()",
    "CREATE OR REPLACE TRIGGER audit_log_metadata_terms_update AFTER UPDATE ON audit_log \
     REFERENCING NEW TABLE AS audit_rows FOR EACH STATEMENT \
     EXECUTE FUNCTION audit_metadata_terms_add()",
    "CREATE OR REPLACE TRIGGER tenants_forget_audit_metadata_terms AFTER DELETE ON tenants \
     FOR EACH ROW EXECUTE FUNCTION audit_metadata_terms_forget_tenant()",
];

/// The events of the tenants `{tenants}` (a list of ids), in the primary key's order, so that
/// the index is written page after page rather than all over. The ids are written into the
/// text (they are PostgreSQL's own `uuid::text`) rather than passed as parameters, so that no
/// batch runs a generic plan made for another batch's tenants (after five executions a
/// prepared statement may keep one): one batch is a single large tenant, the next dozens of
/// small ones.
const FILL: &str = "\
INSERT INTO audit_metadata_term (tenant_id, term, created_at)
SELECT a.tenant_id, t.term, a.created_at
FROM audit_log a CROSS JOIN LATERAL audit_metadata_terms(a.metadata) t(term)
WHERE a.tenant_id IN ({tenants})
ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING";

const DOWN: &str = "\
DROP TRIGGER IF EXISTS tenants_forget_audit_metadata_terms ON tenants;
DROP TRIGGER IF EXISTS audit_log_metadata_terms_update ON audit_log;
DROP TRIGGER IF EXISTS audit_log_metadata_terms_insert ON audit_log;
DROP FUNCTION IF EXISTS audit_metadata_terms_forget_tenant();
DROP FUNCTION IF EXISTS audit_metadata_terms_add();
DROP TABLE IF EXISTS audit_metadata_term;
DROP FUNCTION IF EXISTS audit_metadata_terms(jsonb);
DROP FUNCTION IF EXISTS audit_metadata_term(text, jsonb);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // Filling the table from millions of events must not hold up publishing.
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(TERM_FUNCTION).await?;
        db.execute_unprepared(TERMS_FUNCTION).await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditMetadataTerm::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AuditMetadataTerm::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditMetadataTerm::Term)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditMetadataTerm::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .name("audit_metadata_term_pkey")
                            .col(AuditMetadataTerm::TenantId)
                            .col(AuditMetadataTerm::Term)
                            .col(AuditMetadataTerm::CreatedAt),
                    )
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(ADD_FUNCTION).await?;
        db.execute_unprepared(FORGET_FUNCTION).await?;
        for trigger in TRIGGERS {
            db.execute_unprepared(trigger).await?;
        }
        fill(db).await?;
        // VACUUM sets the visibility map, so that its rows are read from the index alone.
        db.execute_unprepared("VACUUM ANALYZE audit_metadata_term")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}

/// Adds the terms of the events that existed before the triggers, tenant by tenant in
/// batches of about [`BATCH`] events.
async fn fill(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let tenants = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT tenant_id::text AS tenant, count(*) AS events FROM audit_log \
             WHERE tenant_id IS NOT NULL GROUP BY tenant_id ORDER BY tenant_id",
        ))
        .await?;
    // (the tenants' ids as SQL literals, their events)
    let mut batches: Vec<(Vec<String>, i64)> = Vec::new();
    for row in &tenants {
        let tenant = format!("'{}'", row.try_get::<String>("", "tenant")?);
        let events: i64 = row.try_get("", "events")?;
        match batches.last_mut() {
            Some((ids, n)) if *n < BATCH => {
                ids.push(tenant);
                *n += events;
            }
            _ => batches.push((vec![tenant], events)),
        }
    }
    let total: i64 = batches.iter().map(|b| b.1).sum();
    let mut done = 0;
    for (i, (tenants, events)) in batches.iter().enumerate() {
        db.execute_unprepared(&FILL.replace("{tenants}", &tenants.join(", ")))
            .await?;
        done += events;
        if batches.len() > 1 {
            eprintln!(
                "audit_metadata_term: metadata of {done} of {total} events added ({}/{})",
                i + 1,
                batches.len()
            );
        }
    }
    Ok(())
}
