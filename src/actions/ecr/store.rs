//! Where an archive's files are: a directory, or a tar indexed once (tar_index.rs) so each file
//! is read in place, never unpacked. Every name asked for is one the archive itself gave (in
//! `manifest.json`, `index.json`, a descriptor), so it is held to the archive: no `..`, no
//! absolute path, and in a directory no link leading out of it; only regular files are read.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::tar_index::{Entries, index_tar, strict};

/// A manifest, index or configuration larger than this is not one: the registry's own limit
/// for a manifest (4 MiB). Refused before it is read.
pub const SMALL_FILE: u64 = 4 * 1024 * 1024;

/// Where the archive's files are.
pub enum Store {
    /// The directory, and its real path (links resolved) that every file must be under.
    Dir(PathBuf, PathBuf),
    /// A tar: entry name → (offset of its data, size).
    Tar(PathBuf, Entries),
}

impl Store {
    /// The archive at `path`: a directory or a regular file (a tar). Anything else, a FIFO or a
    /// device, is refused without being opened (opening a FIFO blocks).
    pub fn open(path: &Path) -> Result<Store, String> {
        let metadata = std::fs::metadata(path).map_err(|err| format!("cannot be read: {err}"))?;
        if metadata.is_dir() {
            let real = path.canonicalize().map_err(|err| format!("cannot be read: {err}"))?;
            Ok(Store::Dir(path.to_owned(), real))
        } else if metadata.is_file() {
            Ok(Store::Tar(path.to_owned(), index_tar(path)?))
        } else {
            Err("is neither a regular file nor a directory (a FIFO or a device?)".into())
        }
    }

    /// Where the archive's file `name` is: (file, offset, size); `None` if the archive has no
    /// such file; an error if the name or what it reaches leaves the archive, or is no file.
    pub fn locate(&self, name: &str) -> Result<Option<(PathBuf, u64, u64)>, String> {
        let clean = strict(name).map_err(|why| format!("names {name:?}, which {why}"))?;
        if clean.is_empty() {
            return Err(format!("names {name:?}, which is no file of the archive"));
        }
        match self {
            Store::Dir(dir, real_dir) => {
                let path = dir.join(&clean);
                let real = match path.canonicalize() {
                    Ok(real) => real,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(format!("cannot read {clean}: {err}")),
                };
                if !real.starts_with(real_dir) {
                    return Err(format!("{clean} is a link leading outside the archive"));
                }
                let metadata = std::fs::metadata(&real).map_err(|err| format!("cannot read {clean}: {err}"))?;
                if !metadata.is_file() {
                    return Err(format!("{clean} is not a regular file"));
                }
                Ok(Some((real, 0, metadata.len())))
            }
            Store::Tar(path, entries) => Ok(entries.get(&clean).map(|(offset, size)| (path.clone(), *offset, *size))),
        }
    }

    /// A document (index, manifest, configuration) of at most `SMALL_FILE` bytes; a larger one
    /// is refused by its size, before any of it is read.
    pub fn read_small(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let Some((path, offset, size)) = self.locate(name)? else {
            return Ok(None);
        };
        if size > SMALL_FILE {
            return Err(format!(
                "{name} is {size} bytes, more than the {SMALL_FILE} a manifest, index or configuration may have"
            ));
        }
        let mut file = std::fs::File::open(&path).map_err(|err| format!("cannot read {name}: {err}"))?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset)).map_err(|err| err.to_string())?;
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(size)
            .read_to_end(&mut bytes)
            .map_err(|err| format!("cannot read {name}: {err}"))?;
        if bytes.len() as u64 != size {
            return Err(format!("{name} ends after {} of its {size} bytes", bytes.len()));
        }
        Ok(Some(bytes))
    }

    /// Up to `limit` names at the archive's top, for saying what was found instead of an image.
    pub fn names(&self, limit: usize) -> (Vec<String>, usize) {
        let all: Box<dyn Iterator<Item = String>> = match self {
            Store::Dir(dir, _) => match std::fs::read_dir(dir) {
                Ok(entries) => Box::new(entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok())),
                Err(_) => Box::new(std::iter::empty()),
            },
            Store::Tar(_, entries) => Box::new(entries.keys().cloned()),
        };
        let mut names = Vec::new();
        let mut more = 0;
        for name in all {
            if names.len() < limit {
                names.push(name);
            } else {
                more += 1;
            }
        }
        (names, more)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_region(path: &Path, offset: u64, size: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    let mut left = size;
    let mut buffer = vec![0u8; 256 * 1024];
    while left > 0 {
        let want = buffer.len().min(left as usize);
        let got = file.read(&mut buffer[..want])?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file ends early",
            ));
        }
        hasher.update(&buffer[..got]);
        left -= got as u64;
    }
    Ok(format!("sha256:{}", hex(&hasher.finalize())))
}
