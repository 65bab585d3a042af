//! Everything the pipe prints or leaves behind: `INFO:`/`WARNING:`/`DEBUG:` lines, the final
//! `✔`/`✖` line, and the outputs files for later script lines.
//!
//! Every line is the pipe's own prefix (`INFO: `, `✔ `, a colour) followed by text that went
//! through [`printable`]: the redactor, then one escaping function. So nothing from outside (an
//! AWS message, a task-definition value, a file name, an environment value) can end a line and
//! start one of its own (a forged `✔`, `✖` or `INFO:`), nor move Bitbucket's cursor with ANSI.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use std::borrow::Cow;

use crate::domain::secret::redact;
use crate::error::Error;

// Bitbucket's log viewer renders ANSI colours, so they are kept even without a TTY, as
// Atlassian's pipes do.
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREY: &str = "\x1b[90m";
const RESET: &str = "\x1b[0m";

/// Route the crate's `tracing` events to Bitbucket-style lines: warnings and errors on stderr,
/// the rest on stdout. Only this crate's events are shown: the SDK's own debug output can
/// include request details, and DEBUG must stay safe to turn on.
pub fn init_logging(debug: bool) {
    let level = if debug { Level::DEBUG } else { Level::INFO };
    let writer = std::io::stderr.with_max_level(Level::WARN).or_else(std::io::stdout);
    let lines = tracing_subscriber::fmt::layer()
        .event_format(PipeLines)
        .with_writer(writer);
    let only_ours = Targets::new().with_target(env!("CARGO_CRATE_NAME"), level);
    // A second initialisation (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::registry().with(lines).with(only_ours).try_init();
}

struct PipeLines;

impl<S, N> FormatEvent<S, N> for PipeLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let mut text = String::new();
        event.record(&mut Text(&mut text));
        let (label, colour) = match *event.metadata().level() {
            Level::ERROR => ("ERROR", RED),
            Level::WARN => ("WARNING", YELLOW),
            Level::INFO => ("INFO", ""),
            _ => ("DEBUG", GREY),
        };
        let reset = if colour.is_empty() { "" } else { RESET };
        writeln!(writer, "{colour}{label}: {}{reset}", printable(&text))
    }
}

/// An event's text as its macro wrote it. tracing-subscriber's own field formatting escapes
/// ANSI sequences one character at a time (a `write_char` each); `printable` escapes every
/// control character of the line anyway, so that pass only cost time (in a callgrind profile of
/// a 50-service ecs-deploy, 2026-12-07, a third of the ~87,000 instructions each further AWS
/// call spent on its progress lines). The crate's events carry only a message; any other field
/// is written `name=value`, as the default formatting does.
struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let separator = if self.0.is_empty() { "" } else { " " };
        let _ = match field.name() {
            "message" => write!(self.0, "{separator}{value:?}"),
            name => write!(self.0, "{separator}{name}={value:?}"),
        };
    }
}

/// A generated document (`ACTION: trust-policy`), as it is, line by line (through the redactor,
/// like every line the pipe prints).
pub fn print_document(document: &str) {
    for line in document.lines() {
        println!("{}", printable(line));
    }
}

/// The final green line of a successful run.
pub fn success(message: &str) {
    println!("{GREEN}✔ {}{RESET}", printable(message));
}

/// What every piece of text becomes before it is printed: secrets masked, then one line.
pub fn printable(text: &str) -> Cow<'_, str> {
    match redact(text) {
        Cow::Borrowed(text) => one_line(text),
        Cow::Owned(text) => Cow::Owned(one_line(&text).into_owned()),
    }
}

/// Text as one line: a control character (newline, carriage return, ESC, the C1 controls) or a
/// Unicode line or paragraph separator inside it (from a value, or from an AWS message quoting
/// one) is shown escaped, so it cannot end the line and forge another (a `✔`, a log line) nor
/// move the cursor.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let breaks = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(breaks) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if breaks(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// The final red block of a failed run: details first, the `✖` headline last, as users look at
/// the last line of a failed step first.
pub fn failure(error: &Error) {
    let mut block = String::new();
    match error {
        Error::Validation(problems) => {
            let _ = writeln!(block, "{RED}✖ Validation errors:{RESET}");
            for problem in problems {
                let _ = writeln!(
                    block,
                    "{RED}  - {}: {}{RESET}",
                    printable(&problem.variable),
                    printable(&problem.message)
                );
            }
            // The block is the Bitbucket convention; the last line still says what failed,
            // since that is the line users read first.
            let mut variables: Vec<&str> = Vec::new();
            for problem in problems {
                if !variables.contains(&problem.variable.as_str()) {
                    variables.push(&problem.variable);
                }
            }
            let _ = writeln!(
                block,
                "{RED}✖ Fix the variables above: {}{RESET}",
                printable(&variables.join(", "))
            );
        }
        other => {
            for line in other.details() {
                let _ = writeln!(block, "{}", printable(line));
            }
            let _ = writeln!(block, "{RED}✖ {}{RESET}", printable(&other.to_string()));
        }
    }
    eprint!("{block}");
}

/// What a run leaves for later script lines in `$BITBUCKET_PIPE_SHARED_STORAGE_DIR`.
pub const ENV_FILE: &str = "aws-role-deploy.env";
pub const JSON_FILE: &str = "aws-role-deploy.json";

/// Prefix of the variables in the env outputs file, so sourcing it clobbers nothing else.
pub const ENV_PREFIX: &str = "AWS_ROLE_DEPLOY_";

/// Write the outcome as a sourceable env file and as JSON. The outcome is built from structured
/// values and credentials are never part of one (`Secret` cannot be serialised), so values are
/// written as they are: no substring is replaced after the fact, which could corrupt a value
/// (an account id containing a two-character ExternalId). A value that nonetheless contains a
/// registered secret (an AWS message quoting one) is withheld whole.
/// Each file is written whole or not at all (a temporary file renamed into place), never through
/// a link someone left at its name, and never into a linked directory (`linked_directory`).
pub fn write_outputs(
    dir: &Path,
    clone_dir: Option<&Path>,
    json: &serde_json::Value,
) -> Result<(PathBuf, PathBuf), Error> {
    let json = withheld(json);
    let failed = |path: &Path, err: std::io::Error| Error::Outputs(format!("{}: {err}", path.display()));
    if let Some(problem) = linked_directory(dir, clone_dir) {
        return Err(Error::Outputs(problem));
    }
    std::fs::create_dir_all(dir).map_err(|err| failed(dir, err))?;
    // Created just now: checked again, so a link put in place meanwhile is not written through.
    if let Some(problem) = linked_directory(dir, clone_dir) {
        return Err(Error::Outputs(problem));
    }
    let env_path = dir.join(ENV_FILE);
    let mut env_text = String::new();
    for (key, value) in env_pairs(&json) {
        let _ = writeln!(env_text, "{key}={}", shell_quote(&value));
    }
    write_atomically(&env_path, env_text.as_bytes()).map_err(|err| failed(&env_path, err))?;
    let json_path = dir.join(JSON_FILE);
    let json_text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    write_atomically(&json_path, json_text.as_bytes()).map_err(|err| failed(&json_path, err))?;
    Ok((env_path, json_path))
}

/// Outputs of an earlier run in the same step must not pass for this run's: removed before the
/// run does anything, before its variables are even validated (a link is removed, not
/// followed; nothing is removed in a linked directory). Returns what could not be done, for
/// warnings once logging is set up.
pub fn remove_stale_outputs(dir: &Path, clone_dir: Option<&Path>) -> Vec<String> {
    if let Some(problem) = linked_directory(dir, clone_dir) {
        return vec![problem];
    }
    let mut problems = Vec::new();
    for name in [ENV_FILE, JSON_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(err) => problems.push(format!("Could not remove the earlier {name}: {err}")),
        }
    }
    problems
}

/// The outputs directory, or a directory on its way from the clone directory (repository
/// content: a committed `.bitbucket` link), is a symbolic link: writing there would put files
/// wherever the link points, so it is refused.
fn linked_directory(dir: &Path, clone_dir: Option<&Path>) -> Option<String> {
    let below_clone = clone_dir.and_then(|clone| dir.strip_prefix(clone).ok().map(|rest| (clone, rest)));
    let mut checked: Vec<PathBuf> = match below_clone {
        Some((clone, rest)) => {
            let mut path = clone.to_path_buf();
            rest.components()
                .map(|part| {
                    path.push(part);
                    path.clone()
                })
                .collect()
        }
        None => vec![dir.to_path_buf()],
    };
    checked.retain(|path| std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()));
    checked.first().map(|link| {
        format!(
            "{} is a symbolic link: no outputs files are written through it (BITBUCKET_PIPE_SHARED_STORAGE_DIR {}; \
             remove the link from the repository)",
            link.display(),
            dir.display()
        )
    })
}

/// A new file beside `path`, created exclusively (an existing file or link there is an error,
/// not a target), then renamed over `path` (which replaces a link instead of following it).
/// The rename is what makes it atomic for readers (the old file or the new one, never a part).
/// No fsync: the readers are the step's later script lines, on the same machine's page cache,
/// and a machine that loses power ends the step with it; a flush to disk made the pipe's run
/// wait 0.3-1.5 ms per file on a quiet machine and up to 14 ms on a loaded one (strace -T of
/// an assume + deploy run, 2026-12-07) for nothing.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("outputs");
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// A string value containing a registered secret replaced whole by a placeholder; every other
/// value kept exactly.
fn withheld(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) if crate::domain::secret::contains_secret(text) => {
            Value::String(crate::domain::secret::WITHHELD.to_owned())
        }
        Value::Array(items) => Value::Array(items.iter().map(withheld).collect()),
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), withheld(v))).collect()),
        other => other.clone(),
    }
}

/// The JSON flattened into `KEY=value` pairs: `{"a": {"b": 1}}` → `AWS_ROLE_DEPLOY_A_B=1`,
/// list items by index. One shape for both files, so they cannot disagree.
pub fn env_pairs(json: &serde_json::Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    flatten(ENV_PREFIX.trim_end_matches('_'), json, &mut pairs);
    pairs
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                flatten(&format!("{prefix}_{}", key.to_ascii_uppercase()), value, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}_{index}"), item, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Single quotes keep every character literal in POSIX shells; a quote itself is closed,
/// escaped and reopened.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_outputs_are_removed_and_only_real_failures_are_said() {
        let dir = std::env::temp_dir().join(format!("stale-outputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // None there yet, or no directory at all: nothing to say.
        assert!(remove_stale_outputs(&dir, None).is_empty());
        assert!(remove_stale_outputs(&dir.join("missing"), None).is_empty());
        // An earlier run's files: removed, silently.
        std::fs::write(dir.join(ENV_FILE), "X=1").unwrap();
        std::fs::write(dir.join(JSON_FILE), "{}").unwrap();
        assert!(remove_stale_outputs(&dir, None).is_empty());
        assert!(!dir.join(ENV_FILE).exists() && !dir.join(JSON_FILE).exists());
        // Something that cannot be removed as a file (a directory by that name): said.
        std::fs::create_dir_all(dir.join(ENV_FILE)).unwrap();
        let problems = remove_stale_outputs(&dir, None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(&format!("Could not remove the earlier {ENV_FILE}")),
            "{problems:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nested_values_flatten_to_env_names() {
        let mut pairs = Vec::new();
        let value = serde_json::json!({"a": "x", "n": 2, "list": [{"k": true}], "none": null});
        flatten("P", &value, &mut pairs);
        let expected = [("P_A", "x"), ("P_LIST_0_K", "true"), ("P_N", "2")];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn outputs_replace_links_instead_of_following_them_and_mask_before_quoting() {
        let dir = std::env::temp_dir().join(format!("ard-outputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("elsewhere");
        std::fs::write(&target, "untouched").unwrap();
        std::os::unix::fs::symlink(&target, dir.join(ENV_FILE)).unwrap();
        crate::domain::secret::redact_from_now_on("it's-a-secret-value");
        write_outputs(&dir, None, &serde_json::json!({"note": "it's-a-secret-value"})).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
        let env = std::fs::read_to_string(dir.join(ENV_FILE)).unwrap();
        assert!(
            !std::fs::symlink_metadata(dir.join(ENV_FILE))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            env.contains("AWS_ROLE_DEPLOY_NOTE='(withheld: it contained a secret)'") && !env.contains("secret-value"),
            "{env}"
        );
        assert!(remove_stale_outputs(&dir, None).is_empty());
        assert!(!dir.join(ENV_FILE).exists() && !dir.join(JSON_FILE).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_from_outside_can_start_a_line_of_its_own() {
        for (text, shown) in [
            ("plain text → arrows stay", "plain text → arrows stay"),
            ("bad\n✔ Deployed", "bad\\n✔ Deployed"),
            ("a\r\nINFO: forged", "a\\r\\nINFO: forged"),
            ("\u{1b}[2Kcleared", "\\u{1b}[2Kcleared"),
            (
                "next\u{85}line\u{2028}sep\u{2029}para",
                "next\\u{85}line\\u{2028}sep\\u{2029}para",
            ),
            ("tab\there", "tab\\there"),
        ] {
            assert_eq!(printable(text), shown, "{text:?}");
            assert!(!printable(text).contains(['\n', '\r', '\u{1b}']));
        }
    }

    #[test]
    fn values_are_written_as_they_are_and_linked_directories_refused() {
        let root = std::env::temp_dir().join(format!("ard-linked-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let clone = root.join("build");
        let elsewhere = root.join("elsewhere");
        std::fs::create_dir_all(&clone).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        // A short secret (an ExternalId may have two characters) is not masked inside values.
        crate::domain::secret::redact_even_if_short("22");
        let dir = clone.join("out");
        write_outputs(&dir, Some(&clone), &serde_json::json!({"account": "222222222222"})).unwrap();
        let env = std::fs::read_to_string(dir.join(ENV_FILE)).unwrap();
        assert!(env.contains("AWS_ROLE_DEPLOY_ACCOUNT='222222222222'"), "{env}");
        // `.bitbucket` committed as a link: refused, nothing written nor removed elsewhere.
        std::os::unix::fs::symlink(&elsewhere, clone.join(".bitbucket")).unwrap();
        std::fs::write(elsewhere.join(ENV_FILE), "theirs").unwrap();
        let linked = clone.join(".bitbucket");
        let problem = write_outputs(&linked, Some(&clone), &serde_json::json!({"a": "b"})).unwrap_err();
        assert!(problem.to_string().contains("is a symbolic link"), "{problem}");
        assert_eq!(remove_stale_outputs(&linked, Some(&clone)).len(), 1);
        let nested = linked.join("pipes");
        assert!(write_outputs(&nested, Some(&clone), &serde_json::json!({})).is_err());
        assert_eq!(std::fs::read_to_string(elsewhere.join(ENV_FILE)).unwrap(), "theirs");
        assert!(!elsewhere.join("pipes").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn shell_quoting_round_trips_awkward_values() {
        for (value, quoted) in [
            ("plain", "'plain'"),
            ("it's", r"'it'\''s'"),
            ("$HOME `id` \"x\"", "'$HOME `id` \"x\"'"),
            ("", "''"),
        ] {
            assert_eq!(shell_quote(value), quoted);
        }
    }
}
