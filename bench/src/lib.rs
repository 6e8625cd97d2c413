//! The benchmark (`cargo run --release -p bench`, or `just bench`): every search shape through
//! the real server, driven by `wrk`, against the exact SQL the server issues, driven by
//! `pgbench -M prepared`, in the same run. See docs/performance.md.
//!
//! The library holds the shapes and the SQL helpers, which the plan tests in `tests/` share.

pub mod cpu;
pub mod shapes;
pub mod sql;
pub mod subjects;
