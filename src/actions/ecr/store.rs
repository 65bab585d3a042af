//! Where an archive's files are: a directory, or a tar indexed once (entry name → offset and
//! size, links resolved) so each file is read in place, never unpacked.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A manifest or configuration larger than this is not one.
pub const SMALL_FILE: u64 = 4 * 1024 * 1024;

/// Where the archive's files are.
pub enum Store {
    Dir(PathBuf),
    /// A tar: entry name → (offset of its data, size).
    Tar(PathBuf, BTreeMap<String, (u64, u64)>),
}

impl Store {
    pub fn locate(&self, name: &str) -> Option<(PathBuf, u64, u64)> {
        match self {
            Store::Dir(dir) => {
                let path = dir.join(name);
                let meta = std::fs::metadata(&path).ok().filter(|meta| meta.is_file())?;
                Some((path, 0, meta.len()))
            }
            Store::Tar(path, entries) => entries.get(name).map(|(offset, size)| (path.clone(), *offset, *size)),
        }
    }

    pub fn read_small(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let Some((path, offset, size)) = self.locate(name) else {
            return Ok(None);
        };
        if size > SMALL_FILE {
            return Err(format!("{name} is {size} bytes, too large for a manifest"));
        }
        let mut file = std::fs::File::open(&path).map_err(|err| err.to_string())?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset)).map_err(|err| err.to_string())?;
        let mut bytes = vec![0; size as usize];
        file.read_exact(&mut bytes).map_err(|err| err.to_string())?;
        Ok(Some(bytes))
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            Store::Dir(dir) => std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default(),
            Store::Tar(_, entries) => entries.keys().cloned().collect(),
        }
    }
}

pub fn index_tar(path: &Path) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let mut file = std::fs::File::open(path).map_err(|err| format!("cannot be read: {err}"))?;
    let mut magic = [0u8; 512];
    let got = file.read(&mut magic).map_err(|err| format!("cannot be read: {err}"))?;
    if magic[..got.min(2)] == [0x1f, 0x8b] {
        return Err("is gzip-compressed: pass the uncompressed tar (docker save without gzip, or gunzip it)".into());
    }
    if got < 512 || &magic[257..262] != b"ustar" {
        return Err(format!("is not a tar archive ({got} bytes read, no tar header)"));
    }
    let file = std::fs::File::open(path).map_err(|err| format!("cannot be read: {err}"))?;
    let mut archive = tar::Archive::new(file);
    let mut entries = BTreeMap::new();
    let mut links = Vec::new();
    for entry in archive
        .entries()
        .map_err(|err| format!("is not a readable tar: {err}"))?
    {
        let entry = entry.map_err(|err| format!("is a damaged tar: {err}"))?;
        let name = clean(&entry.path().map_err(|err| err.to_string())?.to_string_lossy());
        let kind = entry.header().entry_type();
        if kind.is_file() {
            entries.insert(name, (entry.raw_file_position(), entry.size()));
        } else if (kind.is_symlink() || kind.is_hard_link())
            && let Ok(Some(target)) = entry.link_name()
        {
            let target = target.to_string_lossy().into_owned();
            let resolved = if kind.is_symlink() && !target.starts_with('/') {
                let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
                clean(&format!("{dir}/{target}"))
            } else {
                clean(&target)
            };
            links.push((name, resolved));
        }
    }
    for (name, target) in links {
        if let Some(place) = entries.get(&target).copied() {
            entries.insert(name, place);
        }
    }
    Ok(entries)
}

/// `./a/../b/c` → `b/c`.
fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
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
