//! The layering of docs/architecture.md, checked on the sources:
//!
//! - no import cycles between sibling modules, at every level of `api` and `registry` (a
//!   module may use its parent's items; two siblings may not use each other, directly or
//!   around a loop);
//! - `registry` depends on neither async-graphql nor poem;
//! - in `api`, poem is used only under `http/`;
//! - `audit_log` rows are built only by the registry's writer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, with its module path (`["audit", "filter"]`).
fn modules(src: &Path) -> Vec<(Vec<String>, PathBuf)> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let mut module: Vec<String> = relative
                    .iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                found.push((module, path));
            }
        }
    }
    found
}

/// `use a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The crate-relative paths a file refers to: its `use` trees and inline `crate::`/`super::`
/// paths, resolved against `module`.
fn references(text: &str, module: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if before.is_none_or(|c| c.is_whitespace() || c == '{') {
            paths.extend(expand(&tail[..end]));
        }
        rest = &tail[end..];
    }
    let bytes = code.as_bytes();
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(anchor) {
            let start = from + at;
            let boundary = start == 0
                || !(bytes[start - 1].is_ascii_alphanumeric()
                    || bytes[start - 1] == b'_'
                    || bytes[start - 1] == b':');
            let len = code[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(code.len() - start);
            if boundary {
                paths.push(code[start..start + len].to_owned());
            }
            from = start + len.max(1);
        }
    }
    // `super::` is relative to the file's module (a `mod.rs` is its directory's module).
    let own: Vec<String> = module.to_vec();
    let _ = is_mod_file;
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let mut resolved: Vec<String> = match segments.first()? {
                &"crate" => Vec::new(),
                &"super" | &"self" => own.clone(),
                _ => return None,
            };
            for segment in &segments {
                match *segment {
                    "crate" => {}
                    "super" => {
                        resolved.pop();
                    }
                    "self" => {}
                    s => resolved.push(s.to_owned()),
                }
            }
            Some(resolved)
        })
        .collect()
}

/// The longest prefix of `path` that is a module of the crate.
fn module_part(path: &[String], known: &BTreeSet<Vec<String>>) -> Vec<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
        .unwrap_or_default()
}

/// Sibling edges: for each directory (module), which of its children use which.
fn sibling_edges(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<(String, String)>> {
    let files = modules(src);
    let known: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<(String, String)>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let is_mod = path.file_name().is_some_and(|n| n == "mod.rs");
        for reference in references(&text, module, is_mod) {
            let target = module_part(&reference, &known);
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // A use of an ancestor's own items, or within the same module, is not between
            // siblings.
            if common == module.len() || common == target.len() {
                continue;
            }
            edges
                .entry(module[..common].to_vec())
                .or_default()
                .insert((module[common].clone(), target[common].clone()));
        }
    }
    edges
}

/// A cycle among `edges`, if there is one.
fn cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    fn visit<'a>(
        node: &'a String,
        edges: &'a BTreeSet<(String, String)>,
        path: &mut Vec<&'a String>,
        done: &mut BTreeSet<&'a String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut found: Vec<String> = path[at..].iter().map(|s| (*s).clone()).collect();
            found.push(node.clone());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for (_, next) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    nodes
        .into_iter()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

fn cycles_in(krate: &str) -> Vec<String> {
    let src = workspace().join(krate).join("src");
    sibling_edges(&src)
        .iter()
        .filter_map(|(parent, edges)| {
            cycle(edges).map(|c| format!("{krate}::{}: {}", parent.join("::"), c.join(" -> ")))
        })
        .collect()
}

#[test]
fn the_checker_finds_a_cycle_between_siblings() {
    let edges: BTreeSet<(String, String)> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(cycle(&edges).unwrap().len(), 4);
    let acyclic: BTreeSet<(String, String)> = [("a", "b"), ("b", "c"), ("a", "c")]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(cycle(&acyclic), None);
    assert_eq!(
        expand("crate::{audit::{filter, merge}, state::AppState}"),
        [
            "crate::audit::filter",
            "crate::audit::merge",
            "crate::state::AppState"
        ]
    );
    let module = ["audit".to_owned(), "filter".to_owned()];
    assert_eq!(
        references(
            "use super::merge::X;\nfn f() { crate::state::f() }",
            &module,
            false
        ),
        [
            vec!["state".to_owned(), "f".to_owned()],
            vec!["audit".to_owned(), "merge".to_owned(), "X".to_owned()],
        ]
    );
}

#[test]
fn no_module_of_api_or_registry_imports_a_sibling_that_imports_it_back() {
    let mut found = cycles_in("api");
    found.extend(cycles_in("registry"));
    assert!(
        found.is_empty(),
        "import cycles (docs/architecture.md says which way each layer may depend):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_registry_knows_nothing_of_graphql_or_http() {
    let manifest = std::fs::read_to_string(workspace().join("registry/Cargo.toml")).unwrap();
    for forbidden in ["async-graphql", "poem"] {
        assert!(
            !manifest.contains(forbidden),
            "registry/Cargo.toml depends on {forbidden}"
        );
    }
    let api = workspace().join("api/src");
    let outside_http: Vec<String> = modules(&api)
        .into_iter()
        .filter(|(module, _)| module.first().is_none_or(|m| m != "http"))
        .filter(|(_, path)| {
            let text = std::fs::read_to_string(path).unwrap();
            text.contains("use poem") || text.contains("poem::")
        })
        .map(|(_, path)| path.display().to_string())
        .collect();
    assert!(
        outside_http.is_empty(),
        "poem is used outside api/src/http: {outside_http:?}"
    );
}

#[test]
fn only_the_registrys_writer_builds_audit_log_rows() {
    let writer = workspace().join("registry/src/audit/mod.rs");
    let mut offenders = Vec::new();
    for krate in ["api", "registry", "seed", "entity", "bench"] {
        for (_, path) in modules(&workspace().join(krate).join("src")) {
            let text = std::fs::read_to_string(&path).unwrap();
            let builds = text.contains("audit_log::ActiveModel")
                || text.contains("INSERT INTO audit_log")
                || text.contains("AuditLog::insert")
                || text.contains("audit_log::Entity::insert");
            // The benchmark's floor is the bulk publish's SQL run by pgbench, on purpose.
            let floor = path.ends_with("bench/src/checks.rs");
            if builds && path != writer && !floor && !path.ends_with("entity/src/audit_log.rs") {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "audit_log rows built outside the writer: {offenders:?}"
    );
}
