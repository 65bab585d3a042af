//! The layers point one way. Each top-level module of `src/` may import only the modules
//! below it, and no two modules import each other, directly or round a circle. Imports are
//! read from the `crate::` paths of the source, outside comments and `#[cfg(test)]` modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each layer may import. `lib` (`run`) ties them together and may use any.
const ALLOWED: &[(&str, &[&str])] = &[
    // Plain types and pure rules: nothing else of the crate.
    ("domain", &[]),
    ("error", &[]),
    ("vars", &[]),
    // Environment → domain types.
    ("config", &["domain", "error", "vars"]),
    ("output", &["domain", "error"]),
    // The one way to call and wait on AWS.
    ("aws", &["domain", "error"]),
    // Only `auth` sees the credentials; actions get their settings, a run context and clients.
    ("auth", &["domain", "error", "aws"]),
    ("actions", &["domain", "error", "aws"]),
    // Code Insights reports, sent through Bitbucket's proxy (the reports are built in `domain`).
    ("insights", &["domain"]),
    // `aws-role-deploy trust-policy ...`: arguments → domain types, like `config` for the environment.
    ("cli", &["domain", "error"]),
];

/// One `crate::` import: from which module, to which, and where.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    to: String,
    at: String,
}

fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/aws/wait.rs` → `aws`, `src/lib.rs` → `lib`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src/");
    let first = relative
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The text without comments and without `#[cfg(test)]` items (test modules may reach across
/// layers to build fixtures; the shipped code may not).
fn shipped_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            // Skip the item that follows: up to the brace that closes it.
            let mut depth = 0i32;
            let mut opened = false;
            for line in lines.by_ref() {
                depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
                opened |= line.contains('{');
                if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
                    break;
                }
            }
            code.push('\n');
            continue;
        }
        let without_comment = line.split("//").next().unwrap_or_default();
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

fn imports(src: &Path) -> Vec<Import> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let from = module_of(src, &file);
        if from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (number, line) in shipped_code(&text).lines().enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find("crate::") {
                let tail = &rest[start + "crate::".len()..];
                let to: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                // `use crate::{a, b}` names several modules at once.
                let targets: Vec<String> = if to.is_empty() && tail.starts_with('{') {
                    let group = tail[1..].split('}').next().unwrap_or_default();
                    group
                        .split(',')
                        .filter_map(|item| item.trim().split("::").next().map(str::to_owned))
                        .filter(|name| !name.is_empty())
                        .collect()
                } else {
                    vec![to]
                };
                for to in targets.into_iter().filter(|to| *to != from) {
                    found.push(Import {
                        from: from.clone(),
                        to,
                        at: format!("{}:{}", file.display(), number + 1),
                    });
                }
                rest = tail;
            }
        }
    }
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for import in imports(&src()) {
        if import.from == "lib" {
            continue;
        }
        match allowed.get(import.from.as_str()) {
            None => wrong.push(format!(
                "{}: module {} is not in the layering table of test/layering.rs; add it to a layer",
                import.at, import.from
            )),
            Some(below) if !below.contains(&import.to.as_str()) => wrong.push(format!(
                "{}: {} imports crate::{}, but may import only {:?}",
                import.at, import.from, import.to, below
            )),
            Some(_) => {}
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let edges: Vec<(String, String, String)> = imports(&src()).into_iter().map(|i| (i.from, i.to, i.at)).collect();
    let cycles = cycles(&edges);
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// Files of one folder (`src/actions/ecs/rollout.rs`, `service_deployment.rs`) that import each
/// other through `super::` are one concern split in two: the shared piece moves into a module
/// of its own, which both import.
#[test]
fn no_two_files_of_a_folder_import_each_other() {
    let edges = sibling_imports(&src());
    assert!(
        edges
            .iter()
            .any(|(from, to, _)| from.ends_with("ecs/plan") && to.ends_with("ecs/watch")),
        "the reader of super:: imports is broken: {edges:?}"
    );
    let cycles = cycles(&edges);
    assert!(
        cycles.is_empty(),
        "import cycles between files of a folder:\n{}",
        cycles.join("\n")
    );
}

/// `use super::name` of one file naming a sibling file (`name.rs` or `name/mod.rs`), as
/// (`dir/file`, `dir/name`, where). Items of the folder's `mod.rs` are not siblings.
fn sibling_imports(src: &Path) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let stem = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if stem == "mod" || stem == "lib" || stem == "main" {
            continue;
        }
        let dir = file.parent().expect("a folder");
        let name = |module: &str| {
            let relative = dir.strip_prefix(src).unwrap_or(dir).join(module);
            relative.to_string_lossy().into_owned()
        };
        let is_sibling = |module: &str| {
            module != stem && (dir.join(format!("{module}.rs")).is_file() || dir.join(module).join("mod.rs").is_file())
        };
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (number, line) in shipped_code(&text).lines().enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find("super::") {
                let tail = &rest[start + "super::".len()..];
                let targets: Vec<String> = if let Some(group) = tail.strip_prefix('{') {
                    group
                        .split('}')
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(|item| item.trim().split("::").next().map(str::to_owned))
                        .collect()
                } else {
                    vec![tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()]
                };
                for to in targets.into_iter().filter(|to| is_sibling(to)) {
                    found.push((name(&stem), name(&to), format!("{}:{}", file.display(), number + 1)));
                }
                rest = tail;
            }
        }
    }
    found
}

/// Every circle in a graph of (from, to, where) edges, each said with where its edges are.
fn cycles(edges: &[(String, String, String)]) -> Vec<String> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut where_ = BTreeMap::new();
    for (from, to, at) in edges {
        where_.entry((from.clone(), to.clone())).or_insert(at.clone());
        graph.entry(from.clone()).or_default().insert(to.clone());
    }
    // Depth-first search for a path back to where it started.
    fn path_back(graph: &BTreeMap<String, BTreeSet<String>>, start: &str, at: &str, path: &mut Vec<String>) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if !path.contains(next) {
                path.push(next.clone());
                if path_back(graph, start, next, path) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut path = vec![start.clone()];
        if path_back(&graph, start, start, &mut path) {
            let edges: Vec<String> = path
                .windows(2)
                .map(|pair| {
                    format!(
                        "{} → {} ({})",
                        pair[0],
                        pair[1],
                        where_[&(pair[0].clone(), pair[1].clone())]
                    )
                })
                .collect();
            cycles.push(edges.join(", "));
        }
    }
    cycles
}

#[test]
fn the_reader_sees_imports_and_skips_tests_and_comments() {
    let found = imports(&src());
    let has = |from: &str, to: &str| found.iter().any(|i| i.from == from && i.to == to);
    // Known edges: if these vanish, the reader is broken and the tests above prove nothing.
    assert!(has("actions", "aws") && has("auth", "aws") && has("config", "domain") && has("lib", "config"));

    let code = shipped_code(
        "use crate::a;\n// use crate::b;\n/// see crate::c\n#[cfg(test)]\nmod tests {\n    use crate::d;\n    fn f() {\n    }\n}\nuse crate::e;\n",
    );
    assert!(code.contains("crate::a") && code.contains("crate::e"), "{code}");
    for hidden in ["crate::b", "crate::c", "crate::d"] {
        assert!(!code.contains(hidden), "{hidden} in {code}");
    }
}
