//! Every variables table in the documentation, and pipe.yml, are checked against `src/vars.rs`,
//! where every variable is declared once: documentation that disagrees with the code fails the
//! build.
//!
//! The tables are grouped by action. A variable's usage text says which actions it belongs to, as
//! users read it ("`ecs-deploy`, `rollback`: …", "`lambda-deploy` with `ALIAS`: …"): such a variable
//! has its row in each of those actions' pages (`docs/<action>.md`); one that names no action is
//! shared by every action and has its row in the README. A table is a markdown table whose header
//! is `| Variable | Usage |`; each must list exactly its group, in `src/vars.rs`'s order, so a
//! variable declared but not documented, documented but not declared, or documented with other
//! words than its declaration fails here.

use aws_role_deploy::vars::{self, Var};
use std::path::{Path, PathBuf};

/// The actions with a reference page of their own, `docs/<action>.md`.
const ACTION_PAGES: [&str; 5] = ["ecs-deploy", "lambda-deploy", "ecr-push", "rollback", "trust-policy"];

/// The README is the pipe page people scan; detail goes to docs/.
const README_MAX_LINES: usize = 400;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn doc_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    pages
}

/// The row a page must have for a variable.
fn expected_row(var: &Var) -> String {
    let required = if var.required { " (*)" } else { "" };
    let default = var
        .default
        .map(|value| format!(" Default: `{value}`."))
        .unwrap_or_default();
    format!(
        "| `{}`{required} | {}{default} |",
        var.name,
        var.usage.replace('|', "\\|")
    )
}

/// The actions a variable belongs to, as its usage text says: a sentence that opens with
/// backticked action names (`` `a`, `b` ``, `` `a` and `b` ``) followed by `:` or ` with `.
fn actions_of(var: &Var) -> Vec<&'static str> {
    let usage = var.usage;
    let mut starts = vec![0];
    starts.extend(usage.match_indices(". ").map(|(at, _)| at + 2));
    let mut found = Vec::new();
    for start in starts {
        let mut rest = &usage[start..];
        let mut names = Vec::new();
        while let Some(action) = ACTION_PAGES
            .iter()
            .find(|action| rest.starts_with(&format!("`{action}`")))
        {
            names.push(*action);
            rest = &rest[action.len() + 2..];
            if let Some(more) = rest.strip_prefix(", ").or_else(|| rest.strip_prefix(" and ")) {
                rest = more;
            } else {
                break;
            }
        }
        if !names.is_empty() && (rest.starts_with(':') || rest.starts_with(" with ")) {
            for name in names {
                if !found.contains(&name) {
                    found.push(name);
                }
            }
        }
    }
    found
}

/// Every row of every `| Variable | Usage |` table of a page.
fn variable_rows(page: &str) -> Vec<&str> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in page.lines() {
        if line.starts_with("| Variable | Usage |") {
            in_table = true;
        } else if in_table && line.starts_with("| `") {
            rows.push(line);
        } else if !line.starts_with('|') {
            in_table = false;
        }
    }
    rows
}

/// The name a row documents.
fn row_name(row: &str) -> &str {
    row.trim_start_matches("| `").split('`').next().unwrap_or_default()
}

/// `expected`: the group the page's tables must list exactly; `None` for a page of no group (it may
/// still show rows, each exactly as declared).
fn check_page(path: &Path, expected: Option<&[&Var]>, problems: &mut Vec<String>) {
    let page = read(path);
    let shown = path.strip_prefix(root()).unwrap().display().to_string();
    let rows = variable_rows(&page);
    for row in &rows {
        let name = row_name(row);
        if !vars::ALL.iter().any(|var| var.name == name) {
            problems.push(format!("{shown} documents {name}, which src/vars.rs does not declare"));
        }
    }
    let Some(expected) = expected else {
        for row in &rows {
            if let Some(var) = vars::ALL.iter().find(|var| var.name == row_name(row))
                && *row != expected_row(var)
            {
                problems.push(format!(
                    "{shown}'s row of {} should read:\n{}",
                    var.name,
                    expected_row(var)
                ));
            }
        }
        return;
    };
    for var in expected {
        if !rows.iter().any(|row| row_name(row) == var.name) {
            problems.push(format!(
                "{} is declared in src/vars.rs but {shown} has no row for it",
                var.name
            ));
        }
    }
    let want: Vec<String> = expected.iter().map(|var| expected_row(var)).collect();
    if rows != want {
        problems.push(format!(
            "{shown}'s variables table disagrees with src/vars.rs; it should read:\n\n| Variable | Usage |\n| --- | --- |\n{}\n",
            want.join("\n")
        ));
    }
}

#[test]
fn every_variables_table_matches_the_code_grouped_by_action() {
    let mut problems = Vec::new();
    let shared: Vec<&Var> = vars::ALL
        .iter()
        .copied()
        .filter(|var| actions_of(var).is_empty())
        .collect();
    check_page(&root().join("README.md"), Some(&shared), &mut problems);
    for page in doc_pages() {
        let stem = page.file_stem().unwrap().to_string_lossy().into_owned();
        let expected: Option<Vec<&Var>> = ACTION_PAGES.iter().find(|action| **action == stem).map(|action| {
            vars::ALL
                .iter()
                .copied()
                .filter(|var| actions_of(var).contains(action))
                .collect()
        });
        check_page(&page, expected.as_deref(), &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_action_has_its_page_and_the_readme_links_it() {
    let readme = read(&root().join("README.md"));
    for action in ACTION_PAGES {
        let page = root().join("docs").join(format!("{action}.md"));
        assert!(page.is_file(), "{} is missing", page.display());
        assert!(
            readme.contains(&format!("](docs/{action}.md)")),
            "the README does not link docs/{action}.md"
        );
    }
    // Every page is reachable: linked from the README, or from another page.
    let pages = doc_pages();
    for page in &pages {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let linked = readme.contains(&format!("](docs/{name}"))
            || pages
                .iter()
                .filter(|other| *other != page)
                .any(|other| read(other).contains(&format!("]({name}")));
        assert!(linked, "docs/{name} is linked from neither the README nor another page");
    }
}

#[test]
fn the_grouping_reads_the_usage_text() {
    let names = |name: &str| actions_of(vars::ALL.iter().find(|var| var.name == name).unwrap());
    assert_eq!(names("TASK_DEFINITION"), ["ecs-deploy", "rollback"]);
    assert_eq!(names("VERSION"), ["lambda-deploy", "rollback"]);
    assert_eq!(names("DOCKER_HOST"), ["ecr-push"]);
    assert_eq!(names("S3_BUCKET_OWNER"), ["lambda-deploy", "trust-policy"]);
    assert!(names("WAIT").is_empty() && names("DEBUG").is_empty() && names("ACTION").is_empty());
}

#[test]
fn the_readme_stays_a_pipe_page() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; the pipe page stays within {README_MAX_LINES}: move detail to docs/"
    );
    // The smallest working step of each action is within reach of the top: the quick start opens
    // on the first screen, with `oidc: true`.
    let quick = readme.find("## Quick start").expect("the README has a quick start");
    assert!(
        readme[..quick].lines().count() <= 40,
        "the quick start must open within the first 40 lines"
    );
    let quick_section = &readme[quick..];
    let quick_section = &quick_section[..quick_section[3..]
        .find("\n## ")
        .map_or(quick_section.len(), |at| at + 3)];
    assert!(quick_section.contains("oidc: true"));
    for action in [
        "assume-role",
        "ecs-deploy",
        "lambda-deploy",
        "ecr-push",
        "rollback",
        "trust-policy",
    ] {
        assert!(
            quick_section.contains(&format!("ACTION: \"{action}\"")),
            "the quick start has no step for {action}"
        );
    }
}

#[test]
fn pipe_yml_declares_only_known_variables_with_the_same_defaults() {
    let pipe = read(&root().join("pipe.yml"));
    let mut names = Vec::new();
    let mut lines = pipe.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("- name: ") else {
            continue;
        };
        let var = vars::ALL
            .iter()
            .find(|var| var.name == name)
            .unwrap_or_else(|| panic!("pipe.yml declares {name}, which src/vars.rs does not know"));
        let default = lines.peek().and_then(|next| next.trim().strip_prefix("default: "));
        if let Some(default) = default {
            let default = default.trim_matches(|c| c == '\'' || c == '"');
            // `$NAME` passes a repository variable through, as Atlassian's pipes do.
            if default != format!("${name}") {
                assert_eq!(Some(default), var.default, "pipe.yml's default for {name}");
            }
        }
        names.push(name);
    }
    assert!(names.contains(&"ACTION"), "pipe.yml must declare ACTION");
}
