//! Proofs from the stored tree: an event's seal (its leaf, the latest checkpoint, and the
//! inclusion proof against it), checkpoints, and consistency proofs between two sizes.
//!
//! The RFC's recursions ask for the same subtrees whatever their hashes are, so a proof is
//! made in two steps: a first run of [`super::merkle`] over a store that only notes which
//! subtrees it is asked for, then one read of those (at most two statements: leaves, and
//! subtrees of level 1 and up), then the run over what was read.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};

use super::merkle::{self, Hash, ProofError, Subtrees};
use super::signing::Checkpoint;
use crate::error::ApiError;

/// A checkpoint as stored: the tree head, its signature and the public key that made it.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    /// Size, root and time.
    pub checkpoint: Checkpoint,
    /// The Ed25519 signature of [`Checkpoint::note`].
    pub signature: Vec<u8>,
    /// The signing key's public half.
    pub public_key: Vec<u8>,
}

/// An event's place in the tree, proven against the latest checkpoint.
#[derive(Debug, Clone)]
pub struct Seal {
    /// The leaf's index (its position in the tree).
    pub leaf_index: u64,
    /// The tree's hash of the leaf.
    pub leaf_hash: Hash,
    /// The checkpoint the proof leads to.
    pub checkpoint: StoredCheckpoint,
    /// The inclusion proof, from the leaf's sibling up.
    pub inclusion: Vec<Hash>,
}

/// The columns [`checkpoint_of`] reads.
pub const CHECKPOINT_COLUMNS: &str = "size, root, signed_at, signature, public_key, previous_size";

/// A row of [`CHECKPOINT_COLUMNS`].
pub fn checkpoint_of(row: &QueryResult) -> Result<StoredCheckpoint, ApiError> {
    let size: i64 = row.try_get_by_index(0)?;
    let previous: i64 = row.try_get_by_index(5)?;
    let root: Vec<u8> = row.try_get_by_index(1)?;
    let signed_at: DateTime<Utc> = row.try_get_by_index(2)?;
    Ok(StoredCheckpoint {
        checkpoint: Checkpoint {
            size: u64::try_from(size).map_err(ApiError::internal)?,
            root: hash(&root)?,
            signed_at,
            previous: u64::try_from(previous).map_err(ApiError::internal)?,
        },
        signature: row.try_get_by_index(3)?,
        public_key: row.try_get_by_index(4)?,
    })
}

fn hash(bytes: &[u8]) -> Result<Hash, ApiError> {
    Hash::try_from(bytes).map_err(|_| ApiError::internal("a stored hash is not 32 bytes"))
}

/// The checkpoint of `size`, or the latest when `size` is `None`.
pub async fn checkpoint(
    db: &impl ConnectionTrait,
    size: Option<u64>,
) -> Result<Option<StoredCheckpoint>, ApiError> {
    let statement = match size {
        Some(size) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoint WHERE size = $1"),
            [i64::try_from(size).unwrap_or(i64::MAX).into()],
        ),
        None => Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoint ORDER BY size DESC LIMIT 1"),
        ),
    };
    db.query_one_raw(statement)
        .await?
        .as_ref()
        .map(checkpoint_of)
        .transpose()
}

/// The seal of the event `event_id`, or `None` while it is not sealed.
pub async fn seal_of(db: &impl ConnectionTrait, event_id: i64) -> Result<Option<Seal>, ApiError> {
    let Some(leaf) = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT leaf_index, leaf_hash FROM audit_seal_leaf WHERE event_id = $1",
            [event_id.into()],
        ))
        .await?
    else {
        return Ok(None);
    };
    let (index, leaf_hash): (i64, Vec<u8>) = (leaf.try_get_by_index(0)?, leaf.try_get_by_index(1)?);
    let index = u64::try_from(index).map_err(ApiError::internal)?;
    let Some(checkpoint) = checkpoint(db, None).await? else {
        return Ok(None);
    };
    let size = checkpoint.checkpoint.size;
    let inclusion = prove(db, |store| merkle::inclusion_proof(&store, index, size)).await?;
    Ok(Some(Seal {
        leaf_index: index,
        leaf_hash: hash(&leaf_hash)?,
        checkpoint,
        inclusion,
    }))
}

/// The seals of the events `ids` that are sealed, by event id: one read of their leaves, one of
/// the latest checkpoint, one of every subtree their proofs need (a page's seals).
pub async fn seals_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, Seal>, ApiError> {
    let mut seals = HashMap::new();
    if ids.is_empty() {
        return Ok(seals);
    }
    let Some(checkpoint) = checkpoint(db, None).await? else {
        return Ok(seals);
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT event_id, leaf_index, leaf_hash FROM audit_seal_leaf WHERE event_id = ANY($1)",
            [ids.to_vec().into()],
        ))
        .await?;
    let size = checkpoint.checkpoint.size;
    let mut leaves = Vec::with_capacity(rows.len());
    for row in rows {
        let (event, index, leaf_hash): (i64, i64, Vec<u8>) = (
            row.try_get_by_index(0)?,
            row.try_get_by_index(1)?,
            row.try_get_by_index(2)?,
        );
        let index = u64::try_from(index).map_err(ApiError::internal)?;
        if index < size {
            leaves.push((event, index, hash(&leaf_hash)?));
        }
    }
    let noted = Noting::default();
    for (_, index, _) in &leaves {
        merkle::inclusion_proof(&(&noted as &dyn DynStore), *index, size).map_err(refused)?;
    }
    let read = Read::fetch(db, &noted.0.into_inner()).await?;
    for (event, index, leaf_hash) in leaves {
        let inclusion =
            merkle::inclusion_proof(&(&read as &dyn DynStore), index, size).map_err(refused)?;
        seals.insert(
            event,
            Seal {
                leaf_index: index,
                leaf_hash,
                checkpoint: checkpoint.clone(),
                inclusion,
            },
        );
    }
    Ok(seals)
}

/// The consistency proof from the tree of `from` leaves to that of `to` leaves, both at most
/// the latest checkpoint's size. `BAD_USER_INPUT` for sizes that make no proof.
pub async fn consistency(
    db: &impl ConnectionTrait,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, ApiError> {
    let latest = checkpoint(db, None).await?.map_or(0, |c| c.checkpoint.size);
    if from == 0 || from > to || to > latest {
        return Err(ApiError::bad_input(
            "from",
            format!(
                "a consistency proof is between two sizes with 1 <= from <= to <= {latest}, the \
                 latest checkpoint's size"
            ),
        ));
    }
    prove(db, |store| merkle::consistency_proof(&store, from, to)).await
}

/// The root of the stored tree of its first `size` leaves (from the stored subtrees: O(log n)
/// reads), as the sealer's witness and `verify-log --from-checkpoint` compare it.
pub async fn stored_root(db: &impl ConnectionTrait, size: u64) -> Result<Hash, ApiError> {
    let found = prove(db, |store| {
        merkle::root(&store, size)
            .map(|root| vec![root])
            .map_err(ProofError::Store)
    })
    .await?;
    found
        .first()
        .copied()
        .ok_or_else(|| ApiError::internal("no root from the stored tree"))
}

/// Runs `proof` twice: over a store noting what it is asked for, then over those subtrees as
/// read from the database.
pub(crate) async fn prove<F>(db: &impl ConnectionTrait, proof: F) -> Result<Vec<Hash>, ApiError>
where
    F: Fn(&dyn DynStore) -> Result<Vec<Hash>, ProofError<Missing>>,
{
    let noted = Noting::default();
    proof(&noted).map_err(refused)?;
    let wanted = noted.0.into_inner();
    let read = Read::fetch(db, &wanted).await?;
    proof(&read).map_err(refused)
}

fn refused(e: ProofError<Missing>) -> ApiError {
    match e {
        ProofError::Range(why) => ApiError::bad_input("size", why),
        ProofError::Store(Missing(level, index)) => ApiError::internal(format!(
            "the tree has no subtree at level {level}, index {index}"
        )),
    }
}

/// A subtree the database did not have.
#[derive(Debug)]
pub struct Missing(u32, u64);

/// The stores a proof runs over.
pub trait DynStore {
    /// As [`Subtrees::perfect`].
    fn get(&self, level: u32, index: u64) -> Result<Hash, Missing>;
}

impl Subtrees for &dyn DynStore {
    type Error = Missing;

    fn perfect(&self, level: u32, index: u64) -> Result<Hash, Missing> {
        self.get(level, index)
    }
}

#[derive(Default)]
struct Noting(RefCell<Vec<(u32, u64)>>);

impl DynStore for Noting {
    fn get(&self, level: u32, index: u64) -> Result<Hash, Missing> {
        self.0.borrow_mut().push((level, index));
        Ok([0; 32])
    }
}

struct Read(HashMap<(u32, u64), Hash>);

impl DynStore for Read {
    fn get(&self, level: u32, index: u64) -> Result<Hash, Missing> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or(Missing(level, index))
    }
}

/// A run of wanted subtrees of one level this dense or denser (wanted ones per index of its
/// span) is read as a range of the index, in one scan, rather than looked up one by one: an
/// export's proof wants millions of hashes close together, a seal's a few far apart.
const RANGE_DENSITY: u64 = 2;

impl Read {
    async fn fetch(db: &impl ConnectionTrait, wanted: &[(u32, u64)]) -> Result<Read, ApiError> {
        let mut wanted = wanted.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = HashMap::with_capacity(wanted.len());
        let (mut lookups, mut lookup_levels): (Vec<i64>, Vec<i16>) = (Vec::new(), Vec::new());
        for level_run in wanted.chunk_by(|a, b| a.0 == b.0) {
            let level = level_run[0].0;
            let (first, last) = (level_run[0].1, level_run[level_run.len() - 1].1);
            let span = last - first + 1;
            if span > RANGE_DENSITY * level_run.len() as u64 {
                for (_, index) in level_run {
                    lookups.push(*index as i64);
                    lookup_levels.push(level as i16);
                }
                continue;
            }
            let statement = if level == 0 {
                Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT 0::smallint, leaf_index, leaf_hash FROM audit_seal_leaf \
                     WHERE leaf_index BETWEEN $1 AND $2",
                    [(first as i64).into(), (last as i64).into()],
                )
            } else {
                Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT level, idx, hash FROM audit_seal_node \
                     WHERE level = $1 AND idx BETWEEN $2 AND $3",
                    [
                        (level as i16).into(),
                        (first as i64).into(),
                        (last as i64).into(),
                    ],
                )
            };
            let keep: std::collections::HashSet<u64> = level_run.iter().map(|w| w.1).collect();
            for row in db.query_all_raw(statement).await? {
                let (index, bytes): (i64, Vec<u8>) =
                    (row.try_get_by_index(1)?, row.try_get_by_index(2)?);
                if keep.contains(&(index as u64)) {
                    found.insert((level, index as u64), hash(&bytes)?);
                }
            }
        }
        let leaves: Vec<i64> = lookups
            .iter()
            .zip(&lookup_levels)
            .filter(|(_, level)| **level == 0)
            .map(|(index, _)| *index)
            .collect();
        if !leaves.is_empty() {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT leaf_index, leaf_hash FROM audit_seal_leaf WHERE leaf_index = ANY($1)",
                    [leaves.into()],
                ))
                .await?;
            for row in rows {
                let (index, bytes): (i64, Vec<u8>) =
                    (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
                found.insert((0, index as u64), hash(&bytes)?);
            }
        }
        // Level by level, each an index scan of the sorted ids (a join with unnest planned
        // worse).
        let mut at = 0;
        while at < lookups.len() {
            let level = lookup_levels[at];
            let run = lookup_levels[at..]
                .iter()
                .take_while(|l| **l == level)
                .count();
            let ids = lookups[at..at + run].to_vec();
            at += run;
            if level == 0 {
                continue;
            }
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT idx, hash FROM audit_seal_node WHERE level = $1 AND idx = ANY($2)",
                    [level.into(), ids.into()],
                ))
                .await?;
            for row in rows {
                let (index, bytes): (i64, Vec<u8>) =
                    (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
                found.insert((level as u32, index as u64), hash(&bytes)?);
            }
        }
        Ok(Read(found))
    }
}
