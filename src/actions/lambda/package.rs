//! The deployment package: a `.zip` as it is, or a directory zipped reproducibly (entries
//! sorted, timestamps fixed, executable bits kept), so the same directory always gives the same
//! CodeSha256 and an unchanged build is recognised and not uploaded again.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::domain::lambda::UNZIPPED_MAX;

pub struct Package {
    pub bytes: Vec<u8>,
    /// base64 of the SHA-256 of the bytes, as Lambda reports CodeSha256.
    pub sha256: String,
}

impl Package {
    pub fn new(bytes: Vec<u8>) -> Package {
        let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
        Package { bytes, sha256 }
    }
}

/// The UpdateFunctionCode body for a direct upload, built straight from the package so the zip
/// and its base64 never exist twice: the package is dropped as soon as it is encoded.
pub fn direct_upload_body(package: Package, revision_id: &str) -> bytes::Bytes {
    let encoded_len = package.bytes.len().div_ceil(3) * 4;
    let mut body = String::with_capacity(encoded_len + revision_id.len() + 64);
    body.push_str("{\"RevisionId\":");
    body.push_str(&serde_json::Value::String(revision_id.to_owned()).to_string());
    body.push_str(",\"ZipFile\":\"");
    base64::engine::general_purpose::STANDARD.encode_string(&package.bytes, &mut body);
    drop(package);
    body.push_str("\"}");
    bytes::Bytes::from(body.into_bytes())
}

/// Read a `.zip`, or zip a directory.
pub fn build(path: &Path) -> Result<Package, String> {
    if path.is_dir() {
        return zip_directory(path).map(Package::new);
    }
    let bytes = read_regular_file(path, UNZIPPED_MAX)?;
    if !(bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")) {
        return Err(format!("{} is not a zip file (nor a directory to zip)", path.display()));
    }
    let unzipped =
        unzipped_size(&bytes).map_err(|err| format!("{} is not a zip Lambda can unpack: {err}", path.display()))?;
    if unzipped >= UNZIPPED_MAX {
        return Err(too_big(path, unzipped, "unzips to"));
    }
    Ok(Package::new(bytes))
}

/// What a zip unpacks to, from its central directory (nothing is inflated).
/// Read a file only when it is a regular one (a FIFO would block for ever, a device never end)
/// and not larger than `limit`, checked before reading, and read no further than that.
fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let metadata = std::fs::metadata(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!(
            "{} is {}, not a regular file",
            path.display(),
            kind_of(&metadata)
        ));
    }
    if metadata.len() >= limit {
        return Err(too_big(path, metadata.len(), "is"));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    std::fs::File::open(path)
        .and_then(|file| file.take(limit).read_to_end(&mut bytes))
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    Ok(bytes)
}

/// What a file that is not a regular file or a directory is, for the error.
fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = metadata.file_type();
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Bounds of a directory walk, so no committed tree of links can make it run away: Lambda takes
/// less than 250 MB unzipped, and no real package nests this deep or holds this many files.
const MAX_DEPTH: usize = 64;
const MAX_ENTRIES: usize = 50_000;

fn unzipped_size(bytes: &[u8]) -> Result<u64, zip::result::ZipError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut total = 0u64;
    for index in 0..archive.len() {
        total = total.saturating_add(archive.by_index_raw(index)?.size());
    }
    Ok(total)
}

/// Lambda refuses code of `UNZIPPED_MAX` bytes or more once unpacked ("Unzipped size must be
/// smaller than 262144000 bytes"); layers count towards it too.
fn too_big(path: &Path, size: u64, what: &str) -> String {
    format!(
        "{} {what} {} MB, and Lambda takes less than {} MB of unzipped code (layers included)",
        path.display(),
        size.div_ceil(1024 * 1024),
        UNZIPPED_MAX / 1024 / 1024
    )
}

/// Zip every file under `root` in byte order of their paths, with the zip format's earliest
/// timestamp and 0755/0644 modes, so only the files' contents and names decide the bytes.
pub fn zip_directory(root: &Path) -> Result<Vec<u8>, String> {
    let real_root = root
        .canonicalize()
        .map_err(|err| format!("{}: {err}", root.display()))?;
    let mut walk = Walk {
        root: real_root.clone(),
        visited: std::collections::HashSet::from([real_root.clone()]),
        files: Vec::new(),
        entries: 0,
        bytes: 0,
    };
    walk.collect(&real_root, 0)?;
    let mut files = walk.files;
    files.sort_by(|(a, _, _), (b, _, _)| a.as_bytes().cmp(b.as_bytes()));
    if files.is_empty() {
        return Err(format!("{} has no files to deploy", root.display()));
    }
    // Lambda refuses code above its unzipped limit when it unpacks it: say so before zipping.
    let input = walk.bytes;
    // Reserve what the zip can grow to (deflate hardly expands, plus headers), so the buffer is
    // never copied while it grows: only the pages written count in memory.
    let capacity = input + input / 64 + files.len() as u64 * 256 + 64 * 1024;
    let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(capacity as usize)));
    for (name, path, executable) in files {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::default())
            .unix_permissions(if executable { 0o755 } else { 0o644 });
        writer
            .start_file(name.as_str(), options)
            .map_err(|err| format!("zipping {name}: {err}"))?;
        let mut file = std::fs::File::open(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        std::io::copy(&mut file, &mut writer).map_err(|err| format!("zipping {name}: {err}"))?;
    }
    let cursor = writer
        .finish()
        .map_err(|err| format!("zipping {}: {err}", root.display()))?;
    Ok(cursor.into_inner())
}

/// Regular files under `dir` as (name in the zip, path, executable). Symbolic links are
/// followed only while they stay inside the package directory, and never back into a directory
/// being walked (which would loop).
/// The state of one directory walk: what was found, and what bounds it.
struct Walk {
    root: PathBuf,
    /// Every real directory entered: one reached again through links (a loop, or the
    /// `a -> ../next`, `b -> ../next` pattern that doubles the tree at each level) is refused.
    visited: std::collections::HashSet<PathBuf>,
    files: Vec<(String, PathBuf, bool)>,
    entries: usize,
    bytes: u64,
}

impl Walk {
    fn collect(&mut self, dir: &Path, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("{} nests deeper than {MAX_DEPTH} directories", dir.display()));
        }
        let entries = std::fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|err| format!("{}: {err}", dir.display()))?.path();
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return Err(format!("{} has more than {MAX_ENTRIES} entries", self.root.display()));
            }
            let real = path
                .canonicalize()
                .map_err(|err| format!("{}: {err}", path.display()))?;
            if !real.starts_with(&self.root) {
                return Err(format!("{} links outside the package directory", path.display()));
            }
            let metadata = std::fs::metadata(&real).map_err(|err| format!("{}: {err}", path.display()))?;
            if metadata.is_dir() {
                if !self.visited.insert(real) {
                    return Err(format!(
                        "{} links to a directory the package reaches another way (a loop, or links that \
                         multiply the tree): only regular files and directories, each once, are zipped",
                        path.display()
                    ));
                }
                self.collect(&path, depth + 1)?;
            } else if metadata.is_file() {
                self.bytes = self.bytes.saturating_add(metadata.len());
                if self.bytes >= UNZIPPED_MAX {
                    return Err(format!(
                        "{}: not zipped",
                        too_big(&self.root, self.bytes, "holds files of")
                    ));
                }
                let name = path
                    .strip_prefix(&self.root)
                    .unwrap_or(&path)
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                use std::os::unix::fs::PermissionsExt as _;
                self.files
                    .push((name, path, metadata.permissions().mode() & 0o111 != 0));
            } else {
                return Err(format!(
                    "{} is {}: only regular files and directories are zipped",
                    path.display(),
                    kind_of(&metadata)
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn tree(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("ard-package-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("lib/deep")).unwrap();
        std::fs::write(root.join("handler.py"), "def handler(e, c):\n    return 200\n").unwrap();
        std::fs::write(root.join("lib/deep/data.bin"), [0u8, 1, 2, 3, 255]).unwrap();
        std::fs::write(root.join("bootstrap"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("bootstrap"), std::fs::Permissions::from_mode(0o755)).unwrap();
        root
    }

    #[test]
    fn the_same_directory_gives_the_same_bytes() {
        let root = tree("same");
        let first = zip_directory(&root).unwrap();
        // New modification times must not change the package.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(root.join("handler.py"), "def handler(e, c):\n    return 200\n").unwrap();
        assert_eq!(first, zip_directory(&root).unwrap());
        std::fs::write(root.join("handler.py"), "changed").unwrap();
        assert_ne!(first, zip_directory(&root).unwrap());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn entries_are_sorted_with_modes_kept() {
        let root = tree("modes");
        let bytes = zip_directory(&root).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned())
            .collect();
        assert_eq!(names, ["bootstrap", "handler.py", "lib/deep/data.bin"]);
        assert_eq!(
            archive.by_name("bootstrap").unwrap().unix_mode().unwrap() & 0o777,
            0o755
        );
        assert_eq!(
            archive.by_name("handler.py").unwrap().unix_mode().unwrap() & 0o777,
            0o644
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn direct_upload_body_is_the_json_lambda_expects() {
        let body = direct_upload_body(Package::new(vec![1, 2, 3, 4]), "rev-\"1");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"RevisionId": "rev-\"1", "ZipFile": "AQIDBA=="})
        );
    }

    #[test]
    fn directories_above_the_unzipped_limit_are_refused_before_zipping() {
        let root = tree("huge");
        // Sparse: the sizes add up on paper, nothing is written.
        for name in ["a.bin", "b.bin"] {
            let file = std::fs::File::create(root.join(name)).unwrap();
            file.set_len(UNZIPPED_MAX / 2 + 1).unwrap();
        }
        let error = zip_directory(&root).unwrap_err();
        assert!(error.contains("250 MB") && error.contains("not zipped"), "{error}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn zip_files_are_measured_unzipped() {
        let root = tree("unzipped");
        let bytes = zip_directory(&root).unwrap();
        assert_eq!(unzipped_size(&bytes).unwrap(), 34 + 5 + 10);
        assert!(unzipped_size(b"PK\x03\x04 truncated").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn links_back_up_are_refused_instead_of_looping() {
        let root = tree("loop");
        std::os::unix::fs::symlink("..", root.join("lib/deep/up")).unwrap();
        assert!(zip_directory(&root).unwrap_err().contains("reaches another way"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn links_that_double_the_tree_at_each_level_are_refused_at_once() {
        // dN/a and dN/b both point at dN+1: 2^14 paths to walk without the check.
        let root = tree("bomb");
        for level in 0..14 {
            let dir = root.join(format!("d{level}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("f"), "x").unwrap();
            if level < 13 {
                std::os::unix::fs::symlink(format!("../d{}", level + 1), dir.join("a")).unwrap();
                std::os::unix::fs::symlink(format!("../d{}", level + 1), dir.join("b")).unwrap();
            }
        }
        // Refused by the check, at the second way into d1: without it the walk would go on to
        // MAX_ENTRIES (a different refusal) instead.
        let err = zip_directory(&root).unwrap_err();
        assert!(err.contains("reaches another way"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn only_regular_files_are_read() {
        let root = tree("fifo");
        let fifo = root.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|status| status.success()) {
            assert!(zip_directory(&root).unwrap_err().contains("FIFO"));
            assert!(build(&fifo).err().unwrap().contains("not a regular file"));
        }
        assert!(build(Path::new("/dev/zero")).err().unwrap().contains("a device"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn links_out_of_the_directory_are_refused() {
        let root = tree("links");
        std::os::unix::fs::symlink("/etc/hostname", root.join("stolen")).unwrap();
        assert!(zip_directory(&root).unwrap_err().contains("links outside"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn zip_files_are_checked_and_hashed_like_lambda() {
        let root = tree("file");
        let zip_path = root.join("../ard-package.zip");
        std::fs::write(&zip_path, zip_directory(&root).unwrap()).unwrap();
        let package = build(&zip_path).unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&package.bytes));
        assert_eq!(package.sha256, expected);
        std::fs::write(&zip_path, b"not a zip").unwrap();
        assert!(build(&zip_path).err().unwrap().contains("not a zip file"));
        std::fs::remove_file(&zip_path).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
