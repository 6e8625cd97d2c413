//! The benchmark's CPU meter (`bench::cpu`): it sees this process's CPU, and the database
//! cluster's, including backends that have ended (as pgbench's do when it disconnects).

use bench::cpu::Meter;
use sea_orm::{ConnectionTrait, Database, Statement};
use tests::TestDb;

/// CPU time this thread has used: `utime` + `stime` of `/proc/thread-self/stat`, in clock
/// ticks (100 a second here).
fn thread_cpu_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // The command name (field 2) is in parentheses and may hold spaces.
    let fields: Vec<&str> = text[text.rfind(')').expect("stat") + 1..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Spins until this thread has used `ticks` clock ticks of CPU, however long that takes in
/// wall time on a machine busy with other work (the other tests, or anything else).
fn burn_cpu(ticks: u64) {
    let start = thread_cpu_ticks();
    let mut x = 0u64;
    while thread_cpu_ticks() - start < ticks {
        for _ in 0..100_000 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
    }
}

#[test]
fn the_meter_sees_this_process_burn_cpu() {
    let meter = Meter::process(std::process::id());
    let before = meter.read();
    // 30 ticks: 300 ms of CPU at 100 ticks a second (getconf CLK_TCK).
    burn_cpu(30);
    let after = meter.read();
    let per = before.per_op(&after, 1.0);
    // The process used at least what this thread did (other tests' threads may add more).
    assert!(per.server_us >= 290_000.0, "{per:?}");
    assert!(per.db_us.is_nan(), "no cluster counted, no figure: {per:?}");
    let per_thousandth = before.per_op(&after, 1000.0);
    assert!(
        (per_thousandth.server_us * 1000.0 - per.server_us).abs() < 1e-6,
        "per operation: {per_thousandth:?} of {per:?}"
    );
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
