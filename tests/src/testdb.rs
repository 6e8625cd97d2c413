//! One database per test, dropped after the test ends (pass or fail).

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::server::{connect, server, unique_name};

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDb {
    /// A pool connected to this database.
    pub db: DatabaseConnection,
    name: String,
    url: String,
}

impl TestDb {
    /// A fresh database with every migration applied (a clone of the run's template).
    pub async fn migrated() -> TestDb {
        TestDb::create(Some(server().template())).await
    }

    /// A fresh, empty database (nothing in `public`).
    pub async fn empty() -> TestDb {
        TestDb::create(None).await
    }

    async fn create(template: Option<&str>) -> TestDb {
        let server = server();
        let name = unique_name("test");
        let sql = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name} TEMPLATE template0"),
        };
        let admin = connect(server.admin_url())
            .await
            .expect("connecting to the test server");
        admin
            .execute_unprepared(&sql)
            .await
            .expect("creating a test database");
        admin.close().await.expect("closing the admin connection");
        let url = server.url_for(&name);
        let db = connect(&url)
            .await
            .expect("connecting to the test database");
        TestDb { db, name, url }
    }

    /// The database's connection URL (for tools and servers the test starts).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The single value the one-row, one-column query `sql` returns with `values` bound.
    pub async fn value<T: sea_orm::TryGetable>(&self, sql: &str, values: Vec<sea_orm::Value>) -> T {
        self.db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                values,
            ))
            .await
            .unwrap_or_else(|e| panic!("SQL failed: {e}\n{sql}"))
            .expect("a row")
            .try_get_by_index(0)
            .expect("a value")
    }

    /// Runs one SQL script (several statements allowed) and panics with the error if it fails.
    pub async fn exec(&self, sql: &str) {
        if let Err(e) = self.db.execute_unprepared(sql).await {
            panic!("SQL failed: {e}\n{sql}");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Never block here: the test's runtime may be single-threaded, and its tasks may be
        // half-way through opening a connection; a backend left in authentication would hold up
        // DROP DATABASE (its ProcSignalBarrier) for a minute. The janitor drops it instead, once
        // this runtime has closed its connections.
        janitor::drop_later(self.name.clone());
    }
}

/// A thread that drops test databases, one at a time, in the background.
mod janitor {
    use std::sync::mpsc::{Sender, channel};
    use std::sync::{Mutex, OnceLock};

    use sea_orm::{ConnectionTrait, DatabaseConnection};

    use crate::server::{connect, server};

    static QUEUE: OnceLock<Mutex<Sender<String>>> = OnceLock::new();

    pub(super) fn drop_later(name: String) {
        let queue = QUEUE.get_or_init(|| {
            let (tx, rx) = channel::<String>();
            std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let mut admin: Option<DatabaseConnection> = None;
                while let Ok(name) = rx.recv() {
                    runtime.block_on(async {
                        if admin.is_none() {
                            admin = connect(server().admin_url()).await.ok();
                        }
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let result = match &admin {
                            Some(admin) => admin.execute_unprepared(&sql).await.map(|_| ()),
                            None => Err(sea_orm::DbErr::Custom("no admin connection".into())),
                        };
                        if let Err(e) = result {
                            // Left for the next run's sweep of stale test databases.
                            eprintln!("warning: could not drop test database {name}: {e}");
                            admin = None;
                        }
                    });
                }
            });
            Mutex::new(tx)
        });
        if let Ok(queue) = queue.lock() {
            let _ = queue.send(name);
        }
    }
}
