//! The variables of `ACTION=ecs-deploy`, checked like all others before the first AWS call.
//! A task definition file is read, filled and checked here too, so a broken file is a
//! validation error, not a half-done deployment.

use std::path::Path;

use super::Env;
use super::files::load_json_document;
use super::reader::Reader;
use crate::domain::codedeploy::{self, CodeDeploySettings};
use crate::domain::ecs::{EcsSettings, ImageChange, RunTask, TaskDefinitionSource, WhenUnfinished};
use crate::domain::task_definition;
use crate::vars;

pub(super) fn read(read: &mut Reader<'_>, env: &Env, work_dir: &Path) -> Option<EcsSettings> {
    let problems_before = read.problems.len();
    let cluster = read.text(&vars::CLUSTER_NAME);
    if cluster.is_none() {
        read.problem(vars::CLUSTER_NAME.name, "is required for ecs-deploy");
    }
    let services = read_services(read);

    // A file that was refused has its own problem: the checks that assume no file was given
    // ("nothing to deploy", SERVICE_NAME required) would only add a second, misleading line.
    let mut file_refused = false;
    let task_definition = match read.raw(&vars::TASK_DEFINITION) {
        None => TaskDefinitionSource::Current,
        Some(value) if is_revision_reference(value) => TaskDefinitionSource::Existing(value.to_owned()),
        // A bare family (`web`) is its latest ACTIVE revision, unless a file has that name.
        Some(value) if is_family(value) && !work_dir.join(value).exists() => {
            TaskDefinitionSource::Existing(value.to_owned())
        }
        Some(value) => match read_file(env, work_dir, value) {
            Ok(source) => source,
            Err(messages) => {
                for message in messages {
                    read.problem(vars::TASK_DEFINITION.name, message);
                }
                file_refused = true;
                TaskDefinitionSource::Current
            }
        },
    };
    if services.is_empty() && !file_refused && !matches!(task_definition, TaskDefinitionSource::File { .. }) {
        read.problem(
            vars::SERVICE_NAME.name,
            "is required, unless TASK_DEFINITION is a file to register without deploying",
        );
    }

    let container_name = read.text(&vars::CONTAINER_NAME);
    let images = read_images(read, container_name.as_deref());
    let force_new_deployment = read.bool(&vars::FORCE_NEW_DEPLOYMENT);
    if !images.is_empty() && matches!(task_definition, TaskDefinitionSource::Existing(_)) {
        read.problem(
            vars::TASK_DEFINITION.name,
            "names an existing revision, which is deployed as it is: IMAGE and IMAGES need a file or no TASK_DEFINITION",
        );
    }
    let nothing_new = !file_refused && matches!(task_definition, TaskDefinitionSource::Current) && images.is_empty();
    if nothing_new && !services.is_empty() && !force_new_deployment {
        read.problem(
            vars::TASK_DEFINITION.name,
            "nothing to deploy: set TASK_DEFINITION, IMAGE or IMAGES (or FORCE_NEW_DEPLOYMENT to restart the tasks)",
        );
    }
    let desired_count = read
        .optional_number(&vars::DESIRED_COUNT, 0..=5000)
        .map(|count| count as i32);
    for (var, set) in [
        (&vars::FORCE_NEW_DEPLOYMENT, force_new_deployment),
        (&vars::DESIRED_COUNT, desired_count.is_some()),
    ] {
        if set && services.is_empty() {
            read.problem(var.name, "needs SERVICE_NAME");
        }
    }

    let run_task_on = read.bool(&vars::RUN_TASK);
    let command = match read.raw(&vars::RUN_TASK_COMMAND) {
        None => None,
        Some(text) => match shell_words(text) {
            Ok(words) => Some(words),
            Err(message) => {
                read.problem(vars::RUN_TASK_COMMAND.name, message);
                None
            }
        },
    };
    if command.is_some() && !run_task_on {
        read.problem(vars::RUN_TASK_COMMAND.name, "is only used with RUN_TASK: \"true\"");
    }
    if run_task_on && services.is_empty() {
        read.problem(
            vars::RUN_TASK.name,
            "needs SERVICE_NAME: the task runs with the first service's network configuration",
        );
    }
    let run_task = run_task_on.then_some(RunTask { command });
    let on_timeout = read_when_unfinished(read, &vars::ON_TIMEOUT);
    let on_failure = read_when_unfinished(read, &vars::ON_FAILURE);

    let codedeploy = read_codedeploy(read, env, work_dir);

    if read.problems.len() > problems_before {
        return None;
    }
    Some(EcsSettings {
        cluster: cluster?,
        services,
        task_definition,
        images,
        container_name,
        force_new_deployment,
        desired_count,
        run_task,
        on_timeout,
        on_failure,
        keep_revisions: super::read_keep(read, &vars::KEEP_REVISIONS),
        codedeploy,
    })
}

/// `CODEDEPLOY_*`: names as CodeDeploy allows them, and the AppSpec file read and checked here,
/// as data (JSON, `${VAR}` placeholders filled like a task definition's), so a bad file stops
/// the step before any change.
fn read_codedeploy(read: &mut Reader<'_>, env: &Env, work_dir: &Path) -> CodeDeploySettings {
    let mut name = |var: &crate::vars::Var| {
        let value = read.text(var)?;
        // CodeDeploy: 1-100 characters; the pipe's own check keeps them to what names are.
        if (1..=100).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.+@".contains(c)) {
            Some(value)
        } else {
            read.problem(
                var.name,
                format!("{value:?} is not a CodeDeploy name (1-100 letters, digits, and _ - . + @)"),
            );
            None
        }
    };
    let application = name(&vars::CODEDEPLOY_APPLICATION);
    let deployment_group = name(&vars::CODEDEPLOY_DEPLOYMENT_GROUP);
    let appspec = read
        .raw(&vars::CODEDEPLOY_APPSPEC)
        .map(str::to_owned)
        .and_then(|value| {
            let checked = load_json_document(env, work_dir, &value).and_then(|(path, document)| {
                codedeploy::read_user_appspec(&value, &document)
                    .map_err(|problem| vec![format!("{}: {problem}", path.display())])
            });
            checked
                .map_err(|problems| {
                    for problem in problems {
                        read.problem(vars::CODEDEPLOY_APPSPEC.name, problem);
                    }
                })
                .ok()
        });
    CodeDeploySettings {
        application,
        deployment_group,
        appspec,
    }
}

/// `SERVICE_NAME`: names or ARNs, each once.
pub(super) fn read_services(read: &mut Reader<'_>) -> Vec<String> {
    let mut services = Vec::new();
    for service in read.list(&vars::SERVICE_NAME) {
        if !is_resource_name(&service) {
            read.problem(
                vars::SERVICE_NAME.name,
                format!("{service:?} is not a service name or ARN"),
            );
        } else if !services.contains(&service) {
            services.push(service);
        }
    }
    services
}

pub(super) fn read_when_unfinished(read: &mut Reader<'_>, var: &crate::vars::Var) -> WhenUnfinished {
    let Some(value) = read.raw(var) else {
        return WhenUnfinished::Fail;
    };
    WhenUnfinished::parse(value).unwrap_or_else(|| {
        read.problem(var.name, format!("must be fail or rollback, got {value:?}"));
        WhenUnfinished::Fail
    })
}

fn read_images(read: &mut Reader<'_>, container_name: Option<&str>) -> Vec<ImageChange> {
    let single = read.text(&vars::IMAGE);
    let listed = read.list(&vars::IMAGES);
    if single.is_some() && !listed.is_empty() {
        read.problem(vars::IMAGES.name, "cannot be combined with IMAGE: use one of them");
        return Vec::new();
    }
    if let Some(image) = single {
        if !is_image(&image) {
            read.problem(vars::IMAGE.name, format!("{image:?} is not an image reference"));
            return Vec::new();
        }
        return vec![ImageChange {
            container: container_name.map(str::to_owned),
            image,
        }];
    }
    let mut changes: Vec<ImageChange> = Vec::new();
    for item in listed {
        match item.split_once('=') {
            Some((container, image)) if !container.is_empty() && is_image(image) => {
                if changes
                    .iter()
                    .any(|change| change.container.as_deref() == Some(container))
                {
                    read.problem(vars::IMAGES.name, format!("names container {container:?} twice"));
                }
                changes.push(ImageChange {
                    container: Some(container.to_owned()),
                    image: image.to_owned(),
                });
            }
            _ => read.problem(vars::IMAGES.name, format!("{item:?} is not container=image")),
        }
    }
    changes
}

fn read_file(env: &Env, work_dir: &Path, value: &str) -> Result<TaskDefinitionSource, Vec<String>> {
    let (path, document) = load_json_document(env, work_dir, value)?;
    let (body, dropped) =
        task_definition::request_body(document).map_err(|message| vec![format!("{} {message}", path.display())])?;
    Ok(TaskDefinitionSource::File { path, body, dropped })
}

/// `family:revision` or a task definition ARN, as opposed to a file path.
pub(super) fn is_revision_reference(value: &str) -> bool {
    if value.starts_with("arn:") {
        return value.contains(":task-definition/");
    }
    task_definition::family_revision(value).is_some_and(|(family, _)| is_family(family))
}

/// A task definition family name: up to 255 letters, digits, `_` and `-`.
fn is_family(value: &str) -> bool {
    (1..=255).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_resource_name(value: &str) -> bool {
    value.starts_with("arn:")
        || (1..=255).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_image(value: &str) -> bool {
    !value.is_empty() && !value.contains(char::is_whitespace)
}

/// Split a command line the way a POSIX shell does for words: whitespace separates, single
/// quotes keep everything, double quotes keep all but `\"` and `\\`, a backslash escapes the
/// next character. No expansion happens: the task gets the words as written.
pub fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(inner) => word.push(inner),
                        None => return Err("has an unclosed single quote".to_owned()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => word.push(escaped),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err("has an unclosed double quote".to_owned()),
                        },
                        Some(inner) => word.push(inner),
                        None => return Err("has an unclosed double quote".to_owned()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(escaped) => word.push(escaped),
                    None => return Err("ends with a lone backslash".to_owned()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("is empty".to_owned());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_follow_shell_rules() {
        let cases: &[(&str, &[&str])] = &[
            ("python manage.py migrate", &["python", "manage.py", "migrate"]),
            ("sh -c 'echo $HOME && exit 1'", &["sh", "-c", "echo $HOME && exit 1"]),
            (
                r#"echo "a \"quoted\" word" b\ c"#,
                &["echo", "a \"quoted\" word", "b c"],
            ),
            ("  spaced   out  ", &["spaced", "out"]),
            ("empty '' arg", &["empty", "", "arg"]),
            (r#""keep \n backslash""#, &["keep \\n backslash"]),
        ];
        for (text, expected) in cases {
            assert_eq!(shell_words(text).unwrap(), *expected, "{text}");
        }
        for bad in ["'open", "\"open", "trailing\\", "   "] {
            assert!(shell_words(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revision_references_and_paths() {
        for reference in [
            "web:42",
            "my_app-2:1",
            "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:3",
        ] {
            assert!(is_revision_reference(reference), "{reference}");
        }
        for path in ["task.json", "deploy/web:prod.json", "./web:3", "web"] {
            assert!(!is_revision_reference(path), "{path}");
        }
        assert!(is_family("web") && is_family("my_app-2"));
        assert!(!is_family("task.json") && !is_family("deploy/web") && !is_family(""));
    }
}
