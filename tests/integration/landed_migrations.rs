//! Migrations are append-only once they land: `migration/landed.sha256` lists each landed
//! migration's SHA-256 (`sha256sum` format), and a migration whose text differs from its line
//! fails the suite (a database migrated before the change would silently differ from a fresh
//! one). A new migration lands by adding its line, as docs/operations.md says.

use std::path::Path;

use sha2::{Digest, Sha256};

#[test]
fn landed_migrations_are_unchanged_and_every_migration_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migration");
    let list = std::fs::read_to_string(dir.join("landed.sha256")).expect("migration/landed.sha256");
    let mut listed = Vec::new();
    let mut problems = Vec::new();
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (sum, name) = line.split_once("  ").expect("`<sha256>  <file>` lines");
        listed.push(name.to_owned());
        match std::fs::read(dir.join("src").join(name)) {
            Ok(text) => {
                let actual = format!("{:x}", Sha256::digest(&text));
                if actual != sum {
                    problems.push(format!(
                        "{name} changed after it landed: add a new migration instead, and put \
                         this file back as it was"
                    ));
                }
            }
            Err(_) => problems.push(format!("{name} landed and is gone")),
        }
    }
    let mut files: Vec<String> = std::fs::read_dir(dir.join("src"))
        .expect("migration/src")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("m2") && name.ends_with(".rs"))
        .collect();
    files.sort();
    for file in files.iter().filter(|f| !listed.contains(f)) {
        problems.push(format!(
            "{file} is not in migration/landed.sha256: when it lands, add its line \
             (cd migration/src && sha256sum {file} >> ../landed.sha256)"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        listed.len() >= 11,
        "the eleven migrations of the first wave are listed"
    );
}
