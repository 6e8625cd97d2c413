//! The listening socket and the loop that serves the routes on it.

use std::net::SocketAddr;
use std::time::Duration;

use poem::endpoint::BoxEndpoint;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{EndpointExt, Server};

use super::{HttpSettings, routes};
use crate::graphql::RegistrySchema;
use crate::retraced::search::RetracedSchema;
use crate::state::AppState;

/// The routes, bound to an address and not yet serving.
pub struct Bound {
    acceptor: TcpAcceptor,
    address: SocketAddr,
    endpoint: BoxEndpoint<'static>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Bound {
    /// Binds `bind` (port 0: any free port) for the routes over these schemas and state.
    pub async fn bind(
        bind: SocketAddr,
        (schema, retraced): (RegistrySchema, RetracedSchema),
        state: AppState,
        settings: HttpSettings,
    ) -> std::io::Result<Bound> {
        let endpoint = routes(schema, retraced, state, settings).boxed();
        let acceptor = TcpListener::bind(bind).into_acceptor().await?;
        let address = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(bind);
        Ok(Bound {
            acceptor,
            address,
            endpoint,
        })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `signal` completes (never, for `None`), then lets in-flight requests
    /// finish (up to `grace`).
    pub async fn serve(
        self,
        signal: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>>,
        grace: Duration,
    ) -> std::io::Result<()> {
        let server = Server::new_with_acceptor(self.acceptor);
        match signal {
            Some(signal) => {
                server
                    .run_with_graceful_shutdown(self.endpoint, signal, Some(grace))
                    .await
            }
            None => server.run(self.endpoint).await,
        }
    }
}
