//! `audit_log_project_page_idx (project_id, created_at DESC, id DESC) WHERE project_id IS NOT
//! NULL`: a project's events, newest first, and the lookup behind the foreign key (plans in
//! docs/performance.md, "A project's events").
//!
//! `audit_log.project_id` references `tenant_projects` `ON DELETE SET NULL`, and nothing indexed
//! it: deleting a project (which deleting its tenant does) made PostgreSQL scan the whole log for
//! the project's events, 1.4 s per project on the benchmark data, so deleting a tenant with a
//! handful of projects ran into the server's 10 s statement timeout. `filter.projectIds` walked
//! the tenant's events and dropped other projects'. From this index each is a descent.
//!
//! Built without blocking writes, then analysed ([`crate::concurrent_index`]).

use sea_orm_migration::prelude::*;

use crate::concurrent_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "audit_log_project_page_idx";
const DEFINITION: &str = "(project_id, created_at DESC, id DESC) WHERE project_id IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // CREATE INDEX CONCURRENTLY cannot run in a transaction.
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        concurrent_index::create(manager, NAME, DEFINITION).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        concurrent_index::drop(manager, NAME).await
    }
}
