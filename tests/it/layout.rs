//! The architecture stays visible in the folders: dependencies point one way (a module never
//! imports one above it in the list of `src/lib.rs`), and no two files import each other. Reads
//! the sources as text (`crate::…` and `super::…` paths outside test modules); no build needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::helpers::repo_path;

/// The top-level modules from the top down; a module may import only modules below it.
/// Modules on one line (the same rank) may not import each other either, except as listed in
/// [`SIDEWAYS`].
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["app"],
    &["api"],
    &["bulletin"],
    &["alerts"],
    &["compliance", "ingest", "simulate"],
    &["broker", "store"],
    &["telemetry"],
    &["config"],
    &["domain"],
    &["backoff", "clock"],
];

/// Imports within one rank that follow the data flow: none today.
const SIDEWAYS: &[(&str, &str)] = &[];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Module path of a source file: `src/store/batch.rs` → `["store", "batch"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `crate::a::b` and `super::a` paths a file's non-test code names, as module paths.
fn imports(module: &[String], text: &str) -> BTreeSet<Vec<String>> {
    // Code only: test modules and comments (doc links name modules without importing them)
    // are left out.
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let mut out = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            let mut b = module.to_vec();
            b.pop();
            b
        }),
    ] {
        for (i, _) in code.match_indices(prefix) {
            let preceded = code[..i].chars().last();
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            let path: Vec<String> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let mut full = base.clone();
            full.extend(path);
            out.insert(full);
        }
    }
    out
}

#[test]
fn dependencies_point_one_way_and_no_two_files_import_each_other() {
    let src = repo_path("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // src/main.rs is the binary: it names the library as `greenmon::`, never `crate::`.
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (module_of(&src, f), std::fs::read_to_string(f).unwrap()))
        .filter(|(m, _)| m.as_slice() != ["main"])
        .collect();
    let mut upward = BTreeSet::new();
    let mut file_deps: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, text) in &modules {
        let Some(top) = module.first() else { continue };
        for path in imports(module, text) {
            // The file the path names: its longest prefix that is a module with a file.
            if let Some(target) = (1..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|p| modules.contains_key(p) && p != module)
            {
                file_deps.entry(module).or_default().insert(target);
            }
            let Some(other) = path.first() else { continue };
            let (Some(from), Some(to)) = (rank(top), rank(other)) else {
                continue;
            };
            if other != top && to <= from && !SIDEWAYS.contains(&(top.as_str(), other.as_str())) {
                upward.insert(format!("{} imports {other}", module.join("::")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up or sideways: {upward:#?}"
    );
    let mut cycles = Vec::new();
    for (a, deps) in &file_deps {
        for b in deps {
            if a.as_slice() < b.as_slice() && file_deps.get(b).is_some_and(|d| d.contains(*a)) {
                cycles.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files that import each other: {cycles:#?}"
    );
    // Every top-level module has its place.
    for module in modules.keys().filter(|m| m.len() == 1) {
        assert!(
            rank(&module[0]).is_some(),
            "module {} is missing from LAYERS",
            module[0]
        );
    }
}
