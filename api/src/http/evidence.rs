//! `GET /.well-known/audit-log-key`: the public half of the key that signs the audit log's
//! checkpoints, as SPKI PEM (what `openssl pkey -pubout` writes), for anyone checking a
//! checkpoint, a proof or an export. No key is needed to read it. 404 when the server does not
//! seal (`--seal-interval off` and no `--signing-key`).

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};

use crate::state::AppState;

/// `GET /.well-known/audit-log-key`.
#[handler]
pub async fn public_key(state: Data<&AppState>) -> Response {
    match &state.seal.key {
        Some(key) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/x-pem-file")
            .body(key.public_pem()),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("application/json")
            .body(
                serde_json::json!({
                    "code": "NOT_FOUND",
                    "message": "this server does not sign the audit log (start it with --signing-key PATH)",
                })
                .to_string(),
            ),
    }
}
