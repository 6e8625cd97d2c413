//! Every server process listens for the database's notices of changed keys and tenants
//! (`LISTEN tenant_registry_keys`, sent by the triggers of the migration
//! `m20261207_060100_key_change_notices` as a change commits) and drops the verdicts they make
//! stale from its [`Authenticator`]'s cache: a key revoked through one process is refused by
//! every other on its next request.
//!
//! The listener has a connection of its own (not one of the pool's). When it drops, the
//! authenticator stops serving its cache at once ([`Authenticator::set_listening`]), and the
//! listener reconnects, listens again, and only then lets the cache fill again: a notice sent
//! while nobody listened is lost, so nothing cached before or during the gap is trusted.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::Authenticator;

/// The channel the triggers notify.
pub const CHANNEL: &str = "tenant_registry_keys";

/// The listening connection's `application_name` (operators find it in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "tenant-registry key notices";

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a notice names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// One key changed (`key:<id>`).
    Key(Uuid),
    /// A tenant changed, and with it every key of it (`tenant:<id>`).
    Tenant(Uuid),
}

impl Notice {
    /// A notice's payload; `None` for one this version does not know.
    pub fn parse(payload: &str) -> Option<Notice> {
        let (kind, id) = payload.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "key" => Some(Notice::Key(id)),
            "tenant" => Some(Notice::Tenant(id)),
            _ => None,
        }
    }
}

/// Listens on `db`'s database for as long as the task runs, applying every notice to `auth`.
/// Never returns; a lost connection is retried with backoff (logged), the cache off meanwhile.
pub async fn listen(db: DatabaseConnection, auth: Arc<Authenticator>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match connect(&db).await {
            Ok(mut listener) => {
                auth.set_listening(true);
                tracing::debug!("listening for key notices");
                backoff = FIRST_BACKOFF;
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => {
                            let notice = Notice::parse(notification.payload());
                            if notice.is_none() {
                                // Unknown: drop everything rather than guess.
                                tracing::warn!(
                                    payload = notification.payload(),
                                    "unknown key notice; emptying the key cache"
                                );
                            }
                            auth.notice(notice);
                        }
                        Ok(None) => {
                            auth.set_listening(false);
                            tracing::warn!(
                                "the key notices' connection was lost; keys are read from the \
                                 database until it is back"
                            );
                            break;
                        }
                        Err(e) => {
                            auth.set_listening(false);
                            tracing::warn!(error = %e, "the key notices' connection failed");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                auth.set_listening(false);
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for key notices");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A listener on a connection of its own, made with the pool's options, listening.
async fn connect(db: &DatabaseConnection) -> Result<PgListener, DbErr> {
    let options = db
        .get_postgres_connection_pool()
        .connect_options()
        .as_ref()
        .clone()
        .application_name(APPLICATION_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&pool)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    // A lost connection returns from `try_recv` at once, so the cache goes off before anything
    // is re-established (the reconnection is ours, above).
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener
        .listen(CHANNEL)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(listener)
}
