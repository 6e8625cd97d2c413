//! What the shapes are run against, read from the data: the largest and the median tenant,
//! a rare action prefix and a rare metadata value of each, an object whose history is looked
//! up, its scarcest products, and the cursor of page 200.

use anyhow::{Context as _, Result, bail};
use api::audit::cursor::Cursor;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::shapes::{DEEP_PAGE, PAGE};

/// One tenant the shapes are run for.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `tenants.id`.
    pub id: Uuid,
    /// `tenants.slug`.
    pub slug: String,
    /// Its audit events.
    pub events: i64,
    /// A rare action prefix of this tenant (its share of the tenant's rows).
    pub rare_prefix: (String, f64),
    /// A rare metadata containment of this tenant (its share of the tenant's rows).
    pub rare_metadata: (Value, f64),
    /// The target id of the tenant's newest event that has one (S11 searches for it as a
    /// word, S12 for the object's history).
    pub object: String,
    /// The cursor after row `(DEEP_PAGE - 1) × PAGE` in newest-first order, if it has that many.
    pub deep_cursor: Option<Cursor>,
    /// A product it has an entitlement to.
    pub entitled_product: Option<String>,
    /// The two products of the log it has the fewest events of (often none), and how many
    /// events of them it has (S13).
    pub scarce_products: (Vec<String>, i64),
}

/// What the shapes are run against, read from the data.
#[derive(Debug, Clone)]
pub struct Subjects {
    /// The tenant with the most events.
    pub large: Subject,
    /// The tenant with the median number of events.
    pub mid: Subject,
    /// The newest event's time: "the last 24 hours" end here, so that the shapes mean the same
    /// however long ago the data was seeded.
    pub now: DateTime<Utc>,
}

/// The first column of the first row of `sql`, if any.
pub async fn scalar<T: sea_orm::TryGetable>(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Option<T>> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<Option<T>>(0)?,
        None => None,
    })
}

async fn subject(db: &impl ConnectionTrait, id: Uuid, events: i64) -> Result<Subject> {
    let slug: String = scalar(
        db,
        "SELECT slug FROM tenants WHERE id = $1",
        vec![id.into()],
    )
    .await?
    .context("tenant slug")?;
    // "Rare": at least a page of rows, or 0.5% of the tenant's rows if that is fewer (a
    // tenant with 2,700 events has no action family that is both rarer than 1% and a page).
    let enough = (PAGE as i64 + 1).min((events / 200).max(1));
    // The action families (`crm.deal.` of `crm.deal.won`, `user.` of `user.login`) of the
    // tenant, rarest first: the rarest with enough rows is S6's prefix.
    let families = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT f, n FROM (SELECT regexp_replace(action, '[^.]+$', '') AS f, \
             count(*) AS n FROM audit_log WHERE tenant_id = $1 GROUP BY 1) c \
             WHERE n >= $2 AND f <> '' ORDER BY n, f LIMIT 1",
            [id.into(), enough.into()],
        ))
        .await?;
    let rare_prefix = match families.first() {
        Some(row) => {
            let family: String = row.try_get_by_index(0)?;
            let n: i64 = row.try_get_by_index(1)?;
            (family, n as f64 / events.max(1) as f64)
        }
        None => ("none.".to_owned(), 0.0),
    };
    // The rarest top-level metadata value (string or boolean) with enough rows:
    // the kind of containment one searches an audit log for (a model, a stage, a reason).
    let pairs = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT jsonb_build_object(kv.key, kv.value), count(*) AS n \
             FROM audit_log, jsonb_each(metadata) kv \
             WHERE tenant_id = $1 AND jsonb_typeof(kv.value) IN ('string', 'boolean') \
             GROUP BY 1 HAVING count(*) >= $2 ORDER BY n, 1::text LIMIT 1",
            [id.into(), enough.into()],
        ))
        .await?;
    let rare_metadata = match pairs.first() {
        Some(row) => {
            let pair: Value = row.try_get_by_index(0)?;
            let n: i64 = row.try_get_by_index(1)?;
            (pair, n as f64 / events.max(1) as f64)
        }
        None => (json!({ "none": true }), 0.0),
    };
    let object = scalar(
        db,
        "SELECT target_id FROM audit_log WHERE tenant_id = $1 AND target_id IS NOT NULL \
         ORDER BY created_at DESC, id DESC LIMIT 1",
        vec![id.into()],
    )
    .await?
    .unwrap_or_else(|| "none".to_owned());
    let offset = ((DEEP_PAGE - 1) * PAGE) as i64 - 1;
    let deep = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT created_at, id FROM audit_log WHERE tenant_id = $1 \
             ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            [id.into(), offset.into()],
        ))
        .await?;
    let deep_cursor = match deep {
        Some(row) => Some(Cursor {
            created_at: row
                .try_get_by_index::<DateTime<chrono::FixedOffset>>(0)?
                .to_utc(),
            id: row.try_get_by_index(1)?,
        }),
        None => None,
    };
    let entitled_product = scalar(
        db,
        "SELECT product FROM tenant_products WHERE tenant_id = $1 ORDER BY product LIMIT 1",
        vec![id.into()],
    )
    .await?;
    let scarce = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT p, (SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND product = p) AS n \
             FROM (SELECT DISTINCT product AS p FROM audit_log WHERE product IS NOT NULL) ps \
             ORDER BY n, p LIMIT 2",
            [id.into()],
        ))
        .await?;
    let mut scarce_products = (Vec::new(), 0);
    for row in scarce {
        scarce_products.0.push(row.try_get_by_index::<String>(0)?);
        scarce_products.1 += row.try_get_by_index::<i64>(1)?;
    }
    Ok(Subject {
        id,
        slug,
        events,
        rare_prefix,
        rare_metadata,
        object,
        deep_cursor,
        entitled_product,
        scarce_products,
    })
}

/// Picks the large and the median tenant (by events) and reads what the shapes need.
pub async fn subjects(db: &impl ConnectionTrait) -> Result<Subjects> {
    let counts = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT tenant_id, count(*) AS n FROM audit_log WHERE tenant_id IS NOT NULL \
             GROUP BY tenant_id ORDER BY n DESC, tenant_id",
        ))
        .await?;
    if counts.len() < 2 {
        bail!("the audit log needs events of at least two tenants: run `seed bulk` first");
    }
    let at = |i: usize| -> Result<(Uuid, i64)> {
        Ok((
            counts[i].try_get_by_index(0)?,
            counts[i].try_get_by_index(1)?,
        ))
    };
    let (large, large_n) = at(0)?;
    let (mid, mid_n) = at(counts.len() / 2)?;
    let now: DateTime<chrono::FixedOffset> =
        scalar(db, "SELECT max(created_at) FROM audit_log", vec![])
            .await?
            .context("no events")?;
    Ok(Subjects {
        large: subject(db, large, large_n).await?,
        mid: subject(db, mid, mid_n).await?,
        now: now.to_utc(),
    })
}
