//! A tar archive indexed in one walk over its 512-byte headers: entry name → (offset of its
//! data, size). The archive is untrusted data, so every claim a header makes is checked before
//! it is used: names and link targets stay inside the archive (no `..`, no absolute path, no
//! link leaving it), declared sizes fit in the file (a header cannot declare a terabyte the
//! file does not hold), long-name and PAX extension records are read only up to a small bound,
//! and the number of entries and the bytes of their names are bounded, so the index stays small
//! whatever the archive says.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// More entries than any image archive has (a `docker save` of 127 layers has a few hundred).
pub const MAX_ENTRIES: usize = 65_536;
/// Total bytes of entry names kept in the index.
pub const MAX_NAME_BYTES: usize = 8 * 1024 * 1024;
/// A GNU long name or link, or a PAX extended header, larger than this is not one.
const MAX_EXTENSION: u64 = 64 * 1024;
/// Symbolic links followed to reach a file (a → b → c …).
const MAX_HOPS: usize = 16;

const BLOCK: u64 = 512;

/// Entry name → (offset of its data in the file, size).
pub type Entries = BTreeMap<String, (u64, u64)>;

/// Index the tar at `path`. Errors name the entry and say what is wrong with it.
pub fn index_tar(path: &Path) -> Result<Entries, String> {
    let mut file = std::fs::File::open(path).map_err(|err| format!("cannot be read: {err}"))?;
    let length = file.metadata().map_err(|err| format!("cannot be read: {err}"))?.len();
    let mut first = [0u8; 512];
    let got = read_up_to(&mut file, &mut first).map_err(|err| format!("cannot be read: {err}"))?;
    if first[..got.min(2)] == [0x1f, 0x8b] {
        return Err("is gzip-compressed: pass the uncompressed tar (docker save without gzip, or gunzip it)".into());
    }
    if got < 512 || &first[257..262] != b"ustar" {
        return Err(format!("is not a tar archive ({got} bytes read, no tar header)"));
    }
    Walker {
        file,
        length,
        entries: Entries::new(),
        links: HashMap::new(),
        name_bytes: 0,
    }
    .walk()
}

struct Walker {
    file: std::fs::File,
    length: u64,
    entries: Entries,
    /// Link name → the archive name it points at (already resolved against the link's place).
    links: HashMap<String, String>,
    name_bytes: usize,
}

/// What extension headers (GNU `L`/`K`, PAX `x`) said about the next entry.
#[derive(Default)]
struct Pending {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
}

impl Walker {
    fn walk(mut self) -> Result<Entries, String> {
        let mut position = 0u64;
        let mut pending = Pending::default();
        loop {
            if position + BLOCK > self.length {
                if position == self.length {
                    break; // no end-of-archive blocks: tolerated, as tar itself does
                }
                return Err(format!("is a damaged tar: it ends inside a header at byte {position}"));
            }
            let mut header = [0u8; 512];
            self.read_at(position, &mut header)?;
            if header.iter().all(|&b| b == 0) {
                break;
            }
            check_sum(&header, position)?;
            let raw_name = pending.name.take().unwrap_or_else(|| header_name(&header));
            let shown = String::from_utf8_lossy(&raw_name).into_owned();
            let header_size = parse_number(&header[124..136])
                .ok_or_else(|| format!("tar entry {shown:?} has a malformed size field"))?;
            let size = pending.size.take().unwrap_or(header_size);
            let data = position + BLOCK;
            let end = data
                .checked_add(size)
                .filter(|end| *end <= self.length)
                .ok_or_else(|| {
                    format!(
                        "tar entry {shown:?} declares {size} bytes, but the archive ends {} bytes after its header \
                         (a truncated or forged archive)",
                        self.length - data
                    )
                })?;
            let kind = header[156];
            match kind {
                b'L' => pending.name = Some(self.extension(data, size, &shown, "long name")?),
                b'K' => pending.link = Some(self.extension(data, size, &shown, "long link name")?),
                b'x' => {
                    let records = self.extension(data, size, &shown, "PAX header")?;
                    pax(&records, &mut pending).map_err(|message| format!("tar entry {shown:?}: {message}"))?;
                }
                b'g' => {} // global PAX defaults: nothing this reader needs
                b'S' => {
                    return Err(format!(
                        "tar entry {shown:?} is a GNU sparse file, which no image archive holds"
                    ));
                }
                _ => {
                    let link = pending.link.take().unwrap_or_else(|| field(&header[157..257]).to_vec());
                    self.entry(kind, &raw_name, &link, data, size)?;
                }
            }
            position = end.div_ceil(BLOCK) * BLOCK;
        }
        self.resolve_links()
    }

    fn entry(&mut self, kind: u8, raw_name: &[u8], raw_link: &[u8], data: u64, size: u64) -> Result<(), String> {
        let shown = String::from_utf8_lossy(raw_name);
        let name = std::str::from_utf8(raw_name).map_err(|_| format!("tar entry {shown:?} is not named in UTF-8"))?;
        let name = strict(name).map_err(|why| format!("tar entry {name:?} {why}"))?;
        if name.is_empty() {
            return Ok(()); // `./`, the archive's own directory
        }
        match kind {
            // Regular files (`0`, old tars' NUL, contiguous `7`).
            b'0' | 0 | b'7' => {
                self.links.remove(&name);
                self.keep(name, (data, size))?;
            }
            b'1' | b'2' => {
                let target = std::str::from_utf8(raw_link)
                    .map_err(|_| format!("tar link {name:?} points at a name not in UTF-8"))?;
                let resolved = if kind == b'2' && !target.starts_with('/') {
                    // A symbolic link resolves against its own directory.
                    match name.rsplit_once('/') {
                        Some((dir, _)) => inside(&format!("{dir}/{target}")),
                        None => inside(target),
                    }
                } else {
                    // A hard link names another entry of the archive, from its root.
                    strict(target)
                }
                .map_err(|_| format!("tar link {name:?} → {target:?} leads outside the archive"))?;
                self.entries.remove(&name);
                self.count(&name)?;
                self.links.insert(name, resolved);
            }
            // Directories, devices, FIFOs: nothing to read in place; an archive naming one as a
            // blob finds no file there.
            _ => {}
        }
        Ok(())
    }

    fn keep(&mut self, name: String, place: (u64, u64)) -> Result<(), String> {
        self.count(&name)?;
        self.entries.insert(name, place);
        Ok(())
    }

    fn count(&mut self, name: &str) -> Result<(), String> {
        self.name_bytes += name.len();
        if self.entries.len() + self.links.len() >= MAX_ENTRIES || self.name_bytes > MAX_NAME_BYTES {
            return Err(format!(
                "has more than {MAX_ENTRIES} entries or {MAX_NAME_BYTES} bytes of names: not an image archive"
            ));
        }
        Ok(())
    }

    /// Links become the place of the file they reach (through at most `MAX_HOPS` links); one
    /// reaching no file is left out, so a manifest naming it finds nothing.
    fn resolve_links(mut self) -> Result<Entries, String> {
        let mut resolved = Vec::new();
        for (name, target) in &self.links {
            let mut current = target;
            for _ in 0..MAX_HOPS {
                if let Some(place) = self.entries.get(current) {
                    resolved.push((name.clone(), *place));
                    break;
                }
                match self.links.get(current) {
                    Some(next) => current = next,
                    None => break,
                }
            }
        }
        self.entries.extend(resolved);
        Ok(self.entries)
    }

    fn extension(&mut self, data: u64, size: u64, shown: &str, what: &str) -> Result<Vec<u8>, String> {
        if size > MAX_EXTENSION {
            return Err(format!(
                "tar entry {shown:?} is a {what} of {size} bytes, more than the {MAX_EXTENSION} allowed"
            ));
        }
        let mut bytes = vec![0u8; size as usize];
        self.read_at(data, &mut bytes)?;
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        Ok(bytes)
    }

    fn read_at(&mut self, position: u64, buffer: &mut [u8]) -> Result<(), String> {
        self.file
            .seek(SeekFrom::Start(position))
            .and_then(|_| self.file.read_exact(buffer))
            .map_err(|err| format!("cannot be read at byte {position}: {err}"))
    }
}

/// A name as the archive's own entries and documents give it, relative to the archive's root:
/// `./a//b` → `a/b`. A `..` anywhere or a leading `/` is refused: image tools never write one,
/// and it is how an archive reaches outside itself.
pub fn strict(name: &str) -> Result<String, &'static str> {
    if name.split('/').any(|part| part == "..") {
        return Err("leads outside the archive (..)");
    }
    inside(name)
}

/// A link target resolved against the archive's root: `<id>/../blobs/sha256/…` (what Docker 25+
/// writes) → `blobs/sha256/…`; one that climbs above the root, or is absolute, is refused.
fn inside(name: &str) -> Result<String, &'static str> {
    if name.starts_with('/') {
        return Err("is an absolute path");
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Err("holds a control character or a backslash");
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("leads outside the archive (..)");
                }
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

fn check_sum(header: &[u8; 512], position: u64) -> Result<(), String> {
    let stored = parse_number(&header[148..156]);
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(index, byte)| {
            if (148..156).contains(&index) {
                u64::from(b' ')
            } else {
                u64::from(*byte)
            }
        })
        .sum();
    if stored != Some(sum) {
        return Err(format!(
            "is a damaged tar: the header at byte {position} fails its checksum"
        ));
    }
    Ok(())
}

/// The entry's name: POSIX ustar's `prefix/name`, or the name field alone.
fn header_name(header: &[u8; 512]) -> Vec<u8> {
    let name = field(&header[0..100]);
    let prefix = field(&header[345..500]);
    if &header[257..263] == b"ustar\0" && !prefix.is_empty() {
        [prefix, b"/", name].concat()
    } else {
        name.to_vec()
    }
}

/// A NUL-terminated header field.
fn field(bytes: &[u8]) -> &[u8] {
    bytes.iter().position(|&b| b == 0).map_or(bytes, |end| &bytes[..end])
}

/// A numeric header field: octal text, or GNU base-256 (high bit set).
fn parse_number(bytes: &[u8]) -> Option<u64> {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(bytes[0] & 0x7f);
        for &byte in &bytes[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(byte))?;
        }
        return Some(value);
    }
    let text = std::str::from_utf8(field(bytes)).ok()?.trim_matches(|c| c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// PAX records (`<length> <key>=<value>\n`): the path, link path and size of the next entry.
fn pax(records: &[u8], pending: &mut Pending) -> Result<(), String> {
    let mut rest = records;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ').ok_or("a malformed PAX record")?;
        let length: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|text| text.parse().ok())
            .filter(|length| *length > space + 1 && *length <= rest.len())
            .ok_or("a malformed PAX record length")?;
        let record = &rest[space + 1..length];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let equals = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a PAX record without '='")?;
        let (key, value) = (&record[..equals], &record[equals + 1..]);
        match key {
            b"path" => pending.name = Some(value.to_vec()),
            b"linkpath" => pending.link = Some(value.to_vec()),
            b"size" => {
                pending.size = Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|text| text.parse().ok())
                        .ok_or("a PAX size that is not a number")?,
                );
            }
            _ => {}
        }
        rest = &rest[length..];
    }
    Ok(())
}

fn read_up_to(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buffer.len() {
        match file.read(&mut buffer[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("ard-tar-{name}-{}", std::process::id()))
    }

    /// A tar written with the tar crate's raw header API, so names and links can be anything.
    fn tar_of(path: &Path, entries: &[(&str, u8, &str, &[u8])]) {
        let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
        for (name, kind, link, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(tar::EntryType::new(*kind));
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if !link.is_empty() {
                header.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.finish().unwrap();
    }

    #[test]
    fn names_and_links_inside_the_archive_are_indexed() {
        let path = temp("ok");
        tar_of(
            &path,
            &[
                ("./blobs/sha256/aa", b'0', "", b"layer"),
                ("id/layer.tar", b'2', "../blobs/sha256/aa", b""),
                ("hard", b'1', "blobs/sha256/aa", b""),
                ("chain", b'2', "id/layer.tar", b""),
            ],
        );
        let entries = index_tar(&path).unwrap();
        let place = entries["blobs/sha256/aa"];
        assert_eq!(place.1, 5);
        assert_eq!(entries["id/layer.tar"], place);
        assert_eq!(entries["hard"], place);
        assert_eq!(entries["chain"], place);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn names_and_links_leaving_the_archive_are_refused_by_name() {
        let cases: &[(&str, u8, &str, &str)] = &[
            ("../evil", b'0', "", "tar entry \"../evil\" leads outside"),
            ("a/../../evil", b'0', "", "tar entry \"a/../../evil\" leads outside"),
            ("/etc/passwd", b'0', "", "tar entry \"/etc/passwd\" is an absolute path"),
            (
                "manifest.json",
                b'2',
                "/etc/passwd",
                "tar link \"manifest.json\" → \"/etc/passwd\" leads outside",
            ),
            (
                "a/b",
                b'2',
                "../../etc/passwd",
                "tar link \"a/b\" → \"../../etc/passwd\" leads outside",
            ),
            (
                "manifest.json",
                b'1',
                "../outside",
                "tar link \"manifest.json\" → \"../outside\" leads outside",
            ),
        ];
        for (index, (name, kind, link, expected)) in cases.iter().enumerate() {
            let path = temp(&format!("bad{index}"));
            tar_of(&path, &[("ok", b'0', "", b"x"), (name, *kind, link, b"")]);
            let err = index_tar(&path).unwrap_err();
            assert!(err.contains(expected), "{name}: {err}");
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn a_declared_size_beyond_the_file_and_huge_extensions_are_refused_unread() {
        let path = temp("sparse");
        tar_of(&path, &[("big", b'0', "", b"0123456789")]);
        // Rewrite the size field to claim a terabyte, checksum fixed up.
        let mut bytes = std::fs::read(&path).unwrap();
        let mut header = tar::Header::new_gnu();
        header.as_mut_bytes().copy_from_slice(&bytes[..512]);
        header.set_size(1 << 40);
        header.set_cksum();
        bytes[..512].copy_from_slice(header.as_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = index_tar(&path).unwrap_err();
        assert!(err.contains("tar entry \"big\" declares 1099511627776 bytes"), "{err}");

        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_cksum();
        bytes[..512].copy_from_slice(header.as_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert!(index_tar(&path).unwrap_err().contains("declares"));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn pax_and_gnu_long_names_are_honoured() {
        let path = temp("long");
        let long = format!("blobs/sha256/{}", "b".repeat(150));
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        builder.append_data(&mut header, &long, &b"abc"[..]).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let entries = index_tar(&path).unwrap();
        assert_eq!(entries[&long].1, 3);
        std::fs::remove_file(path).unwrap();

        let mut pending = Pending::default();
        pax(b"20 path=a/very/long\n11 size=42\n", &mut pending).unwrap();
        assert_eq!(pending.name.as_deref(), Some(&b"a/very/long"[..]));
        assert_eq!(pending.size, Some(42));
        assert!(pax(b"999 path=x\n", &mut Pending::default()).is_err());
    }

    #[test]
    fn numbers_octal_and_base_256() {
        assert_eq!(parse_number(b"00000000012\0"), Some(10));
        assert_eq!(parse_number(b"   12 \0"), Some(10));
        assert_eq!(parse_number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(parse_number(&[0xff; 12]), None);
        assert_eq!(parse_number(b"9"), None);
    }
}
