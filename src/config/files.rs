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
    let path = resolve_inside(work_dir, value).map_err(|message| vec![message])?;
    let bytes = read_regular_file(&path, DOCUMENT_LIMIT).map_err(|message| vec![message])?;
    let text = String::from_utf8(bytes).map_err(|_| vec![format!("{} is not UTF-8 text", path.display())])?;
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

/// A deploy document larger than this is not one (ECS takes 64 KiB of task definition; Lambda's
/// configuration is smaller still): refused before it is read.
pub const DOCUMENT_LIMIT: u64 = 1024 * 1024;

/// The bytes of a regular file of at most `limit` bytes. Anything else is refused before it is
/// opened: a FIFO would block for ever, a device (`/dev/zero`) never ends, a directory is no
/// document. The file is read no further than the limit, in case it grows meanwhile.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if metadata.len() > limit {
        return Err(format!(
            "{shown} is {} bytes, more than the {limit} a document may have",
            metadata.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read {shown}: {err}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{shown} grew past {limit} bytes while it was read"));
    }
    Ok(bytes)
}

/// Resolve a path to something the pipe deploys (a task definition, a function configuration,
/// a package): inside the clone directory, whether given relative or absolute. A pipe runs in
/// its own container, which sees only the clone directory of the build: any other absolute
/// path is not the user's file.
pub fn resolve_inside(base: &Path, value: &str) -> Result<PathBuf, String> {
    let path = Path::new(value);
    if path.is_absolute() && !normalize(path).starts_with(normalize(base)) {
        return Err(format!(
            "{value:?} is outside the clone directory {}: the pipe sees only the clone directory; give a path inside it",
            normalize(base).display()
        ));
    }
    resolve_path(base, value)
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
    fn deployed_files_stay_inside_the_clone_dir_even_when_absolute() {
        let base = Path::new("/opt/build");
        assert_eq!(
            resolve_inside(base, "/opt/build/task.json").unwrap(),
            PathBuf::from("/opt/build/task.json")
        );
        for value in ["/etc/passwd", "/dev/zero", "/opt/build/../x", "../../etc/passwd"] {
            assert!(
                resolve_inside(base, value)
                    .unwrap_err()
                    .contains("outside the clone directory"),
                "{value}"
            );
        }
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = std::env::temp_dir().join(format!("ard-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("doc.json");
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(read_regular_file(&file, 10).unwrap(), b"{}");
        assert!(read_regular_file(&file, 1).unwrap_err().contains("more than"));
        assert!(read_regular_file(&dir, 10).unwrap_err().contains("not a regular file"));
        assert!(
            read_regular_file(Path::new("/dev/zero"), 10)
                .unwrap_err()
                .contains("not a regular file")
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
