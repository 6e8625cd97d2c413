//! The benchmark's CPU meter (`bench::cpu`): it sees this process's CPU, and the database
//! cluster's, including backends that have ended (as pgbench's do when it disconnects).

use std::time::{Duration, Instant};

use bench::cpu::Meter;
use sea_orm::{ConnectionTrait, Database, Statement};
use tests::TestDb;

fn burn(for_how_long: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < for_how_long {
        x = x.wrapping_mul(31).wrapping_add(7);
    }
    std::hint::black_box(x);
}

#[test]
fn the_meter_sees_this_process_burn_cpu() {
    let meter = Meter::process(std::process::id());
    let before = meter.read();
    burn(Duration::from_millis(300));
    let per = before.per_op(&meter.read(), 1.0);
    assert!(per.server_us >= 150_000.0, "{per:?}");
    assert!(per.db_us.is_nan(), "no cluster counted, no figure: {per:?}");
    let per = before.per_op(&meter.read(), 1000.0);
    assert!(per.server_us < 1_000.0, "per operation: {per:?}");
}

#[tokio::test]
async fn the_meter_counts_a_backend_that_has_ended() {
    let db = TestDb::migrated().await;
    let pid = |conn: &sea_orm::DatabaseConnection| {
        let conn = conn.clone();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT pg_backend_pid()",
                ))
                .await
                .expect("query")
                .expect("row");
            row.try_get_by_index::<i32>(0).expect("pid") as u32
        }
    };
    let backend = pid(&db.db).await;
    let meter = Meter::new(std::process::id(), backend);
    if !std::path::Path::new(&format!("/proc/{backend}")).exists() {
        // DATABASE_URL names a server on another machine: the meter must say it does not
        // know, not report a number.
        let before = meter.read();
        let per = before.per_op(&meter.read(), 1.0);
        assert!(per.db_us.is_nan(), "{per:?}");
        return;
    }
    let before = meter.read_settled();
    // A connection of its own, busy for a while, then closed: its backend ends.
    let busy = Database::connect(db.url()).await.expect("connect");
    busy.execute_unprepared("SELECT count(*) FROM generate_series(1, 4000000)")
        .await
        .expect("busy query");
    busy.close().await.expect("close");
    let per = before.per_op(&meter.read_settled(), 1.0);
    assert!(per.db_us >= 100_000.0, "the ended backend's CPU: {per:?}");
}
