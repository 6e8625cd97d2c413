//! The `migration` binary, as `cargo run -p migration -- ...` and `sea-orm-cli migrate` run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use localpg::{Binaries, Cluster, ClusterRoot};

const MIGRATION: &str = env!("CARGO_BIN_EXE_migration");

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Cluster::throwaway(&ClusterRoot::workspace_default())
            .unwrap_or_else(|e| panic!("no PostgreSQL for the tests: {e}"))
    })
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new(Binaries::locate().expect("binaries").program("psql"))
        .args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql, url])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "psql {sql}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A fresh database on the test cluster; its URL.
fn fresh_database(name: &str) -> String {
    let cluster = cluster();
    psql(&cluster.url("postgres"), &format!("CREATE DATABASE {name}"));
    cluster.url(name)
}

fn migration(args: &[&str], url: Option<&str>) -> Output {
    let mut cmd = Command::new(MIGRATION);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATION_DIR");
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.output().expect("run the migration binary")
}

fn ok(args: &[&str], url: &str) -> String {
    let out = migration(args, Some(url));
    assert!(out.status.success(), "migration {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tables(url: &str) -> usize {
    psql(
        url,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'",
    )
    .parse()
    .expect("a count")
}

#[test]
fn every_subcommand_works_against_database_url() {
    let url = fresh_database("cli_cycle");
    assert!(ok(&["status"], &url).contains("Pending"));
    ok(&["up"], &url);
    assert_eq!(
        tables(&url),
        12,
        "the six, audit_metadata_term, tenant_deletions and the four of the Merkle tree"
    );
    assert!(ok(&["status"], &url).contains("Applied"));
    let reference_index =
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_tenant_idx'";
    assert_eq!(
        psql(&url, reference_index),
        "0",
        "replaced by the search indexes"
    );
    let text_index = "SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_text_idx'";
    let namespace_index =
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_tenant_namespace_idx'";
    let source_ip_index =
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_source_ip_idx'";
    let product_index =
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_tenant_product_idx'";
    assert_eq!(psql(&url, text_index), "1");
    assert_eq!(psql(&url, namespace_index), "1");
    assert_eq!(psql(&url, source_ip_index), "1");
    assert_eq!(psql(&url, product_index), "1");
    let target_type_index =
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_tenant_target_type_idx'";
    assert_eq!(psql(&url, target_type_index), "1");
    let project_index =
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_project_page_idx'";
    assert_eq!(psql(&url, project_index), "1");
    let trigger_settings = "SELECT coalesce(proconfig::text, '') FROM pg_proc WHERE proname = 'audit_metadata_terms_add'";
    assert_eq!(psql(&url, trigger_settings), "{jit=off}");
    let term_triggers = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%metadata_terms%'";
    assert_eq!(psql(&url, term_triggers), "3");
    let deletions = "SELECT count(*) FROM pg_tables WHERE tablename = 'tenant_deletions'";
    assert_eq!(psql(&url, deletions), "1");
    let recorded_by = "SELECT count(*) FROM information_schema.columns \
                       WHERE table_name = 'audit_log' AND column_name LIKE 'recorded_by%'";
    assert_eq!(psql(&url, recorded_by), "2");
    let status_since = "SELECT count(*) FROM information_schema.columns \
                        WHERE table_name = 'tenants' AND column_name = 'status_since'";
    assert_eq!(psql(&url, status_since), "1");
    let expires_at = "SELECT count(*) FROM information_schema.columns \
                      WHERE table_name = 'api_keys' AND column_name = 'expires_at'";
    assert_eq!(psql(&url, expires_at), "1");
    let notices = "SELECT count(*) FROM pg_trigger WHERE tgname IN ('api_keys_verdict_changed', \
                   'api_keys_deleted', 'tenants_verdict_changed', 'tenants_deleted')";
    assert_eq!(psql(&url, notices), "4");
    let replaced_by = "SELECT count(*) FROM information_schema.columns \
                       WHERE table_name = 'api_keys' AND column_name = 'replaced_by'";
    assert_eq!(psql(&url, replaced_by), "1");
    let seal = "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'audit_seal%' \
                OR tablename = 'audit_checkpoint'";
    assert_eq!(psql(&url, seal), "4");
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, seal), psql(&url, replaced_by)),
        ("0".to_owned(), "1".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, replaced_by), psql(&url, notices)),
        ("0".to_owned(), "4".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, notices), psql(&url, expires_at)),
        ("0".to_owned(), "1".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, expires_at), psql(&url, status_since)),
        ("0".to_owned(), "1".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, status_since), psql(&url, recorded_by)),
        ("0".to_owned(), "2".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, recorded_by), psql(&url, deletions)),
        ("0".to_owned(), "1".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, deletions), psql(&url, trigger_settings)),
        ("0".to_owned(), "{jit=off}".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, trigger_settings), psql(&url, project_index)),
        (String::new(), "1".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (psql(&url, project_index), psql(&url, target_type_index)),
        ("0".to_owned(), "1".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (
            tables(&url),
            psql(&url, target_type_index),
            psql(&url, term_triggers)
        ),
        (7, "0".to_owned(), "3".to_owned()),
        "down rolls back the last migration only"
    );
    ok(&["down"], &url);
    assert_eq!(
        (
            tables(&url),
            psql(&url, term_triggers),
            psql(&url, product_index)
        ),
        (6, "0".to_owned(), "1".to_owned()),
        "down rolls back the last migration only"
    );
    // Each down removes the last migration's index and leaves the one before it.
    for (gone, kept, kept_count) in [
        (product_index, source_ip_index, "1"),
        (source_ip_index, namespace_index, "1"),
        (namespace_index, text_index, "1"),
        (text_index, reference_index, "0"),
    ] {
        ok(&["down"], &url);
        assert_eq!(
            (psql(&url, gone), psql(&url, kept)),
            ("0".to_owned(), kept_count.to_owned()),
            "down rolls back the last migration only"
        );
    }
    ok(&["down"], &url);
    assert_eq!(tables(&url), 6);
    assert_eq!(
        psql(&url, reference_index),
        "1",
        "the reference index is back"
    );
    ok(&["down"], &url);
    assert_eq!(tables(&url), 0);
    ok(&["up", "-n", "1"], &url);
    assert_eq!(tables(&url), 6);
    ok(&["refresh"], &url);
    assert_eq!(tables(&url), 12);
    ok(&["reset"], &url);
    assert_eq!(tables(&url), 0);
    ok(&["fresh"], &url);
    assert_eq!(tables(&url), 12);
    assert_eq!(
        psql(
            &url,
            "SELECT count(*) FROM pg_proc WHERE proname = 'touch_updated_at'"
        ),
        "1"
    );
}

#[test]
fn database_url_flag_works_like_the_variable() {
    let url = fresh_database("cli_flag");
    let out = migration(&["-u", &url, "up"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(tables(&url), 12);
}

#[test]
fn no_database_url_is_a_clear_error_not_a_panic() {
    let out = migration(&["up"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL is not set") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn unreachable_database_is_a_clear_error_not_a_panic() {
    // Port 1 on loopback: nothing listens there.
    let out = migration(
        &["status"],
        Some("postgres://nobody:secret@127.0.0.1:1/none"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn help_needs_no_database() {
    let out = migration(&["--help"], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("generate"));
}

#[test]
fn generate_adds_a_migration_file_and_registers_it() {
    // A scratch copy of this crate's src/lib.rs: the real crate must not change under test.
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("gen-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).expect("scratch dir");
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    std::fs::copy(&lib, dir.join("src/lib.rs")).expect("copy lib.rs");

    let out = Command::new(MIGRATION)
        .args(["generate", "add_widgets"])
        .env("MIGRATION_DIR", &dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run generate");
    assert!(out.status.success(), "{out:?}");
    let created: Vec<String> = std::fs::read_dir(dir.join("src"))
        .expect("read src")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('m') && n.ends_with("_add_widgets.rs"))
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    let module = created[0].trim_end_matches(".rs");
    let lib_rs = std::fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
    assert!(lib_rs.contains(&format!("mod {module};")), "{lib_rs}");
    assert!(
        lib_rs.contains("m20261122_004700_initial_schema"),
        "existing migrations stay"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}
