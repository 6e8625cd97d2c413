//! The audit log as evidence over GraphQL (docs/evidence.md): an event's `seal`, checkpoints
//! and consistency proofs, adapters over [`registry::evidence::proofs`]. Hashes, proofs and
//! signatures are lower-case hex. Scope `audit:read`; a checkpoint and a consistency proof are
//! the whole log's (they tell its size, not its events).

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};
use entity::scope::Scope;
use registry::ApiError;
use registry::evidence::merkle::hex;
use registry::evidence::proofs::{self, Seal, StoredCheckpoint};

use super::context::{principal, state};

/// A signed head of the audit log's Merkle tree.
#[derive(Debug)]
pub struct AuditCheckpoint(pub StoredCheckpoint);

#[Object]
impl AuditCheckpoint {
    /// Events in the tree.
    async fn size(&self) -> u64 {
        self.0.checkpoint.size
    }
    /// The size of the checkpoint before this one (0 for the first): the checkpoints form a
    /// chain.
    async fn previous_size(&self) -> u64 {
        self.0.checkpoint.previous
    }
    /// The tree's root hash (RFC 9162).
    async fn root_hash(&self) -> String {
        hex(&self.0.checkpoint.root)
    }
    /// When it was signed.
    async fn signed_at(&self) -> DateTime<Utc> {
        self.0.checkpoint.signed_at
    }
    /// The Ed25519 signature of `note`, 64 bytes in hex.
    async fn signature(&self) -> String {
        hex(&self.0.signature)
    }
    /// The text that is signed: the log's name, the size, the root, the time and the previous
    /// size, a line each.
    async fn note(&self) -> String {
        self.0.checkpoint.note()
    }
}

/// An event's place in the sealed log.
#[derive(Debug)]
pub struct AuditSeal(pub Seal);

#[Object]
impl AuditSeal {
    /// The event's position in the tree (the order it was sealed in).
    async fn leaf_index(&self) -> u64 {
        self.0.leaf_index
    }
    /// SHA-256(0x00 ‖ the leaf's bytes), as docs/evidence.md encodes an event.
    async fn leaf_hash(&self) -> String {
        hex(&self.0.leaf_hash)
    }
    /// The latest checkpoint, which `inclusionProof` leads to.
    async fn checkpoint(&self) -> AuditCheckpoint {
        AuditCheckpoint(self.0.checkpoint.clone())
    }
    /// The inclusion proof of the leaf in the checkpoint's tree, from the leaf's sibling up.
    async fn inclusion_proof(&self) -> Vec<String> {
        self.0.inclusion.iter().map(|h| hex(h)).collect()
    }
}

/// The seal of the event `id` for `ctx`'s caller (who has already read the event).
pub(crate) async fn seal_of(ctx: &Context<'_>, id: i64) -> Result<Option<AuditSeal>> {
    let state = state(ctx)?;
    Ok(proofs::seal_of(&state.db, id).await?.map(AuditSeal))
}

/// Checkpoints and consistency proofs.
#[derive(Debug, Default)]
pub struct EvidenceQuery;

fn size_arg(field: &str, value: i64) -> Result<u64, ApiError> {
    u64::try_from(value).map_err(|_| ApiError::bad_input(field, "a size is not negative"))
}

#[Object]
impl EvidenceQuery {
    /// The checkpoint of the tree of `size` events, or the latest when `size` is absent; null
    /// when there is none (nothing sealed yet, or no checkpoint was signed at that size).
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn audit_checkpoint(
        &self,
        ctx: &Context<'_>,
        size: Option<i64>,
    ) -> Result<Option<AuditCheckpoint>> {
        principal(ctx)?.require(Scope::AuditRead)?;
        let size = size.map(|s| size_arg("size", s)).transpose()?;
        let state = state(ctx)?;
        Ok(proofs::checkpoint(&state.db, size)
            .await?
            .map(AuditCheckpoint))
    }

    /// The consistency proof (RFC 9162) from the tree of `from` events to that of `to`:
    /// 1 <= from <= to <= the latest checkpoint's size.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn audit_consistency_proof(
        &self,
        ctx: &Context<'_>,
        from: i64,
        to: i64,
    ) -> Result<Vec<String>> {
        principal(ctx)?.require(Scope::AuditRead)?;
        let (from, to) = (size_arg("from", from)?, size_arg("to", to)?);
        let state = state(ctx)?;
        let proof = proofs::consistency(&state.db, from, to).await?;
        Ok(proof.iter().map(|h| hex(h)).collect())
    }
}
