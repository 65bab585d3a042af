//! The "Coming from Atlassian's pipes" page's tables (docs/coming-from-atlassian.md) are checked against the code: against
//! `src/vars.rs` (every name of ours exists, every different default is said) and against the
//! unknown-variable check (every name of theirs is handled the way its row says: read, or refused
//! naming ours).

use aws_role_deploy::config::unknown::{ATLASSIAN, AtlassianPipe, AtlassianVariable, Ours};
use aws_role_deploy::config::{Config, Env};
use aws_role_deploy::error::Error;
use aws_role_deploy::vars;

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/coming-from-atlassian.md");

fn guide() -> String {
    let guide = std::fs::read_to_string(GUIDE).unwrap_or_else(|err| panic!("{GUIDE}: {err}"));
    assert!(
        guide.starts_with("# Coming from Atlassian's pipes"),
        "{GUIDE} is the migration guide"
    );
    guide
}

/// The rows of one pipe's table: (their variable, the "Here" column, notes).
fn rows(guide: &str, pipe: AtlassianPipe) -> Vec<(String, String, String)> {
    let heading = format!("## `atlassian/{}`", pipe.name());
    let start = guide
        .find(&heading)
        .unwrap_or_else(|| panic!("the guide has no {heading:?} table"));
    let rest = &guide[start + heading.len()..];
    let table = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 3, "{heading}: a row has three columns: {line}");
            (
                cells[0].trim_matches('`').to_owned(),
                cells[1].to_owned(),
                cells[2].to_owned(),
            )
        })
        .collect()
}

/// What the "Here" column must read for a variable of theirs.
fn expected_here(theirs: &AtlassianVariable) -> String {
    match theirs.ours {
        Ours::Same => "same".to_owned(),
        Ours::Renamed(ours) => format!("`{ours}`"),
        Ours::Action(action) => format!("`ACTION: \"{action}\"`"),
        Ours::Nothing(_) => "none".to_owned(),
    }
}

/// The validation problems of a step of `action` with `name` set to `value`.
fn problems_with(action: &str, name: &str, value: &str) -> Vec<(String, String)> {
    let env = Env::from_pairs([
        ("ACTION", action),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE1"),
        ("AWS_SECRET_ACCESS_KEY", "secretsecretsecret"),
        (name, value),
    ]);
    match Config::from_env(&env) {
        Ok(_) => Vec::new(),
        Err(Error::Validation(problems)) => problems.into_iter().map(|p| (p.variable, p.message)).collect(),
        Err(other) => panic!("{name}: unexpected error {other:?}"),
    }
}

#[test]
fn each_table_lists_exactly_their_variables_the_way_the_code_handles_them() {
    let guide = guide();
    for pipe in AtlassianPipe::ALL {
        let theirs: Vec<&AtlassianVariable> = ATLASSIAN.iter().filter(|variable| variable.pipe == pipe).collect();
        let rows = rows(&guide, pipe);
        let listed: Vec<&str> = rows.iter().map(|(name, _, _)| name.as_str()).collect();
        let declared: Vec<&str> = theirs.iter().map(|variable| variable.name).collect();
        assert_eq!(
            listed,
            declared,
            "the {} table and config::unknown::ATLASSIAN list different variables",
            pipe.name()
        );
        for ((name, here, notes), theirs) in rows.iter().zip(theirs) {
            assert_eq!(here, &expected_here(theirs), "{}: {name}", pipe.name());
            let problems = problems_with(pipe.action(), name, "false");
            let refusal = problems.iter().find(|(variable, _)| variable == name);
            match theirs.ours {
                Ours::Same => {
                    let ours = vars::ALL
                        .iter()
                        .find(|var| var.name == name)
                        .unwrap_or_else(|| panic!("{name} is said to be the same, but src/vars.rs lacks it"));
                    // Its value may be refused ("false" is no region), never its name.
                    assert!(
                        refusal.is_none_or(
                            |(_, message)| !message.contains("Atlassian") && !message.contains("did you mean")
                        ),
                        "{name} is shared but refused: {refusal:?}"
                    );
                    if theirs.default.is_some() && theirs.default != ours.default {
                        assert!(
                            notes.contains("Default") || notes.contains("default"),
                            "{}: {name}'s default differs ({:?} there, {:?} here): the notes must say so",
                            pipe.name(),
                            theirs.default,
                            ours.default
                        );
                    }
                }
                Ours::Renamed(ours) => {
                    assert!(vars::ALL.iter().any(|var| var.name == ours), "{ours} is not a variable");
                    let (_, message) = refusal.unwrap_or_else(|| panic!("{name} is not refused"));
                    assert!(message.contains(&format!("rename it to {ours}")), "{name}: {message}");
                }
                Ours::Action(action) => {
                    let (_, message) = refusal.unwrap_or_else(|| panic!("{name} is not refused"));
                    assert!(message.contains(&format!("ACTION: \"{action}\"")), "{name}: {message}");
                }
                Ours::Nothing(why) => {
                    let (_, message) = refusal.unwrap_or_else(|| panic!("{name} is not refused"));
                    assert!(
                        message.contains("no equivalent") && message.contains(why),
                        "{name}: {message}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_name_of_ours_in_the_guide_exists() {
    let guide = guide();
    for pipe in AtlassianPipe::ALL {
        for (name, here, notes) in rows(&guide, pipe) {
            for cell in [&here, &notes] {
                for quoted in cell.split('`').skip(1).step_by(2) {
                    let word = quoted.split(':').next().unwrap_or_default();
                    let is_name = word.len() > 2
                        && word
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                    assert!(
                        !is_name
                            || word == "ACTION"
                            || vars::ALL.iter().any(|var| var.name == word)
                            || ATLASSIAN.iter().any(|theirs| theirs.name == word),
                        "{}: the row of {name} names {word}, which src/vars.rs does not declare",
                        pipe.name()
                    );
                }
            }
        }
    }
}

#[test]
fn the_guide_says_the_deliberate_difference_and_the_outputs() {
    let guide = guide();
    for needed in [
        "`AWS_OIDC_ROLE_ARN` on a step without `oidc: true` is an error",
        "aws-lambda-deploy-env",
        "aws-role-deploy.env",
        "aws-role-deploy.json",
    ] {
        assert!(guide.contains(needed), "the guide does not say {needed:?}");
    }
    // The difference is real: the keys are not used instead.
    let env = Env::from_pairs([
        ("ACTION", "assume-role"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/bitbucket-oidc"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE1"),
        ("AWS_SECRET_ACCESS_KEY", "secretsecretsecret"),
    ]);
    match Config::from_env(&env) {
        Err(Error::Validation(problems)) => assert!(
            problems
                .iter()
                .any(|p| p.variable == "AWS_OIDC_ROLE_ARN" && p.message.contains("oidc: true")),
            "{problems:?}"
        ),
        other => panic!("AWS_OIDC_ROLE_ARN without a token must be refused, got {other:?}"),
    }
}

#[test]
fn the_guide_shows_what_an_atlassian_step_run_unchanged_is_told() {
    let guide = guide();
    let start = guide
        .find("```text\n✖ Validation errors:")
        .expect("the guide shows a refusal");
    let block = &guide[start..];
    let shown: Vec<&str> = block[..3 + block[3..].find("```").unwrap()]
        .lines()
        .filter_map(|line| line.strip_prefix("  - "))
        .collect();
    let env = Env::from_pairs([
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE1"),
        ("AWS_SECRET_ACCESS_KEY", "secretsecretsecret"),
        ("FUNCTION_NAME", "my-function"),
        ("COMMAND", "update"),
        ("ZIP_FILE", "my-function.zip"),
        ("PUBLISH_FLAG", "false"),
    ]);
    let Err(Error::Validation(problems)) = Config::from_env(&env) else {
        panic!("Atlassian's Lambda step must be refused");
    };
    let told: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.variable, p.message))
        .collect();
    assert_eq!(shown, told, "the guide's example refusal is not what the pipe says");
}
