//! The metadata terms' trigger function (the seventh migration) runs without JIT compilation:
//! `ALTER FUNCTION audit_metadata_terms_add() SET jit = off`.
//!
//! PostgreSQL plans the trigger's `INSERT … SELECT` over the statement's rows with its default
//! guesses for the set-returning functions inside (a hundred terms an event), so from about a
//! hundred rows on the estimated cost passes `jit_above_cost` and every such statement
//! compiles its expressions first (and optimises them, from a few hundred). On the benchmark
//! data the trigger took 56–74 ms for 100 inserted events, 36 ms for 200, 225–297 ms for 500
//! (the insert 267–406 ms), against 15 ms for 500 without JIT (the insert 57–58 ms); deleting a
//! project with 429 events, whose `ON DELETE SET NULL` fires the update trigger, spent 220–233
//! ms in it against 9 ms. A 50-event Retraced publish stays under the threshold (4 ms). The
//! statement reads only the statement's own rows: compiling it never pays off.
//!
//! The seventh migration is not edited (it has landed); `down` resets the setting.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER FUNCTION audit_metadata_terms_add() SET jit = off")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER FUNCTION audit_metadata_terms_add() RESET jit")
            .await?;
        Ok(())
    }
}
