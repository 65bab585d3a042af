//! Files named by variables: paths resolved inside the clone directory, and the one loader for
//! the JSON documents users deploy (`TASK_DEFINITION`, `FUNCTION_CONFIGURATION`).

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::Env;
use super::template;
use crate::domain::secret;

/// A JSON document named by a variable: resolved inside the clone directory, parsed, and its
/// `${VAR}` placeholders filled from the environment. Each problem names the file.
pub(super) fn load_json_document(env: &Env, work_dir: &Path, value: &str) -> Result<(PathBuf, Value), Vec<String>> {
    let path = resolve_path(work_dir, value).map_err(|message| vec![message])?;
    let text = std::fs::read_to_string(&path).map_err(|err| vec![format!("cannot read {}: {err}", path.display())])?;
    let mut document: Value =
        serde_json::from_str(&text).map_err(|err| vec![format!("{} is not valid JSON: {err}", path.display())])?;
    template::substitute(&mut document, &|name| {
        let value = env.value(name)?;
        // A repository variable may be a secured one: what it filled in is masked from now on,
        // wherever it appears (an AWS error quoting the document, say). Bitbucket's own build
        // context is public.
        if !name.starts_with("BITBUCKET_") {
            secret::redact_from_now_on(value);
        }
        Some(value.to_owned())
    })
    .map_err(|problems| {
        problems
            .into_iter()
            .map(|problem| format!("{}: {problem}", path.display()))
            .collect::<Vec<_>>()
    })?;
    Ok((path, document))
}

/// Resolve a path given in a variable: absolute paths stay as they are; relative ones resolve
/// against the clone directory and must stay inside it, so a variable cannot reach files of the
/// runner through `..` or a symbolic link.
pub fn resolve_path(base: &Path, value: &str) -> Result<PathBuf, String> {
    let path = Path::new(value);
    let base = normalize(base);
    // An absolute path into the clone directory (`$BITBUCKET_CLONE_DIR/…`) is held to the same
    // rule as a relative one; one elsewhere (a CA bundle of the runner) is taken as it is.
    if path.is_absolute() && !normalize(path).starts_with(&base) {
        return Ok(normalize(path));
    }
    let joined = normalize(&base.join(path));
    let outside = || format!("{value:?} leads outside the clone directory {}", base.display());
    if !joined.starts_with(&base) {
        return Err(outside());
    }
    if let (Ok(real_base), Ok(real)) = (base.canonicalize(), joined.canonicalize())
        && !real.starts_with(&real_base)
    {
        return Err(outside());
    }
    Ok(joined)
}

/// Lexical normalisation: drop `.`, apply `..` (never above the root).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_clone_dir() {
        let base = Path::new("/opt/build");
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("task.json", Ok("/opt/build/task.json")),
            ("./deploy/../task.json", Ok("/opt/build/task.json")),
            ("/etc/ssl/ca.pem", Ok("/etc/ssl/ca.pem")),
            ("../secrets", Err(())),
            ("deploy/../../x", Err(())),
        ];
        for (value, expected) in cases {
            let resolved = resolve_path(base, value);
            match expected {
                Ok(path) => assert_eq!(resolved.unwrap(), PathBuf::from(path), "{value}"),
                Err(()) => assert!(resolved.unwrap_err().contains("outside the clone directory"), "{value}"),
            }
        }
    }

    #[test]
    fn symlinks_out_of_the_clone_dir_are_refused() {
        let dir = std::env::temp_dir().join(format!("ard-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("escape");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        assert!(resolve_path(&dir, "escape/hostname").unwrap_err().contains("outside"));
        let absolute = dir.join("escape/hostname");
        assert!(
            resolve_path(&dir, absolute.to_str().unwrap())
                .unwrap_err()
                .contains("outside"),
            "the $BITBUCKET_CLONE_DIR/... form follows the same rule"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
