//! The integration suite: one binary, one module per concern, a real PostgreSQL throughout.
//!
//! With `DATABASE_URL` unset, the harness starts a throwaway cluster from the machine's
//! PostgreSQL binaries; each test gets its own database (see the `tests` library).

mod constraints;
mod entities;
mod migrations;
mod seeding;
