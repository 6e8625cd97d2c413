//! Faults: database errors reach clients as a code and a request id, never as internals; an
//! unreachable database makes the service unready and fast to refuse, not hang or crash; a
//! statement stopped by the statement timeout is `TIMEOUT`, and stores nothing.

use std::time::{Duration, Instant};

use api::startup::{Application, Settings};
use entity::scope::Scope;
use sea_orm::{ConnectOptions, Database};
use serde_json::json;
use tests::app::{TestApp, error_code};
use tests::fixtures::insert_tenant;

/// The server over `pool`, with default settings and no playground; its base URL.
async fn serve(pool: sea_orm::DatabaseConnection) -> String {
    let mut settings = Settings::default();
    settings.http.max_body_bytes = 1 << 16;
    let app = Application::build(pool, settings).await.unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    base
}

#[tokio::test]
async fn a_database_error_leaks_nothing_but_a_code_and_a_request_id() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app.issue_key(acme.id, "k", &[Scope::AuditRead], None).await;
    app.gql_ok(&key, "{ viewer { name } }", json!({})).await; // the key is cached from here on
    app.db
        .exec("ALTER TABLE audit_log RENAME TO audit_log_moved")
        .await;

    let response = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({"query": "{ auditEvents { totalCount } }"}))
        .send()
        .await
        .unwrap();
    let request_id = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error_code(&body), "INTERNAL");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], request_id);
    for secret in [
        "audit_log",
        "relation",
        "SELECT",
        "postgres",
        "127.0.0.1",
        "sqlx",
        "does not exist",
        app.db.name(),
    ] {
        assert!(
            !text.contains(secret),
            "the response leaks {secret:?}: {text}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_is_unready_and_refused_fast() {
    // A pool that connects lazily to a port where nothing listens.
    let mut options = ConnectOptions::new("postgres://nobody:secret@127.0.0.1:1/none");
    options
        .connect_lazy(true)
        .acquire_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .sqlx_logging(false);
    let base = serve(Database::connect(options).await.unwrap()).await;
    let client = reqwest::Client::new();

    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the process is up"
    );
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    let started = Instant::now();
    let response = client
        .post(format!("{base}/graphql"))
        .bearer_auth("trk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .json(&json!({"query": "{ viewer { name } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAVAILABLE");
    assert!(
        !body.to_string().contains("127.0.0.1:1"),
        "no connection details: {body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fails fast, took {:?}",
        started.elapsed()
    );
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "still up"
    );
}

#[tokio::test]
async fn no_statement_outlives_the_statement_timeout() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn(TestApp::settings()).await;
    let pool = api::startup::connect(app.db.url(), 1, Duration::from_secs(1))
        .await
        .unwrap();
    let shown: String = pool
        .query_one_raw(Statement::from_string(
            pool.get_database_backend(),
            "SHOW statement_timeout",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(shown, "1s");
    let started = Instant::now();
    let slow = pool.execute_unprepared("SELECT pg_sleep(5)").await;
    assert!(slow.is_err(), "cancelled by statement_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_while_backends_are_killed_are_all_there_once() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(acme.id, "w", &[Scope::AuditWrite, Scope::AuditRead], None)
        .await;
    app.gql_ok(&key, "{ viewer { name } }", json!({})).await;

    // A killer terminates every backend of this test's database (the server's pool included)
    // every 10 ms while three writers record events with a sequence number each.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (url, name, stop) = (
            app.db.url().to_owned(),
            app.db.name().to_owned(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let admin = Database::connect(ConnectOptions::new(url)).await.unwrap();
            let sql = format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            );
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                use sea_orm::ConnectionTrait;
                // The killer's own connection survives (its pid is excluded).
                let _ = admin.execute_unprepared(&sql).await;
                rounds += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            rounds
        })
    };
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (url, key, client) = (app.url("/graphql"), key.clone(), app.http().clone());
        writers.push(tokio::spawn(async move {
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            for n in 0..60 {
                let seq = writer * 1000 + n;
                let response = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({
                        "query": "mutation($m: JSON) { recordAuditEvent(input: {action: \"durability.write\", product: \"crm\", metadata: $m}) { id } }",
                        "variables": {"m": {"seq": seq}},
                    }))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                match body["data"]["recordAuditEvent"]["id"].as_str() {
                    Some(id) if status == 200 && body.get("errors").is_none() => {
                        acked.push((seq, id.parse::<i64>().unwrap()));
                    }
                    _ => failed.push((status, error_code(&body))),
                }
            }
            (acked, failed)
        }));
    }
    let (mut acked, mut failed) = (Vec::new(), Vec::new());
    for writer in writers {
        let (a, f) = writer.await.unwrap();
        acked.extend(a);
        failed.extend(f);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = killer.await.unwrap();
    eprintln!(
        "{} acknowledged, {} failed, {rounds} kill rounds; failures: {:?}",
        acked.len(),
        failed.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );

    // Failures are clean: UNAVAILABLE (the connection was lost), never a 500 or INTERNAL:
    // 200 with the error when the mutation lost its connection, 503 when checking the key did
    // (the killer also cuts the key notices' connection, and while it is down the key cache
    // is off and every request reads its key).
    for (status, code) in &failed {
        assert!(
            matches!((*status, code.as_str()), (200 | 503, "UNAVAILABLE")),
            "{status} {code}"
        );
    }
    assert!(!acked.is_empty(), "some writes got through");
    assert!(
        !failed.is_empty(),
        "the killer did interrupt writes ({rounds} rounds)"
    );
    // Every acknowledged write is there, with its sequence number, exactly once.
    use sea_orm::{ConnectionTrait, Statement};
    let rows = app
        .db
        .db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT id, (metadata->>'seq')::int AS seq FROM audit_log WHERE action = 'durability.write'",
        ))
        .await
        .unwrap();
    let stored: Vec<(i64, i32)> = rows
        .iter()
        .map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "seq").unwrap()))
        .collect();
    let mut seqs: Vec<i32> = stored.iter().map(|(_, s)| *s).collect();
    seqs.sort_unstable();
    let before = seqs.len();
    seqs.dedup();
    assert_eq!(before, seqs.len(), "no write stored twice");
    for (seq, id) in &acked {
        assert!(
            stored.contains(&(*id, *seq)),
            "acknowledged write {seq} (id {id}) is missing"
        );
    }
    // And the service recovered by itself.
    app.gql_ok(
        &key,
        "mutation { recordAuditEvent(input: {action: \"durability.after\", product: \"crm\"}) { id } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn a_statement_stopped_by_the_timeout_is_a_timeout_error_and_stores_nothing() {
    use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, TransactionTrait};
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(
            acme.id,
            "k",
            &[Scope::AuditRead, Scope::AuditWrite],
            Some("crm"),
        )
        .await;
    // The same database served with a statement timeout of 300 ms.
    let pool = api::startup::connect(app.db.url(), 2, Duration::from_millis(300))
        .await
        .unwrap();
    let base = serve(pool).await;
    let client = reqwest::Client::new();
    // POST `body` to `path` with `authorization`: the status and the JSON answer.
    let post = async |path: &str, authorization: String, body: serde_json::Value| {
        let response = client
            .post(format!("{base}{path}"))
            .header("Authorization", authorization)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    let (bearer, token) = (format!("Bearer {key}"), format!("token={key}"));
    let (_, warmed) = post(
        "/graphql",
        bearer.clone(),
        json!({"query": "{ viewer { name } }"}),
    )
    .await;
    assert!(
        warmed["errors"].is_null(),
        "the key is checked and cached: {warmed}"
    );

    // Another session holds audit_log locked, so every statement on it waits until stopped.
    let locker = Database::connect(ConnectOptions::new(app.db.url()))
        .await
        .unwrap();
    let lock = locker.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let started = Instant::now();
    let (_, page) = post(
        "/graphql",
        bearer,
        json!({"query": "{ auditEvents { edges { node { id } } } }"}),
    )
    .await;
    assert_eq!(error_code(&page), "TIMEOUT", "{page}");
    let message = page["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("narrow a search"), "{page}");
    assert!(!page.to_string().contains("statement timeout"), "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let (status, body) = post(
        "/publisher/v1/project/crm/event",
        token.clone(),
        json!({"action": "crm.contact.created", "crud": "c", "actor": {"id": "u1"}}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "TIMEOUT", "{body}");

    let (status, body) = post(
        "/publisher/v1/project/crm/graphql",
        token,
        json!({"query": "{ search(query: \"crud:c\") { totalCount } }"}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT", "{body}");

    lock.rollback().await.unwrap();
    let stored = entity::prelude::AuditLog::find()
        .count(&app.db.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the publish that timed out stored nothing");
    let page = app
        .gql_ok(&key, "{ auditEvents { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(page["auditEvents"]["edges"], json!([]), "{page}");
}
