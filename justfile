# tenant-registry: everyday commands. `just` lists them; each is a plain cargo command underneath.

# List the recipes.
default:
    @just --list

# Run the whole test suite (starts its own PostgreSQL unless DATABASE_URL is set).
test *ARGS:
    cargo test {{ARGS}}

# What CI runs: fmt, clippy, the tests, and no PostgreSQL left behind.
ci:
    bash .ci/run

# Start the persistent local dev cluster (target/pg/dev) and print its URL.
db-up:
    cargo run -q -p localpg -- up

# Start a streaming standby of the dev cluster (made on first use with pg_basebackup -R) and
# print its URL; `cargo run -q -p localpg -- --name dev-standby down` stops it.
db-standby:
    cargo run -q -p localpg -- standby

# Stop the dev cluster, keeping its data.
db-down:
    cargo run -q -p localpg -- down

# Stop the dev cluster and delete its data.
db-destroy:
    cargo run -q -p localpg -- destroy

# Apply all pending migrations.
migrate-up: (_migrate "up")

# Roll back the last applied migration.
migrate-down: (_migrate "down")

# Roll back every applied migration.
migrate-down-all: (_migrate "reset")

# List the migrations and whether each is applied.
migrate-status: (_migrate "status")

# Drop all tables and enums, then apply every migration.
migrate-fresh: (_migrate "fresh")

# Add a new, empty migration named NAME to migration/src.
migrate-create NAME:
    cargo run -q -p migration -- generate {{NAME}}

# Seed the demo platform (migrating first); new API keys are printed once.
seed *ARGS: (_with-db "cargo run -q -p migration -- up && cargo run -q -p seed -- demo " + ARGS)

# The nightly demo reset: recreate the demo tenants; customers are not touched.
seed-reset: (_with-db "cargo run -q -p migration -- up && cargo run -q -p seed -- demo --reset")

# Bulk benchmark data (release build): TENANTS tenants, EVENTS audit events.
seed-bulk TENANTS="1000" EVENTS="10000000": (_with-db "cargo run -q -p migration -- up && cargo run --release -q -p seed -- bulk --tenants " + TENANTS + " --events " + EVENTS)

# Runs the migration CLI against DATABASE_URL, or the dev cluster (started if needed) when unset.
_migrate *ARGS: (_with-db "cargo run -q -p migration -- " + ARGS)

# Runs CMD with DATABASE_URL set: as given, or the dev cluster's (started if needed).
_with-db CMD:
    #!/usr/bin/env bash
    set -euo pipefail
    export DATABASE_URL="${DATABASE_URL:-$(cargo run -q -p localpg -- up)}"
    {{CMD}}

# Every search shape through the server (wrk) against the same SQL (pgbench), on 10M events in
# the persistent `bench` cluster (seeded on first use; DATABASE_URL for another database).
# The benchmark of docs/performance.md; needs wrk. ARGS: e.g. --only S1,S5 --rounds 5.
bench *ARGS:
    cargo build --release -q -p api -p seed -p bench
    ./target/release/bench {{ARGS}}
