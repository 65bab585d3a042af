//! An image archive read as a set of blobs and manifests, without unpacking it: a `docker save`
//! tarball (`manifest.json`, and since Docker 25 an OCI `index.json` too), or an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`) as a directory or a tar.
//!
//! A tar is indexed once (entry name → offset and size); blobs are then streamed straight from
//! their place in the file. Only manifests and configurations are read into memory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::documents::{ATTESTATION, Bounded, Descriptor, Document, ImageConfig, SaveManifest, parse};
use super::registry::BlobSource;
use super::store::{SMALL_FILE, Store, hash_region, sha256_hex};
use crate::domain::ecr::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST, is_digest, is_index};
use crate::error::Error;

/// Manifests kept in memory to be pushed (the index and its platforms), in all.
pub const MAX_HELD: u64 = 16 * 1024 * 1024;
/// Distinct blobs an archive may hold.
pub const MAX_BLOBS: usize = 4096;

/// What to push, in order: every blob, then the manifests (platform manifests by digest before
/// the index that lists them); the last manifest is the image, tagged.
#[derive(Debug)]
pub struct ArchiveImage {
    pub blobs: Vec<BlobSource>,
    /// Platform manifests of a multi-platform image, pushed by digest.
    pub children: Vec<Manifest>,
    pub top: Manifest,
    pub description: String,
    /// The platforms of a multi-platform image with their manifests' digests (attestation
    /// manifests left out).
    pub platforms: Vec<PlatformManifest>,
    /// BuildKit attestation manifests (provenance, SBOM) in the index.
    pub attestations: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifest {
    pub platform: String,
    pub digest: String,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
    /// The document names its own `mediaType` (optional in OCI; ECR refuses manifests without it).
    pub declares_media_type: bool,
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::BadInput {
        summary: format!("IMAGE_ARCHIVE {}: {message}", path.display()),
        details: vec![
            "Check IMAGE_ARCHIVE: it must be a `docker save` tarball (uncompressed), or an OCI image layout as a \
             directory or a tar."
                .to_owned(),
        ],
    }
}

/// Read the archive's structure and hash every blob it will push (blocking: call it off the
/// async threads). Whatever is wrong with the archive is found here, before anything is sent.
pub fn open(path: &Path) -> Result<ArchiveImage, Error> {
    let fail = |message: String| bad(path, message);
    let store = Store::open(path).map_err(fail)?;
    let mut blobs = Blobs::default();
    let image = if let Some(index) = store.read_small("index.json").map_err(fail)? {
        from_oci_index(&store, &index, &mut blobs, path)
    } else if let Some(manifest) = store.read_small("manifest.json").map_err(fail)? {
        from_docker_save(&store, &manifest, &mut blobs)
    } else {
        let (names, more) = store.names(8);
        let names: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
        let found = match (names.is_empty(), more) {
            (true, _) => "nothing".to_owned(),
            (false, 0) => names.join(", "),
            (false, more) => format!("{} and {more} more", names.join(", ")),
        };
        Err(format!(
            "holds neither an OCI index.json nor a docker save manifest.json; found {found}"
        ))
    }
    .map_err(fail)?;
    blobs.verify().map_err(fail)?;
    Ok(ArchiveImage {
        blobs: blobs.list,
        ..image
    })
}

/// The blobs to push, each once, with the archive name each was found under.
#[derive(Default)]
struct Blobs {
    list: Vec<BlobSource>,
    names: Vec<String>,
    /// The digest was computed here from the bytes, so there is nothing left to check.
    hashed: Vec<bool>,
    seen: HashSet<String>,
}

impl Blobs {
    fn add(&mut self, name: &str, blob: BlobSource) -> Result<(), String> {
        self.add_hashed(name, blob, false)
    }

    fn add_hashed(&mut self, name: &str, blob: BlobSource, hashed: bool) -> Result<(), String> {
        if self.seen.contains(&blob.digest) {
            return Ok(());
        }
        if self.list.len() == MAX_BLOBS {
            return Err(format!("holds more than {MAX_BLOBS} distinct blobs: not one image"));
        }
        self.seen.insert(blob.digest.clone());
        self.names.push(name.to_owned());
        self.hashed.push(hashed);
        self.list.push(blob);
        Ok(())
    }

    /// Every blob hashed here, before any is sent: the digest the registry would be told is the
    /// digest of the bytes it would get.
    fn verify(&self) -> Result<(), String> {
        for ((blob, name), _) in self
            .list
            .iter()
            .zip(&self.names)
            .zip(&self.hashed)
            .filter(|(_, hashed)| !**hashed)
        {
            let actual =
                hash_region(&blob.path, blob.offset, blob.size).map_err(|err| format!("cannot read {name}: {err}"))?;
            if actual != blob.digest {
                return Err(format!(
                    "{name} hashes to {actual}, not {}, the digest the archive gives it: the archive is damaged or \
                     forged",
                    blob.digest
                ));
            }
        }
        Ok(())
    }
}

fn blob_name(digest: Option<&str>) -> Result<String, String> {
    let digest = digest.ok_or("has a descriptor without a digest")?;
    if !is_digest(digest) {
        return Err(format!("refers to {digest:?}, which is not a sha256 digest"));
    }
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// Why a platform of an index could not be read.
enum Problem {
    /// A blob it names is not in the archive (a partial save).
    Missing(String),
    /// Anything else: the archive is refused.
    Bad(String),
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Problem::Bad(message)
    }
}

/// A manifest blob of the layout: its declared size checked against the file before it is
/// read, its bytes against its digest.
fn manifest_blob(store: &Store, descriptor: &Descriptor, held: &mut u64) -> Result<Manifest, Problem> {
    let name = blob_name(descriptor.digest.as_deref())?;
    let digest = descriptor.digest.clone().unwrap_or_default();
    let Some((_, _, size)) = store.locate(&name)? else {
        return Err(Problem::Missing(format!("lacks the manifest {digest} ({name})")));
    };
    if let Some(declared) = descriptor.size.filter(|declared| *declared != size) {
        return Err(Problem::Bad(format!(
            "{name} is {size} bytes, but the descriptor naming it says {declared}"
        )));
    }
    *held += size;
    if size <= SMALL_FILE && *held > MAX_HELD {
        return Err(Problem::Bad(format!(
            "its manifests total more than {MAX_HELD} bytes: not one image"
        )));
    }
    let bytes = store.read_small(&name)?.ok_or_else(|| format!("lacks {name}"))?;
    if sha256_hex(&bytes) != digest {
        return Err(Problem::Bad(format!(
            "{name} does not hash to its name: the archive is damaged"
        )));
    }
    let document: Document = parse(&name, &bytes)?;
    let declares_media_type = document.media_type.is_some();
    let media_type = document
        .media_type
        .as_deref()
        .or(descriptor.media_type.as_deref())
        .unwrap_or(if document.manifests.is_some() {
            OCI_INDEX
        } else {
            OCI_MANIFEST
        })
        .to_owned();
    Ok(Manifest {
        bytes,
        media_type,
        digest,
        declares_media_type,
    })
}

fn from_oci_index(store: &Store, index: &[u8], blobs: &mut Blobs, path: &Path) -> Result<ArchiveImage, String> {
    let index: Document = parse("index.json", index)?;
    let listed = Bounded::items(index.manifests);
    let mut seen = HashSet::new();
    let distinct: Vec<&Descriptor> = listed
        .iter()
        .filter(|descriptor| seen.insert(descriptor.digest.as_deref()))
        .collect();
    let descriptor = match distinct.as_slice() {
        [one] => *one,
        [] => return Err("index.json lists no image".into()),
        many => {
            return Err(format!(
                "index.json lists {} different images; push one archive per image (docker save one image, \
                 or an OCI layout with one image or one multi-platform index)",
                many.len()
            ));
        }
    };
    let mut held = 0;
    let top = manifest_blob(store, descriptor, &mut held).map_err(Problem::into_message)?;
    let mut image = ArchiveImage {
        description: format!("OCI image {}", top.digest),
        blobs: Vec::new(),
        children: Vec::new(),
        top,
        platforms: Vec::new(),
        attestations: 0,
    };
    if !is_index(&image.top.media_type) {
        collect_blobs(store, &image.top, blobs).map_err(Problem::into_message)?;
        return Ok(image);
    }
    let document: Document = parse("the image index", &image.top.bytes)?;
    let mut seen = HashSet::new();
    // (platform, why) of each platform the archive lacks something of.
    let mut incomplete: Vec<(String, String)> = Vec::new();
    let mut complete: Vec<String> = Vec::new();
    for child in Bounded::items(document.manifests) {
        if !seen.insert(child.digest.clone()) {
            continue; // listed twice: pushed once
        }
        let attestation = child.annotations.reference_type.as_deref() == Some(ATTESTATION);
        let platform = match (&child.platform, attestation) {
            (_, true) => format!("attestation {:?}", child.digest.as_deref().unwrap_or("?")),
            (Some(platform), false) => platform.name(),
            (None, false) => "unknown platform".to_owned(),
        };
        // Printed and written to the outputs: one line of a platform's own characters.
        if !is_platform_name(&platform) && !attestation {
            return Err(format!(
                "the image index names the platform {platform:?}, which is not one"
            ));
        }
        if child.media_type.as_deref().is_some_and(is_index) {
            return Err(format!(
                "the image index lists another index ({platform}); nested indexes are not supported"
            ));
        }
        let read = manifest_blob(store, &child, &mut held).and_then(|manifest| {
            if is_index(&manifest.media_type) {
                return Err(Problem::Bad(format!(
                    "the image index lists another index ({platform}); nested indexes are not supported"
                )));
            }
            collect_blobs(store, &manifest, blobs)?;
            Ok(manifest)
        });
        match read {
            Ok(manifest) => {
                if attestation {
                    image.attestations += 1;
                } else {
                    complete.push(platform.clone());
                    image.platforms.push(PlatformManifest {
                        platform,
                        digest: manifest.digest.clone(),
                    });
                }
                image.children.push(manifest);
            }
            Err(Problem::Missing(why)) => incomplete.push((platform, why)),
            Err(Problem::Bad(why)) => return Err(format!("{why} ({platform} of the multi-platform index)")),
        }
    }
    if !incomplete.is_empty() {
        return Err(partial_save(path, &complete, &incomplete, descriptor));
    }
    image.description = format!(
        "OCI image index {}, {} platforms{}",
        image.top.digest,
        image.platforms.len(),
        match image.attestations {
            0 => String::new(),
            n => format!(" and {n} attestation manifests"),
        }
    );
    Ok(image)
}

/// A containerd-store `docker save` keeps the index of a multi-platform image (its digest) but
/// writes only the blobs of the platforms present locally (moby#44833, moby#49473). Such an
/// index cannot be pushed (the registry refuses an index naming manifests it lacks), and
/// pushing the one complete platform instead would give another digest than the archive's
/// without anyone asking: refused, with the command that saves the platform wanted.
fn partial_save(path: &Path, complete: &[String], incomplete: &[(String, String)], top: &Descriptor) -> String {
    let missing: Vec<String> = incomplete
        .iter()
        .take(8)
        .map(|(platform, why)| format!("{platform}: {why}"))
        .collect();
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.chars().any(char::is_control))
        .unwrap_or_else(|| "image.tar".to_owned());
    let image = top
        .annotations
        .image_name
        .as_deref()
        .filter(|name| name.len() <= 256 && name.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("<image>");
    let platform = complete
        .iter()
        .find(|platform| !platform.starts_with("attestation"))
        .map_or("linux/amd64", String::as_str);
    format!(
        "is a partial save of a multi-platform image: its index lists {} manifests, but the archive lacks the \
         blobs of {} ({}{}). Complete platforms: {}. The index cannot be pushed without them, and pushing one \
         platform alone would change the image's digest. Save the platform to push: `docker save --platform \
         {platform} -o {file} {image}` (docker save from the containerd image store writes only the platforms \
         pulled or built locally)",
        incomplete.len() + complete.len(),
        incomplete.len(),
        missing.join("; "),
        if incomplete.len() > missing.len() { "; …" } else { "" },
        if complete.is_empty() {
            "none".to_owned()
        } else {
            complete.join(", ")
        },
    )
}

impl Problem {
    fn into_message(self) -> String {
        match self {
            Problem::Missing(message) | Problem::Bad(message) => message,
        }
    }
}

/// The config and layers of an image manifest, located in the archive with their sizes checked.
fn collect_blobs(store: &Store, manifest: &Manifest, blobs: &mut Blobs) -> Result<(), Problem> {
    let document: Document = parse(&format!("manifest {}", manifest.digest), &manifest.bytes)?;
    let Some(config) = document.config else {
        return Err(Problem::Bad(format!(
            "manifest {} has no config: not an image manifest",
            manifest.digest
        )));
    };
    for descriptor in std::iter::once(config).chain(Bounded::items(document.layers)) {
        let name = blob_name(descriptor.digest.as_deref())?;
        let (path, offset, actual) = store
            .locate(&name)?
            .ok_or_else(|| Problem::Missing(format!("lacks {name}, which manifest {} lists", manifest.digest)))?;
        if let Some(declared) = descriptor.size.filter(|declared| *declared != actual) {
            return Err(Problem::Bad(format!(
                "{name} is {actual} bytes, but the manifest says {declared}"
            )));
        }
        let digest = descriptor.digest.unwrap_or_default();
        blobs.add(
            &name,
            BlobSource {
                digest,
                size: actual,
                path,
                offset,
            },
        )?;
    }
    Ok(())
}

/// A Docker (pre-25) `docker save`: layers are uncompressed tars named by directory; their
/// digests are the configuration's diff ids (checked when every blob is hashed), and an OCI
/// manifest is made for them.
fn from_docker_save(store: &Store, manifest: &[u8], blobs: &mut Blobs) -> Result<ArchiveImage, String> {
    let entries = parse::<SaveManifest>("manifest.json", manifest)?.0;
    let entry = match entries.as_slice() {
        [one] => one,
        [] => return Err("manifest.json lists no image".into()),
        many => {
            return Err(format!(
                "manifest.json lists {} images; docker save one image",
                many.len()
            ));
        }
    };
    let tags = entry
        .repo_tags
        .as_ref()
        .map(|tags| tags.0.as_slice())
        .unwrap_or_default();
    if let Some(tag) = tags.iter().find(|tag| !is_image_name(tag)) {
        return Err(format!(
            "manifest.json's RepoTags holds {tag:?}, which is not an image name"
        ));
    }
    let config_name = entry.config.as_deref().unwrap_or_default();
    let config = store
        .read_small(config_name)?
        .ok_or_else(|| format!("lacks the image configuration {config_name:?} that manifest.json names"))?;
    let config_blob = blob_at(store, config_name, sha256_hex(&config))?;
    let layer_names: Vec<&str> = entry
        .layers
        .as_ref()
        .map(|layers| layers.0.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let diff_ids: Vec<String> = parse::<ImageConfig>(config_name, &config)
        .ok()
        .and_then(|config| config.rootfs)
        .map(|rootfs| Bounded::items(rootfs.diff_ids))
        .unwrap_or_default()
        .into_iter()
        .filter(|id| is_digest(id))
        .collect();
    // These layers are uncompressed, so their digests are the configuration's diff ids; without
    // them (or with a different count) each layer is hashed for its digest.
    let known = diff_ids.len() == layer_names.len();
    let mut layers = Vec::new();
    for (index, name) in layer_names.into_iter().enumerate() {
        let (path, offset, size) = store
            .locate(name)?
            .ok_or_else(|| format!("lacks the layer {name:?} that manifest.json names"))?;
        let digest = if known {
            diff_ids[index].clone()
        } else {
            hash_region(&path, offset, size).map_err(|err| format!("cannot read {name:?}: {err}"))?
        };
        layers.push((
            name,
            BlobSource {
                digest,
                size,
                path,
                offset,
            },
            !known,
        ));
    }
    let document = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_blob.digest, "size": config_blob.size},
        "layers": layers.iter().map(|(_, layer, _)| json!({
            "mediaType": OCI_LAYER_TAR, "digest": layer.digest, "size": layer.size,
        })).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&document).map_err(|err| err.to_string())?;
    let top = Manifest {
        digest: sha256_hex(&bytes),
        bytes,
        media_type: OCI_MANIFEST.to_owned(),
        declares_media_type: true,
    };
    blobs.add_hashed(config_name, config_blob, true)?;
    for (name, layer, hashed) in layers {
        blobs.add_hashed(&format!("layer {name:?}"), layer, hashed)?;
    }
    Ok(ArchiveImage {
        description: format!(
            "docker save image {}",
            if tags.is_empty() {
                format!("{config_name:?}")
            } else {
                tags.join(", ")
            }
        ),
        blobs: Vec::new(),
        children: Vec::new(),
        top,
        platforms: Vec::new(),
        attestations: 0,
    })
}

/// `linux/arm64/v8`, `unknown platform`: short, lowercase letters, digits, `.`, `_`, `-`, `/`.
fn is_platform_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b' '))
}

/// A name `docker save` records as a tag: a reference, printable, one line.
fn is_image_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@'))
}

fn blob_at(store: &Store, name: &str, digest: String) -> Result<BlobSource, String> {
    let (path, offset, size): (PathBuf, u64, u64) = store.locate(name)?.ok_or_else(|| format!("lacks {name:?}"))?;
    Ok(BlobSource {
        digest,
        size,
        path,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ard-archive-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn put_blob(dir: &Path, bytes: &[u8]) -> String {
        let digest = sha256_hex(bytes);
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join(blob_name(Some(&digest)).unwrap()), bytes).unwrap();
        digest
    }

    fn oci_layout(dir: &Path) -> String {
        let config = put_blob(dir, b"{\"architecture\":\"amd64\"}");
        let layer = put_blob(dir, b"layer bytes");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 24},
            "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer, "size": 11}],
        }))
        .unwrap();
        let digest = put_blob(dir, &manifest);
        std::fs::write(dir.join("oci-layout"), b"{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()}]}))
            .unwrap(),
        )
        .unwrap();
        digest
    }

    #[test]
    fn an_oci_layout_directory_and_its_tar() {
        let dir = temp("oci");
        let digest = oci_layout(&dir);
        let image = open(&dir).unwrap();
        assert_eq!(image.top.digest, digest);
        assert_eq!(image.blobs.len(), 2);
        assert!(image.children.is_empty());

        let tar_path = dir.with_extension("tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        builder.append_dir_all(".", &dir).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let image = open(&tar_path).unwrap();
        assert_eq!(image.top.digest, digest);
        let layer = image.blobs.iter().find(|b| b.size == 11).unwrap();
        assert_eq!(
            hash_region(&layer.path, layer.offset, layer.size).unwrap(),
            layer.digest
        );
        std::fs::remove_file(tar_path).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn what_is_not_an_image_is_described() {
        let dir = temp("bad");
        std::fs::write(dir.join("README"), b"hello").unwrap();
        let err = open(&dir).unwrap_err().to_string();
        assert!(
            err.contains("neither an OCI index.json") && err.contains("README"),
            "{err}"
        );
        let file = dir.join("image.tar");
        std::fs::write(&file, b"not a tar at all").unwrap();
        assert!(open(&file).unwrap_err().to_string().contains("is not a tar archive"));
        std::fs::write(&file, [0x1f, 0x8b, 8, 0]).unwrap();
        assert!(open(&file).unwrap_err().to_string().contains("gzip"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_blob_is_named() {
        let dir = temp("damaged");
        let digest = oci_layout(&dir);
        let blob = dir.join(blob_name(Some(&digest)).unwrap());
        let size = std::fs::metadata(&blob).unwrap().len() as usize;
        std::fs::write(&blob, vec![b' '; size]).unwrap();
        let err = open(&dir).unwrap_err().to_string();
        assert!(err.contains("does not hash to its name"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
