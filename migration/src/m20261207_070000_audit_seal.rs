//! The tables of the audit log's Merkle tree (issue #29; docs/evidence.md):
//!
//! - `audit_seal_leaf`: one row per sealed event, in the tree's order (`leaf_index`), with the
//!   leaf hash and the tenant and project the event was sealed with (the schema may clear the
//!   row's later). No foreign key to `audit_log`: the evidence must outlive a row deleted by
//!   hand, so that the verifier can say which one went.
//! - `audit_seal_node`: the hashes of complete, aligned subtrees above the leaves (level ≥ 1),
//!   so that any proof is O(log n) reads.
//! - `audit_seal_gap`: ranges of ids below the highest sealed that were not visible when the
//!   sealer passed them (transactions still open, or rolled back); an event that appears in
//!   one later is sealed then, at the end of the tree.
//! - `audit_checkpoint`: signed tree heads, each naming the size of the one before it (so a
//!   checkpoint deleted from the middle breaks the next one's signature).
//!
//! A leaf whose event was removed on purpose (the nightly demo reset; retention) is marked
//! `pruned_at` / `pruned_reason`: the tree keeps its hash, the verifier counts it as pruned
//! rather than as a deleted row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE audit_seal_leaf (
                    leaf_index bigint PRIMARY KEY CHECK (leaf_index >= 0),
                    event_id bigint NOT NULL UNIQUE,
                    tenant_id uuid,
                    project_id uuid,
                    leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
                    pruned_at timestamptz,
                    pruned_reason text,
                    CHECK ((pruned_at IS NULL) = (pruned_reason IS NULL))
                );
                CREATE TABLE audit_seal_node (
                    level smallint NOT NULL CHECK (level BETWEEN 1 AND 63),
                    idx bigint NOT NULL CHECK (idx >= 0),
                    hash bytea NOT NULL CHECK (length(hash) = 32),
                    PRIMARY KEY (level, idx)
                );
                CREATE TABLE audit_seal_gap (
                    first_id bigint PRIMARY KEY,
                    last_id bigint NOT NULL,
                    noted_at timestamptz NOT NULL DEFAULT now(),
                    CHECK (first_id <= last_id)
                );
                CREATE TABLE audit_checkpoint (
                    size bigint PRIMARY KEY CHECK (size > 0),
                    previous_size bigint NOT NULL CHECK (previous_size >= 0 AND previous_size < size),
                    root bytea NOT NULL CHECK (length(root) = 32),
                    signed_at timestamptz NOT NULL,
                    signature bytea NOT NULL CHECK (length(signature) = 64),
                    public_key bytea NOT NULL CHECK (length(public_key) = 32)
                );
                COMMENT ON TABLE audit_seal_leaf IS 'The audit log''s Merkle tree: one leaf per sealed event (docs/evidence.md)';
                COMMENT ON TABLE audit_seal_node IS 'Hashes of complete subtrees of the audit log''s Merkle tree, level 1 and up';
                COMMENT ON TABLE audit_seal_gap IS 'Ids the sealer passed before their events were visible';
                COMMENT ON TABLE audit_checkpoint IS 'Signed heads of the audit log''s Merkle tree';",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE audit_checkpoint; DROP TABLE audit_seal_gap; \
                 DROP TABLE audit_seal_node; DROP TABLE audit_seal_leaf",
            )
            .await?;
        Ok(())
    }
}
