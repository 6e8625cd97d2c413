//! [`Reader`]: the pool and the read connections behind one `ConnectionTrait`.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

use super::{PlanCache, ReadConnections};

/// The pool for everything, with single-statement reads going to [`ReadConnections`]. Pass it
/// where a read takes `&impl ConnectionTrait`; writes go to the pool unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The pool.
    pub db: &'a DatabaseConnection,
    /// The read connections.
    pub reads: &'a ReadConnections,
    /// How the reads' statements are planned.
    pub plans: PlanCache,
}

impl<'a> Reader<'a> {
    /// Reads on the pool and `reads`, planned as the session is set up.
    pub fn new(db: &'a DatabaseConnection, reads: &'a ReadConnections) -> Reader<'a> {
        Reader {
            db,
            reads,
            plans: PlanCache::Session,
        }
    }

    /// The same reads, their statements planned as `plans` says.
    pub fn planned(self, plans: PlanCache) -> Reader<'a> {
        Reader { plans, ..self }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self
            .reads
            .query_all_planned(self.db, stmt, self.plans)
            .await?
            .into_iter()
            .next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.reads
            .query_all_planned(self.db, stmt, self.plans)
            .await
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}
