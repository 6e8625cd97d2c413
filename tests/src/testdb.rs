//! One database per test, dropped when the test ends (pass or fail).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

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

    /// Runs one SQL script (several statements allowed) and panics with the error if it fails.
    pub async fn exec(&self, sql: &str) {
        if let Err(e) = self.db.execute_unprepared(sql).await {
            panic!("SQL failed: {e}\n{sql}");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be single-threaded: drop the database
        // from a thread with a runtime of its own. FORCE ends this test's open connections.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> Result<(), DbErr> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            runtime.block_on(async {
                let admin = connect(server().admin_url()).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "warning: could not drop test database {}: {dropped:?}",
                self.name
            );
        }
    }
}
