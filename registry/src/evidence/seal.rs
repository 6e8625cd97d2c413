//! The sealer: appends committed audit events to the Merkle tree and signs a checkpoint, one
//! batch per transaction, one sealer at a time across processes.
//!
//! A pass takes a transaction-scoped advisory lock (another process sealing: the pass does
//! nothing), reads the tree's size and right edge (the complete subtrees along it, at most 64
//! hashes), and seals, in this order: events that appeared in a gap (ids below the highest
//! sealed that were not visible when the sealer passed them: their transactions were still
//! open), then events above the highest sealed, in id order, noting the ids it skips as a new
//! gap. It writes the leaves (with the tenant and project they were written with), every
//! complete subtree the batch finishes, and a checkpoint of the new size and root signed with
//! the log's key, and commits. A pass stopped midway (a killed process, a lost connection)
//! rolls back whole; the next one starts from the last commit.
//!
//! Publishing is untouched: the sealer reads committed rows afterwards, on its own connection.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};

use super::leaf::{LEAF_COLUMNS, Leaf};
use super::merkle::{Hash, node_hash};
use super::signing::{Checkpoint, LogKey};
use crate::Db;
use crate::error::ApiError;

/// The advisory lock the sealer holds for a pass (`pg_try_advisory_xact_lock`).
pub const SEAL_LOCK: i64 = 0x7365_616c_6572; // "sealer"

/// How long a gap is watched for a late event before it is given up (an id taken by a
/// transaction that rolled back never appears).
pub const GAP_WATCH: &str = "1 day";

/// The server's sealer: how often it passes, with which key, in batches of how many.
#[derive(Debug, Clone)]
pub struct SealSettings {
    /// How often it passes (none: no sealing).
    pub every: Option<Duration>,
    /// The key that signs checkpoints (also served at `/.well-known/audit-log-key`).
    pub key: Option<std::sync::Arc<LogKey>>,
    /// Events per batch (and checkpoint).
    pub batch: u64,
    /// The last checkpoint this server signed, kept outside the database.
    pub witness: std::sync::Arc<Witness>,
}

impl Default for SealSettings {
    /// No sealing.
    fn default() -> SealSettings {
        SealSettings {
            every: None,
            key: None,
            batch: 10_000,
            witness: std::sync::Arc::new(Witness::in_memory()),
        }
    }
}

/// The last checkpoint the sealer signed, kept where the database cannot change it: in the
/// process, and in a file when one is given (`--seal-witness`, by default beside the signing
/// key). Before a pass appends anything it checks that the stored tree still extends that
/// checkpoint (its size not smaller, its root at that size the same): someone with database
/// access alone who deleted the newest checkpoints and leaves and changed the rows beneath them
/// would otherwise have the sealer sign their version. A pass that finds the log rewritten
/// seals nothing and says so, every time, until an operator looks (docs/evidence.md).
///
/// The file holds the checkpoint's signed note (five lines); it is trusted on first use: a
/// server without one takes the database's log as it finds it.
#[derive(Debug, Default)]
pub struct Witness {
    file: Option<std::path::PathBuf>,
    last: std::sync::Mutex<Option<(u64, Hash)>>,
}

impl Witness {
    /// Kept in the process only (tests, dev mode).
    pub fn in_memory() -> Witness {
        Witness::default()
    }

    /// Kept in the file `path` too, read now if it exists.
    pub fn file(path: &std::path::Path) -> Result<Witness, String> {
        let last = match std::fs::read_to_string(path) {
            Ok(text) => Some(parse_note(&text).ok_or_else(|| {
                format!(
                    "{}: not a checkpoint's note (size and root on its second and third lines)",
                    path.display()
                )
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(Witness {
            file: Some(path.to_owned()),
            last: std::sync::Mutex::new(last),
        })
    }

    /// The last checkpoint signed (size and root), if any.
    pub fn last(&self) -> Option<(u64, Hash)> {
        self.last.lock().ok().and_then(|l| *l)
    }

    /// Notes `checkpoint` as the last signed (in the file: written beside it, then renamed).
    fn record(&self, checkpoint: &Checkpoint) -> Result<(), ApiError> {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((checkpoint.size, checkpoint.root));
        }
        if let Some(path) = &self.file {
            let temporary = path.with_extension("checkpoint-new");
            std::fs::write(&temporary, checkpoint.note())
                .and_then(|()| std::fs::rename(&temporary, path))
                .map_err(|e| {
                    ApiError::internal(format!("writing the seal witness {}: {e}", path.display()))
                })?;
        }
        Ok(())
    }

    /// `CONFLICT` unless the stored tree of `size` leaves, whose latest checkpoint has size
    /// `checkpointed`, extends the last checkpoint signed.
    async fn check(
        &self,
        db: &impl ConnectionTrait,
        size: u64,
        checkpointed: u64,
    ) -> Result<(), ApiError> {
        let Some((signed, root)) = self.last() else {
            return Ok(());
        };
        let rewritten = |what: String| ApiError::Conflict {
            field: None,
            message: format!(
                "the audit log in the database does not extend the last checkpoint this server \
                 signed (size {signed}, root {}): {what}. Someone changed the sealed log; \
                 sealing is stopped until an operator runs `api verify-log` and decides (see \
                 docs/evidence.md, \"The sealer's witness\")",
                super::merkle::hex(&root)
            ),
        };
        if checkpointed < signed || size < signed {
            return Err(rewritten(format!(
                "its latest checkpoint is of size {checkpointed} and its tree has {size} leaves"
            )));
        }
        if super::proofs::stored_root(db, signed).await? != root {
            return Err(rewritten(format!(
                "its tree of the first {signed} leaves has another root"
            )));
        }
        Ok(())
    }
}

/// Size and root from a checkpoint's note (the sealer's witness file, a checkpoint's `note`).
pub fn parse_note(text: &str) -> Option<(u64, Hash)> {
    let mut lines = text.lines();
    if lines.next()? != super::signing::LOG_NAME {
        return None;
    }
    let size = lines.next()?.parse().ok()?;
    let root = super::merkle::unhex_hash(lines.next()?)?;
    Some((size, root))
}

/// What a pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Another process holds the sealer's lock.
    Busy,
    /// Nothing new to seal.
    Idle,
    /// A batch was sealed.
    Sealed {
        /// Leaves appended.
        leaves: u64,
        /// The new tree size (the checkpoint's).
        size: u64,
        /// Of the leaves, events that had been in a gap.
        late: u64,
    },
}

/// One pass of at most `batch` events on `db` (see the module's documentation), with a
/// witness of this call's own (tests, tools).
pub async fn run_once(db: &impl Db, key: &LogKey, batch: u64) -> Result<Pass, ApiError> {
    run_once_witnessed(db, key, batch, &Witness::in_memory()).await
}

/// One pass that first checks the stored log extends the last checkpoint `witness` saw, and
/// notes its own checkpoint there.
pub async fn run_once_witnessed(
    db: &impl Db,
    key: &LogKey,
    batch: u64,
    witness: &Witness,
) -> Result<Pass, ApiError> {
    let txn = db.begin().await?;
    let locked: bool = one(
        &txn,
        "SELECT pg_try_advisory_xact_lock($1)",
        [SEAL_LOCK.into()],
    )
    .await?
    .try_get_by_index(0)?;
    if !locked {
        return Ok(Pass::Busy);
    }
    let edge = one(
        &txn,
        "SELECT coalesce(max(leaf_index) + 1, 0), coalesce(max(event_id), 0) FROM audit_seal_leaf",
        [],
    )
    .await?;
    let (size, high): (i64, i64) = (edge.try_get_by_index(0)?, edge.try_get_by_index(1)?);
    let limit = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
    let late = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            // Driven by the gaps (few), each an index range of audit_log: never a walk of
            // the log, whatever the planner estimates for an empty gap table.
            format!(
                "SELECT {LEAF_COLUMNS} FROM audit_seal_gap g \
                 CROSS JOIN LATERAL (SELECT * FROM audit_log a \
                     WHERE a.id BETWEEN g.first_id AND g.last_id \
                     AND NOT EXISTS (SELECT 1 FROM audit_seal_leaf l WHERE l.event_id = a.id) \
                     ORDER BY a.id LIMIT $1) a \
                 ORDER BY a.id LIMIT $1"
            ),
            [limit.into()],
        ))
        .await?;
    let fresh = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {LEAF_COLUMNS} FROM audit_log a WHERE a.id > $1 ORDER BY a.id LIMIT $2"
            ),
            [high.into(), (limit - late.len() as i64).max(0).into()],
        ))
        .await?;
    if late.is_empty() && fresh.is_empty() {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("DELETE FROM audit_seal_gap WHERE noted_at < now() - interval '{GAP_WATCH}'"),
        ))
        .await?;
        txn.commit().await?;
        return Ok(Pass::Idle);
    }
    let checkpointed: i64 = one(
        &txn,
        "SELECT coalesce(max(size), 0) FROM audit_checkpoint",
        [],
    )
    .await?
    .try_get_by_index(0)?;
    if let Err(refused) = witness
        .check(
            &txn,
            u64::try_from(size).map_err(ApiError::internal)?,
            u64::try_from(checkpointed).map_err(ApiError::internal)?,
        )
        .await
    {
        // Now, not when the dropped transaction's connection is next used: until then it
        // holds the sealer's lock, and the next pass would find it busy.
        txn.rollback().await?;
        return Err(refused);
    }
    let late_count = late.len() as u64;
    let mut leaves = Vec::with_capacity(late.len() + fresh.len());
    for row in late.iter().chain(&fresh) {
        leaves.push(leaf_of(row)?);
    }
    // Ids skipped among the fresh events: gaps to watch.
    let mut gaps = Vec::new();
    let mut previous = high;
    for leaf in &leaves[late.len()..] {
        if leaf.id > previous + 1 {
            gaps.push((previous + 1, leaf.id - 1));
        }
        previous = leaf.id;
    }

    let size = u64::try_from(size).map_err(ApiError::internal)?;
    let mut frontier = right_edge_of(&txn, size).await?;
    let mut nodes: Vec<(i16, i64, Hash)> = Vec::new();
    let (mut indexes, mut ids, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tenants, mut projects): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for (offset, leaf) in leaves.iter().enumerate() {
        let index = size + offset as u64;
        let hash = leaf.hash();
        append(&mut frontier, index, hash, &mut nodes);
        indexes.push(index as i64);
        ids.push(leaf.id);
        // Arrays of optional UUIDs travel as text, '' for none.
        tenants.push(leaf.tenant_id.map(|t| t.to_string()).unwrap_or_default());
        projects.push(leaf.project_id.map(|p| p.to_string()).unwrap_or_default());
        hashes.push(hash.to_vec());
    }
    let new_size = size + leaves.len() as u64;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO audit_seal_leaf (leaf_index, event_id, tenant_id, project_id, leaf_hash) \
         SELECT i, e, nullif(t, '')::uuid, nullif(p, '')::uuid, h \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bytea[]) \
         AS u (i, e, t, p, h)",
        [
            indexes.into(),
            ids.into(),
            tenants.into(),
            projects.into(),
            hashes.into(),
        ],
    ))
    .await?;
    if !nodes.is_empty() {
        let (levels, idxs, node_hashes): (Vec<i16>, Vec<i64>, Vec<Vec<u8>>) =
            nodes.iter().map(|(l, i, h)| (*l, *i, h.to_vec())).fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |mut acc, (l, i, h)| {
                    acc.0.push(l);
                    acc.1.push(i);
                    acc.2.push(h);
                    acc
                },
            );
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_seal_node (level, idx, hash) \
             SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
            [levels.into(), idxs.into(), node_hashes.into()],
        ))
        .await?;
    }
    for (first, last) in gaps {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_seal_gap (first_id, last_id) VALUES ($1, $2)",
            [first.into(), last.into()],
        ))
        .await?;
    }
    let checkpoint = Checkpoint {
        size: new_size,
        root: root_of(&frontier),
        signed_at: micros(Utc::now()),
        // Every batch ends with a checkpoint, so the one before is at the old size.
        previous: size,
    };
    let signature = key.sign(&checkpoint);
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO audit_checkpoint (size, previous_size, root, signed_at, signature, \
         public_key) VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (new_size as i64).into(),
            (size as i64).into(),
            checkpoint.root.to_vec().into(),
            checkpoint.signed_at.into(),
            signature.to_vec().into(),
            key.public_bytes().to_vec().into(),
        ],
    ))
    .await?;
    txn.commit().await?;
    witness.record(&checkpoint)?;
    Ok(Pass::Sealed {
        leaves: leaves.len() as u64,
        size: new_size,
        late: late_count,
    })
}

/// Marks the leaves of the events of `tenants` as pruned for `reason` (`demo.reset`), before
/// those events are deleted on purpose in the same transaction: the tree keeps their hashes and
/// the verifier counts them as pruned, not as rows deleted behind the log's back. The deletion
/// itself is recorded by the caller's own audit event, which is sealed like any other.
pub async fn mark_pruned(
    db: &impl ConnectionTrait,
    tenants: &[uuid::Uuid],
    reason: &str,
) -> Result<u64, sea_orm::DbErr> {
    if tenants.is_empty() {
        return Ok(0);
    }
    let done = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE audit_seal_leaf l SET pruned_at = now(), pruned_reason = $2 \
             FROM audit_log a WHERE a.id = l.event_id AND a.tenant_id = ANY($1) \
             AND l.pruned_at IS NULL",
            [tenants.to_vec().into(), reason.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// Passes until nothing is left (or another process seals), with a witness of this call's own.
pub async fn seal_all(db: &impl Db, key: &LogKey, batch: u64) -> Result<u64, ApiError> {
    seal_all_witnessed(db, key, batch, &Witness::in_memory()).await
}

/// Passes until nothing is left (or another process seals), each checked against `witness`:
/// the server's sealer's tick.
pub async fn seal_all_witnessed(
    db: &impl Db,
    key: &LogKey,
    batch: u64,
    witness: &Witness,
) -> Result<u64, ApiError> {
    let mut sealed = 0;
    loop {
        match run_once_witnessed(db, key, batch, witness).await? {
            Pass::Sealed { leaves, .. } => sealed += leaves,
            Pass::Busy | Pass::Idle => return Ok(sealed),
        }
    }
}

/// `t` at the microsecond precision PostgreSQL stores.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

async fn one<const N: usize>(
    db: &impl ConnectionTrait,
    sql: &str,
    values: [sea_orm::Value; N],
) -> Result<QueryResult, ApiError> {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?
    .ok_or_else(|| ApiError::internal(format!("no row from {sql}")))
}

/// A row of [`LEAF_COLUMNS`] as a leaf.
pub fn leaf_of(row: &QueryResult) -> Result<Leaf, sea_orm::DbErr> {
    leaf_of_at(row, 0)
}

/// A row holding [`LEAF_COLUMNS`] from column `at` on, as a leaf.
pub fn leaf_of_at(row: &QueryResult, at: usize) -> Result<Leaf, sea_orm::DbErr> {
    Ok(Leaf {
        id: row.try_get_by_index(at)?,
        created_at_micros: row.try_get_by_index(at + 1)?,
        tenant_id: row.try_get_by_index(at + 2)?,
        project_id: row.try_get_by_index(at + 3)?,
        product: row.try_get_by_index(at + 4)?,
        actor_id: row.try_get_by_index(at + 5)?,
        actor_type: row.try_get_by_index(at + 6)?,
        actor_name: row.try_get_by_index(at + 7)?,
        action: row.try_get_by_index(at + 8)?,
        target_type: row.try_get_by_index(at + 9)?,
        target_id: row.try_get_by_index(at + 10)?,
        target_name: row.try_get_by_index(at + 11)?,
        metadata: row.try_get_by_index(at + 12)?,
        source_ip: row.try_get_by_index(at + 13)?,
        user_agent: row.try_get_by_index(at + 14)?,
        recorded_by: row.try_get_by_index(at + 15)?,
        recorded_by_name: row.try_get_by_index(at + 16)?,
    })
}

/// The complete subtrees along the right edge of a tree of `size` leaves, by level: the
/// subtree at level `l` is present when bit `l` of `size` is set.
pub(crate) async fn right_edge_of(
    db: &impl ConnectionTrait,
    size: u64,
) -> Result<Vec<Option<Hash>>, ApiError> {
    let mut frontier = vec![None; 64];
    for level in 0..64u32 {
        if (size >> level) & 1 == 0 {
            continue;
        }
        let index = ((size >> level) - 1) as i64;
        let row = if level == 0 {
            one(
                db,
                "SELECT leaf_hash FROM audit_seal_leaf WHERE leaf_index = $1",
                [index.into()],
            )
            .await?
        } else {
            one(
                db,
                "SELECT hash FROM audit_seal_node WHERE level = $1 AND idx = $2",
                [(level as i16).into(), index.into()],
            )
            .await?
        };
        let bytes: Vec<u8> = row.try_get_by_index(0)?;
        frontier[level as usize] =
            Some(<Hash>::try_from(bytes.as_slice()).map_err(ApiError::internal)?);
    }
    Ok(frontier)
}

/// Appends leaf `index` (`hash`) to the right edge, noting every subtree it completes.
pub(crate) fn append(
    frontier: &mut [Option<Hash>],
    index: u64,
    hash: Hash,
    nodes: &mut Vec<(i16, i64, Hash)>,
) {
    let (mut current, mut level, mut at) = (hash, 0usize, index);
    while at & 1 == 1 {
        let left = frontier[level].take().unwrap_or(current);
        current = node_hash(&left, &current);
        level += 1;
        at >>= 1;
        nodes.push((level as i16, at as i64, current));
    }
    frontier[level] = Some(current);
}

/// The root of the tree whose right edge is `frontier` (RFC 9162: the largest complete
/// subtree on the left, the rest on the right).
pub(crate) fn root_of(frontier: &[Option<Hash>]) -> Hash {
    let mut root: Option<Hash> = None;
    for subtree in frontier.iter().flatten() {
        root = Some(match root {
            None => *subtree,
            Some(right) => node_hash(subtree, &right),
        });
    }
    root.unwrap_or_else(super::merkle::empty_root)
}
