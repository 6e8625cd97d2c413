//! Streaming replicas from the machine's own binaries (`localpg`, issue #30): a standby made
//! with `pg_basebackup -R` replays what the primary commits, answers reads only, keeps working
//! while stopped and started again, and catches up.

use std::time::Duration;

use localpg::{Cluster, ClusterRoot, Lifetime};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

async fn value(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// Waits until the standby has `rows` rows in `t`.
async fn until_replayed(standby: &DatabaseConnection, rows: i64) {
    for _ in 0..200 {
        let found = standby
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) FROM t",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get_by_index::<i64>(0).ok());
        if found == Some(rows) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the standby did not replay {rows} rows");
}

#[tokio::test]
async fn a_standby_replays_the_primary_answers_reads_only_and_catches_up_after_a_stop() {
    let primary = Cluster::throwaway(&ClusterRoot::workspace_default()).unwrap();
    let mut standby = primary.standby(Lifetime::Throwaway).unwrap();
    assert!(standby.is_standby() && !primary.is_standby());
    let p = Database::connect(primary.url("postgres")).await.unwrap();
    p.execute_unprepared("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();
    let s = Database::connect(standby.url("postgres")).await.unwrap();
    until_replayed(&s, 2).await;
    assert_eq!(
        value(&s, "SELECT pg_is_in_recovery()::int::bigint").await,
        1
    );
    assert_eq!(
        value(
            &p,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        )
        .await,
        1
    );
    let refused = s.execute_unprepared("INSERT INTO t VALUES (3)").await;
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("read-only transaction"),
        "a standby takes no writes"
    );
    // Stopped: the primary goes on; started again: it catches up.
    s.close().await.unwrap();
    standby.stop().unwrap();
    p.execute_unprepared("INSERT INTO t VALUES (3), (4)")
        .await
        .unwrap();
    standby.restart().unwrap();
    let s = Database::connect(standby.url("postgres")).await.unwrap();
    until_replayed(&s, 4).await;
}
