//! The README's variables table and pipe.yml are checked against `src/vars.rs`, where every
//! variable is declared once: documentation that disagrees with the code fails the build.

use aws_role_deploy::vars::{self, Var};

fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?} section"));
    let rest = &markdown[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

/// The row the README must have for a variable.
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

#[test]
fn variables_table_matches_the_code() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = section(&readme, "## Variables");
    let rows: Vec<&str> = table.lines().filter(|line| line.starts_with("| `")).collect();
    let expected: Vec<String> = vars::ALL.iter().map(|var| expected_row(var)).collect();
    if rows != expected {
        panic!(
            "README's variables table disagrees with src/vars.rs. The table should read:\n\n{}\n",
            expected.join("\n")
        );
    }
}

#[test]
fn pipe_yml_declares_only_known_variables_with_the_same_defaults() {
    let pipe = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipe.yml")).unwrap();
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
