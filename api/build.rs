//! Fetches the playground's third-party assets (GraphiQL 4, React 18 and their CSS) from the npm
//! registry with `npm ci` (versions pinned by `playground/package-lock.json`) into `OUT_DIR`,
//! and writes `playground_assets.rs`, which embeds them in the server. Nothing of them is
//! committed to the repository.
//!
//! This runs again only when the package files change. Without npm (or without the registry),
//! the server still builds: the playground page then says how to get the assets, and the API is
//! unaffected.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (file served under /playground/, path inside node_modules, content type).
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "react.production.min.js",
        "react/umd/react.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom.production.min.js",
        "react-dom/umd/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.js",
        "graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.css",
        "graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let source = manifest.join("playground");
    for file in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed=playground/{file}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let generated = out.join("playground_assets.rs");
    let code = match fetch(&source, &out.join("playground")) {
        Ok(modules) => embed(&modules),
        Err(why) => {
            println!(
                "cargo:warning=the playground's assets are not embedded ({why}); the API works, the playground page explains. Install Node.js and npm and rebuild to get them."
            );
            format!(
                "/// Why the assets are missing.\npub const MISSING: Option<&str> = Some({why:?});\n/// None.\npub const ASSETS: &[(&str, &str, &[u8])] = &[];\n"
            )
        }
    };
    std::fs::write(&generated, code).expect("write playground_assets.rs");
}

/// `npm ci` into `dir` from the committed package files; the `node_modules` path.
fn fetch(source: &Path, dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let lock = std::fs::read(source.join("package-lock.json"))
        .map_err(|e| format!("reading playground/package-lock.json: {e}"))?;
    let modules = dir.join("node_modules");
    let installed_lock = std::fs::read(dir.join("package-lock.json")).ok();
    let complete = ASSETS
        .iter()
        .all(|(_, path, _)| modules.join(path).is_file());
    if complete && installed_lock.as_deref() == Some(lock.as_slice()) {
        return Ok(modules);
    }
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(source.join(file), dir.join(file))
            .map_err(|e| format!("copying {file}: {e}"))?;
    }
    let status = Command::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
        ])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("running npm: {e}"))?;
    if !status.success() {
        // A failed install must not pass for a complete one next time.
        let _ = std::fs::remove_file(dir.join("package-lock.json"));
        return Err(format!("npm ci failed ({status})"));
    }
    match ASSETS
        .iter()
        .find(|(_, path, _)| !modules.join(path).is_file())
    {
        Some((_, path, _)) => Err(format!("npm ci did not install {path}")),
        None => Ok(modules),
    }
}

/// `ASSETS`, each file embedded with `include_bytes!`.
fn embed(modules: &Path) -> String {
    let mut code = String::from(
        "/// Why the assets are missing.\npub const MISSING: Option<&str> = None;\n/// (name, content type, bytes).\npub const ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for (name, path, content_type) in ASSETS {
        let file = modules.join(path);
        code.push_str(&format!(
            "    ({name:?}, {content_type:?}, include_bytes!({:?})),\n",
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    code
}
