//! Verifying the whole log (`api verify-log`): every leaf recomputed from its row, the tree
//! rebuilt from those leaves, every checkpoint's root compared and its signature checked with
//! the public key the operator gives (not the one stored beside it), the checkpoints' chain
//! followed, and every event of `audit_log` accounted for.
//!
//! It streams: leaves and checkpoints are read in pages by key, the tree is held as its right
//! edge (at most 64 hashes), so memory does not grow with the log. It stops at the first
//! problem and names it.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use super::leaf::LEAF_COLUMNS;
use super::merkle::{Hash, hex};
use super::proofs::{CHECKPOINT_COLUMNS, StoredCheckpoint, checkpoint_of};
use super::seal::leaf_of_at;
use super::signing;
use crate::error::ApiError;

/// Rows read per page.
const PAGE: i64 = 10_000;

/// What was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Leaves recomputed from their rows and found equal.
    pub leaves: u64,
    /// Of them, leaves of events removed on purpose (their stored hash is used).
    pub pruned: u64,
    /// Checkpoints whose root and signature were checked.
    pub checkpoints: u64,
    /// Events not sealed yet (newer than the last pass, or committed late).
    pub pending: u64,
}

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A sealed event's row differs from what was sealed.
    #[error(
        "event {event} (leaf {leaf}) was changed after it was sealed: its row no longer hashes to the sealed leaf"
    )]
    Edited {
        /// The event.
        event: i64,
        /// Its leaf.
        leaf: u64,
    },
    /// A sealed event's tenant or project was changed to another one.
    #[error(
        "event {event} (leaf {leaf}) now names another {what} than it was sealed with ({now}, sealed {sealed})"
    )]
    Moved {
        /// The event.
        event: i64,
        /// Its leaf.
        leaf: u64,
        /// `tenant` or `project`.
        what: &'static str,
        /// The row's value now.
        now: Uuid,
        /// The sealed value.
        sealed: Uuid,
    },
    /// A sealed event's tenant or project was set to NULL while that tenant or project still
    /// exists (the schema clears it only when it is deleted).
    #[error(
        "event {event} (leaf {leaf}) no longer names its {what} {sealed}, which still exists: the reference was cleared by hand, not by deleting the {what}"
    )]
    Cleared {
        /// The event.
        event: i64,
        /// Its leaf.
        leaf: u64,
        /// `tenant` or `project`.
        what: &'static str,
        /// The sealed value.
        sealed: Uuid,
    },
    /// A sealed event's row is gone (and it was not pruned on purpose).
    #[error("event {event} (leaf {leaf}) was deleted from audit_log after it was sealed")]
    Deleted {
        /// The event.
        event: i64,
        /// Its leaf.
        leaf: u64,
    },
    /// An event that is not in the tree, with an id the sealer had passed and was not
    /// watching (inserted with an old id, or sealed and its leaf removed).
    #[error(
        "event {event} is in audit_log but not in the sealed log, and its id was passed before it appeared (inserted with an old id?)"
    )]
    Unsealed {
        /// The event.
        event: i64,
    },
    /// A checkpoint's root is not the tree's.
    #[error("checkpoint {size}: its root {stored} is not the tree's {computed}")]
    Root {
        /// The checkpoint's size.
        size: u64,
        /// Its root.
        stored: String,
        /// The root of the leaves as recomputed.
        computed: String,
    },
    /// A checkpoint's signature does not verify with the given key.
    #[error("checkpoint {size}: its signature does not verify with the public key given")]
    Signature {
        /// The checkpoint's size.
        size: u64,
    },
    /// A checkpoint names a previous one that is not the one before it.
    #[error(
        "checkpoint {size} follows checkpoint {previous}, but the checkpoint before it in the log is {found} (a checkpoint was deleted or added?)"
    )]
    Chain {
        /// The checkpoint's size.
        size: u64,
        /// The size it names as previous.
        previous: u64,
        /// The size of the checkpoint found before it.
        found: u64,
    },
    /// Leaves past the last checkpoint.
    #[error("leaves {from}..{to} are covered by no checkpoint (the last checkpoint was deleted?)")]
    Uncovered {
        /// The first uncovered leaf.
        from: u64,
        /// One past the last.
        to: u64,
    },
    /// A leaf is missing from the sealed log (the leaves are numbered without gaps).
    #[error("leaf {leaf} is missing from the sealed log (the next one stored is {found})")]
    LeafMissing {
        /// The leaf expected.
        leaf: u64,
        /// The leaf found instead.
        found: u64,
    },
    /// A checkpoint beyond the tree's leaves.
    #[error("checkpoint {size} covers more leaves than the sealed log holds ({leaves})")]
    Beyond {
        /// The checkpoint's size.
        size: u64,
        /// The leaves there are.
        leaves: u64,
    },
    /// `--from-checkpoint` names no checkpoint.
    #[error("there is no checkpoint of size {0} to start from")]
    NoStart(u64),
    /// A checkpoint known from outside the database (`--witness`: the sealer's witness file,
    /// or any checkpoint's note an auditor kept) is not the log's at its size: the log was
    /// rewritten, and its checkpoints signed again.
    #[error(
        "the log's first {size} leaves do not have the root of the checkpoint known from outside the database ({expected}; the log gives {found}): the sealed log was rewritten and signed again"
    )]
    Rewritten {
        /// The known checkpoint's size.
        size: u64,
        /// Its root.
        expected: String,
        /// The root of the log's leaves at that size, as recomputed.
        found: String,
    },
    /// The log holds fewer leaves than a checkpoint known from outside the database.
    #[error(
        "the sealed log holds {leaves} leaves, fewer than the checkpoint of size {size} known from outside the database: leaves were removed"
    )]
    Truncated {
        /// The known checkpoint's size.
        size: u64,
        /// The leaves there are.
        leaves: u64,
    },
}

/// Verifies the log on `db` with `public` (32 bytes), from the checkpoint of size `from` (its
/// signature checked, the stored tree's right edge at it taken as given and checked against its
/// root) or from the first leaf; `progress` is called with the leaves done so far every page.
pub async fn verify_log(
    db: &impl ConnectionTrait,
    public: &[u8; 32],
    from: Option<u64>,
    progress: impl FnMut(u64),
) -> Result<Result<Report, Problem>, ApiError> {
    verify_log_against(db, public, from, &[], progress).await
}

/// [`verify_log`], and the log's root at each of `known` (size and root: checkpoints kept
/// outside the database, such as the sealer's witness or a checkpoint from an export's
/// manifest) recomputed from the rows and compared; one the log is too short for is a
/// problem. A known checkpoint below `from` is compared with the stored tree instead.
pub async fn verify_log_against(
    db: &impl ConnectionTrait,
    public: &[u8; 32],
    from: Option<u64>,
    known: &[(u64, Hash)],
    mut progress: impl FnMut(u64),
) -> Result<Result<Report, Problem>, ApiError> {
    let rewritten = |size: u64, expected: &Hash, found: &Hash| Problem::Rewritten {
        size,
        expected: hex(expected),
        found: hex(found),
    };
    if let Some(start) = from {
        for (size, root) in known.iter().filter(|(size, _)| *size <= start && *size > 0) {
            let found = super::proofs::stored_root(db, *size).await?;
            if &found != root {
                return Ok(Err(rewritten(*size, root, &found)));
            }
        }
    }
    let mut report = Report::default();
    let mut frontier: Vec<Option<Hash>> = vec![None; 64];
    let (mut size, mut previous) = (0u64, 0u64);
    if let Some(start) = from {
        let Some(stored) = super::proofs::checkpoint(db, Some(start)).await? else {
            return Ok(Err(Problem::NoStart(start)));
        };
        if let Err(problem) = check(&stored, public, stored.checkpoint.previous) {
            return Ok(Err(problem));
        }
        frontier = super::seal::right_edge_of(db, start).await?;
        let computed = super::seal::root_of(&frontier);
        if computed != stored.checkpoint.root {
            return Ok(Err(Problem::Root {
                size: start,
                stored: hex(&stored.checkpoint.root),
                computed: hex(&computed),
            }));
        }
        report.checkpoints += 1;
        (size, previous) = (start, start);
    }
    let mut checkpoints = Checkpoints::new(size);
    let mut completed = Vec::new();
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT l.leaf_index, l.event_id, l.tenant_id, l.project_id, l.leaf_hash, \
                     l.pruned_at IS NOT NULL, a.id IS NOT NULL, \
                     a.tenant_id IS NULL AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = l.tenant_id), \
                     a.project_id IS NULL AND EXISTS \
                         (SELECT 1 FROM tenant_projects p WHERE p.id = l.project_id), \
                     {LEAF_COLUMNS} \
                     FROM audit_seal_leaf l LEFT JOIN audit_log a ON a.id = l.event_id \
                     WHERE l.leaf_index >= $1 ORDER BY l.leaf_index LIMIT $2"
                ),
                [(size as i64).into(), PAGE.into()],
            ))
            .await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let index: i64 = row.try_get_by_index(0)?;
            let index = index as u64;
            if index != size {
                return Ok(Err(Problem::LeafMissing {
                    leaf: size,
                    found: index,
                }));
            }
            let event: i64 = row.try_get_by_index(1)?;
            let (sealed_tenant, sealed_project): (Option<Uuid>, Option<Uuid>) =
                (row.try_get_by_index(2)?, row.try_get_by_index(3)?);
            let stored: Vec<u8> = row.try_get_by_index(4)?;
            let stored = Hash::try_from(stored.as_slice()).map_err(ApiError::internal)?;
            let (pruned, present): (bool, bool) =
                (row.try_get_by_index(5)?, row.try_get_by_index(6)?);
            let hash = if present {
                let (tenant_lives, project_lives): (Option<bool>, Option<bool>) =
                    (row.try_get_by_index(7)?, row.try_get_by_index(8)?);
                let mut leaf = leaf_of_at(&row, 9)?;
                for (what, now, sealed, lives) in [
                    ("tenant", &mut leaf.tenant_id, sealed_tenant, tenant_lives),
                    (
                        "project",
                        &mut leaf.project_id,
                        sealed_project,
                        project_lives,
                    ),
                ] {
                    match (*now, sealed) {
                        (None, Some(sealed)) if lives == Some(true) => {
                            return Ok(Err(Problem::Cleared {
                                event,
                                leaf: index,
                                what,
                                sealed,
                            }));
                        }
                        // Cleared by the schema (its tenant or project deleted): as sealed.
                        (None, sealed) => *now = sealed,
                        (Some(a), Some(b)) if a != b => {
                            return Ok(Err(Problem::Moved {
                                event,
                                leaf: index,
                                what,
                                now: a,
                                sealed: b,
                            }));
                        }
                        _ => {}
                    }
                }
                let hash = leaf.hash();
                if hash != stored {
                    return Ok(Err(Problem::Edited { event, leaf: index }));
                }
                hash
            } else if pruned {
                report.pruned += 1;
                stored
            } else {
                return Ok(Err(Problem::Deleted { event, leaf: index }));
            };
            // The subtrees it completes are the sealer's to store; here they are dropped.
            super::seal::append(&mut frontier, index, hash, &mut completed);
            completed.clear();
            size = index + 1;
            report.leaves += 1;
            for (_, root) in known.iter().filter(|(at, _)| *at == size) {
                let found = super::seal::root_of(&frontier);
                if &found != root {
                    return Ok(Err(rewritten(size, root, &found)));
                }
            }
            // Every checkpoint at this size.
            while let Some(checkpoint) = checkpoints.next_at_most(db, size).await? {
                if checkpoint.checkpoint.size != size {
                    // A checkpoint of a size no leaf ended at: its root cannot match.
                    return Ok(Err(Problem::Root {
                        size: checkpoint.checkpoint.size,
                        stored: hex(&checkpoint.checkpoint.root),
                        computed: hex(&super::seal::root_of(&frontier)),
                    }));
                }
                if let Err(problem) = check(&checkpoint, public, previous) {
                    return Ok(Err(problem));
                }
                let computed = super::seal::root_of(&frontier);
                if computed != checkpoint.checkpoint.root {
                    return Ok(Err(Problem::Root {
                        size,
                        stored: hex(&checkpoint.checkpoint.root),
                        computed: hex(&computed),
                    }));
                }
                previous = size;
                report.checkpoints += 1;
            }
        }
        progress(report.leaves);
    }
    if let Some((at, _)) = known.iter().find(|(at, _)| *at > size) {
        return Ok(Err(Problem::Truncated {
            size: *at,
            leaves: size,
        }));
    }
    if let Some(beyond) = checkpoints.next_at_most(db, u64::MAX).await? {
        return Ok(Err(Problem::Beyond {
            size: beyond.checkpoint.size,
            leaves: size,
        }));
    }
    if size > previous {
        return Ok(Err(Problem::Uncovered {
            from: previous,
            to: size,
        }));
    }
    // Every event of audit_log with an id the sealer has passed is sealed, or in a gap it
    // watches.
    let unsealed = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT min(a.id) FILTER (WHERE NOT EXISTS (SELECT 1 FROM audit_seal_gap g \
                 WHERE a.id BETWEEN g.first_id AND g.last_id) \
                 AND a.id <= (SELECT coalesce(max(event_id), 0) FROM audit_seal_leaf)), \
             count(*) \
             FROM audit_log a \
             WHERE NOT EXISTS (SELECT 1 FROM audit_seal_leaf l WHERE l.event_id = a.id)",
        ))
        .await?
        .ok_or_else(|| ApiError::internal("no row from the unsealed count"))?;
    let (first, pending): (Option<i64>, i64) =
        (unsealed.try_get_by_index(0)?, unsealed.try_get_by_index(1)?);
    if let Some(event) = first {
        return Ok(Err(Problem::Unsealed { event }));
    }
    report.pending = pending as u64;
    Ok(Ok(report))
}

/// The signature and the chain of `stored`, whose predecessor is at `previous`.
fn check(stored: &StoredCheckpoint, public: &[u8; 32], previous: u64) -> Result<(), Problem> {
    let size = stored.checkpoint.size;
    if !signing::verify(public, &stored.checkpoint, &stored.signature) {
        return Err(Problem::Signature { size });
    }
    if stored.checkpoint.previous != previous {
        return Err(Problem::Chain {
            size,
            previous: stored.checkpoint.previous,
            found: previous,
        });
    }
    Ok(())
}

/// The checkpoints in order of size, read a page at a time.
struct Checkpoints {
    after: u64,
    page: std::collections::VecDeque<StoredCheckpoint>,
}

impl Checkpoints {
    fn new(after: u64) -> Checkpoints {
        Checkpoints {
            after,
            page: Default::default(),
        }
    }

    /// The next checkpoint if its size is at most `size`.
    async fn next_at_most(
        &mut self,
        db: &impl ConnectionTrait,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, ApiError> {
        if self.page.is_empty() {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!(
                        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoint WHERE size > $1 \
                         ORDER BY size LIMIT 1000"
                    ),
                    [(self.after as i64).into()],
                ))
                .await?;
            for row in rows {
                self.page.push_back(checkpoint_of(&row)?);
            }
        }
        match self.page.front() {
            Some(next) if next.checkpoint.size <= size => {
                let next = self.page.pop_front();
                if let Some(n) = &next {
                    self.after = n.checkpoint.size;
                }
                Ok(next)
            }
            _ => Ok(None),
        }
    }
}
