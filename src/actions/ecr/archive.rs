//! An image archive read as a set of blobs and manifests, without unpacking it: a `docker save`
//! tarball (`manifest.json`, and since Docker 25 an OCI `index.json` too), or an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`) as a directory or a tar.
//!
//! A tar is indexed once (entry name → offset and size); blobs are then streamed straight from
//! their place in the file. Only manifests and configurations are read into memory.

use std::path::Path;

use serde_json::{Value, json};

use super::registry::BlobSource;
use super::store::{Store, hash_region, index_tar, sha256_hex};
use crate::domain::ecr::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST, is_digest, is_index};
use crate::error::Error;

/// What to push, in order: every blob, then the manifests (platform manifests by digest before
/// the index that lists them); the last manifest is the image, tagged.
#[derive(Debug)]
pub struct ArchiveImage {
    pub blobs: Vec<BlobSource>,
    /// Platform manifests of a multi-platform image, pushed by digest.
    pub children: Vec<Manifest>,
    pub top: Manifest,
    pub description: String,
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

/// Read the archive's structure (blocking: call it off the async threads).
pub fn open(path: &Path) -> Result<ArchiveImage, Error> {
    let store = if path.is_dir() {
        Store::Dir(path.to_owned())
    } else {
        Store::Tar(path.to_owned(), index_tar(path).map_err(|message| bad(path, message))?)
    };
    let fail = |message: String| bad(path, message);
    if let Some(index) = store.read_small("index.json").map_err(fail)? {
        return from_oci_index(&store, &index).map_err(fail);
    }
    if let Some(manifest) = store.read_small("manifest.json").map_err(fail)? {
        return from_docker_save(&store, &manifest).map_err(fail);
    }
    let mut names = store.names();
    let more = names.len().saturating_sub(8);
    names.truncate(8);
    let found = if names.is_empty() {
        "nothing".to_owned()
    } else if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    };
    Err(fail(format!(
        "holds neither an OCI index.json nor a docker save manifest.json; found {found}"
    )))
}

fn blob_name(digest: &str) -> Result<String, String> {
    if !is_digest(digest) {
        return Err(format!("refers to {digest:?}, which is not a sha256 digest"));
    }
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// A manifest blob of the layout, its bytes checked against its digest.
fn manifest_blob(store: &Store, digest: &str, media_type: Option<&str>) -> Result<Manifest, String> {
    let name = blob_name(digest)?;
    let bytes = store
        .read_small(&name)?
        .ok_or_else(|| format!("lacks the manifest {digest} ({name})"))?;
    if sha256_hex(&bytes) != digest {
        return Err(format!("{name} does not hash to its name: the archive is damaged"));
    }
    let document: Value = serde_json::from_slice(&bytes).map_err(|err| format!("{name} is not JSON: {err}"))?;
    let declares_media_type = document.get("mediaType").and_then(Value::as_str).is_some();
    let media_type = document
        .get("mediaType")
        .and_then(Value::as_str)
        .or(media_type)
        .unwrap_or(if document.get("manifests").is_some() {
            OCI_INDEX
        } else {
            OCI_MANIFEST
        })
        .to_owned();
    Ok(Manifest {
        bytes,
        media_type,
        digest: digest.to_owned(),
        declares_media_type,
    })
}

fn from_oci_index(store: &Store, index: &[u8]) -> Result<ArchiveImage, String> {
    let index: Value = serde_json::from_slice(index).map_err(|err| format!("index.json is not JSON: {err}"))?;
    let mut descriptors: Vec<(&str, Option<&str>)> = Vec::new();
    for descriptor in index.get("manifests").and_then(Value::as_array).into_iter().flatten() {
        let digest = descriptor.get("digest").and_then(Value::as_str).unwrap_or_default();
        if !descriptors.iter().any(|(known, _)| *known == digest) {
            descriptors.push((digest, descriptor.get("mediaType").and_then(Value::as_str)));
        }
    }
    let (digest, media_type) = match descriptors.as_slice() {
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
    let top = manifest_blob(store, digest, media_type)?;
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    if is_index(&top.media_type) {
        let document: Value = serde_json::from_slice(&top.bytes).map_err(|err| err.to_string())?;
        for child in document
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let digest = child.get("digest").and_then(Value::as_str).unwrap_or_default();
            let manifest = manifest_blob(store, digest, child.get("mediaType").and_then(Value::as_str))
                .map_err(|err| format!("{err} (a platform of the multi-platform index)"))?;
            collect_blobs(store, &manifest, &mut blobs)?;
            children.push(manifest);
        }
    } else {
        collect_blobs(store, &top, &mut blobs)?;
    }
    let platforms = if children.is_empty() {
        String::new()
    } else {
        format!(", {} platforms", children.len())
    };
    Ok(ArchiveImage {
        description: format!("OCI image {}{platforms}", top.digest),
        blobs,
        children,
        top,
    })
}

/// The config and layers of an image manifest, located in the archive with their sizes checked.
fn collect_blobs(store: &Store, manifest: &Manifest, blobs: &mut Vec<BlobSource>) -> Result<(), String> {
    let document: Value = serde_json::from_slice(&manifest.bytes).map_err(|err| err.to_string())?;
    let config = document.get("config").into_iter();
    let layers = document.get("layers").and_then(Value::as_array).into_iter().flatten();
    for descriptor in config.chain(layers) {
        let digest = descriptor.get("digest").and_then(Value::as_str).unwrap_or_default();
        let size = descriptor.get("size").and_then(Value::as_u64);
        let name = blob_name(digest)?;
        let (path, offset, actual) = store
            .locate(&name)
            .ok_or_else(|| format!("lacks {name}, which manifest {} lists", manifest.digest))?;
        if size.is_some_and(|size| size != actual) {
            return Err(format!(
                "{name} is {actual} bytes, but the manifest says {}",
                size.unwrap_or(0)
            ));
        }
        if !blobs.iter().any(|blob| blob.digest == digest) {
            blobs.push(BlobSource {
                digest: digest.to_owned(),
                size: actual,
                path,
                offset,
            });
        }
    }
    Ok(())
}

/// A Docker (pre-25) `docker save`: layers are uncompressed tars named by directory, so their
/// digests are computed here (streaming) and an OCI manifest is made for them.
fn from_docker_save(store: &Store, manifest: &[u8]) -> Result<ArchiveImage, String> {
    let entries: Vec<Value> = serde_json::from_slice(manifest)
        .map_err(|err| format!("manifest.json is not a docker save manifest: {err}"))?;
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
    let config_name = entry.get("Config").and_then(Value::as_str).unwrap_or_default();
    let config = store
        .read_small(config_name)?
        .ok_or_else(|| format!("lacks the image configuration {config_name:?} that manifest.json names"))?;
    let config_blob = blob_at(store, config_name, sha256_hex(&config))?;
    let layer_names: Vec<&str> = entry
        .get("Layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|layer| layer.as_str().unwrap_or_default())
        .collect();
    // These layers are uncompressed, so their digests are the configuration's diff ids: no need
    // to read them twice. The registry checks each digest against the bytes it receives.
    let diff_ids: Vec<String> = serde_json::from_slice::<Value>(&config)
        .ok()
        .and_then(|config| config.get("rootfs")?.get("diff_ids")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|id| id.as_str().filter(|id| is_digest(id)).map(str::to_owned))
        .collect();
    let known = diff_ids.len() == layer_names.len();
    let mut layers = Vec::new();
    for (index, name) in layer_names.into_iter().enumerate() {
        let (path, offset, size) = store
            .locate(name)
            .ok_or_else(|| format!("lacks the layer {name:?} that manifest.json names"))?;
        let digest = if known {
            diff_ids[index].clone()
        } else {
            hash_region(&path, offset, size).map_err(|err| format!("cannot read {name}: {err}"))?
        };
        layers.push(BlobSource {
            digest,
            size,
            path,
            offset,
        });
    }
    let document = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_blob.digest, "size": config_blob.size},
        "layers": layers.iter().map(|layer| json!({
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
    let mut blobs = vec![config_blob];
    for layer in layers {
        if !blobs.iter().any(|blob| blob.digest == layer.digest) {
            blobs.push(layer);
        }
    }
    let tags = entry
        .get("RepoTags")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
    Ok(ArchiveImage {
        description: format!(
            "docker save image {}",
            tags.filter(|t| !t.is_empty()).unwrap_or_else(|| config_name.to_owned())
        ),
        blobs,
        children: Vec::new(),
        top,
    })
}

fn blob_at(store: &Store, name: &str, digest: String) -> Result<BlobSource, String> {
    let (path, offset, size) = store.locate(name).ok_or_else(|| format!("lacks {name}"))?;
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
        std::fs::write(dir.join(blob_name(&digest).unwrap()), bytes).unwrap();
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
        std::fs::write(dir.join(blob_name(&digest).unwrap()), b"{}").unwrap();
        let err = open(&dir).unwrap_err().to_string();
        assert!(err.contains("does not hash to its name"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
