//! Generated events as rows of `COPY audit_log ... FROM STDIN`, each checked and built by the
//! registry's one writer ([`registry::audit::Row::copy_text`]).

use registry::ApiError;
use registry::audit::{Row, Rules};

use crate::history::Event;

/// The COPY statement the rows are written for.
pub(crate) fn copy_sql() -> String {
    format!("COPY audit_log ({}) FROM STDIN", Row::COPY_COLUMNS)
}

/// Appends one row in COPY's text format.
pub(crate) fn encode(buf: &mut Vec<u8>, e: &Event) -> Result<(), ApiError> {
    e.to_audit().into_row(Rules::REGISTRY)?.copy_text(buf);
    Ok(())
}
