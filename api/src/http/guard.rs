//! Checks on a GraphQL document's raw text, made before anything parses it.
//!
//! async-graphql's parser (a PEG parser) recurses once per nesting level of a value or a
//! selection set, and a few thousand levels (`{ a(x:[[[[…]]]]) }`, 4 KB of text) overflow a
//! worker thread's stack, which aborts the whole process: no `catch_unwind` helps. So the text
//! is scanned first, without recursion, and a document nested deeper than [`MAX_NESTING`]
//! brackets of any kind (`{`, `[`, `(`), outside strings and comments, is refused. The
//! schema's own depth limit (selection sets, [`crate::graphql::Limits`]) is far below this,
//! so no document it would accept is refused here.

use registry::ApiError;

/// Deepest bracket nesting a document may have (selection sets, lists, objects and argument
/// lists together). GraphiQL's introspection query, the deepest document a client commonly
/// sends, nests 14.
pub const MAX_NESTING: usize = 64;

/// Longest `query` parameter of a `GET /graphql` (the URL-encoded text, variables included):
/// GET is for short, cacheable queries; longer ones are sent with POST.
pub const MAX_GET_QUERY_BYTES: usize = 16 * 1024;

/// Refuses `text` if it nests brackets deeper than [`MAX_NESTING`] outside strings and comments.
pub fn check_nesting(field: &str, text: &str) -> Result<(), ApiError> {
    let depth = max_nesting(text);
    if depth > MAX_NESTING {
        return Err(ApiError::bad_input(
            field,
            format!(
                "the document nests brackets more than {MAX_NESTING} levels deep; flatten it, or \
                 pass deep values as variables"
            ),
        ));
    }
    Ok(())
}

/// The deepest nesting of `{`, `[` and `(` in `text`, skipping strings (`"…"` with escapes,
/// `"""…"""` block strings) and `#` comments. Stops counting once past [`MAX_NESTING`]. An
/// unbalanced closing bracket counts as closing nothing; the parser reports it.
pub fn max_nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_NESTING {
                    return deepest;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}
