//! A normalised snapshot of everything in the `public` schema, as PostgreSQL itself prints it.
//!
//! Two databases built different ways (the reference DDL, the Rust migration) are equal when
//! their snapshots are: PostgreSQL's own deparsers (`format_type`, `pg_get_expr`,
//! `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_triggerdef`, `pg_get_functiondef`) remove
//! every difference of spelling, and keep every difference of meaning, names included. The
//! migration bookkeeping table `seaql_migrations` is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

/// Each section's entries, one normalised line per object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// Section name (`columns`, `indexes`, ...) to its entries.
    pub sections: BTreeMap<&'static str, BTreeSet<String>>,
}

/// The sections and the query that lists each one. Every query yields one text column.
const SECTIONS: [(&str, &str); 9] = [
    (
        "relations",
        "SELECT format('%s (relkind %s)', c.relname, c.relkind)
         FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relname NOT LIKE 'seaql\\_migrations%'",
    ),
    (
        "columns",
        "SELECT format('%s.%s #%s %s%s%s%s', c.relname, a.attname, a.attnum,
                  format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                  COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
                  CASE a.attidentity WHEN 'a' THEN ' IDENTITY ALWAYS'
                                     WHEN 'd' THEN ' IDENTITY BY DEFAULT' ELSE '' END)
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND c.relname <> 'seaql_migrations' AND a.attnum > 0 AND NOT a.attisdropped",
    ),
    (
        "constraints",
        "SELECT format('%s: %s %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
         FROM pg_constraint c
         WHERE c.connamespace = 'public'::regnamespace
           AND c.conrelid::regclass::text <> 'seaql_migrations'",
    ),
    (
        "indexes",
        "SELECT indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'",
    ),
    (
        "triggers",
        "SELECT format('%s (enabled %s)', pg_get_triggerdef(t.oid), t.tgenabled)
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal",
    ),
    (
        "enums",
        "SELECT format('%s: %s', t.typname, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder))
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typnamespace = 'public'::regnamespace
         GROUP BY t.typname",
    ),
    (
        "types",
        "SELECT format('%s (typtype %s)', t.typname, t.typtype)
         FROM pg_type t
         WHERE t.typnamespace = 'public'::regnamespace
           AND t.typtype <> 'c' AND t.typcategory <> 'A'",
    ),
    (
        "functions",
        "SELECT regexp_replace(pg_get_functiondef(p.oid), '\\s+', ' ', 'g')
         FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace",
    ),
    (
        "sequences",
        "SELECT format('%s %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
                  s.seqrelid::regclass, format_type(s.seqtypid, NULL), s.seqstart,
                  s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                  COALESCE((SELECT format('%s.%s', d.refobjid::regclass, a.attname)
                            FROM pg_depend d
                            JOIN pg_attribute a ON a.attrelid = d.refobjid
                                               AND a.attnum = d.refobjsubid
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                              AND d.refclassid = 'pg_class'::regclass
                              AND d.deptype IN ('a', 'i')), 'nothing'))
         FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relname NOT LIKE 'seaql\\_migrations%'",
    ),
];

/// Takes the snapshot of `db`'s `public` schema.
pub async fn snapshot(db: &DatabaseConnection) -> Result<Catalog, DbErr> {
    let mut sections = BTreeMap::new();
    for (name, sql) in SECTIONS {
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?;
        let entries = rows
            .iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<BTreeSet<_>, _>>()?;
        sections.insert(name, entries);
    }
    Ok(Catalog { sections })
}

impl Catalog {
    /// Whether the schema holds nothing at all (besides the migrations table).
    pub fn is_empty(&self) -> bool {
        self.sections.values().all(BTreeSet::is_empty)
    }

    /// The entries of one section.
    pub fn section(&self, name: &str) -> &BTreeSet<String> {
        static EMPTY: BTreeSet<String> = BTreeSet::new();
        self.sections.get(name).unwrap_or(&EMPTY)
    }

    /// What differs from `expected`: `-` entries only `expected` has, `+` entries only `self`
    /// has. Empty when the catalogs are equal.
    pub fn diff(&self, expected: &Catalog) -> CatalogDiff {
        let mut lines = Vec::new();
        for (name, _) in SECTIONS {
            let (want, got) = (expected.section(name), self.section(name));
            lines.extend(want.difference(got).map(|e| format!("- {name}: {e}")));
            lines.extend(got.difference(want).map(|e| format!("+ {name}: {e}")));
        }
        CatalogDiff { lines }
    }
}

/// The differences between two catalogs, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogDiff {
    /// `- section: entry` (missing) and `+ section: entry` (unexpected) lines.
    pub lines: Vec<String>,
}

impl CatalogDiff {
    /// Whether the catalogs were equal.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl fmt::Display for CatalogDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
