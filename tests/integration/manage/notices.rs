//! The database's notices of changed keys and tenants (LISTEN/NOTIFY) and the key cache:
//! a change made anywhere drops the cached verdicts it affects; while the listening
//! connection is down the cache is not used; the listener comes back by itself.

use std::time::Duration;

use entity::scope::Scope;
use registry::auth::listener::{APPLICATION_NAME, Notice};
use serde_json::json;
use uuid::Uuid;

use super::Ops;

async fn status_of(ops: &Ops, key: &str) -> u16 {
    ops.app
        .http()
        .post(ops.app.url("/graphql"))
        .bearer_auth(key)
        .json(&json!({"query": "{ viewer { keyId } }"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn exec(ops: &Ops, sql: &str) {
    use sea_orm::ConnectionTrait;
    ops.app.db.db.execute_unprepared(sql).await.unwrap();
}

/// Runs `sql` and waits until the server has applied the notice it sends. The notice reaches
/// the server a moment after the commit (well under a millisecond when the machine is idle);
/// this test's server shares one thread with the test, so the test waits for it rather than
/// racing it. The two-process test (api/tests/binary/two_processes.rs) does not wait.
async fn exec_noticed(ops: &Ops, sql: &str) {
    let auth = ops.app.state.auth.clone();
    let before = auth.stats().notices;
    exec(ops, sql).await;
    until("the notice is applied", async || {
        auth.stats().notices > before
    })
    .await;
}

/// The backend pid of the server's listening connection, if it is connected.
async fn listener_pid(ops: &Ops) -> Option<i32> {
    use sea_orm::{ConnectionTrait, Statement};
    let row = ops
        .app
        .db
        .db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT pid FROM pg_stat_activity WHERE application_name = '{APPLICATION_NAME}' \
                 AND datname = current_database()"
            ),
        ))
        .await
        .unwrap();
    row.map(|r| r.try_get_by_index(0).unwrap())
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[test]
fn notices_name_a_key_or_a_tenant() {
    let id = Uuid::new_v4();
    assert_eq!(Notice::parse(&format!("key:{id}")), Some(Notice::Key(id)));
    assert_eq!(
        Notice::parse(&format!("tenant:{id}")),
        Some(Notice::Tenant(id))
    );
    assert_eq!(Notice::parse("key:nope"), None);
    assert_eq!(Notice::parse(&format!("project:{id}")), None);
}

#[tokio::test]
async fn a_change_made_by_hand_drops_the_cached_verdict() {
    let ops = Ops::new().await;
    assert!(ops.app.state.auth.listening(), "listening from the start");
    let key = ops.key_for(ops.acme, "cached", &[Scope::TenantsRead]).await;
    assert_eq!(status_of(&ops, &key).await, 200);
    let hits = ops.app.state.auth.stats().cache_hits;
    assert_eq!(status_of(&ops, &key).await, 200);
    assert_eq!(
        ops.app.state.auth.stats().cache_hits,
        hits + 1,
        "the verdict is cached"
    );
    // An operator's SQL, not the API: only the notice can tell the server.
    exec_noticed(
        &ops,
        "UPDATE api_keys SET revoked_at = now() WHERE name = 'cached'",
    )
    .await;
    assert_eq!(
        status_of(&ops, &key).await,
        401,
        "refused on the next request"
    );

    // A tenant's change drops its keys' verdicts (an archived tenant's key opens nothing).
    let other = ops.key_for(ops.acme, "other", &[Scope::TenantsRead]).await;
    assert_eq!(status_of(&ops, &other).await, 200);
    assert_eq!(status_of(&ops, &other).await, 200);
    exec_noticed(
        &ops,
        &format!(
            "UPDATE tenants SET status = 'archived' WHERE id = '{}'",
            ops.acme
        ),
    )
    .await;
    assert_eq!(status_of(&ops, &other).await, 403);
    // `last_used_at` is not a change of verdict: no notice for it.
    let initech = tests::fixtures::insert_tenant(&ops.app.db.db, "initech")
        .await
        .unwrap();
    let quiet = ops
        .key_for(initech.id, "quiet", &[Scope::TenantsRead])
        .await;
    assert_eq!(status_of(&ops, &quiet).await, 200);
    let (hits, notices) = {
        let stats = ops.app.state.auth.stats();
        (stats.cache_hits, stats.notices)
    };
    exec(
        &ops,
        "UPDATE api_keys SET last_used_at = now() WHERE name = 'quiet'",
    )
    .await;
    // A notice that would come has come by the time one sent after it has.
    exec_noticed(
        &ops,
        "UPDATE api_keys SET revoked_at = now() WHERE name = 'cached'",
    )
    .await;
    assert_eq!(
        ops.app.state.auth.stats().notices,
        notices + 1,
        "one notice, not two"
    );
    assert_eq!(status_of(&ops, &quiet).await, 200);
    assert_eq!(ops.app.state.auth.stats().cache_hits, hits + 1);
}

#[tokio::test]
async fn a_revoke_made_while_the_listener_is_down_is_still_honoured() {
    let ops = Ops::new().await;
    let key = ops.key_for(ops.acme, "doomed", &[Scope::TenantsRead]).await;
    let good = ops.key_for(ops.acme, "good", &[Scope::TenantsRead]).await;
    assert_eq!(status_of(&ops, &key).await, 200);
    assert_eq!(status_of(&ops, &good).await, 200);
    let pid = listener_pid(&ops).await.expect("the listener is connected");
    exec(&ops, &format!("SELECT pg_terminate_backend({pid})")).await;
    let auth = ops.app.state.auth.clone();
    until("the server notices the lost connection", async || {
        !auth.listening()
    })
    .await;
    // Nobody hears this notice.
    exec(
        &ops,
        "UPDATE api_keys SET revoked_at = now() WHERE name = 'doomed'",
    )
    .await;
    assert_eq!(
        status_of(&ops, &key).await,
        401,
        "not served from the cache"
    );
    let hits = auth.stats().cache_hits;
    assert_eq!(status_of(&ops, &good).await, 200);
    assert_eq!(status_of(&ops, &good).await, 200);
    if !auth.listening() {
        assert_eq!(
            auth.stats().cache_hits,
            hits,
            "no cache while not listening"
        );
    }

    // It comes back by itself, on a new connection, and the cache with it.
    until("the listener is back", async || auth.listening()).await;
    let back = listener_pid(&ops).await.expect("listening again");
    assert_ne!(back, pid);
    assert_eq!(status_of(&ops, &key).await, 401);
    assert_eq!(status_of(&ops, &good).await, 200);
    let hits = auth.stats().cache_hits;
    assert_eq!(status_of(&ops, &good).await, 200);
    assert_eq!(auth.stats().cache_hits, hits + 1, "cached again");
    exec_noticed(
        &ops,
        "UPDATE api_keys SET revoked_at = now() WHERE name = 'good'",
    )
    .await;
    assert_eq!(status_of(&ops, &good).await, 401, "and notices heard again");
}
